"""One run per working directory, with a lock the kernel releases when its holder dies.

Snakemake's own directory lock outlives a killed run (it must be cleared with
--unlock), so a `kill -9` would block the rerun that should repair it. An flock(2) on
a file is released by the kernel however the process ends.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path
from typing import IO

from reprotrain.errors import ReprotrainError

_held: list[IO[str]] = []  # keeps the lock's file open for the life of the process


def acquire(path: str | Path) -> None:
    """Hold the lock until this process ends; a second call in the same process is a no-op."""
    if _held:
        return
    lock_path = Path(path)
    try:
        lock_path.parent.mkdir(parents=True, exist_ok=True)
        handle = lock_path.open("a+", encoding="utf-8")
    except OSError as error:
        raise _unwritable(lock_path, error) from None
    try:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.seek(0)
        holder = handle.read().strip() or "unknown"
        handle.close()
        raise ReprotrainError(
            lock_path,
            None,
            f"another run (pid {holder}) is working in this directory",
            "wait for it to finish or stop it, then rerun; the lock is released as soon as "
            "that run ends, even if it is killed",
        ) from None
    try:
        # Unbuffered: nothing is left to flush (and fail again) when the handle closes.
        os.ftruncate(handle.fileno(), 0)
        os.pwrite(handle.fileno(), f"{os.getpid()}\n".encode(), 0)
    except OSError as error:
        handle.close()
        raise _unwritable(lock_path, error) from None
    _held.append(handle)


def _unwritable(lock_path: Path, error: OSError) -> ReprotrainError:
    return ReprotrainError(
        lock_path,
        None,
        f"cannot be written: {error.strerror}",
        f"free space (or fix permissions) on the filesystem of {lock_path.parent}/ and rerun",
    )
