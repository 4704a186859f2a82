"""The pipeline on a real SLURM cluster (munge, slurmctld, slurmd, slurmdbd + MariaDB)
that these tests start on loopback and stop by PID, also when a test fails."""

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
# SLURM job comments: rule_<name>, plus _wildcards_<values> for rules with wildcards.
JOBS = {
    "rule_environment",
    "rule_preprocess_wildcards_breast_cancer_v1.0_42",
    "rule_train_wildcards_breast_cancer_v1.0_42_hist_gradient_boosting",
    "rule_save_wildcards_breast_cancer_v1.0_42_hist_gradient_boosting",
    "rule_validate_wildcards_breast_cancer_v1.0_42_hist_gradient_boosting",
    "rule_manifest",
    "rule_checksum",
}


@pytest.fixture(scope="session")
def slurm_cluster():
    # munged and mariadbd run as their own users: pytest's 0700 tmp dirs are closed to them.
    state = Path(tempfile.mkdtemp(prefix="reprotrain-slurm-"))
    state.chmod(0o755)
    script = REPO / "tools/slurm-cluster.sh"
    started = subprocess.run([str(script), "start", str(state)], capture_output=True, text=True)
    try:
        assert started.returncode == 0, f"the test cluster did not start:\n{started.stderr}"
        yield state / "etc/slurm.conf"
    finally:
        subprocess.run([str(script), "stop", str(state)], capture_output=True, check=False)
        left = sorted(str(pidfile) for pidfile in state.rglob("*.pid"))
        shutil.rmtree(state, ignore_errors=True)
        assert not left, f"daemons not stopped: {left}"


def jobs_in(workdir: Path, slurm_conf: Path) -> list[dict[str, str]]:
    """sacct's accounting records of the jobs submitted from ``workdir``."""
    fields = ("JobID", "Comment", "State", "WorkDir")
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
    assert {record["Comment"] for record in records} == JOBS
    assert {record["State"] for record in records} == {"COMPLETED"}
    # Every output, and the manifest itself, is byte-identical to the local run's.
    local = (default_run / "results/manifest.json").read_bytes()
    assert (workdir / "results/manifest.json").read_bytes() == local
    assert (workdir / "results/checksum.json").is_file()
    # logs/slurm/rule_<rule>/<wildcard values>/<jobid>.log
    assert list((workdir / "logs/slurm/rule_train").glob("breast_cancer_v1.0_42_*/*.log"))


def test_failing_job_is_reported_retried_and_leaves_nothing(default_run, slurm_cluster, tmp_path):
    # From a finished local run, stricter thresholds leave only validate to rerun.
    workdir = shutil.copytree(default_run, tmp_path / "failing", symlinks=True)
    strict = config_override(workdir, "strict", {"thresholds": {"min_accuracy": 0.999}})
    run = snakemake(workdir, f"{MODEL}/metrics.json", *strict, *SLURM_PROFILES, check=False)
    assert run.returncode != 0
    validate_jobs = [
        r for r in jobs_in(workdir, slurm_cluster) if r["Comment"].startswith("rule_validate_")
    ]
    # retries: 1 in the profile, so two attempts, both failed.
    assert [record["State"] for record in validate_jobs] == ["FAILED", "FAILED"]
    last = validate_jobs[-1]["JobID"]
    assert "Error in rule validate" in run.output
    assert f"SLURM-job '{last}' failed, SLURM status is: 'FAILED'" in run.output
    run_name = "breast_cancer_v1.0_42_hist_gradient_boosting"
    assert f"logs/slurm/rule_validate/{run_name}/{last}.log" in run.output
    assert "misses its quality thresholds" in run.output
    assert not (workdir / f"{MODEL}/metrics.json").exists()
    assert (workdir / f"{MODEL}/model.pkl").is_file()  # upstream work is kept
    assert {r["Comment"].split("_wildcards_")[0] for r in jobs_in(workdir, slurm_cluster)} == {
        "rule_validate"
    }
