"""Run a command and account for every process it starts, warm workers included.

    python benchmarks/reaped.py --json OUT -- COMMAND...

A warm worker (reprotrain.steps.worker) starts in its own session and the job that
started it never waits for it, so GNU time, a timer's rusage and Snakemake's
`benchmark:` files all miss the process that does the work. This process makes itself
the child subreaper of the command's tree (PR_SET_CHILD_SUBREAPER): every orphan, a
worker whose job has ended included, is reparented here and reaped here, so the
children's rusage counts them (the largest single process's peak RSS, and the CPU time
of all). It also samples /proc every 50 ms for the tree's total memory at one moment:
the sum of each process's proportional set size (PSS), which counts a page that forked
children share with their worker once, not once per process.

Writes {"seconds", "returncode", "max_rss_mib", "peak_pss_mib", "cpu_seconds",
"processes"} to OUT; the command's output goes to this process's stdout and stderr.
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import json
import os
import resource
import subprocess
import threading
import time
from pathlib import Path

_PR_SET_CHILD_SUBREAPER = 36
SAMPLE_SECONDS = 0.05


def descendants(root: int) -> list[int]:
    """Every live process below ``root``, from one pass over /proc."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError):
            # The command name may hold spaces and parentheses: split after the last ')'.
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            parents[int(entry.name)] = int(fields[1])
    children: dict[int, list[int]] = {}
    for pid, ppid in parents.items():
        children.setdefault(ppid, []).append(pid)
    found, frontier = [], [root]
    while frontier:
        below = children.get(frontier.pop(), [])
        found += below
        frontier += below
    return found


def pss_kib(pid: int) -> int:
    with contextlib.suppress(OSError):
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                return int(line.split()[1])
    return 0


class Sampler(threading.Thread):
    def __init__(self) -> None:
        super().__init__(daemon=True)
        self.peak_kib = 0
        self.seen: set[int] = set()
        self.done = threading.Event()

    def run(self) -> None:
        me = os.getpid()
        while not self.done.is_set():
            tree = descendants(me)
            self.seen.update(tree)
            self.peak_kib = max(self.peak_kib, sum(pss_kib(pid) for pid in tree))
            self.done.wait(SAMPLE_SECONDS)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", type=Path, required=True)
    parser.add_argument("command", nargs=argparse.REMAINDER)
    arguments = parser.parse_args()
    command = arguments.command[1:] if arguments.command[:1] == ["--"] else arguments.command
    if not command:
        parser.error("no command given")
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(_PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_CHILD_SUBREAPER)")
    sampler = Sampler()
    sampler.start()
    start = time.perf_counter()
    process = subprocess.Popen(command)
    returncode = process.wait()
    seconds = time.perf_counter() - start
    # The workers end with the run's driver; reap them (and anything else orphaned) as
    # they go, so that their usage is counted.
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            break  # nothing left below this process
        if pid == 0:
            time.sleep(0.05)
    sampler.done.set()
    sampler.join()
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    arguments.json.write_text(
        json.dumps(
            {
                "seconds": seconds,
                "returncode": returncode,
                "max_rss_mib": usage.ru_maxrss / 1024,
                "peak_pss_mib": sampler.peak_kib / 1024,
                "cpu_seconds": usage.ru_utime + usage.ru_stime,
                "processes": len(sampler.seen),
            }
        )
        + "\n",
        encoding="utf-8",
    )
    raise SystemExit(returncode)


if __name__ == "__main__":
    main()
