"""Warm workers (reprotrain.steps.worker): a job's step in a fork of its run's worker, with the
job's streams, environment and exit status, and no process that outlives its run."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from helpers import BIN, REPO, copy_repo, processes_with, snakemake, wait_for

from reprotrain.steps import worker

STEPS = """
import os
import time
from pathlib import Path

from reprotrain.errors import ReprotrainError


def write(out, text, items):
    Path(out).write_text(f"{text} {items!r} {os.getppid()} {os.environ['MARK']}")


def sleep(out):
    Path(out).write_text(str(os.getpid()))
    time.sleep(60)


def refuse():
    raise ReprotrainError("data.csv", "column", "is bad", "mend it")
"""


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def processes_of_run(run: int) -> list[int]:
    """Every live process (not a zombie) that belongs to the run whose driver is ``run``."""
    return [pid for pid in processes_with(worker.RUN, str(run)) if pid != run and alive(pid)]


@pytest.fixture
def run(tmp_path):
    """A stand-in driver process, a private worker directory and a module of steps."""
    driver = subprocess.Popen(["sleep", "300"])
    place = tmp_path / "workers"
    place.mkdir(mode=0o700)
    (tmp_path / "code").mkdir()
    (tmp_path / "code/steps_here.py").write_text(STEPS)
    environment = dict(
        os.environ,
        PYTHONPATH=f"{REPO / 'src'}{os.pathsep}{tmp_path / 'code'}",
        REPROTRAIN_USER_CODE=str(tmp_path / "code"),
        REPROTRAIN_RUN=str(driver.pid),
        REPROTRAIN_WORKER_DIR=str(place),
        MARK="job-one",
        # A variable the run declares: the job's step sees it (reprotrain.steps.box).
        REPROTRAIN_PASS_ENVIRONMENT='["MARK"]',
    )
    for name in ("REPROTRAIN_LOCK", "REPROTRAIN_NUMERICS", worker.ENABLED):
        environment.pop(name, None)
    yield driver, place, environment
    worker.stop_workers(driver.pid, place)
    driver.kill()
    driver.wait()


def job(tmp_path, environment, step: str, **arguments) -> subprocess.Popen:
    """A job's process as a rule script is: it hands ``step`` to the run's worker."""
    code = (
        "import sys; sys.path.insert(0, sys.argv[1])\n"
        "from reprotrain.steps.entry import run_step\n"
        f"run_step('step.log', {step!r}, **{arguments!r})\n"
    )
    return subprocess.Popen(
        [sys.executable, "-c", code, environment["REPROTRAIN_USER_CODE"]],
        cwd=tmp_path,
        env=environment,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_jobs_run_their_step_in_one_warm_worker_with_their_own_environment(tmp_path, run):
    driver, place, environment = run
    first = job(tmp_path, environment, "steps_here:write", out="a.txt", text="one", items=(1, 2))
    assert first.wait(timeout=60) == 0, first.stderr.read()
    second = job(
        tmp_path,
        dict(environment, MARK="job-two", OMP_NUM_THREADS="2"),
        "steps_here:write",
        out="b.txt",
        text="two",
        items=[3],
    )
    # A different MARK is another environment: another worker.
    assert second.wait(timeout=60) == 0, second.stderr.read()
    third = job(
        tmp_path,
        dict(environment, OMP_NUM_THREADS="2"),
        "steps_here:write",
        out="c.txt",
        text="three",
        items=[],
    )
    assert third.wait(timeout=60) == 0, third.stderr.read()
    one, two, three = ((tmp_path / f"{n}.txt").read_text().split() for n in "abc")
    assert one[:2] == ["one", "[1,"] and one[-1] == "job-one"
    assert two[-1] == "job-two" and three[-1] == "job-one"
    # Thread counts do not make another worker; the rest of the environment does.
    assert one[-2] == three[-2] != two[-2]
    assert "step forked from warm worker" in (tmp_path / "step.log").read_text()
    assert len(list(place.glob(f"{driver.pid}-*.pid"))) == 2


def test_a_refused_step_fails_its_job_with_the_one_message(tmp_path, run):
    _, _, environment = run
    refused = job(tmp_path, environment, "steps_here:refuse")
    assert refused.wait(timeout=60) == 1
    assert "reprotrain: data.csv: column: is bad" in refused.stderr.read()


def test_a_killed_job_takes_its_step_with_it_and_the_run_ends_its_workers(tmp_path, run):
    driver, place, environment = run
    sleeper = job(tmp_path, environment, "steps_here:sleep", out="pid.txt")
    started = tmp_path / "pid.txt"
    step = int(wait_for(lambda: started.exists() and started.read_text(), "the step to start", 30))
    sleeper.kill()
    sleeper.wait()
    wait_for(lambda: not alive(step), "the killed job's step to end", timeout=10)
    # The driver ends: so do its workers, and they leave nothing behind.
    assert processes_of_run(driver.pid)
    driver.kill()
    driver.wait()
    wait_for(lambda: not processes_of_run(driver.pid), "the workers to end", timeout=10)
    wait_for(lambda: not list(place.iterdir()), "the workers' files to go", timeout=10)


def test_stop_workers_ends_a_runs_workers_and_their_step_workers(tmp_path, run):
    driver, place, environment = run
    started = job(tmp_path, environment, "steps_here:write", out="a.txt", text="", items=())
    assert started.wait(timeout=60) == 0
    assert processes_of_run(driver.pid)
    worker.stop_workers(driver.pid, place)
    assert not processes_of_run(driver.pid)
    assert not list(place.iterdir())


def test_what_runs_that_are_over_left_is_removed(tmp_path):
    ended = subprocess.Popen(["true"])
    ended.wait()
    (tmp_path / f"{ended.pid}-0123.lock").touch()
    (tmp_path / f"{os.getpid()}-0123.lock").touch()
    worker.remove_leftovers(tmp_path)
    assert [path.name for path in tmp_path.iterdir()] == [f"{os.getpid()}-0123.lock"]


def test_the_worker_address_follows_the_environment_but_not_thread_counts(monkeypatch):
    place = Path("/nowhere")
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    train = worker._address(place, "7", "reprotrain.steps.learning:train")
    monkeypatch.setenv("OMP_NUM_THREADS", "2")
    assert worker._address(place, "7", "reprotrain.steps.learning:train") == train
    # The steps of one module share its worker; a step with imports of its own has one.
    assert worker._address(place, "7", "reprotrain.steps.learning:other") == train
    assert worker._address(place, "7", "reprotrain.steps.learning:validate") != train
    assert worker._address(place, "8", "reprotrain.steps.learning:train") != train
    monkeypatch.setenv("PYTHONHASHSEED", "1")
    assert worker._address(place, "7", "reprotrain.steps.learning:train") != train


def test_arguments_travel_as_plain_json_values():
    class Named(str):
        pass

    class Listed(list):
        pass

    plain = worker._plain({"a": Named("x"), "b": Listed([Named("y")]), "c": (1, 2.5, None)})
    assert plain == {"a": "x", "b": ["y"], "c": [1, 2.5, None]}
    assert type(plain["a"]) is str and type(plain["b"]) is list


def test_a_worker_directory_others_can_enter_is_not_used(tmp_path, monkeypatch):
    monkeypatch.setattr("tempfile.tempdir", str(tmp_path))
    private = worker.directory()
    assert private is not None and private.stat().st_mode & 0o777 == 0o700
    private.chmod(0o755)
    assert worker.directory() is None


def test_each_pid_namespace_has_its_own_worker_folder(tmp_path, monkeypatch):
    """A cluster's nodes can share a temporary directory (one /var/tmp, a TMPDIR on the
    shared filesystem); sockets and PIDs mean something only on the machine, and in the
    PID namespace, that made them, so each keeps its own folder there."""
    monkeypatch.setattr("tempfile.tempdir", str(tmp_path))
    here = worker.directory()
    show = "from reprotrain.steps import worker; print(worker.directory())"
    elsewhere = [
        subprocess.run(
            ["unshare", "--pid", "--fork", "--mount-proc", sys.executable, "-c", show],
            env=dict(os.environ, TMPDIR=str(tmp_path), PYTHONPATH=str(REPO / "src")),
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        for _ in range(2)
    ]
    assert here is not None and here.parent == tmp_path / f"reprotrain-workers-{os.getuid()}"
    assert len({str(here), *elsewhere}) == 3
    assert all(Path(folder).parent == here.parent for folder in elsewhere)
    # A folder of another namespace is never taken for one of a run that is over.
    worker.remove_leftovers(here)
    assert all(Path(folder).is_dir() for folder in elsewhere)


def test_an_inherited_run_owns_the_workers_only_from_this_machine(tmp_path, monkeypatch):
    """A SLURM group job's Snakemake runs each job through a Snakemake of its own (srun),
    which uses the group's workers; the login node's driver, whose variables sbatch
    exports to every job, names a PID and a folder of another machine."""
    monkeypatch.setattr("tempfile.tempdir", str(tmp_path))
    here = worker.directory()
    alive = str(os.getpid())
    gone = _a_finished_pid()
    assert worker.owner(alive, str(here), here, False) == alive
    # A run's main process owns its own, even below another run's job on this machine.
    assert worker.owner(alive, str(here), here, True) is None
    # Another machine's folder (another boot or PID namespace), or none at all.
    assert worker.owner(alive, str(here.parent / "0123456789abcdef"), here, False) is None
    assert worker.owner(alive, None, here, False) is None
    assert worker.owner(alive, str(here), None, False) is None
    # A run that is over, or not a PID.
    assert worker.owner(gone, str(here), here, False) is None
    assert worker.owner("12ab", str(here), here, False) is None
    assert worker.owner("", str(here), here, False) is None


def _a_finished_pid() -> str:
    finished = subprocess.Popen(["true"])
    finished.wait()
    return str(finished.pid)


def test_a_worker_folder_without_room_leaves_the_step_to_its_job(tmp_path, run):
    """A full /tmp (a node's small tmpfs): the worker has no room for its pid file, and
    the job runs its step in its own process, with the same result and no process left."""
    driver, place, environment = run
    code = (
        "from reprotrain.steps.entry import run_step\n"
        "run_step('step.log', 'steps_here:write', out='a.txt', text='one', items=[1])\n"
    )
    fill = 'mount -t tmpfs -o size=4k full "$0" && ! dd if=/dev/zero of="$0/fill" bs=4k'
    done = subprocess.run(
        [
            "unshare",
            "--mount",
            "--propagation",
            "private",
            "sh",
            "-c",
            f'{fill} 2>/dev/null && exec "$@"',
            str(place),
            sys.executable,
            "-c",
            code,
        ],
        cwd=tmp_path,
        env=environment,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr
    assert "no warm worker" in done.stderr and "No space left on device" in done.stderr
    assert (tmp_path / "a.txt").read_text().split()[:2] == ["one", "[1]"]
    assert "warm worker" not in (tmp_path / "step.log").read_text()
    assert not processes_of_run(driver.pid)


@pytest.mark.pipeline
def test_warm_and_cold_runs_record_the_same_manifest_and_leave_no_process(tmp_path):
    """A caller that reads the run's output through a pipe gets its end when the run
    ends, and no process of the run is left; without workers the manifest is the same
    bytes (what a job records as used does not depend on where its step ran)."""
    warm = copy_repo(tmp_path / "warm")
    driver = subprocess.Popen(
        [str(BIN / "snakemake"), "--workflow-profile", "profiles/default", "--cores", "2"],
        cwd=warm,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    output, _ = driver.communicate(timeout=600)
    assert driver.returncode == 0, output.decode()[-4000:]
    assert not processes_of_run(driver.pid)
    logs = [path.read_text() for path in (warm / "logs/train").rglob("*.log")]
    assert logs and all("step forked from warm worker" in text for text in logs)
    cold = copy_repo(tmp_path / "cold")
    os.environ[worker.ENABLED] = "0"
    try:
        snakemake(cold)
    finally:
        del os.environ[worker.ENABLED]
    assert "warm worker" not in next((cold / "logs/train").rglob("*.log")).read_text()
    manifest = "results/manifest.json"
    assert (warm / manifest).read_bytes() == (cold / manifest).read_bytes()


@pytest.mark.pipeline
def test_a_killed_driver_leaves_no_process_and_the_rerun_completes(tmp_path):
    workdir = copy_repo(tmp_path / "killed")
    sweep = ["--configfile", "config/config.yaml", "config/sweep.yaml"]
    driver = subprocess.Popen(
        [str(BIN / "snakemake"), "--workflow-profile", "profiles/default", "--cores", "2", *sweep],
        cwd=workdir,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    place = worker.directory()
    wait_for(lambda: list(place.glob(f"{driver.pid}-*.pid")), "a warm worker", timeout=120)
    driver.kill()
    driver.wait()
    wait_for(lambda: not processes_of_run(driver.pid), "the run's processes to end", timeout=15)
    snakemake(workdir, *sweep)
    assert (workdir / "results-sweep/manifest.json").is_file()
