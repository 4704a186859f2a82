"""The model runs of a run whose covered files were hashed against its manifest: what
each model card and its metrics say, read only from files that manifest covers.

Every tool that reads a run's numbers (compare, predict, the MLflow export) reads them
here, after ``manifest.verify_on_disk`` (or ``verify.against_record``) has hashed them: a
card that names a file outside the run, or one the manifest does not cover, is refused,
so no number of another file is ever shown."""

from __future__ import annotations

import posixpath
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from reprotrain import fileio
from reprotrain.audit import explain
from reprotrain.errors import ReprotrainError
from reprotrain.layout import OUTPUTS
from reprotrain.records.types import Manifest

CARD = next(output.path for output in OUTPUTS if output.key == "card")


@dataclass(frozen=True)
class ModelRun:
    """One model run of a results directory."""

    key: str  # dataset/version/seed-N/model
    card_path: str  # as the manifest lists it
    card: dict[str, Any]
    metrics: dict[str, Any]

    @property
    def directory(self) -> str:
        return posixpath.dirname(self.card_path)

    @property
    def params(self) -> dict[str, str]:
        """What the run was made with: the data version, split and model, and every
        hyperparameter (model.<name>), as text."""
        data, model = self.card["data"], self.card["model"]
        return {
            "dataset": data["name"],
            "data_version": data["version"],
            "seed": str(data["split"]["seed"]),
            "test_fraction": str(data["split"]["test_fraction"]),
            "model": model["type"],
            "estimator": model["estimator"],
        } | {
            key: str(value)
            for key, value in sorted(explain.flatten(model["hyperparameters"], "model").items())
        }

    @property
    def scores(self) -> dict[str, float]:
        """The metrics that are numbers (not the confusion matrix or the classes)."""
        return {
            name: float(value)
            for name, value in sorted(self.metrics.items())
            if isinstance(value, int | float) and not isinstance(value, bool)
        }


def read_covered(path: str, document: Manifest, named_by: str, root: Path = Path()) -> Any:
    """A JSON file the manifest covers (so hashed on disk), named by ``named_by``; the
    manifest's paths start at ``root``."""
    normal = posixpath.normpath(path)
    if normal not in document["files"]:
        raise ReprotrainError(
            named_by,
            None,
            f"names {path}, which is not a covered file of this run",
            "rerun the pipeline: save writes the card",
        )
    return fileio.read_json(root / normal, what="run record", fix="rerun the pipeline")


def model_runs(document: Manifest, root: Path = Path()) -> list[ModelRun]:
    """Every model run of a run manifest whose files were hashed on disk, in path order."""
    runs = []
    for path in sorted(p for p in document["files"] if p.endswith(f"/{CARD}")):
        card = read_covered(path, document, path, root)
        fields = card.get("data"), card.get("model") if isinstance(card, dict) else None
        if not isinstance(card, dict) or not all(isinstance(f, dict) for f in fields):
            raise ReprotrainError(path, None, "is not a model card", "rerun the pipeline")
        data, model = card["data"], card["model"]
        try:
            key = f"{data['name']}/{data['version']}/seed-{data['split']['seed']}/{model['type']}"
            metrics = read_covered(
                posixpath.join(posixpath.dirname(path), str(card["metrics"])), document, path, root
            )
        except (KeyError, TypeError) as error:
            raise ReprotrainError(
                path, str(error), "is not a complete model card", "rerun the pipeline"
            ) from None
        if not isinstance(metrics, dict):
            raise ReprotrainError(path, "metrics", "names no metrics record", "rerun the pipeline")
        runs.append(ModelRun(key, path, card, metrics))
    return runs
