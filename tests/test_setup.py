"""`make setup` builds the venv with the interpreter the record was made with, when the
machine has it (tools/find-python.sh), and says which one it took."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from helpers import REPO

REAL = Path(sys.executable).resolve()
REAL_VERSION = ".".join(map(str, sys.version_info[:3]))


def fake_python(path: Path, version: str) -> Path:
    """An interpreter that reports ``version`` to the probe (and runs nothing else)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f'#!/bin/sh\necho "{version} $0"\n')
    path.chmod(0o755)
    return path


@pytest.fixture
def machine(tmp_path) -> dict[str, str]:
    """A machine whose PATH has a 3.12.7 first and whose pyenv has this interpreter."""
    fake_python(tmp_path / "bin/python3.12", "3.12.7")
    pyenv = tmp_path / "pyenv/versions" / REAL_VERSION / "bin"
    pyenv.mkdir(parents=True)
    (pyenv / "python3.12").symlink_to(REAL)
    return {
        "PATH": f"{tmp_path / 'bin'}:/usr/bin:/bin",
        "HOME": str(tmp_path / "home"),
        "PYENV_ROOT": str(tmp_path / "pyenv"),
    }


def find(tmp_path: Path, machine: dict[str, str], recorded: str, **more: str):
    record = tmp_path / "manifest.json"
    python = {"version": recorded}
    record.write_text(json.dumps({"provenance": {"environment": {"python": python}}}))
    done = subprocess.run(
        [str(REPO / "tools/find-python.sh"), str(record)],
        env=machine | more,
        capture_output=True,
        text=True,
        check=False,
    )
    return done.returncode, done.stdout.strip(), done.stderr


def test_the_recorded_version_is_preferred_wherever_it_is(tmp_path, machine):
    status, chosen, said = find(tmp_path, machine, REAL_VERSION)
    assert status == 0
    assert chosen == str(tmp_path / "pyenv/versions" / REAL_VERSION / "bin/python3.12")
    assert f"Python {REAL_VERSION} at {chosen} (the version" in said

    status, chosen, said = find(tmp_path, machine, "3.12.7")
    assert (status, chosen) == (0, str(tmp_path / "bin/python3.12"))


def test_without_the_recorded_version_another_312_is_taken_and_the_difference_said(
    tmp_path, machine
):
    status, chosen, said = find(tmp_path, machine, "3.12.9")
    assert status == 0
    assert chosen == str(tmp_path / "bin/python3.12")
    assert "was recorded with 3.12.9" in said
    assert "checks pass saying the environment differs" in said


def test_reprotrain_python_is_a_choice_that_stands(tmp_path, machine):
    mine = fake_python(tmp_path / "mine/python", "3.12.4")
    status, chosen, said = find(tmp_path, machine, REAL_VERSION, REPROTRAIN_PYTHON=str(mine))
    assert (status, chosen) == (0, str(mine))
    assert f"recorded with {REAL_VERSION}" in said

    status, _, said = find(tmp_path, machine, REAL_VERSION, REPROTRAIN_PYTHON="/bin/true")
    assert status == 1 and "is not a Python 3.12" in said


def test_no_312_at_all_names_the_version_to_install(tmp_path):
    status, _, said = find(
        tmp_path,
        # This image's /usr/bin has Debian's 3.11 alone.
        {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "PYENV_ROOT": str(tmp_path)},
        "3.12.1",
    )
    assert status == 1
    assert "pyenv install" in said and "3.12.1" in said
    assert os.environ  # the tests' own environment is untouched
