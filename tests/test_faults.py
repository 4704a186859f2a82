"""Faults: killed runs recover byte-identically, concurrent runs are refused, a full disk
fails cleanly."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest
from helpers import (
    BIN,
    MODEL,
    assert_same_manifest,
    config_override,
    copy_repo,
    processes_with,
    snakemake,
    wait_for,
)

RULES = (
    "preprocess",
    "environment",
    "train",
    "save",
    "validate",
    "manifest",
    "checksum",
)


def start(workdir: Path, cores: int = 1, capture: bool = False) -> subprocess.Popen:
    """A run in its own process group (driver and job processes), in the background;
    ``capture``: its output is kept (stdout and stderr together, as text)."""
    return subprocess.Popen(
        [
            str(BIN / "snakemake"),
            "--workflow-profile",
            "profiles/default",
            "-c",
            str(cores),
        ],
        cwd=workdir,
        stdout=subprocess.PIPE if capture else subprocess.DEVNULL,
        stderr=subprocess.STDOUT if capture else subprocess.DEVNULL,
        text=capture,
        start_new_session=True,
    )


def rule_started(workdir: Path, rule: str) -> bool:
    """A job of ``rule`` has opened its log: logs/<rule>.log or logs/<rule>/<wildcards>.log."""
    logs = workdir / "logs"
    return (logs / f"{rule}.log").exists() or any((logs / rule).rglob("*.log"))


def job_processes(workdir: Path, rule: str) -> list[int]:
    """PIDs of the Python processes running ``rule``'s script for the run in ``workdir``."""
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            command = (proc / "cmdline").read_bytes().split(b"\0")
            cwd = str((proc / "cwd").readlink())
        except OSError:
            continue
        if cwd == str(workdir) and any(part.endswith(f".{rule}.py".encode()) for part in command):
            found.append(int(proc.name))
    return found


@pytest.mark.parametrize("rule", RULES)
def test_run_killed_during_a_rule_recovers_byte_identically(rule, default_run, tmp_path):
    workdir = copy_repo(tmp_path / "killed")
    run = start(workdir)
    wait_for(lambda: rule_started(workdir, rule), f"rule {rule} to start")
    os.killpg(run.pid, signal.SIGKILL)
    run.wait()
    snakemake(workdir)
    assert_same_manifest(workdir, default_run)


def test_killed_job_process_fails_the_run_and_the_rerun_completes(default_run, tmp_path):
    workdir = copy_repo(tmp_path / "job-killed")
    run = start(workdir)
    wait_for(lambda: job_processes(workdir, "train"), "the train job")
    for pid in job_processes(workdir, "train"):
        os.kill(pid, signal.SIGKILL)
    assert run.wait(timeout=120) != 0
    assert not (workdir / f"{MODEL}/model.pkl").exists()
    snakemake(workdir)
    assert_same_manifest(workdir, default_run)


def test_ctrl_c_ends_the_run_without_a_traceback_and_the_rerun_completes(default_run, tmp_path):
    """Ctrl-C reaches the driver and its jobs together (the terminal's process group):
    the run ends with Snakemake's line and no traceback, and the next run accepts what
    is left and makes the record's bytes."""
    workdir = copy_repo(tmp_path / "interrupted")
    run = start(workdir, capture=True)
    # The job has opened its log (it is past Snakemake's script preamble, where a Ctrl-C
    # still prints Python's traceback) and its process is live: Snakemake's log handler
    # swallows a Ctrl-C that lands while it writes, and a run between jobs then goes on
    # to succeed, while a job in the process group fails with it whenever it lands.
    wait_for(
        lambda: rule_started(workdir, "train") and job_processes(workdir, "train"),
        "the train job",
    )
    os.killpg(run.pid, signal.SIGINT)
    output, _ = run.communicate(timeout=120)
    assert run.returncode != 0
    assert "Terminating processes on user request" in output
    assert "Traceback" not in output, output[-3000:]
    snakemake(workdir)
    assert_same_manifest(workdir, default_run)


def test_second_concurrent_run_is_refused_and_the_first_completes(default_run, tmp_path):
    workdir = copy_repo(tmp_path / "concurrent")
    first = start(workdir)
    wait_for(lambda: rule_started(workdir, "preprocess"), "the first run to start")
    # Hold the first run (it keeps its lock) so it cannot finish before the second
    # builds its DAG, however slow the machine.
    os.killpg(first.pid, signal.SIGSTOP)
    try:
        second = snakemake(workdir, check=False)
    finally:
        os.killpg(first.pid, signal.SIGCONT)
    assert second.returncode != 0
    assert ".snakemake/reprotrain-run.lock: another run (pid" in second.output
    assert "fix: wait for it to finish" in second.output
    assert first.wait(timeout=300) == 0
    assert_same_manifest(workdir, default_run)


@pytest.fixture
def small_results_disk(tmp_path):
    """results/ on a 200 KiB tmpfs: the split tables fit, the rest of the run does not."""
    workdir = copy_repo(tmp_path / "full-disk")
    results = workdir / "results"
    results.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=200k", "tmpfs", str(results)],
        capture_output=True,
        text=True,
    )
    assert mounted.returncode == 0, f"mounting a tmpfs needs root: {mounted.stderr}"
    try:
        yield workdir
    finally:
        subprocess.run(["umount", "-l", str(results)], check=False)


@pytest.mark.pipeline
def test_full_disk_fails_clearly_and_leaves_no_half_written_record(small_results_disk):
    workdir = small_results_disk
    # Named as an output the run does not make, so the folder is still a results folder.
    filler = workdir / "results/crate.zip"
    filler.write_bytes(b"\0" * 40 * 1024)  # leaves room for the tables, not for the model
    run = snakemake(workdir, check=False)
    assert run.returncode != 0
    assert "could not be written: No space left on device" in run.output
    assert "Traceback" not in run.output
    for record in (workdir / "results").rglob("*.json"):
        json.loads(record.read_text())  # every JSON that exists is complete
    assert not (workdir / "results/manifest.json").exists()
    assert not list((workdir / "results").rglob(".*.tmp"))


def mount_tmpfs(directory: Path, options: str) -> None:
    directory.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(directory)],
        capture_output=True,
        text=True,
    )
    assert mounted.returncode == 0, f"mounting a tmpfs needs root: {mounted.stderr}"


@pytest.mark.pipeline
@pytest.mark.parametrize(
    ("directory", "options", "message"),
    [
        ("results", "ro,size=1m", "results/: cannot be written (a read-only filesystem"),
        (".snakemake", "size=4k", ".snakemake/reprotrain-run.lock: cannot be written: No space"),
        ("logs", "size=4k", "packages.json: could not be written: No space left on device"),
    ],
    ids=["read-only-results", "full-snakemake-directory", "full-logs"],
)
def test_an_unwritable_directory_fails_with_one_message(tmp_path, directory, options, message):
    workdir = copy_repo(tmp_path / "project")
    target = workdir / directory
    mount_tmpfs(target, options)
    try:
        if "ro" not in options.split(","):
            (target / "filler").write_bytes(b"\0" * 3 * 1024)  # what is left is too little
        run = snakemake(workdir, check=False)
    finally:
        subprocess.run(["umount", "-l", str(target)], check=False)
    assert run.returncode != 0
    assert message in run.output, run.output[-3000:]
    assert "\n  fix: " in run.output[run.output.index(message) :]
    assert "Traceback" not in run.output
    assert "Logging error" not in run.output


@pytest.mark.pipeline
def test_jobs_leave_no_worker_processes_behind(tmp_path, monkeypatch):
    """LogisticRegression jobs once left joblib/loky workers holding the caller's pipe:
    the run ends, its caller reads the output to EOF, and no process of the run is left."""
    workdir = copy_repo(tmp_path / "project")
    marker = f"run-{os.getpid()}-{time.monotonic_ns()}"
    monkeypatch.setenv("REPROTRAIN_TEST_RUN", marker)
    args = config_override(workdir, "lr", {"model": "logistic_regression"})
    command = [str(BIN / "snakemake"), "--workflow-profile", "profiles/default"]
    # Both pipes are read to EOF: a worker that kept them open would keep this waiting
    # (loky's idle workers live 300 s), which the timeout turns into a failure.
    done = subprocess.run(
        [*command, "--cores", "2", *args, "--", "results/manifest.json"],
        cwd=workdir,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert processes_with("REPROTRAIN_TEST_RUN", marker) == []


@pytest.mark.parametrize(
    ("options", "message"),
    [("size=4k", "No space left on device"), ("ro,size=1m", "Read-only file system")],
    ids=["full", "read-only"],
)
def test_recording_onto_a_full_or_read_only_disk_is_one_message(
    default_run, tmp_path, options, message
):
    """`reprotrain record` writes the record atomically: a disk that cannot take it is one
    message naming the file, no traceback, and no half-written record."""
    workdir = shutil.copytree(default_run, tmp_path / "run", symlinks=True)
    target = workdir / "records"
    mount_tmpfs(target, options)
    try:
        if "ro" not in options.split(","):
            (target / "filler").write_bytes(b"\0" * 3 * 1024)
        done = subprocess.run(
            [str(BIN / "reprotrain"), "record", "--to", "records/manifest.json"],
            cwd=workdir,
            capture_output=True,
            text=True,
        )
        left = sorted(p.name for p in target.iterdir())
    finally:
        subprocess.run(["umount", "-l", str(target)], check=False)
    assert done.returncode == 2
    assert done.stderr.startswith("reprotrain: records/manifest.json: could not be written: ")
    assert message in done.stderr and "\n  fix: " in done.stderr
    assert "Traceback" not in done.stderr
    assert left in ([], ["filler"])
