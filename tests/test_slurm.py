"""The pipeline on a real SLURM cluster of three compute nodes (munge, slurmctld,
slurmdbd + MariaDB, and a slurmd per node with its own address, /tmp and processes) that
these tests start on loopback and stop by PID, also when a test fails."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest
from helpers import MODEL, REPO, config_override, copy_repo, snakemake

pytestmark = [pytest.mark.pipeline, pytest.mark.slurm]

SLURM_PROFILES = ("--profile", "profiles/slurm", "--profile", "tests/slurm")
NODES = 3
# SLURM job comments (rule_<name>, plus _wildcards_<values> for rules with wildcards):
# one submission for the split's group job (profiles/slurm `groups`), one per run-level rule.
GROUP = "rule_split_preprocess_save_train_validate"
JOBS = {"rule_environment", GROUP, "rule_manifest", "rule_checksum"}


@pytest.fixture(scope="session")
def slurm_cluster(tmp_path_factory):
    # munged and mariadbd run as their own users: pytest's 0700 tmp dirs are closed to them.
    state = Path(tempfile.mkdtemp(prefix="reprotrain-slurm-"))
    state.chmod(0o755)
    script = REPO / "tools/slurm-cluster.sh"
    # A node's /tmp is its own: the tests' folders and this checkout (CI clones under
    # /tmp) stay shared, as a site's project filesystem is.
    shared = f"{tmp_path_factory.getbasetemp()}:{REPO}"
    started = subprocess.run(
        [str(script), "start", str(state), str(NODES)],
        capture_output=True,
        text=True,
        env=os.environ | {"SLURM_SHARED_TMP": shared},
    )
    try:
        assert started.returncode == 0, f"the test cluster did not start:\n{started.stderr}"
        # Nothing is written to /etc: sbatch and sacct find this cluster by SLURM_CONF.
        os.environ["SLURM_CONF"] = str(state / "etc/slurm.conf")
        yield state / "etc/slurm.conf"
    finally:
        os.environ.pop("SLURM_CONF", None)
        subprocess.run([str(script), "stop", str(state)], capture_output=True, check=False)
        left = sorted(str(pidfile) for pidfile in state.rglob("*.pid"))
        shutil.rmtree(state, ignore_errors=True)
        assert not left, f"daemons not stopped: {left}"
        # Every node's namespace (and the slurmd in it) is gone.
        assert not [line for line in ps_lines() if str(state) in line]


def ps_lines() -> list[str]:
    return subprocess.run(
        ["ps", "-eo", "pid,args"], capture_output=True, text=True
    ).stdout.splitlines()


def jobs_in(workdir: Path, slurm_conf: Path) -> list[dict[str, str]]:
    """sacct's accounting records of the jobs submitted from ``workdir``."""
    fields = ("JobID", "Comment", "State", "WorkDir", "NodeList")
    done = subprocess.run(
        ["sacct", "--allusers", "-X", "-n", "-P", "-o", ",".join(fields)],
        capture_output=True,
        text=True,
        check=True,
        env=os.environ | {"SLURM_CONF": str(slurm_conf)},
    )
    records = [dict(zip(fields, line.split("|"), strict=True)) for line in done.stdout.splitlines()]
    return [record for record in records if record["WorkDir"] == str(workdir)]


def test_pipeline_runs_under_slurm_with_the_same_manifest_as_locally(
    default_run, slurm_cluster, tmp_path
):
    workdir = copy_repo(tmp_path / "on-slurm")
    snakemake(workdir, *SLURM_PROFILES)
    records = jobs_in(workdir, slurm_cluster)
    # Four submissions, not one per job (seven): the split's jobs run as one group job.
    assert sorted(record["Comment"] for record in records) == sorted(JOBS)
    assert {record["State"] for record in records} == {"COMPLETED"}
    # The environment job and the split's group job start together: on two nodes, each
    # with its own /tmp and processes.
    assert len({record["NodeList"] for record in records}) >= 2, records
    # Every output, and the manifest itself, is byte-identical to the local run's.
    local = (default_run / "results/manifest.json").read_bytes()
    assert (workdir / "results/manifest.json").read_bytes() == local
    assert (workdir / "results/checksum.json").is_file()
    # logs/slurm/group_<group>/<jobid>.log for a group job, rule_<rule>/… for the others
    assert list((workdir / "logs/slurm").glob("group_split_*/*.log"))
    assert list((workdir / "logs/slurm/rule_manifest").glob("*.log"))


def test_failing_job_is_reported_retried_and_leaves_nothing(default_run, slurm_cluster, tmp_path):
    # From a finished local run, stricter thresholds leave only validate to rerun.
    workdir = shutil.copytree(default_run, tmp_path / "failing", symlinks=True)
    strict = config_override(workdir, "strict", {"thresholds": {"min_accuracy": 0.999}})
    run = snakemake(workdir, f"{MODEL}/metrics.json", *strict, *SLURM_PROFILES, check=False)
    assert run.returncode != 0
    # The group job holds validate alone: its upstream work is done.
    validate_jobs = [
        r for r in jobs_in(workdir, slurm_cluster) if r["Comment"] == "rule_split_validate"
    ]
    # retries: 1 in the profile, so two attempts, both failed.
    assert [record["State"] for record in validate_jobs] == ["FAILED", "FAILED"]
    last = validate_jobs[-1]["JobID"]
    assert "Error in group split" in run.output and "Error in rule validate" in run.output
    assert f"logs/slurm/group_split_validate/{last}.log" in run.output
    assert "misses its quality thresholds" in run.output
    assert not (workdir / f"{MODEL}/metrics.json").exists()
    assert (workdir / f"{MODEL}/model.pkl").is_file()  # upstream work is kept
    assert {r["Comment"] for r in jobs_in(workdir, slurm_cluster)} == {"rule_split_validate"}
