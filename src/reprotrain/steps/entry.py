"""The entry point of a rule script: ``run_step(log, step, **arguments)``."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from reprotrain.steps import job, worker


def run_step(log_path: str, step: str | Callable[..., Any], **arguments: Any) -> None:
    """Run one step with its log in ``log_path``; a bad input exits 1 with one clear message.

    A step named "package.module:function" runs in the run's warm worker when there is one
    (reprotrain.steps.worker): the job's process then never imports the step's module.
    """
    if isinstance(step, str):
        status = worker.hand_over(step, log_path, arguments)
        if status is not None:
            job.leave_without_teardown(status)
        step = worker.resolve(step)
    job.execute(log_path, step, arguments)
