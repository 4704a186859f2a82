"""Fixtures: one shared default run, and a scratch copy of the repository per test."""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers import copy_repo, snakemake


@pytest.fixture(scope="session")
def default_run(tmp_path_factory) -> Path:
    """One full run of the default pipeline with -c2, shared by the read-only tests."""
    workdir = copy_repo(tmp_path_factory.mktemp("default") / "reprotrain")
    snakemake(workdir)
    return workdir


@pytest.fixture
def scratch_repo(tmp_path) -> Path:
    return copy_repo(tmp_path / "reprotrain")
