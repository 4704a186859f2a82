"""Use a recorded model: ``predict`` scores new rows with a model of a checked run.

Only a run that reproduces its record is served (``verify.against_record``, its files
hashed in this call; a signed record's signature checked), and only the model bytes that
the run's manifest and the record both name are unpickled. The rows are scored by a job of
their own (reprotrain.steps.prediction): a fresh interpreter of the model's environment,
its numerics pinned as the run recorded them whatever this shell exports, so that a
prediction is bit-identical on every CPU the record holds on. What it checked and what it
wrote (the model, the rows' and the predictions' sha256) goes into a prediction record.
"""

from __future__ import annotations

import json
import os
import posixpath
import subprocess
import sys
from pathlib import Path
from typing import Any

from reprotrain.audit import model_runs, verify
from reprotrain.environment import jobenv, named, numerics
from reprotrain.errors import ReprotrainError
from reprotrain.records.types import Manifest

ENVIRONMENT_RULES = ("refuse", "warn")
_SOURCE = Path(__file__).resolve().parents[2]  # where the job finds reprotrain


def choose(runs: list[model_runs.ModelRun], wanted: str | None, run_manifest: str) -> Any:
    """The model run named by ``wanted``: its key (dataset/version/seed-N/model) or a
    unique ending of it (the model's name); with one model run, that one."""
    keys = ", ".join(run.key for run in runs) or "none"
    if wanted is None and len(runs) == 1:
        return runs[0]
    if wanted is None:
        raise ReprotrainError(
            run_manifest, "--model", f"the run has {len(runs)} models: {keys}", "name one"
        )
    found = [run for run in runs if run.key == wanted or run.key.endswith(f"/{wanted}")]
    if len(found) != 1:
        problem = "names no model of the run" if not found else "names several models"
        raise ReprotrainError(
            run_manifest, "--model", f"{wanted!r} {problem} (its models: {keys})", "name one"
        )
    return found[0]


def model_environment(document: Manifest, model_path: str) -> str:
    """The named environment the model was trained in (named.BASE for the rule one):
    its training recipe names the lock in force as an input."""
    for name, item in document["files"][model_path]["inputs"].items():
        parts = Path(name).parts
        if item.get("kind") == "environment" and len(parts) == 3 and parts[0] == "envs":
            return parts[1]
    return named.BASE


def predict(
    run_manifest: str,
    rows: str,
    out: str,
    *,
    expected: str,
    model: str | None = None,
    public_key: str | None = None,
    strict: bool = False,
    environment_rule: str = "refuse",
    python: str | None = None,
    record_out: str | None = None,
) -> dict[str, Any]:
    """Predict ``rows`` (a CSV of the model's feature columns) with a model of the run
    ``run_manifest``, which must reproduce the record ``expected``; writes the
    predictions to ``out`` and the prediction record to ``record_out`` (default:
    ``out`` + .record.json) and returns that record."""
    if environment_rule not in ENVIRONMENT_RULES:
        raise ReprotrainError(
            "predict", "--environment", f"is {environment_rule!r}", "refuse or warn"
        )
    vouched = verify.against_record(run_manifest, expected, "predict", public_key, strict)
    document, recorded = vouched.run, vouched.record
    chosen = choose(model_runs.model_runs(document), model, run_manifest)
    if not isinstance(chosen.card["data"].get("schema"), dict):
        raise ReprotrainError(
            chosen.card_path,
            "data.schema",
            "is missing: the card was written before cards recorded the model's table schema",
            "rerun the pipeline and record it again (`make record`), then predict",
        )
    model_path = f"{chosen.directory}/{chosen.card['model']['file']}"
    entry = document["files"].get(model_path)
    recorded_entry = recorded["files"].get(model_path)
    if entry is None or recorded_entry is None or entry["sha256"] != recorded_entry["sha256"]:
        raise ReprotrainError(
            model_path,
            "sha256",
            f"is not the model {expected} records for this run",
            "rerun the pipeline and check it (`reprotrain check`) before predicting",
        )
    environment_path = posixpath.normpath(
        posixpath.join(chosen.directory, str(chosen.card["environment"]))
    )
    environment = model_runs.read_covered(environment_path, document, chosen.card_path)
    name = model_environment(document, model_path)
    if name == named.BASE:
        packages, field = environment["packages"], "packages"
        lock = environment["lock"]["path"]
    else:
        packages = environment["environments"][name]["packages"]
        field = f"environments.{name}.packages"
        lock = environment["environments"][name]["lock"]["path"]
    interpreter = python or (
        sys.executable
        if name == named.BASE
        else str(named.venv_of(sys.prefix, name) / "bin" / "python")
    )
    hardware = environment.get("hardware") or {}
    pin = None
    if hardware.get("pin"):
        if hardware["machine"] != numerics.machine():
            raise ReprotrainError(
                environment_path,
                "hardware.machine",
                f"the model's numerics are pinned for {hardware['machine']}, and this "
                f"machine is {numerics.machine()}: its predictions would not be the "
                "recorded model's",
                f"predict on a {hardware['machine']} machine",
            )
        pin = numerics.Pin(hardware["machine"], **hardware["pin"])
        numerics.check_host(pin, environment_path)
    out = str(out)
    request = {
        "run_key": chosen.key,
        "manifest": str(run_manifest),
        "manifest_integrity": document["integrity"],
        "record": str(expected),
        "model": model_path,
        "card": chosen.card_path,
        "card_sha256": chosen.card["model"]["sha256"],
        "recorded_sha256": recorded_entry["sha256"],
        "dataset": chosen.card["data"]["name"],
        "version": chosen.card["data"]["version"],
        "schema": chosen.card["data"]["schema"],
        "rows": str(rows),
        "out": out,
        "record_out": str(record_out or f"{out}.record.json"),
        "python": environment["python"]["version"],
        "packages": packages,
        "environment_record": environment_path,
        "environment_field": field,
        "lock": lock,
        "environment_rule": environment_rule,
        "pin": None if pin is None else {"blas_kernel": pin.blas_kernel, "simd": pin.simd},
    }
    return _run_job(interpreter, request, pin)


def _run_job(interpreter: str, request: dict[str, Any], pin: numerics.Pin | None) -> Any:
    """The prediction job in a fresh ``interpreter``, its environment built: the recorded
    numerics pinned before any library loads, the shell's kernel choices dropped."""
    if not os.access(interpreter, os.X_OK):
        raise ReprotrainError(
            interpreter,
            None,
            "the model's environment has no interpreter here",
            "run `make setup`, which installs every environment of envs/",
        )
    settings = jobenv.Settings(locale="C.UTF-8", timezone="UTC")
    built = jobenv.build(os.environ, settings, None if pin is None else pin.job_environment())
    environment = jobenv.for_user_code(built, ())
    environment[numerics.PIN_VARIABLE] = "null" if pin is None else pin.to_json()
    environment["PYTHONPATH"] = os.pathsep.join(
        filter(None, [str(_SOURCE), environment.get("PYTHONPATH")])
    )
    done = subprocess.run(
        # -P: the working directory is not put on the module path (no module of it
        # shadows a library the unpickled model imports).
        [interpreter, "-P", "-m", "reprotrain.steps.prediction", json.dumps(request)],
        capture_output=True,
        text=True,
        check=False,
        env=environment,
    )
    try:
        answer = json.loads(done.stdout.strip().splitlines()[-1])
    except (IndexError, json.JSONDecodeError):
        last = (done.stderr.strip().splitlines() or ["it printed nothing"])[-1]
        raise ReprotrainError(
            interpreter,
            None,
            f"the prediction job failed: {last}",
            "run `make setup` to install the model's locked environment, then retry",
        ) from None
    if "refusal" in answer:
        raise ReprotrainError(**answer["refusal"])
    return answer["record"]
