"""A job's step, run with every check a job makes: its log, the drift, numerics and
hermetic checks, the records of what it used and saw, one message for a bad input.

Run in the job's own process (reprotrain.steps.entry) or in a fork of a warm worker
(reprotrain.steps.worker); either way the same function, so the same bytes.
"""

from __future__ import annotations

import errno
import json
import logging
import os
import sys
from collections.abc import Callable, Iterable
from typing import Any, NoReturn

from reprotrain.errors import ReprotrainError
from reprotrain.steps import box

LOG_FORMAT = "%(levelname)s %(name)s: %(message)s"
# Errors of the file system, not of the code: reported as one message, no traceback.
WRITE_FAILURES = {errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES}


def execute(
    log_path: str,
    step: Callable[..., Any],
    arguments: dict[str, Any],
    also_loaded: Iterable[str] = (),
) -> None:
    """Run the step here, with every check a job makes (``also_loaded``: what the job's own
    process had imported before it handed the step to a worker)."""
    # Imported here: a job that hands its step to a worker needs none of them.
    import reprotrain
    from reprotrain.environment import drift, hermetic
    from reprotrain.fileio import write_json
    from reprotrain.records import conditions

    # A log that cannot be written (a full disk) must not turn the job's one message into a
    # logging traceback: the message goes to stderr as well, which Snakemake shows.
    logging.raiseExceptions = False
    try:
        logging.basicConfig(
            filename=log_path, filemode="w", level=logging.INFO, format=LOG_FORMAT, force=True
        )
    except OSError:
        logging.basicConfig(level=logging.INFO, format=LOG_FORMAT)
    if also_loaded:
        logging.getLogger(__name__).info("step forked from warm worker %d", os.getppid())
    # A custom estimator may live in the user code directory (config `user_code`). It
    # sees only the environment the run declares, and every process it starts ends with
    # the job (reprotrain.steps.box).
    if user_code := os.environ.get("REPROTRAIN_USER_CODE"):
        sys.path.insert(0, user_code)
    box.enter()
    try:
        # Every job checks that its own environment still matches the lock in force.
        drift.check_from_environment()
        step(**arguments)
        _check_numerics()
        # Every module the step loaded came from this job's own environment.
        hermetic.check(reprotrain.LOADED_BEFORE)
        # The manifest attributes an environment change only to outputs whose jobs used it.
        write_json(drift.packages_record_path(log_path), drift.packages_used(also_loaded))
        # What the job saw that no output may depend on: named when two runs differ.
        write_json(conditions.record_path(log_path), conditions.observe())
        box.leave()
        leave_without_teardown()
    except ReprotrainError as error:
        _fail(step, error)
    except OSError as error:
        if error.errno not in WRITE_FAILURES:
            box.leave()
            raise
        _fail(
            step,
            ReprotrainError(
                error.filename or "results/",
                None,
                f"could not be written: {error.strerror}",
                "free space (or fix permissions) on that filesystem and rerun; Snakemake "
                "removes the failed job's outputs, and manifests and model cards are "
                "written atomically, so nothing half-written is kept",
            ),
        )


def _check_numerics() -> None:
    """A job that computed with numpy proves it ran the pinned kernels (else it fails and
    Snakemake removes its outputs)."""
    if "numpy" in sys.modules:
        from reprotrain.environment import numerics

        pin = numerics.pin_from_environment()
        numerics.check_in_use(pin, numerics.in_use(load_all=False))


def leave_without_teardown(status: int = 0) -> NoReturn:
    """End the job process now that every output is written, closed and renamed into place.

    What is left is the interpreter's teardown of the ML stack's modules, OpenMP pools and
    objects: 0.2 to 0.4 s per job here, on the critical path of every run
    (benchmarks/README.md). The log and the standard streams are flushed first.
    """
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(status)


def _fail(step: Callable[..., Any], error: ReprotrainError) -> NoReturn:
    # A config value may come from an overlay: name the file that gave it, as the driver
    # does (the driver passes the run's config files).
    from reprotrain import yamlfile

    if error.file == yamlfile.CONFIG_LABEL and error.field:
        files = json.loads(os.environ.get("REPROTRAIN_CONFIG_FILES") or "[]")
        command_line = json.loads(os.environ.get("REPROTRAIN_CONFIG_COMMAND_LINE") or "{}")
        error.file = yamlfile.config_file_of(files, error.field, command_line)
    logging.getLogger(step.__module__).error("%s", error.message)
    print(f"reprotrain: {error.message}", file=sys.stderr)
    box.leave()
    sys.exit(1)
