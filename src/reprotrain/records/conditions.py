"""The conditions each job ran under that no output may depend on, recorded beside its log.

A job's inputs (data, params, code, environment, hardware) are in the manifest; what the
machine and the shell add besides is not an input, and an output that changes with it is
nondeterministic. The pin sets the locale and time zone (reprotrain.environment.jobenv), but nothing
can set how many CPUs ``os.cpu_count()`` reports, or in which order the filesystem lists a
directory. So every job records what it saw (``<log>.conditions.json``, kept, never
covered), and `reprotrain diff --explain` and the hunt name what differed between two
runs whose outputs differ.

Standard library only: every job calls ``observe``.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from reprotrain import fileio
from reprotrain.errors import ReprotrainError

SUFFIX = ".conditions.json"
# What each recorded condition is, for messages.
LABELS = {
    "cpu_count": "os.cpu_count()",
    "cpus_usable": "CPUs the job may use (affinity)",
    "locale": "locale (LC_ALL)",
    "timezone": "time zone (TZ)",
    "filesystem": "filesystem of the working directory (it orders directory listings)",
}


def record_path(log_path: str) -> str:
    """Where a job records its conditions: beside its log."""
    return str(Path(log_path).with_suffix(SUFFIX))


def observe(environ: Mapping[str, str] | None = None) -> dict[str, Any]:
    """The conditions this process runs under."""
    environ = os.environ if environ is None else environ
    usable = os.sched_getaffinity(0) if hasattr(os, "sched_getaffinity") else None
    return {
        "cpu_count": os.cpu_count(),
        "cpus_usable": None if usable is None else len(usable),
        "locale": environ.get("LC_ALL") or environ.get("LANG"),
        "timezone": environ.get("TZ"),
        "filesystem": filesystem_of(Path.cwd()),
    }


def _unescape(field: str) -> str:
    """A path as /proc/self/mountinfo writes it (space, tab, newline, backslash octal)."""
    for code, character in (("\\040", " "), ("\\011", "\t"), ("\\012", "\n"), ("\\134", "\\")):
        field = field.replace(code, character)
    return field


def filesystem_of(path: Path, mountinfo: str | None = None) -> str | None:
    """The type of the filesystem ``path`` is on (ext4, tmpfs, nfs, ...): the mount with
    the longest mount point above it. None where the kernel does not say (not Linux)."""
    if mountinfo is None:
        try:
            mountinfo = Path("/proc/self/mountinfo").read_text(encoding="utf-8")
        except OSError:
            return None
    target = path.resolve()
    best: tuple[int, str] | None = None
    for line in mountinfo.splitlines():
        before, separator, after = line.partition(" - ")
        fields = before.split()
        if not separator or len(fields) < 5 or not after.split():
            continue
        point = Path(_unescape(fields[4]))
        if target == point or point in target.parents:
            depth = len(point.parts)
            if best is None or depth >= best[0]:  # a later mount over the same point wins
                best = (depth, after.split()[0])
    return None if best is None else best[1]


def read_run(root: Path, logs: str) -> dict[str, dict[str, Any]]:
    """Each job's recorded conditions in a run directory, by its log's path under ``logs``."""
    base = root / logs
    found = {}
    for path in sorted(base.rglob(f"*{SUFFIX}")) if base.is_dir() else []:
        try:
            record = fileio.read_json(path, root=base)
        except ReprotrainError:
            continue
        if isinstance(record, dict):
            found[path.relative_to(base).as_posix()] = record
    return found


def changes(
    before: Mapping[str, Mapping[str, Any]], after: Mapping[str, Mapping[str, Any]]
) -> list[str]:
    """What the jobs both runs made recorded differently, one line per condition:
    ``os.cpu_count(): 2 -> 1 (7 of 7 jobs)``."""
    jobs = sorted(set(before) & set(after))
    lines = []
    for key, label in LABELS.items():
        pairs: dict[tuple[str, str], int] = {}
        for job in jobs:
            old, new = before[job].get(key), after[job].get(key)
            if old != new:
                pair = (json.dumps(old), json.dumps(new))
                pairs[pair] = pairs.get(pair, 0) + 1
        for (old, new), count in sorted(pairs.items()):
            lines.append(f"{label}: {old} -> {new} ({count} of {len(jobs)} jobs)")
    return lines
