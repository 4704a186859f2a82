"""Atomic, deterministic writes: a reader never sees a half-written file."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes) -> None:
    """Write ``data`` to a temporary file beside ``path``, fsync it, then rename it."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        # mkstemp creates 0600 files; give the result the usual permissions.
        umask = os.umask(0)
        os.umask(umask)
        Path(tmp_name).chmod(0o666 & ~umask)
        Path(tmp_name).replace(target)
    except OSError as error:
        Path(tmp_name).unlink(missing_ok=True)
        # Name the file the caller asked for, not the temporary one (or none at all).
        raise OSError(error.errno, error.strerror, str(target)) from error
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise


def check_writable(directory: str | Path) -> None:
    """Refuse, before any job, a directory the run writes to that cannot be written: a
    read-only filesystem, or permissions (access(2) says so for root too, on a read-only
    mount). Snakemake would otherwise fail on it with a traceback."""
    from reprotrain.errors import ReprotrainError

    path = Path(directory)
    if path.is_dir() and not os.access(path, os.W_OK | os.X_OK):
        raise ReprotrainError(
            f"{path}/",
            None,
            "cannot be written (a read-only filesystem, or its permissions)",
            "make it writable (or mount it read-write) and rerun",
        )


def canonical_json(value: Any) -> str:
    """JSON with sorted keys, fixed separators and a final newline: same value, same bytes."""
    return json.dumps(value, sort_keys=True, indent=2, ensure_ascii=False, allow_nan=False) + "\n"


def write_json(path: str | os.PathLike[str], value: Any) -> None:
    atomic_write_bytes(path, canonical_json(value).encode("utf-8"))
