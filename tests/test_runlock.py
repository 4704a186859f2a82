"""The per-directory run lock: held by one process, released however it ends."""

import os
import signal
import subprocess
import sys

import pytest

from reprotrain.driver import runlock
from reprotrain.errors import ReprotrainError

HOLD = (
    "from reprotrain.driver import runlock; runlock.acquire({path!r}); "
    "print('held', flush=True); input()"
)


def test_a_second_holder_is_refused_with_the_first_ones_pid_until_it_is_killed(
    tmp_path, monkeypatch
):
    lock = tmp_path / ".snakemake" / "run.lock"
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD.format(path=str(lock))],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline() == "held\n"
        monkeypatch.setattr(runlock, "_held", [])
        with pytest.raises(ReprotrainError) as refused:
            runlock.acquire(lock)
        assert f"another run (pid {holder.pid}) is working in this directory" in str(
            refused.value.message
        )
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()
    # The kernel released the killed holder's lock: no --unlock step.
    runlock.acquire(lock)
    assert lock.read_text(encoding="utf-8").strip() == str(os.getpid())


def test_a_filesystem_without_locks_is_refused_with_one_message(tmp_path, monkeypatch):
    """A project on an NFS mount without locks (a cluster's shared filesystem, say)."""
    import errno
    import fcntl

    def no_locks(*_):
        raise OSError(errno.ENOLCK, os.strerror(errno.ENOLCK))

    monkeypatch.setattr(runlock, "_held", [])
    monkeypatch.setattr(fcntl, "flock", no_locks)
    lock = tmp_path / ".snakemake" / "run.lock"
    with pytest.raises(ReprotrainError) as refused:
        runlock.acquire(lock)
    assert refused.value.file == str(lock)
    assert "does not support file locks" in str(refused.value)
    assert "filesystem with locks" in str(refused.value)
