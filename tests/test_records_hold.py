"""Records that hold for every user: any shell, another Python 3.12 patch, a worker that
cannot start."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from helpers import copy_repo, read_json, snakemake

from reprotrain.steps import worker

# What people export for reasons of their own, each family the job environment controls
# with a value that would change or break a job if it got there.
HOSTILE_SHELL = {
    # numpy refuses to import with both lists set (the pin sets the enable list)
    "NPY_DISABLE_CPU_FEATURES": "AVX2 FMA3 AVX512F",
    "OPENBLAS_CORETYPE": "Nehalem",
    "OPENBLAS_NUM_THREADS": "7",
    "GOTO_NUM_THREADS": "3",
    "OMP_NUM_THREADS": "5",
    "OMP_PROC_BIND": "spread",
    "OMP_SCHEDULE": "dynamic,1",
    "OMP_DYNAMIC": "true",
    "MKL_CBWR": "AVX512",
    "MKL_NUM_THREADS": "4",
    "KMP_AFFINITY": "scatter",
    "KMP_DETERMINISTIC_REDUCTION": "false",
    "LC_ALL": "fr_FR.UTF-8",
    "LC_NUMERIC": "fr_FR.UTF-8",
    "LANG": "fr_FR.UTF-8",
    "LANGUAGE": "fr",
    "TZ": "Pacific/Kiritimati",
    "PYTHONHASHSEED": "random",
    "SKLEARN_WORKING_MEMORY": "1",
    "MPLBACKEND": "pdf",
    "GLIBC_TUNABLES": "glibc.cpu.hwcaps=-AVX2_Usable,-FMA_Usable",
}


@pytest.mark.pipeline
def test_whatever_the_shell_exports_the_run_makes_the_records_bytes(tmp_path):
    project = copy_repo(tmp_path / "project")
    # A matplotlib rc file the shell points at, with a style every figure would show.
    rc = tmp_path / "matplotlibrc"
    rc.write_text("lines.linewidth: 7\nfont.family: serif\nsvg.fonttype: none\n")
    shell = os.environ | HOSTILE_SHELL | {"MATPLOTLIBRC": str(rc), "MPLCONFIGDIR": str(tmp_path)}

    snakemake(project, env=shell)

    # Byte for byte the record: every output, with what it was made from (a scratch copy
    # is no git checkout, so the manifests differ in the commit alone).
    recorded = read_json(project / "config/manifest.json")
    run = read_json(project / "results/manifest.json")
    assert run["files"] == recorded["files"]
    assert run["provenance"]["environment"] == recorded["provenance"]["environment"]
    # Each job ran with the pin's values, not the shell's.
    conditions = read_json(
        project / "logs/train/breast_cancer/v1.0/seed-42/hist_gradient_boosting.conditions.json"
    )
    assert conditions["locale"] == "C.UTF-8"
    assert conditions["timezone"] == "UTC"


def venv_reporting(version: str, destination: Path) -> Path:
    """A copy of the tests' venv (hard links where the filesystem allows) whose interpreter
    reports another 3.12 patch. Its sitecustomize rewrites sys.version, which the
    environment fingerprint reads (platform.python_version(), the build string) just as it
    reads a real other interpreter's; everything after that is the same mechanism."""

    def link_or_copy(source: str, target: str) -> None:
        try:
            os.link(source, target)
        except OSError:
            shutil.copy2(source, target)

    shutil.copytree(sys.prefix, destination, symlinks=True, copy_function=link_or_copy)
    site = destination / "lib/python3.12/site-packages/sitecustomize.py"
    site.write_text(
        f"import sys\nsys.version = {version!r} + sys.version[len(sys.version.split()[0]):]\n",
        encoding="utf-8",
    )
    return destination / "bin/python"


@pytest.mark.pipeline
def test_another_python_patch_reproduces_the_record_and_strict_says_it_does_not(tmp_path):
    project = copy_repo(tmp_path / "project")
    python = venv_reporting("3.12.99", tmp_path / "venv")

    run = snakemake(project, python=python)

    line = (
        "reproduced: every artifact identical; environment differs: "
        f"python {sys.version.split()[0]} -> 3.12.99"
    )
    assert line in run.output
    assert read_json(project / "results/environment.json")["python"]["version"] == "3.12.99"
    verdict = read_json(project / "results/checksum.json")
    assert verdict["records_differing"] == ["results/environment.json"]
    check = reprotrain_check(project, python)
    assert check.returncode == 0 and line in check.stdout

    # Strict: the environment must be the recorded one too.
    (project / "config/strict.yaml").write_text(
        "manifest:\n  expected: config/manifest.json\n  strict: true\n"
    )
    strict = snakemake(
        project, "--configfile", "config/config.yaml", "config/strict.yaml", check=False
    )
    assert strict.returncode != 0
    assert "manifest.strict is true, so the environment must be the recorded one too" in (
        strict.output
    )
    assert "environment (python" in strict.output
    assert reprotrain_check(project, python, "--strict").returncode == 1


def reprotrain_check(project: Path, python: Path, *args: str) -> subprocess.CompletedProcess:
    """`reprotrain check` with another venv's interpreter."""
    return subprocess.run(
        [str(python), "-m", "reprotrain.cli", "check", *args],
        cwd=project,
        capture_output=True,
        text=True,
        check=False,
    )


def test_a_worker_that_cannot_start_is_one_message(tmp_path, monkeypatch, capsys):
    """A step whose module the job's environment cannot import: no traceback of the
    worker's, one line that says what failed."""
    if not worker.available():
        pytest.fail("warm workers need pidfds (Linux 5.3 or later)")
    place = tmp_path / "workers"
    place.mkdir(mode=0o700)
    monkeypatch.setenv(worker.RUN, str(os.getpid()))
    monkeypatch.setenv(worker.DIRECTORY, str(place))
    monkeypatch.delenv(worker.ENABLED, raising=False)

    status = worker.hand_over("reprotrain_no_such_module:step", str(tmp_path / "job.log"), {})

    assert status == 1
    error = capsys.readouterr().err
    assert error.count("\n") == 2, error  # the message and its fix
    assert "did not start: ModuleNotFoundError: No module named 'reprotrain_no_such_module'" in (
        error
    )
    assert "Traceback" not in error
