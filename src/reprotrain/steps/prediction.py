"""predict's job: score new rows with a recorded model, in the model's environment.

The driver side (reprotrain.serving) has checked the run against its record and starts
this module in a fresh interpreter of the model's environment, with the recorded numerics
pinned before any library loads (a job's environment is built, not inherited). Here:
the environment is compared with the one the run recorded (``environment_differences``,
``RULE``), the model is unpickled only once its bytes match the manifest and the record,
the rows are checked against the table schema the model was trained on (preprocess's
checks and messages), and the predictions and their record are written.

The request comes as one JSON argument; the answer is one JSON line on stdout: the
prediction record, or the refusal as a ReprotrainError's fields.
"""

from __future__ import annotations

import csv
import io
import json
import platform
import sys
from typing import Any

from reprotrain import fileio
from reprotrain.errors import ReprotrainError
from reprotrain.hashing import sha256_bytes

RECORD_SCHEMA_VERSION = 1
# The documented rule (docs/predict.md): what refuses a prediction, and what only warns.
RULE = {
    "refuse": (
        "another Python minor version; a package the model's environment recorded that is "
        "missing or at another version here; another machine architecture than the "
        "recorded numerics pin's (checked by the driver)"
    ),
    "warn": "another Python patch release (the standard library's floats do not change)",
}


def environment_differences(
    recorded_python: str, recorded_packages: dict[str, str], installed: dict[str, str]
) -> tuple[list[str], list[str]]:
    """(refusals, warnings): how this interpreter differs from the recorded environment."""
    refusals, warnings = [], []
    here = platform.python_version()
    if here.split(".")[:2] != recorded_python.split(".")[:2]:
        refusals.append(f"Python {here} here, {recorded_python} recorded")
    elif here != recorded_python:
        warnings.append(f"Python {here} here, {recorded_python} recorded")
    for name, version in sorted(recorded_packages.items()):
        found = installed.get(name)
        if found != version:
            refusals.append(f"{name} {found or 'not installed'} here, {version} recorded")
    return refusals, warnings


def _csv_bytes(header: list[str], rows: list[list[str]]) -> bytes:
    text = io.StringIO()
    writer = csv.writer(text, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    return text.getvalue().encode("utf-8")


def predict(request: dict[str, Any]) -> dict[str, Any]:
    """Check, load, read, score and write, as the request says; returns the record."""
    # Standard library only until the environment is known to be the model's.
    from reprotrain.environment import drift

    refusals, warnings = environment_differences(
        request["python"], request["packages"], drift.installed_versions()
    )
    if refusals and request["environment_rule"] == "refuse":
        raise ReprotrainError(
            request["environment_record"],
            request["environment_field"],
            "this is not the environment the model was recorded in: "
            + "; ".join(refusals[:4])
            + (f" (and {len(refusals) - 4} more)" if len(refusals) > 4 else ""),
            f"predict in the model's environment ({request['lock']}: `make setup` installs "
            "it), or pass `--environment warn` to predict anyway (the prediction record "
            "then lists every difference)",
        )
    from reprotrain.datasets import Dataset, TableSchema
    from reprotrain.environment import numerics
    from reprotrain.ml import data, models, tables

    estimator = models.load_verified(
        request["model"],
        request["card_sha256"],
        request["card"],
        (request["recorded_sha256"], request["record"]),
        None,
    )
    schema = TableSchema.from_dict(request["schema"])
    dataset = Dataset(request["dataset"], request["version"], "file", schema)
    rows_path = request["rows"]
    content = fileio.read_bytes(rows_path, limit=fileio.LARGE_FILE_LIMIT, what="rows to predict")
    encoded = data.read_raw_table(
        rows_path, dataset, request["card"], content, entry="data.schema", with_target=False
    )
    features = tables.model_features(encoded, schema)
    scored = models.predict(estimator, features, 1, schema.is_classification)
    pin = numerics.pin_from_environment()
    numerics.check_in_use(pin, numerics.in_use(load_all=False))
    if schema.is_classification:
        classes = [str(label) for label in estimator.classes_]
        header = [f"{schema.target}_predicted", *(f"probability_{label}" for label in classes)]
        lines = [[classes[int(row.argmax())], *(repr(float(p)) for p in row)] for row in scored]
    else:
        header = [f"{schema.target}_predicted"]
        lines = [[repr(float(value))] for value in scored]
    output = _csv_bytes(header, lines)
    fileio.atomic_write_bytes(request["out"], output)
    record = {
        "schema_version": RECORD_SCHEMA_VERSION,
        "model": {
            "run": request["run_key"],
            "file": request["model"],
            "sha256": request["recorded_sha256"],
            "manifest": request["manifest"],
            "manifest_integrity": request["manifest_integrity"],
            "record": request["record"],
        },
        "input": {"file": rows_path, "sha256": sha256_bytes(content), "rows": len(lines)},
        "output": {"file": request["out"], "sha256": sha256_bytes(output)},
        "environment": {
            "python": platform.python_version(),
            "rule": request["environment_rule"],
            "differences": [*refusals, *warnings],
        },
        "numerics": request["pin"],
    }
    fileio.write_json(request["record_out"], record)
    return record


def main(argument: str) -> int:
    try:
        answer: dict[str, Any] = {"record": predict(json.loads(argument))}
    except ReprotrainError as error:
        answer = {
            "refusal": {
                "file": error.file,
                "field": error.field,
                "problem": error.problem,
                "fix": error.fix,
            }
        }
    sys.stdout.write(json.dumps(answer) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
