"""The glue between a Snakemake rule script and a pipeline step."""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable
from typing import Any

from reprotrain import drift
from reprotrain.errors import ReprotrainError


def run_step(log_path: str, step: Callable[..., Any], **arguments: Any) -> None:
    """Run one step with its log in ``log_path``; a bad input exits 1 with one clear message."""
    logging.basicConfig(
        filename=log_path,
        filemode="w",
        level=logging.INFO,
        format="%(levelname)s %(name)s: %(message)s",
        force=True,
    )
    try:
        # Every job checks that its own environment still matches the lock in force.
        drift.check_from_environment()
        step(**arguments)
    except ReprotrainError as error:
        logging.getLogger(step.__module__).error("%s", error.message)
        print(f"reprotrain: {error.message}", file=sys.stderr)
        sys.exit(1)
