"""Environment drift detection against the pip lock and the conda pin files."""

from __future__ import annotations

import importlib.metadata
import json
import subprocess
import sys
from pathlib import Path

import pytest
from helpers import REPO

from reprotrain import drift, memo
from reprotrain.errors import ReprotrainError
from reprotrain.locks import normalize

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


def test_installed_versions_agree_with_the_distributions_own_metadata():
    from_metadata = {}
    for distribution in importlib.metadata.distributions():
        name, version = drift._name_and_version(distribution)
        from_metadata.setdefault(normalize(name), version)
    assert drift.installed_versions() == from_metadata


def test_installed_versions_read_metadata_where_the_directory_name_does_not_say(
    tmp_path, monkeypatch
):
    (tmp_path / "plain_pkg-1.2.0.dist-info").mkdir()
    legacy = tmp_path / "legacy-name-0.9.egg-info"  # a name with a dash: not parseable
    legacy.mkdir()
    (legacy / "PKG-INFO").write_text("Name: legacy-name\nVersion: 0.9.post1\n\nbody\n")
    (tmp_path / "not_metadata-1.0.txt").write_text("")
    monkeypatch.setattr(sys, "path", [str(tmp_path / "missing"), str(tmp_path)])
    assert drift.installed_versions() == {"plain-pkg": "1.2.0", "legacy-name": "0.9.post1"}


def test_each_job_works_out_the_locked_versions_once_per_lock(tmp_path, monkeypatch):
    lock = tmp_path / "requirements.lock"
    lock.write_bytes(Path(PIP_LOCK).read_bytes())
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv(drift.LOCK_VARIABLE, str(lock))
    monkeypatch.setenv(drift.MODE_VARIABLE, "error")
    parsed = []
    real = drift._locked_versions_apart

    def counting(path):
        parsed.append(path)
        return real(path)

    monkeypatch.setattr(drift, "_locked_versions_apart", counting)
    assert drift.check_from_environment() == []
    assert drift.check_from_environment() == []
    assert parsed == [str(lock)]
    assert (tmp_path / memo.STORE).is_file()
    # An edited lock is parsed again, and its drift found.
    lock.write_text(lock.read_text().replace("numpy==2.3.5", "numpy==2.4.0"))
    with pytest.raises(ReprotrainError, match=r"numpy: locked 2\.4\.0, found 2\.3\.5"):
        drift.check_from_environment()
    assert len(parsed) == 2


def test_working_out_the_locked_versions_imports_nothing_into_the_job(tmp_path):
    """A job that misses the memo imports what one that hits it imports: the packages a
    job used are recorded in the manifest and must not depend on the scheduling."""
    lock = tmp_path / "requirements.lock"
    lock.write_bytes(Path(PIP_LOCK).read_bytes())
    job = (
        "import json, sys\n"
        "from reprotrain import drift\n"
        "locked = drift.remembered_locked_versions(sys.argv[1])\n"
        "print(json.dumps(['packaging' in sys.modules, len(locked)]))"
    )
    seen = []
    for _ in ("miss", "hit"):
        done = subprocess.run(
            [sys.executable, "-c", job, str(lock)],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            check=True,
        )
        seen.append(json.loads(done.stdout))
    assert (tmp_path / memo.STORE).is_file()
    expected = len(drift.locked_versions(str(lock)))
    assert seen == [[False, expected], [False, expected]]
