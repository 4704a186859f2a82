"""How a run uses the machine: a local sweep shares --cores among its model runs, so that
independent jobs run side by side instead of queueing behind each other's threads."""

from __future__ import annotations

import re

import pytest
from helpers import copy_repo, snakemake


def model_job_threads(output: str) -> set[int]:
    """The threads of each train and validate job a dry run lists (1 is not printed)."""
    threads = set()
    for block in re.split(r"\n(?=(?:local)?rule )", output):
        if block.startswith(("rule train:", "rule validate:")):
            found = re.search(r"\n\s+threads: (\d+)", block)
            threads.add(int(found.group(1)) if found else 1)
    return threads


@pytest.mark.dryrun
def test_a_local_sweep_shares_the_cores_among_its_model_runs(tmp_path):
    repo = copy_repo(tmp_path / "repo")
    single = snakemake(repo, "--dry-run", cores=2)
    sweep = snakemake(
        repo, "--dry-run", "--configfile", "config/config.yaml", "config/sweep.yaml", cores=2
    )
    assert model_job_threads(single.output) == {2}  # config threads, the run's only model
    assert model_job_threads(sweep.output) == {1}  # 4 model runs on 2 cores: one each
    wide = snakemake(
        repo, "--dry-run", "--configfile", "config/config.yaml", "config/sweep.yaml", cores=8
    )
    assert model_job_threads(wide.output) == {2}  # 8 cores: config threads for each of 4
