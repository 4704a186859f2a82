"""Environment drift detection against the pip lock and the conda pin files."""

from __future__ import annotations

import pytest
from conftest import REPO

from reprotrain import drift
from reprotrain.errors import ReprotrainError

PIP_LOCK = str(REPO / "envs/requirements.lock")
PIN = str(REPO / "envs/environment.linux-64.pin.txt")


def test_this_venv_matches_its_lock():
    assert drift.find_drift(PIP_LOCK) == []


def test_pip_pins_for_other_platforms_are_not_expected_here():
    locked = drift.locked_versions(PIP_LOCK)
    assert "pywin32-ctypes" not in locked  # sys_platform == 'win32' only
    assert locked["numpy"] == "2.3.5"


def test_pin_file_gives_python_packages_under_their_pypi_names():
    locked = drift.locked_versions(PIN)
    assert locked["matplotlib"] == "3.10.8"
    assert locked["tzdata"] == "2025.2"  # python-tzdata, not conda's tzdata 2025b
    assert locked["pandera"] == "0.26.1"
    assert "libgcc" not in locked
    assert "python" not in locked


def test_drift_names_package_locked_and_found_versions(monkeypatch):
    installed = drift.installed_versions() | {"numpy": "2.4.0"}
    installed.pop("pandas")
    monkeypatch.setattr(drift, "installed_versions", lambda: installed)
    found = drift.find_drift(PIP_LOCK)
    assert [d.describe() for d in found] == [
        "numpy: locked 2.3.5, found 2.4.0",
        "pandas: locked 2.3.3, found not installed",
    ]
    with pytest.raises(ReprotrainError) as error:
        drift.check(PIP_LOCK, "error")
    assert error.value.file == PIP_LOCK
    assert error.value.field == "numpy, pandas"
    assert "environment_drift: warn" in error.value.fix
    assert drift.check(PIP_LOCK, "warn") == found


def test_installed_digest_follows_the_installed_versions(monkeypatch):
    before = drift.installed_digest(PIP_LOCK)
    changed = drift.installed_versions() | {"numpy": "2.4.0"}
    monkeypatch.setattr(drift, "installed_versions", lambda: changed)
    assert drift.installed_digest(PIP_LOCK) != before


def test_per_job_check_does_nothing_outside_the_workflow(monkeypatch):
    monkeypatch.delenv(drift.LOCK_VARIABLE, raising=False)
    assert drift.check_from_environment() == []
