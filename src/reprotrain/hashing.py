"""Content hashing: the single place where reprotrain computes a sha256."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from reprotrain.fileio import canonical_json, open_file


def sha256_file(path: str | os.PathLike[str]) -> str:
    """sha256 of a regular file, streamed (a table larger than memory is hashed all the
    same); a FIFO or a device is refused, never waited on. Links are followed: data may
    live elsewhere, and the digest is what is checked."""
    # file_digest reads into one reused buffer and hashes without the GIL.
    with open_file(path, follow=True) as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def sha256_buffers(*buffers: Any) -> str:
    """sha256 of C-contiguous buffers (numpy arrays) one after another, without copying."""
    digest = hashlib.sha256()
    for buffer in buffers:
        digest.update(memoryview(buffer).cast("B"))
    return digest.hexdigest()


def digest_value(value: Any) -> str:
    """Digest of a JSON-serialisable value, independent of dict insertion order."""
    return sha256_bytes(canonical_json(value).encode("utf-8"))


# digest_value writes indented JSON, which json encodes in pure Python: a sweep would encode
# the same table schema once per job. A plain JSON value's repr (dicts, lists, strings,
# numbers, booleans, None) differs wherever its canonical JSON does, so the digest of a
# value met again is found by its repr, which is written in C.
_REMEMBERED_LIMIT = 4096
_remembered: dict[str, str] = {}


def digest_value_remembered(value: Any) -> str:
    """digest_value of a plain JSON value, remembered by its repr (for values met again
    and again, such as one table schema in the params of every job of a sweep)."""
    key = repr(value)
    digest = _remembered.get(key)
    if digest is None:
        if len(_remembered) >= _REMEMBERED_LIMIT:
            _remembered.clear()
        digest = _remembered[key] = digest_value(value)
    return digest


def digest_tree(root: str | os.PathLike[str], relative_paths: Iterable[str]) -> str:
    """Digest of several files' names and contents, independent of where ``root`` lives."""
    base = Path(root)
    listing = {rel: sha256_file(base / rel) for rel in sorted(set(relative_paths))}
    return digest_value(listing)


def sha256_files(paths: Iterable[str | os.PathLike[str]]) -> dict[str, str]:
    """sha256 of several files at once; hashlib releases the GIL, so threads use every core."""
    unique = sorted({os.fspath(p) for p in paths})
    with ThreadPoolExecutor(max_workers=max(1, min(len(unique), os.cpu_count() or 1))) as pool:
        return dict(zip(unique, pool.map(sha256_file, unique), strict=True))
