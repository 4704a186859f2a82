"""Hermetic jobs: a module a job loads from outside its environment fails the job."""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers import DATA, plant, snakemake

from reprotrain.environment import hermetic

CONDA_ENV = Path("/work/.snakemake/conda/abc123")
DRIVER_VENV = Path("/work/.venv/lib/python3.12/site-packages")
BASE = Path("/opt/python/lib/python3.12")


def test_under_conda_a_module_from_the_drivers_venv_is_foreign_unless_the_preamble_loaded_it():
    files = {
        "snakemake.logging": f"{DRIVER_VENV}/snakemake/logging.py",  # the preamble's
        "numpy": f"{CONDA_ENV}/lib/python3.12/site-packages/numpy/__init__.py",
        "json": f"{CONDA_ENV}/lib/python3.12/json/__init__.py",
        "pandera": f"{DRIVER_VENV}/pandera/__init__.py",  # missing from the env
        "reprotrain.ml.data": "/work/src/reprotrain/ml/data.py",
        "builtins": None,
        "__main__": ".snakemake/scripts/tmp1.train.py",
    }
    foreign = hermetic.foreign_modules(
        files,
        loaded_before={"snakemake.logging"},
        allowed=[CONDA_ENV, Path("/work/src/reprotrain")],
    )
    assert foreign == [("pandera", f"{DRIVER_VENV}/pandera/__init__.py")]


def test_in_a_venv_the_base_interpreters_site_packages_are_not_the_environment():
    venv = Path("/work/.venv")
    files = {
        "os": f"{BASE}/os.py",
        "_ssl": f"{BASE}/lib-dynload/_ssl.cpython-312-x86_64-linux-gnu.so",
        "sklearn": f"{venv}/lib/python3.12/site-packages/sklearn/__init__.py",
        "requests": f"{BASE}/site-packages/requests/__init__.py",
    }
    foreign = hermetic.foreign_modules(
        files, (), allowed=[venv, BASE], excluded=[BASE / "site-packages"]
    )
    assert [name for name, _ in foreign] == ["requests"]


@pytest.mark.pipeline
def test_a_job_that_imports_a_module_from_outside_its_environment_fails(
    scratch_repo, tmp_path, monkeypatch
):
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "handy_helper.py").write_text("VALUE = 1\n")
    plant(
        scratch_repo,
        "src/reprotrain/steps/learning.py",
        "def preprocess(\n",
        before="import handy_helper  # noqa: F401\n\n\n",
    )
    monkeypatch.setenv("PYTHONPATH", str(outside))
    run = snakemake(scratch_repo, check=False)
    assert run.returncode != 0
    assert (
        f"{outside / 'handy_helper.py'}: the job imported handy_helper from outside the "
        "environment it runs in"
    ) in run.output
    assert f"take what puts {outside} on the module path away (PYTHONPATH" in run.output
    assert not (scratch_repo / DATA / "train.npy").exists()
