"""What the driver does once its plan is made, before any job: the run lock, the sealing
key, every job's environment, the warm workers and their end; then, once Snakemake knows
whether it executes, the last run's outputs checked by their bytes."""

from __future__ import annotations

import functools
import os
import sys
from pathlib import Path
from typing import Any

from reprotrain import fileio
from reprotrain.audit import verify
from reprotrain.driver import runlock
from reprotrain.driver import snakemake_adapter as adapter
from reprotrain.driver.plan import Plan
from reprotrain.driver.recipes import Recipes
from reprotrain.errors import ReprotrainError
from reprotrain.hashing import sha256_bytes
from reprotrain.layout import SPLIT_MODEL
from reprotrain.records import signing
from reprotrain.steps import worker

RUN_LOCK = ".snakemake/reprotrain-run.lock"


def start(plan: Plan, main_process: bool) -> None:
    """Take the run's place in this directory and set up what every job inherits."""
    if main_process:
        # One run per directory, released by the kernel even when the run is killed -9.
        # Taken before anything reads the outputs (a dry run too: it hashes them), so
        # nothing ever sees a running job's half-made outputs.
        runlock.acquire(RUN_LOCK)
        # The key save seals models with, private to this directory (signing.py).
        signing.make_seal_key()
    inherited = os.environ.get(worker.RUN), os.environ.get(worker.DIRECTORY)
    # Every job's environment is built, not inherited (reprotrain.environment.jobenv).
    environment = plan.job_environment(os.environ)
    os.environ.clear()
    os.environ.update(environment)
    # Each job's step runs in a fork of this run's warm worker for that step
    # (reprotrain.steps.worker). The workers belong to this process (they end when it
    # does, and it stops them at the end of the run), or to the Snakemake process of
    # this machine that this one runs a job for (a SLURM group job's, docs/slurm.md).
    place = worker.directory()
    worker.remove_leftovers(place)
    owner = worker.owner(*inherited, place, main_process) or str(os.getpid())
    os.environ.update(REPROTRAIN_RUN=owner, REPROTRAIN_WORKER_DIR=str(place or ""))
    adapter.at_main_thread_end(functools.partial(_end_of_run, place, plan))


_executed: list[bool] = []  # whether this run executes jobs (set once the DAG is built)


def verdicts(plan: Plan) -> list[str]:
    """Every model run's verdict as the files say it: its thresholds met (validate wrote
    its metrics, only then), missed (validate's record of the miss), or not judged."""
    lines = []
    for run in plan.layout.runs:
        name = f"{run['dataset']} {run['version']} seed {run['seed']} {run['model']}"
        metrics = Path(adapter.apply_wildcards(plan.layout.out["metrics"], run))
        verdict = Path(adapter.apply_wildcards(plan.layout.verdict, run))
        if metrics.is_file():
            lines.append(f"  met     {name}")
        elif verdict.is_file():
            try:
                misses = fileio.read_json(verdict, what="verdict")["misses"]
                said = "; ".join(str(miss) for miss in misses)
            except (ReprotrainError, KeyError, TypeError):
                said = f"see {verdict}"
            lines.append(f"  MISSED  {name}: {said}")
        else:
            log = adapter.apply_wildcards(plan.layout.log("validate", SPLIT_MODEL), run)
            lines.append(f"  none    {name}: not judged (not run, or failed: {log})")
    return lines


def _end_of_run(place: Path | None, plan: Plan) -> None:
    """Stop this run's workers, and the timer threads Snakemake's job rate limiter starts
    at the end of every scheduling pass (the default profile counts its limit over 100 s,
    so that these passes do not pile up with the number of jobs): with nothing left to
    schedule, they need not keep the process alive for up to 100 s at exit."""
    worker.stop_workers(os.getpid(), place)
    for timer in adapter.timers():
        timer.cancel()
    # A sweep says how every model run fared, after Snakemake's last word: a miss with
    # --keep-going is not buried among the other jobs' messages.
    if _executed and len(plan.layout.runs) > 1:
        lines = verdicts(plan)
        print(f"reprotrain: thresholds of the {len(lines)} model runs:", file=sys.stderr)
        print("\n".join(lines), file=sys.stderr, flush=True)


@functools.cache
def check_last_run(plan: Plan, recipes: Recipes, executing: bool) -> None:
    """The last run's outputs, checked by their bytes before Snakemake judges them by
    their mtimes: a covered output that is missing or was changed is made again, and a
    verdict that no longer holds is redone (reprotrain.audit.verify.reconcile). Only
    when the run executes does it remove anything; a dry run says what a run would."""
    layout = plan.layout.out
    stale = verify.reconcile(
        layout["manifest"],
        layout["checksum"],
        plan.recorded,
        plan.expected,
        plan.strict,
        remember=plan.remember,
    )
    for note in stale.notes:
        adapter.log.warning(f"reprotrain: last run: {note}")
    # A write a kill -9 cut short left its temporary file: the run makes the file again.
    for path in [*stale.remove, *fileio.leftover_writes(plan.layout.results)]:
        if executing:
            fileio.remove(path)
            adapter.log.warning(f"reprotrain: removed {path}: it is made again")
        else:
            adapter.log.warning(f"reprotrain: a run would remove {path} and make it again")
    if executing:
        _executed.append(True)
        for note in reseal_recorded_models(plan, recipes):
            adapter.log.warning(f"reprotrain: {note}")


def reseal_recorded_models(plan: Plan, recipes: Recipes) -> list[str]:
    """Seal again each model whose seal is gone (logs/ or the sealing key deleted) and
    whose bytes the recorded manifest vouches for, as a record of this very recipe.

    validate trusts the seal alone: were the record's sha256 a param of validate, recording
    a run would change that param and rerun validate, manifest and checksum once more."""
    notes = []
    for run in plan.layout.runs:
        recorded = recipes.recorded_model_sha256(run)
        model = Path(adapter.apply_wildcards(plan.layout.out["model"], run))
        if recorded is None or not model.is_file():
            continue
        data = fileio.read_bytes(model, limit=fileio.LARGE_FILE_LIMIT, what="model")
        seal = adapter.apply_wildcards(plan.layout.seal, run)
        if sha256_bytes(data) == recorded and not signing.sealed(data, seal):
            signing.seal(data, seal)
            notes.append(f"sealed {model} again: {plan.expected} records these bytes")
    return notes


def last_run_checked(plan: Plan, recipes: Recipes, workflow: Any) -> list[str]:
    """An input function of the first jobs of a run, which adds no input: input functions
    run while Snakemake builds the DAG, the first moment it is known whether the run
    executes and the last before outputs are judged by their mtimes. Only the driver,
    which holds the run lock, checks."""
    if adapter.settings(workflow).main_process:
        check_last_run(plan, recipes, adapter.executing(workflow))
    return []
