"""Fixtures: one shared default run, a scratch copy of the repository per test, and a
signing key pair."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from helpers import copy_repo, snakemake

# What a test of each tier may start (a unit test: none of these).
TIERS = ("dryrun", "pipeline", "hunt", "slurm")


def _tier_started(arguments) -> str | None:
    """The tier a command belongs to: a Snakemake run (dry or not), or a hunt."""
    words = [str(word) for word in (arguments if isinstance(arguments, list | tuple) else [])]
    program = " ".join(words[:3])
    if "hunt" in words[1:2] and words[0].endswith("reprotrain"):
        return "hunt"
    if words and (words[0].endswith("snakemake") or "-m snakemake" in program):
        dry = {"-n", "--dry-run", "--dryrun", "--lint", "--rulegraph", "--dag"} & set(words)
        return "dryrun" if dry else "pipeline"
    return None


# Fixtures that run the pipeline: a test that uses one (through any other) is a pipeline
# test, whatever else it does.
PIPELINE_FIXTURES = {"default_run", "sweep"}


# The costliest tiers first: pytest-xdist hands tests out in this order, so the long ones
# start early and the short ones fill the gaps, rather than one long test ending the run.
COST_ORDER = ("slurm", "hunt", "pipeline", "fuzz", "dryrun")


def _cost_rank(item: pytest.Item) -> int:
    marks = {mark.name for mark in item.iter_markers()}
    return next((rank for rank, tier in enumerate(COST_ORDER) if tier in marks), len(COST_ORDER))


def pytest_collection_modifyitems(items):
    for item in items:
        if PIPELINE_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.pipeline)
    items.sort(key=_cost_rank)


@pytest.fixture(autouse=True)
def _tier_is_honest(request, monkeypatch):
    """A test starts nothing costlier than its tier: a unit test no Snakemake, a dry-run
    test no job, a pipeline test no hunt. The tiers of make test-fast stay fast."""
    marks = {mark.name for mark in request.node.iter_markers()} & set(TIERS)
    allowed = {tier for tier in TIERS if tier in marks}
    if "slurm" in allowed or "hunt" in allowed:
        return
    if "pipeline" in allowed:
        allowed.add("dryrun")
    real = subprocess.Popen

    class Guarded(real):  # type: ignore[misc, valid-type]
        def __init__(self, args, *rest, **options):
            tier = _tier_started(args)
            if tier is not None and tier not in allowed:
                started = " ".join(map(str, args))
                pytest.fail(f"a test without the {tier} mark started {started}")
            super().__init__(args, *rest, **options)

    monkeypatch.setattr(subprocess, "Popen", Guarded)


@pytest.fixture(scope="session")
def default_run(tmp_path_factory) -> Path:
    """One full run of the default pipeline with -c2, shared by the read-only tests. Each
    pytest-xdist worker makes its own: some tests run Snakemake in it (a no-op rerun, a
    report), and two at once would meet the run lock."""
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
