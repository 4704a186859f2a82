"""One run per working directory, with a lock the operating system releases when its
holder dies.

Snakemake's own directory lock outlives a killed run (it must be cleared with
--unlock), so a `kill -9` would block the rerun that should repair it. filelock holds an
OS lock on an open file (flock on POSIX, msvcrt on Windows: every platform the conda
lock covers), and the kernel drops it however the process ends.
"""

from __future__ import annotations

import errno
import os
from pathlib import Path

from filelock import FileLock, Timeout

from reprotrain import fileio
from reprotrain.errors import ReprotrainError

_held: list[FileLock] = []  # the lock stays held for the life of the process


def acquire(path: str | Path) -> None:
    """Hold the lock until this process ends; a second call in the same process is a no-op."""
    if _held:
        return
    lock_path = Path(path)
    # Not thread-local: the driver's scheduler threads all belong to the holder.
    lock = FileLock(lock_path, timeout=0, thread_local=False)
    try:
        lock_path.parent.mkdir(parents=True, exist_ok=True)
        lock.acquire()
    except Timeout:
        raise ReprotrainError(
            lock_path,
            None,
            f"another run (pid {_holder(lock_path)}) is working in this directory",
            "wait for it to finish or stop it, then rerun; the lock is released as soon as "
            "that run ends, even if it is killed",
        ) from None
    except OSError as error:
        raise _unwritable(lock_path, error) from None
    try:
        # The holder's pid, for the message a second run prints; written unbuffered into
        # the locked file (filelock emptied it), so nothing is left to flush at exit.
        descriptor = lock._context.lock_file_fd
        assert descriptor is not None  # acquired just now
        os.pwrite(descriptor, f"{os.getpid()}\n".encode(), 0)
    except OSError as error:
        lock.release()
        raise _unwritable(lock_path, error) from None
    _held.append(lock)


def _holder(lock_path: Path) -> str:
    try:
        return fileio.read_text(lock_path, limit=4096, what="run lock").strip() or "unknown"
    except ReprotrainError:
        return "unknown"


def _unwritable(lock_path: Path, error: OSError) -> ReprotrainError:
    if error.errno == errno.ENOLCK:  # an NFS mount without locks, say (docs/slurm.md)
        return ReprotrainError(
            lock_path,
            None,
            "cannot be locked: its filesystem does not support file locks",
            "run from a folder on a filesystem with locks (or mount this one with lock "
            "support), so that two runs never work in one folder",
        )
    return ReprotrainError(
        lock_path,
        None,
        f"cannot be written: {error.strerror}",
        f"free space (or fix permissions) on the filesystem of {lock_path.parent}/ and rerun",
    )
