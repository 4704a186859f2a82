"""Fixtures: one shared default run, a scratch copy of the repository per test, and a
signing key pair."""

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
def keys(tmp_path) -> tuple[Path, Path]:
    """A fresh ed25519 record-signing key pair: (private, public)."""
    from reprotrain.records import signing

    private, public = tmp_path / "keys/record.key", tmp_path / "record.pub"
    signing.generate(private, public)
    return private, public


@pytest.fixture
def scratch_repo(tmp_path) -> Path:
    return copy_repo(tmp_path / "reprotrain")
