"""User code in a box: what a job's step sees of the environment, and the processes it
leaves. A custom estimator runs inside the step; it gets only the environment the run
declares (reprotrain.environment.jobenv.for_user_code), and every process it starts, even
one that detaches into its own session, ends with the job: the job adopts its orphans
(Linux's child subreaper) and kills them all before it exits, so none outlives the run
or holds its output pipes.
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import signal
import sys
from pathlib import Path

from reprotrain.environment import jobenv

_PR_SET_CHILD_SUBREAPER = 36


def enter() -> None:
    """Narrow this process's environment to the declared one; adopt orphans."""
    passed = json.loads(os.environ.get(jobenv.PASS_VARIABLE) or "[]")
    kept = jobenv.for_user_code(os.environ, passed)
    os.environ.clear()
    os.environ.update(kept)
    if sys.platform == "linux":
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)


def descendants(pid: int) -> list[int]:
    """Every process below ``pid`` (children of each of its threads, recursively)."""
    found: list[int] = []
    pending = [pid]
    while pending:
        parent = pending.pop()
        for task in Path(f"/proc/{parent}/task").glob("*"):
            with contextlib.suppress(OSError, ValueError):
                children = [int(c) for c in (task / "children").read_text().split()]
                found += children
                pending += children
    return found


def leave() -> None:
    """Kill every process this job started and not yet ended, and reap them."""
    if sys.platform != "linux":
        return
    for _ in range(10):  # a child may fork while its siblings are killed
        alive = descendants(os.getpid())
        if not alive:
            break
        for pid in alive:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        with contextlib.suppress(ChildProcessError):
            while os.waitpid(-1, 0)[0]:
                pass
