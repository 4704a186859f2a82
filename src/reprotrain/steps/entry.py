"""The entry point of a rule script: ``run_step(log, step, **arguments)``."""

from __future__ import annotations

import signal
import sys
from collections.abc import Callable
from typing import Any

from reprotrain.environment import named
from reprotrain.errors import ReprotrainError
from reprotrain.steps import job, worker


def run_step(
    log_path: str,
    step: str | Callable[..., Any],
    *,
    job_environment: str | None = None,
    **arguments: Any,
) -> None:
    """Run one step with its log in ``log_path``; a bad input exits 1 with one clear message.

    A model's job whose model names an environment of its own (``job_environment``, a
    reprotrain.environment.named.JobEnvironment as JSON) first becomes that environment's
    interpreter, so that everything below runs there.

    A step named "package.module:function" runs in the run's warm worker when there is one
    (reprotrain.steps.worker): the job's process then never imports the step's module.
    Ctrl-C (which reaches every job of the terminal's run) ends the job with one line:
    Snakemake removes its outputs, and the next run makes them again.
    """
    try:
        named.enter(job_environment)
        _run(log_path, step, arguments)
    except ReprotrainError as error:  # only entering the environment raises it here
        print(f"reprotrain: {error.message}", file=sys.stderr)
        sys.exit(1)
    except KeyboardInterrupt:
        print(
            "reprotrain: interrupted (Ctrl-C); the next run makes this job's outputs again",
            file=sys.stderr,
        )
        sys.stderr.flush()
        # Die of the signal, as Snakemake expects of an interrupted job.
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        signal.raise_signal(signal.SIGINT)


def _run(log_path: str, step: str | Callable[..., Any], arguments: dict[str, Any]) -> None:
    if isinstance(step, str):
        status = worker.hand_over(step, log_path, arguments)
        if status is not None:
            job.leave_without_teardown(status)
        step = worker.resolve(step)
    job.execute(log_path, step, arguments)
