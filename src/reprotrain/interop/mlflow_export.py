"""Export a checked run to an MLflow tracking store: one MLflow run per model run, with
its parameters, metrics, model card, figures, model file and manifest, tagged with the
data, code, environment and record digests.

A driver-side tool (MLflow is not in the rule environment): it reads a run only after
hashing every file its manifest covers, and writes nothing into the results directory.
Exporting the same run again adds nothing: MLflow runs are keyed by the model run and the
manifest's integrity digest.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlparse

from reprotrain.audit import model_runs as reading
from reprotrain.audit import verify
from reprotrain.errors import ReprotrainError
from reprotrain.layout import OUTPUTS
from reprotrain.records.types import Manifest, is_digest

TAG = "reprotrain"
_CARD = reading.CARD
# Besides the card: what each model run's MLflow run carries as artifacts (a run has the
# figures of its kind of task).
_ARTIFACTS = tuple(
    output.path
    for output in OUTPUTS
    if output.scope == "model" and output.coverage == "always" and output.key != "card"
)


@dataclass(frozen=True)
class ModelRun:
    """One model run of a results directory, as MLflow will show it."""

    key: str  # dataset/version/seed-N/model
    directory: Path
    params: dict[str, str]
    metrics: dict[str, float]
    tags: dict[str, str]


def model_runs(
    run_manifest: str | Path,
    expected: str | Path,
    public_key: str | Path | None = None,
    strict: bool = False,
) -> tuple[Manifest, list[ModelRun]]:
    """Every model run of a run that reproduces its record ``expected`` (judged in this
    call, its files hashed on disk), read from the files the manifest covers."""
    document = verify.against_record(run_manifest, expected, "an export", public_key, strict).run
    provenance = document["provenance"]
    code = provenance["code"]
    lock = provenance["environment"]["lock"]
    runs = []
    for read in reading.model_runs(document):
        card, data, model = read.card, read.card["data"], read.card["model"]
        tags = {
            f"{TAG}.run": read.key,
            f"{TAG}.manifest_integrity": document["integrity"],
            f"{TAG}.data_sha256": str(data.get("sha256")),
            f"{TAG}.model_sha256": model["sha256"],
            f"{TAG}.params_digest": card["params_digest"],
            f"{TAG}.code_digest": code["digest"],
            f"{TAG}.code_dirty": str(code.get("git_dirty")),
            f"{TAG}.environment_lock": str(lock.get("path")),
            f"{TAG}.environment_lock_sha256": str(lock.get("sha256")),
            f"{TAG}.numerics": ",".join(
                f"{k}={v}"
                for k, v in sorted(
                    ((provenance["environment"].get("hardware") or {}).get("pin") or {}).items()
                )
            ),
            "mlflow.runName": read.key,
        }
        if code.get("git_commit"):
            tags["mlflow.source.git.commit"] = code["git_commit"]
        runs.append(
            ModelRun(
                key=read.key,
                directory=Path(read.directory),
                params=read.params,
                metrics=read.scores,
                tags=tags,
            )
        )
    return document, runs


def _default_artifact_location(tracking_uri: str, experiment: str) -> str | None:
    """Beside a SQLite store (MLflow would otherwise put artifacts under the working
    directory); a tracking server chooses its own."""
    parsed = urlparse(tracking_uri)
    if parsed.scheme != "sqlite":
        return None
    database = Path(parsed.path[1:] if parsed.path.startswith("//") else parsed.path)
    # One folder under mlartifacts/ whatever the name holds ("../..", "/", a NUL).
    folder = quote(experiment, safe="").replace(".", "%2E")
    return (database.resolve().parent / "mlartifacts" / folder).as_uri()


def export(
    run_manifest: str | Path,
    tracking_uri: str,
    experiment: str = "reprotrain",
    artifact_location: str | None = None,
    progress: Callable[[str], None] = print,
    *,
    expected: str | Path,
    public_key: str | Path | None = None,
    strict: bool = False,
) -> list[str]:
    """Log every model run of a run that reproduces its record; returns the MLflow run
    ids, new or existing."""
    document, runs = model_runs(run_manifest, expected, public_key, strict)
    if not is_digest(document["integrity"]):
        raise ReprotrainError(run_manifest, "integrity", "is not a sha256 digest", "rerun")
    from mlflow.exceptions import MlflowException
    from mlflow.tracking import MlflowClient

    # MLflow configures its loggers on import: quiet its table-creation notes after that.
    for name in ("mlflow", "alembic"):
        logging.getLogger(name).setLevel(logging.WARNING)

    try:
        client = MlflowClient(tracking_uri=tracking_uri)
        found = client.get_experiment_by_name(experiment)
        experiment_id = (
            found.experiment_id
            if found
            else client.create_experiment(
                experiment,
                artifact_location=artifact_location
                or _default_artifact_location(tracking_uri, experiment),
            )
        )
        ids = []
        for run in runs:
            # Only the digest (hex, checked above) enters the filter; the run's key,
            # made of card values, is compared here: nothing is spliced into a query.
            existing = [
                found
                for found in client.search_runs(
                    [experiment_id],
                    filter_string=f"tags.`{TAG}.manifest_integrity` = '{document['integrity']}'",
                )
                if found.data.tags.get(f"{TAG}.run") == run.key
            ]
            if existing:
                progress(f"{run.key}: already exported as MLflow run {existing[0].info.run_id}")
                ids.append(existing[0].info.run_id)
                continue
            created = client.create_run(experiment_id, tags=run.tags, run_name=run.key)
            run_id = created.info.run_id
            client.log_batch(
                run_id,
                params=[_param(name, value) for name, value in run.params.items()],
                metrics=[_metric(name, value) for name, value in run.metrics.items()],
            )
            client.log_artifact(run_id, str(run.directory / _CARD))
            for artifact in _ARTIFACTS:
                if (run.directory / artifact).is_file():
                    client.log_artifact(run_id, str(run.directory / artifact))
            client.log_artifact(run_id, str(run_manifest), artifact_path="provenance")
            for path in document["files"]:
                if path.endswith("/environment.json"):
                    client.log_artifact(run_id, path, artifact_path="provenance")
            client.set_terminated(run_id)
            progress(f"{run.key}: exported as MLflow run {run_id}")
            ids.append(run_id)
    except MlflowException as error:
        raise ReprotrainError(
            tracking_uri,
            "--tracking-uri",
            f"MLflow refused the export: {error.message}",
            "give a reachable tracking server (http://host:5000) or a SQLite store "
            "(sqlite:///path/mlflow.db)",
        ) from None
    return ids


def _param(name: str, value: str) -> Any:
    from mlflow.entities import Param

    return Param(name, value)


def _metric(name: str, value: float) -> Any:
    from mlflow.entities import Metric

    # A fixed timestamp: the value is a property of the run, not of the export.
    return Metric(name, value, timestamp=0, step=0)
