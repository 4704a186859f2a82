"""The checksum rule's step: compare the run with its record, then write the report's
provenance page (no pandas or matplotlib: the job starts fast)."""

from __future__ import annotations

import html
import json
import logging
import sys
from pathlib import Path

from reprotrain import fileio
from reprotrain.audit import explain, model_runs, verify
from reprotrain.environment import drift
from reprotrain.fileio import atomic_write_bytes
from reprotrain.ml.evaluate import METRICS
from reprotrain.ml.html import monospace, page, table
from reprotrain.records import manifest
from reprotrain.records.types import Manifest

log = logging.getLogger(__name__)


# The rules whose jobs record the packages they imported (beside their logs).
_JOB_RULES = ("preprocess", "train", "save", "validate", "validate_regression", "environment")


def imported_packages(logs: str) -> set[str]:
    """The packages this run's jobs imported, as each job recorded them beside its log."""
    names: set[str] = set()
    for rule in _JOB_RULES:
        for record in sorted(Path(logs, rule).rglob("*.packages.json")):
            found = fileio.read_json(record, what="packages record")
            if isinstance(found, dict):
                names |= set(found)
    return names


def _hyperparameters(run: model_runs.ModelRun) -> str:
    flat = explain.flatten(run.card["model"]["hyperparameters"])
    return table(["hyperparameter", "value"], [[k, json.dumps(v)] for k, v in sorted(flat.items())])


def _model_runs_section(document: Manifest) -> tuple[str, dict[str, int]]:
    """Each model run's test-split metrics (one table) and hyperparameters (one folded
    table each), read from the covered files the manifest just hashed; and the rows of
    each data version, as its splits' records count them."""
    runs = model_runs.model_runs(document)
    rows_of = {
        f"{run.card['data']['name']}/{run.card['data']['version']}": run.card["data"]["rows"]
        for run in runs
    }
    if not runs:
        return "", rows_of
    metrics = [name for kind in METRICS.values() for name in kind]
    shown = [name for name in metrics if any(name in run.scores for run in runs)]
    metric_rows = [
        [run.key, run.metrics.get("task"), *(run.scores.get(name) for name in shown)]
        for run in runs
    ]
    folded = "".join(
        f"<details><summary>{html.escape(run.key)}: {html.escape(run.card['model']['estimator'])}"
        "</summary>" + _hyperparameters(run) + "</details>"
        for run in runs
    )
    return (
        "<h2>Model runs: test-split metrics</h2>"
        + table(["model run", "task", *shown], metric_rows)
        + "<h2>Model runs: hyperparameters</h2>"
        + folded
    ), rows_of


def provenance_page(run_manifest: str, checksum: str, lock: str, logs: str, out: str) -> None:
    """The model runs' metrics and hyperparameters, data versions and checksums, code
    version, the software the jobs imported then the rest of the lock, checksum verdict."""
    document = manifest.load(run_manifest, "run manifest")
    verdict = fileio.read_json(checksum, what="checksum verdict", fix="rerun the pipeline")
    record = document["provenance"]
    runs_section, rows_of = _model_runs_section(document)
    data_rows = [
        [
            key,
            entry["kind"],
            entry.get("source") or "generated",
            entry.get("rows") or rows_of.get(key),
            entry["sha256"],
        ]
        for key, entry in sorted(record["data"].items())
    ]
    code = record["code"]
    environment = record["environment"]
    code_rows = [
        ["code digest (workflow + package)", code["digest"]],
        ["git commit", code["git_commit"] or "not a git checkout"],
        [
            "uncommitted changes",
            "unknown" if code["git_dirty"] is None else "yes" if code["git_dirty"] else "no",
        ],
        ["parameters digest", record["params_digest"]],
    ]
    environment_rows = [
        ["lock in force", environment["lock"]["path"]],
        ["lock sha256", environment["lock"]["sha256"]],
        ["python", f"{environment['python']['implementation']} {environment['python']['version']}"],
        ["python build", environment["python"]["build"]],
        ["platform", environment["platform"]],
    ]
    locked = drift.remembered_locked_versions(lock)
    lock_name = environment["lock"]["path"]
    installed = environment["packages"]
    imported = imported_packages(logs)
    # What the run's jobs imported first (numpy, scikit-learn, ...), then the rest.
    software_rows = [
        [name, version, "yes" if name in imported else "", installed.get(name, "")]
        for name, version in sorted(
            locked.items(), key=lambda item: (item[0] not in imported, item[0])
        )
    ]
    outputs = [[path, entry["rule"], entry["sha256"]] for path, entry in document["files"].items()]
    if verdict.get("environment_differs"):
        claim = (
            f"<p>The run reproduces the recorded manifest {monospace(verdict['matches'])}: every "
            "artifact is identical; the environment differs "
            f"({html.escape(verdict['environment_differs'])}), as "
            f"{html.escape(', '.join(verdict['records_differing']))} record"
        )
    else:
        claim = f"<p>The run's outputs match the recorded manifest {monospace(verdict['matches'])}"
    body = (
        f"{claim}; run manifest sha256 {monospace(verdict['run_manifest_sha256'])}.</p>"
        + runs_section
        + "<h2>Data versions</h2>"
        + table(["dataset/version", "kind", "source", "rows", "sha256"], data_rows)
        + "<h2>Code version</h2>"
        + table(["", "value"], code_rows)
        + "<h2>Environment</h2>"
        + table(["", "value"], environment_rows)
        + f"<h2>Locked software ({len(locked)} packages in {html.escape(lock_name)}; the "
        + f"{sum(1 for row in software_rows if row[2])} the run's jobs imported first)</h2>"
        + table(
            ["package", "locked version", "imported by the jobs", "in the environment fingerprint"],
            software_rows,
        )
        + "<h2>Covered outputs</h2>"
        + table(["output", "rule", "sha256"], outputs)
    )
    title = "Model runs and provenance: metrics, data, code and software"
    atomic_write_bytes(out, page(title, body))


def checksum_and_provenance(
    run_manifest: str,
    expected: str,
    recorded_integrity: str | None,
    strict: bool,
    lock: str,
    verdict_out: str,
    page_out: str,
    logs: str,
) -> None:
    """The checksum rule: compare with the recorded manifest, then write the report's page.
    A run reproduced in another environment says so, in its log and on the terminal."""
    judgement = verify.checksum(run_manifest, expected, verdict_out, recorded_integrity, strict)
    if not judgement.identical:
        log.info("%s", judgement.line())
        print(f"reprotrain: {judgement.line()}", file=sys.stderr)
    provenance_page(run_manifest, verdict_out, lock, logs, page_out)
