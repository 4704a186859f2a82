"""The conda path where no conda is: one clear message before any job, never Snakemake's
"Error running conda info", and no --containerize Dockerfile that would not be the lock."""

from __future__ import annotations

import shutil

import pytest
from helpers import snakemake


@pytest.mark.pipeline
@pytest.mark.parametrize(
    ("arguments", "message", "fix"),
    [
        (
            ("--use-conda", "--dry-run"),
            "envs/environment.yaml: --use-conda builds the rules' environment from its pin "
            "file with conda 24.7.1 or later, and there is no `conda` on PATH",
            "`make run` installs the same versions from envs/requirements.lock",
        ),
        (
            ("--use-conda", "--conda-create-envs-only"),
            "there is no `conda` on PATH",
            "install conda >= 24.7.1",
        ),
        (
            ("--containerize",),
            "envs/environment.yaml: --containerize would write a Dockerfile that solves this "
            "spec afresh instead of installing its pin file",
            "build the image from envs/environment.<platform>.pin.txt",
        ),
    ],
    ids=["use-conda", "create-envs-only", "containerize"],
)
def test_a_run_that_cannot_get_the_locked_environment_is_refused_before_any_job(
    scratch_repo, arguments, message, fix
):
    if shutil.which("conda") is not None:
        pytest.skip("conda is installed here: these cases need a machine without it (CI's)")
    run = snakemake(scratch_repo, *arguments, check=False)
    assert run.returncode != 0
    assert message in run.output
    assert fix in run.output
    assert "Error running conda info" not in run.output
    assert "FROM condaforge" not in run.output  # no partial Dockerfile
    assert not (scratch_repo / "results").exists()
