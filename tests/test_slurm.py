"""The pipeline on a real SLURM cluster of three compute nodes (munge, slurmctld,
slurmdbd + MariaDB, and a slurmd per node with its own address, /tmp and processes) that
these tests start on loopback and stop by PID, also when a test fails."""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest
from helpers import BIN, MODEL, REPO, config_override, copy_repo, read_json, snakemake, wait_for

from reprotrain import fileio

# One pytest-xdist worker runs them all (--dist loadgroup): they share its test cluster.
pytestmark = [pytest.mark.pipeline, pytest.mark.slurm, pytest.mark.xdist_group("slurm")]

SLURM_PROFILES = ("--profile", "profiles/slurm", "--profile", "tests/slurm")
SCRIPT = REPO / "tools/slurm-cluster.sh"
NODES = 3
# SLURM job comments (rule_<name>, plus _wildcards_<values> for rules with wildcards):
# one submission for the split's group job (profiles/slurm `groups`) and one for
# `environment`; the run's bookkeeping (manifest, checksum, summarize) are localrules.
GROUP = "rule_split_preprocess_save_train_validate"
JOBS = {"rule_environment", GROUP}
SWEEP = ("--configfile", "config/config.yaml", "config/sweep-cluster.yaml")


@pytest.fixture(scope="session")
def slurm_cluster(tmp_path_factory):
    # mariadbd runs as its own user: pytest's 0700 tmp dirs are closed to it.
    state = Path(tempfile.mkdtemp(prefix="reprotrain-slurm-"))
    state.chmod(0o755)
    # A node's /tmp is its own (64 MiB): the tests' folders and this checkout (CI clones
    # under /tmp) stay shared, as a site's project filesystem is.
    shared = f"{tmp_path_factory.getbasetemp()}:{REPO}"
    started = subprocess.run(
        [str(SCRIPT), "start", str(state), str(NODES)],
        capture_output=True,
        text=True,
        env=os.environ | {"SLURM_SHARED_TMP": shared, "SLURM_NODE_TMP_MB": "64"},
    )
    try:
        assert started.returncode == 0, f"the test cluster did not start:\n{started.stderr}"
        # Nothing is written to /etc: sbatch and sacct find this cluster by SLURM_CONF.
        os.environ["SLURM_CONF"] = str(state / "etc/slurm.conf")
        yield state / "etc/slurm.conf"
    finally:
        os.environ.pop("SLURM_CONF", None)
        subprocess.run([str(SCRIPT), "stop", str(state)], capture_output=True, check=False)
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
    # Two submissions, not one per job (seven): the split's jobs run as one group job,
    # and the manifest and its check run beside Snakemake (localrules).
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
    assert list((workdir / "logs/slurm/rule_environment").glob("*.log"))


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


def cluster(*args: str) -> str:
    """tools/slurm-cluster.sh with ``args``; its output."""
    done = subprocess.run([str(SCRIPT), *args], capture_output=True, text=True)
    assert done.returncode == 0, f"slurm-cluster.sh {' '.join(args)}:\n{done.stderr}"
    return done.stdout


def node_names(slurm_conf: Path) -> list[str]:
    done = subprocess.run(
        ["sinfo", "-h", "-N", "-o", "%N"],
        capture_output=True,
        text=True,
        check=True,
        env=os.environ | {"SLURM_CONF": str(slurm_conf)},
    )
    return sorted(set(done.stdout.split()))


def seconds(elapsed: str) -> int:
    """squeue's elapsed time ([[D-]H:]M:SS) in seconds."""
    days, _, clock = elapsed.rpartition("-")
    total = 0
    for part in clock.split(":"):
        total = total * 60 + int(part)
    return total + int(days or 0) * 86400


def running_group_job(workdir: Path, not_on: str, for_at_least: int) -> tuple[str, str] | None:
    """(job id, node) of a group job of ``workdir`` running for a while, not on ``not_on``."""
    queue = subprocess.run(
        ["squeue", "-h", "-o", "%i|%k|%T|%N|%M|%Z"], capture_output=True, text=True, check=True
    ).stdout
    for line in queue.splitlines():
        job, comment, state, node, elapsed, where = line.split("|")
        if (
            where == str(workdir)
            and comment == GROUP
            and state == "RUNNING"
            and node != not_on
            and seconds(elapsed) >= for_at_least
        ):
            return job, node
    return None


def processes_in(folder: Path) -> list[str]:
    """Processes (a node's included: its PID namespace is one of this machine's) working in
    ``folder``: a warm worker takes its first job's directory."""
    found = []
    for process in Path("/proc").iterdir():
        with contextlib.suppress(OSError):
            if process.name.isdigit() and (process / "cwd").readlink().is_relative_to(folder):
                found.append(process.name)
    return found


def as_recorded(manifest: dict) -> dict:
    """A manifest bar where its code came from: a test's copy of the project has no git."""
    code = {k: v for k, v in manifest["provenance"]["code"].items() if not k.startswith("git_")}
    provenance = manifest["provenance"] | {"code": code}
    return {k: v for k, v in manifest.items() if k != "integrity"} | {"provenance": provenance}


def test_a_sweep_over_the_nodes_survives_a_lost_node_and_a_full_tmp(slurm_cluster, tmp_path):
    """Eight model runs in four group jobs over three nodes: one node's /tmp is full,
    and another node is lost (its slurmd and jobs killed) while a split runs on it."""
    state = slurm_cluster.parent.parent
    _, full, *_ = node_names(slurm_cluster)
    # Another job filled this node's /tmp: tempfile falls back to /var/tmp, which this
    # machine's nodes share; each node keeps its workers' folder of its own there.
    cluster("on-node", str(state), full, "sh", "-c", "! dd if=/dev/zero of=/tmp/filled bs=1M")
    workdir = copy_repo(tmp_path / "sweep")
    command = [str(BIN / "snakemake"), "--workflow-profile", "profiles/default", "--cores", "2"]
    driver = subprocess.Popen(
        [*command, *SWEEP, *SLURM_PROFILES],
        cwd=workdir,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    lost = None
    try:
        # Part-way through its split (preprocess done, training under way).
        _, lost = wait_for(
            lambda: running_group_job(workdir, not_on=full, for_at_least=8),
            "a group job to run on a node",
            timeout=240,
        )
        cluster("stop-node", str(state), lost)
        output, _ = driver.communicate(timeout=600)
    finally:
        driver.kill()
        driver.wait()
        if lost is not None:
            cluster("start-node", str(state), lost)
        cluster("on-node", str(state), full, "rm", "-f", "/tmp/filled")
    assert driver.returncode == 0, output[-6000:]
    # The plugin saw the lost node's group job fail and submitted it again (retries: 1),
    # elsewhere; the full node computed its share.
    assert "Error in group split" in output
    groups = [r for r in jobs_in(workdir, slurm_cluster) if r["Comment"] == GROUP]
    failed = [r for r in groups if r["State"] != "COMPLETED"]
    completed = [r for r in groups if r["State"] == "COMPLETED"]
    assert [(r["State"], r["NodeList"]) for r in failed] == [("NODE_FAIL", lost)], groups
    assert len(completed) == 4 and full in {r["NodeList"] for r in completed}, groups
    assert len({r["NodeList"] for r in completed}) >= 2
    # SLURM did not requeue the lost job beside its resubmission (--no-requeue): no copy
    # of it is left to run after the run has ended.
    queue = subprocess.run(["squeue", "-h", "-o", "%Z"], capture_output=True, text=True)
    assert str(workdir) not in queue.stdout.split()
    # Each group job's jobs (one srun'd Snakemake each) used the group's warm workers:
    # a split's two models trained in forks of one worker.
    splits = sorted((workdir / "logs/results-sweep-cluster/train").glob("*/*/seed-*"))
    assert len(splits) == 4
    for split in splits:
        logs = sorted(split.glob("*.log"))
        workers = {
            pid
            for log in logs
            for pid in re.findall(r"forked from warm worker (\d+)", log.read_text())
        }
        assert len(logs) == 2 and len(workers) == 1, (split, workers)
    # The run's own checksum passed against the record of a local run; the manifest is
    # the record's, every covered file's sha256 included.
    manifest = read_json(workdir / "results-sweep-cluster/manifest.json")
    assert as_recorded(manifest) == as_recorded(
        read_json(REPO / "config/sweep-cluster-manifest.json")
    )
    assert len(manifest["files"]) == 56
    # Nothing the killed job half-wrote is left, nor any process of the run.
    assert not fileio.leftover_writes(workdir / "results-sweep-cluster")
    assert not processes_in(workdir)
    # A rerun hashes every output against the manifest and finds nothing to redo.
    assert "Nothing to be done" in snakemake(workdir, *SWEEP).output


def test_a_second_cluster_on_the_machine_leaves_the_first_alone(slurm_cluster):
    """Two test runs, or a test beside a user's `make slurm-up`: free ports, names from
    the state directory, nothing in /etc, a munged shared and kept by the first."""
    other = Path(tempfile.mkdtemp(prefix="reprotrain-slurm-other-"))
    other.chmod(0o755)

    def submit(conf: Path) -> str:
        done = subprocess.run(
            # From /: the second cluster's node shares no folder of /tmp, where a clone
            # of the project may be.
            [
                *("sbatch", "--parsable", "--wait", "--chdir", "/", "--output", "/dev/null"),
                *("-A", "reprotrain", "-p", "debug", "--wrap", "true"),
            ],
            capture_output=True,
            text=True,
            env=os.environ | {"SLURM_CONF": str(conf)},
        )
        assert done.returncode == 0, done.stderr
        done = subprocess.run(
            ["sacct", "-X", "-n", "-P", "-o", "State,Cluster", "-j", done.stdout.strip()],
            capture_output=True,
            text=True,
            env=os.environ | {"SLURM_CONF": str(conf)},
        )
        return done.stdout.strip()

    try:
        cluster("start", str(other), "1")
        second = other / "etc/slurm.conf"
        assert not set(node_names(second)) & set(node_names(slurm_cluster))
        first_name = submit(slurm_cluster).split("|")[1]
        second_name = submit(second).split("|")[1]
        assert first_name != second_name
    finally:
        subprocess.run([str(SCRIPT), "stop", str(other)], capture_output=True, check=False)
        leftover = [line for line in ps_lines() if str(other) in line]
        shutil.rmtree(other, ignore_errors=True)
    assert not leftover
    # The first cluster runs on, munge included.
    assert submit(slurm_cluster) == f"COMPLETED|{first_name}"
