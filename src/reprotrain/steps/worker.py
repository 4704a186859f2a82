"""Warm workers: a rule job's step runs in a fresh fork of a process that has already
imported what the step needs.

A job that starts an interpreter and imports scikit-learn, pandas and matplotlib spends
1.3 to 1.6 s before its first line of work, and a sweep runs four jobs per model run
(benchmarks/SWEEP.md). Each job stays a Snakemake job of its own (inputs, outputs, log,
environment, checks, exit status), but its process only hands its step over to the
run's worker for that step: the worker forks a child that takes the job's working
directory, environment variables and standard streams (sent over a Unix socket, the
request as JSON), runs the step as the job would have (``job.execute``, with the drift,
numerics and hermetic checks), and whose exit status becomes the job's.

A module's worker is an interpreter of the job's environment that imported the module;
a step that always imports more (``STEP_IMPORTS``) has a worker forked from its module's
that imported that too. So what a worker imported before forking is what every job of the
step imports, and the packages a job records as used are those it would record on its
own (with the modules its own process had loaded, Snakemake's preamble, added). Nothing
runs in a worker but imports: OpenMP and BLAS thread pools start in the children (a
worker starts with one thread of each).

A worker never outlives its run: it belongs to the driver process named by
``REPROTRAIN_RUN`` (common.smk sets it) and ends when that process ends (a pidfd), when
the driver stops it at the end of the run (``stop_workers``) or on SIGTERM; its children
die with it (PR_SET_PDEATHSIG), and a child whose job process is killed is killed. Only
processes of the same user may connect (a private directory, and both ends check the
peer's credentials). ``REPROTRAIN_WARM_WORKERS=0`` runs every step in its job's own
process, as does a platform without pidfds (not Linux).
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import fcntl
import hashlib
import importlib
import json
import os
import selectors
import signal
import socket
import stat
import struct
import subprocess
import sys
import tempfile
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

ENABLED = "REPROTRAIN_WARM_WORKERS"
RUN = "REPROTRAIN_RUN"
DIRECTORY = "REPROTRAIN_WORKER_DIR"
# Snakemake sets these per job from its threads; the step applies its own limits, so
# jobs of different threads share a worker (which starts with one thread of each).
THREAD_VARIABLES = (
    "OMP_NUM_THREADS",
    "GOTO_NUM_THREADS",
    "OPENBLAS_NUM_THREADS",
    "MKL_NUM_THREADS",
    "VECLIB_MAXIMUM_THREADS",
    "NUMEXPR_NUM_THREADS",
)
# A cluster job's own variables (its allocation, step, task): they say where a job runs,
# not what its imports compute, and a group job's jobs share the group's workers.
JOB_STEP_PREFIX = "SLURM_"
# What a step always imports beyond its own module (lazily there, so that the module's
# other steps do not): its worker imports it too. Anything listed here that the step
# does not import would be recorded as a package its outputs used; the warm and cold
# runs of tests/test_workers.py must give the same manifest.
STEP_IMPORTS = {
    "reprotrain.steps.learning:preprocess": ("reprotrain.ml.data",),
    "reprotrain.steps.learning:validate": ("reprotrain.ml.figures",),
}
_HEADER = struct.Struct("!Q")
_STATUS = struct.Struct("!i")
_PR_SET_PDEATHSIG = 1
# A worker's answer when its folder takes no socket or pid file (a full /tmp).
_NO_ROOM = b"-"


def resolve(step: str) -> Callable[..., Any]:
    """The function a step name ("package.module:function") names."""
    module, _, function = step.partition(":")
    return getattr(importlib.import_module(module), function)


def directory() -> Path | None:
    """This user's private directory for the worker sockets of this machine, or None (the
    steps then run in their jobs' own processes) where it cannot be made private.

    A temporary directory can be shared: a cluster's nodes may see one /var/tmp (Python
    falls back to it when /tmp is full) or a TMPDIR on the shared filesystem. Sockets and
    PIDs mean something only to the kernel and PID namespace that made them, so the
    sockets, pid and lock files, all named by PIDs, live in a folder of this machine's
    own (``machine``): no node ever connects to, or removes as left over, another's."""
    if not available():
        return None
    try:
        base = Path(tempfile.gettempdir()) / f"reprotrain-workers-{os.getuid()}"
        path = base / machine()
        for folder in (base, path):
            with contextlib.suppress(FileExistsError):
                folder.mkdir(mode=0o700)
            info = folder.lstat()
            if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.getuid() or info.st_mode & 0o077:
                return None
    except OSError as error:  # no usable temporary directory: full, read-only, missing
        print(
            f"reprotrain: warm workers off ({error.filename or 'TMPDIR'}: {error.strerror}):"
            " every step runs in its job's own process",
            file=sys.stderr,
        )
        return None
    return path


def machine() -> str:
    """Who can reach this process's sockets and PIDs: this kernel boot and PID namespace."""
    boot = Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    namespace = Path("/proc/self/ns/pid").readlink()
    return hashlib.sha256(f"{boot} {namespace}".encode()).hexdigest()[:16]


def owner(run: str | None, place: str | None, here: Path | None, main_process: bool) -> str | None:
    """The Snakemake process whose workers this one's jobs use, when it inherited one.

    A SLURM group job's Snakemake runs each of its jobs through another Snakemake
    process (srun), which inherits the group's ``REPROTRAIN_RUN``: its jobs are served
    by the group's workers. An inherited value counts only when it was set on this very
    machine (the same worker folder: kernel boot, PID namespace, TMPDIR) and its process
    lives; the login node's driver, whose variables sbatch exports to every job, names a
    PID that means nothing on a compute node. A run's main process always owns its
    workers, whatever it inherited: a Snakemake started from another run's job (a shell
    rule, say) has that run's variables, and that run's workers end with that run."""
    if main_process or here is None or place != str(here) or not run or not run.isdigit():
        return None
    return run if Path(f"/proc/{run}").exists() else None


def remove_leftovers(place: Path | None) -> None:
    """Remove what the workers of runs that are over left (a run killed -9 while a job
    was starting its worker leaves its lock file)."""
    if place is None:
        return
    for path in place.iterdir():
        run = path.name.partition("-")[0]
        if run.isdigit() and not Path(f"/proc/{run}").exists():
            path.unlink(missing_ok=True)


def available() -> bool:
    return hasattr(os, "pidfd_open") and hasattr(socket, "send_fds")


# The job's side -----------------------------------------------------------------------


def hand_over(step: str, log_path: str, arguments: dict[str, Any]) -> int | None:
    """Run ``step`` in the run's warm worker; its exit status, or None to run it here."""
    run, place = os.environ.get(RUN), os.environ.get(DIRECTORY)
    if not run or not place or os.environ.get(ENABLED) == "0" or not available():
        return None
    path = _address(Path(place), run, step)
    request = _frame(
        {
            "kind": "job",
            "step": step,
            "log_path": log_path,
            "arguments": _plain(arguments),
            "cwd": str(Path.cwd()),
            "environ": dict(os.environ),
            "argv": sys.argv,
            "loaded": sorted({name.partition(".")[0] for name in list(sys.modules)}),
        }
    )
    try:
        connection = _connect(path) or _start(Path(place), run, step)
    except WorkerDidNotStart as error:
        print(f"reprotrain: {error}", file=sys.stderr)
        return 1
    except OSError as error:
        # The worker's folder took no file (a full or read-only /tmp): nothing was handed
        # over, and the step runs here as it would have there.
        print(
            f"reprotrain: no warm worker ({error.filename or place}: {error.strerror}):"
            " the step runs in this job's own process",
            file=sys.stderr,
        )
        return None
    with connection:
        socket.send_fds(connection, [request[: _HEADER.size]], [0, 1, 2])
        connection.sendall(request[_HEADER.size :])
        reply = _receive(connection, _STATUS.size)
    if reply is None:
        print(
            f"reprotrain: the warm worker of {step} ended before this job's step did; "
            f"rerun, or run without workers ({ENABLED}=0)",
            file=sys.stderr,
        )
        return 1
    (status,) = _STATUS.unpack(reply)
    # A child killed by a signal ends the job the same way a cold job would have.
    return status if status >= 0 else 128 - status


def _module(step: str) -> str:
    return step.partition(":")[0]


def _address(place: Path, run: str, step: str) -> Path:
    """The socket of the worker that forks the jobs of ``step``: its module's worker, or a
    fork of that worker with the step's own imports done (STEP_IMPORTS)."""
    name = step if step in STEP_IMPORTS else _module(step)
    # One worker per interpreter and environment (bar the thread counts, and SLURM's
    # variables that tell one job step of an allocation from another).
    environment = {
        k: v
        for k, v in os.environ.items()
        if k not in THREAD_VARIABLES and not k.startswith(JOB_STEP_PREFIX)
    }
    text = json.dumps([name, sys.executable, sorted(environment.items())])
    return place / f"{run}-{hashlib.sha256(text.encode()).hexdigest()[:20]}"


def _frame(message: dict[str, Any]) -> bytes:
    # JSON, not pickle: a request is data, never code (the arguments are paths and params).
    payload = json.dumps(message).encode()
    return _HEADER.pack(len(payload)) + payload


def _plain(value: Any) -> Any:
    """Snakemake's str and list subclasses as JSON's builtins (a tuple as a list)."""
    if isinstance(value, str):
        return str(value)
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(item) for item in value]
    return value


def _connect(path: Path) -> socket.socket | None:
    connection = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        connection.connect(str(path))
    except OSError:
        connection.close()
        return None
    if _peer_uid(connection) != os.getuid():
        connection.close()
        raise PermissionError(f"{path}: the warm worker socket belongs to another user")
    return connection


def _start(place: Path, run: str, step: str) -> socket.socket:
    """Start the worker of ``step`` (one job does, the others wait for it) and connect.

    A module's worker is a new interpreter that imports the module; a step's own worker
    is forked by its module's worker, which imports the rest.
    """
    path = _address(place, run, step)
    with Path(f"{path}.lock").open("a+b") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if connection := _connect(path):
            return connection
        path.unlink(missing_ok=True)
        if step in STEP_IMPORTS:
            module = _connect(_address(place, run, _module(step))) or _start(
                place, run, _module(step)
            )
            with module:
                module.sendall(_frame({"kind": "fork", "step": step, "path": str(path)}))
                ready = _receive(module, 1)
        else:
            environment = dict(os.environ, **dict.fromkeys(THREAD_VARIABLES, "1"))
            with Path(f"{path}.log").open("wb") as log:
                process = subprocess.Popen(
                    [
                        sys.executable,
                        "-m",
                        "reprotrain.steps.worker",
                        str(path),
                        _module(step),
                        run,
                    ],
                    stdin=subprocess.DEVNULL,
                    stdout=subprocess.PIPE,
                    stderr=log,
                    env=environment,
                    start_new_session=True,
                )
            assert process.stdout is not None
            ready = process.stdout.read(1)
            process.stdout.close()
        if ready == _NO_ROOM:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path))
        if ready != b"+" or (connection := _connect(path)) is None:
            raise WorkerDidNotStart(step, Path(f"{_address(place, run, _module(step))}.log"))
        return connection


class WorkerDidNotStart(Exception):
    """A step's worker failed before serving: its import failed in this environment."""

    def __init__(self, step: str, log: Path) -> None:
        text = log.read_text(errors="replace").strip() if log.exists() else ""
        # The exception line of the worker's traceback says what failed.
        last = text.splitlines()[-1] if text else "it wrote nothing"
        super().__init__(
            f"{log}: the warm worker of {step} did not start: {last}\n  fix: the job's "
            "environment cannot import the step's modules; run `make setup` (or "
            f"{ENABLED}=0 to run the step in the job's own process) and rerun"
        )


def _receive(connection: socket.socket, size: int) -> bytes | None:
    data = b""
    while len(data) < size:
        chunk = connection.recv(size - len(data))
        if not chunk:
            return None
        data += chunk
    return data


def _peer_uid(connection: socket.socket) -> int:
    credentials = connection.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, 12)
    return struct.unpack("3i", credentials)[1]


# The driver's side --------------------------------------------------------------------


def stop_workers(run: int, place: Path | None, timeout: float = 10.0) -> None:
    """End the workers of the run whose driver is ``run`` and wait until they are gone
    (a module's worker ends the step workers it forked)."""
    if place is None:  # directory() found no private folder, or no pidfd and fd passing
        return
    for pid_file in place.glob(f"{run}-*.pid"):
        try:
            pid = int(pid_file.read_text())
            handle = os.pidfd_open(pid)
        except (OSError, ValueError):
            continue
        try:
            # Only a worker of this run: a pid file outliving its process may name another.
            if _socket_of(pid) == str(pid_file)[: -len(".pid")]:
                signal.pidfd_send_signal(handle, signal.SIGTERM)
                if not _wait_readable(handle, timeout):
                    signal.pidfd_send_signal(handle, signal.SIGKILL)
                    _wait_readable(handle, timeout)
        except OSError:
            pass
        finally:
            os.close(handle)
    # What a worker that failed to start (or was killed) left behind.
    for leftover in place.glob(f"{run}-*"):
        leftover.unlink(missing_ok=True)


def _socket_of(pid: int) -> str | None:
    """The socket a worker process serves, from its command line (a forked step worker
    has its module's command line, and its module's worker ends it)."""
    command = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    if len(command) >= 4 and command[1:3] == [b"-m", b"reprotrain.steps.worker"]:
        return command[3].decode(errors="replace")
    return None


def _wait_readable(fd: int, timeout: float) -> bool:
    with selectors.DefaultSelector() as selector:
        selector.register(fd, selectors.EVENT_READ)
        return bool(selector.select(timeout))


# The worker ---------------------------------------------------------------------------


class _Stop(Exception):
    pass


def _raise_stop(signum: int, frame: Any) -> None:
    raise _Stop


class _Server:
    """Forks a child per job (and, in a module's worker, a step's worker on request) until
    the run's driver ends or it is told to stop."""

    def __init__(self, path: Path, driver: int) -> None:
        self.path = path
        self.driver = driver
        self.listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.listener.bind(str(path))
        self.listener.listen(64)
        try:
            Path(f"{path}.pid").write_text(str(os.getpid()))
        except OSError:
            # No room for the pid file: no socket left that no worker serves.
            self.listener.close()
            path.unlink(missing_ok=True)
            raise
        self.selector = selectors.DefaultSelector()
        self.selector.register(self.listener, selectors.EVENT_READ, "accept")
        self.selector.register(driver, selectors.EVENT_READ, "driver")
        self.jobs: dict[int, tuple[socket.socket, int]] = {}  # child pidfd -> (job, pid)
        self.forked_workers: list[int] = []

    def serve(self) -> None:
        try:
            while True:
                for key, _ in self.selector.select():
                    if key.data == "driver":
                        return
                    if key.data == "accept":
                        self._accept()
                    elif key.data == "child":
                        self._end_job(key.fd, killed=False)
                    else:  # the job's connection closed: its process is gone
                        self._end_job(key.data, killed=True)
        except _Stop:
            pass
        finally:
            self._close()

    def _accept(self) -> None:
        connection, _ = self.listener.accept()
        if _peer_uid(connection) != os.getuid():
            connection.close()
            return
        connection.settimeout(30)
        try:
            header, fds, _, _ = socket.recv_fds(connection, _HEADER.size, 3)
            (size,) = _HEADER.unpack(header)
            request = json.loads(_receive(connection, size) or b"")
        except (OSError, struct.error, ValueError):
            connection.close()
            return
        connection.settimeout(None)
        pid = os.fork()
        if pid == 0:
            self._leave_to_child(keep_driver=request["kind"] == "fork")
            if request["kind"] == "fork":
                _become_step_worker(request, connection, self.driver)
            connection.close()
            _become_job(request, fds)
        for fd in fds:
            os.close(fd)
        if request["kind"] == "fork":
            self.forked_workers.append(pid)
            connection.close()
            return
        child = os.pidfd_open(pid)
        self.jobs[child] = (connection, pid)
        self.selector.register(child, selectors.EVENT_READ, "child")
        self.selector.register(connection, selectors.EVENT_READ, child)

    def _leave_to_child(self, keep_driver: bool) -> None:
        """In a forked child: close every socket and pidfd of this worker's."""
        for connection, _ in self.jobs.values():
            connection.close()
        for child in self.jobs:
            os.close(child)
        self.selector.close()
        self.listener.close()
        if not keep_driver:
            os.close(self.driver)

    def _end_job(self, child: int, killed: bool) -> None:
        """A job's child is done (it tells its exit status to the job's process), or the
        job's process is gone (killed), and so goes its child."""
        connection, pid = self.jobs.pop(child)
        self.selector.unregister(child)
        self.selector.unregister(connection)
        if killed:
            os.kill(pid, signal.SIGKILL)
        status = os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])
        os.close(child)
        with contextlib.suppress(OSError), connection:
            if not killed:
                connection.sendall(_STATUS.pack(status))

    def _close(self) -> None:
        for connection, pid in self.jobs.values():
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)
                os.waitpid(pid, 0)
            connection.close()
        for pid in self.forked_workers:
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGTERM)
                os.waitpid(pid, 0)
        self.listener.close()
        for suffix in ("", ".pid", ".lock", ".log"):
            Path(f"{self.path}{suffix}").unlink(missing_ok=True)


def _die_with_parent() -> None:
    ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)


def _become_step_worker(request: dict[str, Any], connection: socket.socket, driver: int) -> None:
    """In a fork of a module's worker: import the step's own modules, serve its jobs."""
    status = 1
    try:
        _die_with_parent()
        for module in STEP_IMPORTS[request["step"]]:
            importlib.import_module(module)
        try:
            server = _Server(Path(request["path"]), driver)
        except OSError:
            connection.sendall(_NO_ROOM)
            raise
        connection.sendall(b"+")
        connection.close()
        server.serve()
        status = 0
    except BaseException:
        traceback.print_exc()
    finally:
        os._exit(status)


def _become_job(request: dict[str, Any], fds: list[int]) -> None:
    """Become the job: its streams, directory and environment; never return to the loop."""
    status = 1
    try:
        _die_with_parent()
        for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            signal.signal(signum, signal.SIG_DFL)
        for target, fd in enumerate(fds):
            os.dup2(fd, target)
            os.close(fd)
        os.chdir(request["cwd"])
        os.environ.clear()
        os.environ.update(request["environ"])
        tempfile.tempdir = None  # the job's TMPDIR, not the worker's
        sys.argv = request["argv"]
        from reprotrain.steps import job

        job.execute(
            request["log_path"],
            resolve(request["step"]),
            request["arguments"],
            also_loaded=request["loaded"],
        )
        status = 0
    except SystemExit as end:
        status = end.code if isinstance(end.code, int) else 1
    except BaseException:
        traceback.print_exc()
    finally:
        with contextlib.suppress(Exception):
            sys.stdout.flush()
            sys.stderr.flush()
        os._exit(status)


def main() -> None:
    """A module's worker: ``python -m reprotrain.steps.worker <socket> <module> <driver pid>``."""
    path, module, run = Path(sys.argv[1]), sys.argv[2], int(sys.argv[3])
    signal.signal(signal.SIGTERM, _raise_stop)
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    try:
        driver = os.pidfd_open(run)
    except ProcessLookupError:
        return  # the run is over already
    importlib.import_module(module)
    try:
        server = _Server(path, driver)
    except OSError:
        # Its socket or pid file took no room: the job runs the step itself.
        sys.stdout.buffer.write(_NO_ROOM)
        return
    sys.stdout.buffer.write(b"+")
    sys.stdout.flush()
    os.dup2(os.open(os.devnull, os.O_WRONLY), 1)
    server.serve()


if __name__ == "__main__":
    from reprotrain.steps.worker import main as _main

    _main()
