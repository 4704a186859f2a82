"""One model run's work in plain scikit-learn, for the sweep benchmark (sweep.py): its
minimal Snakemake workflow (minimal_ml/: one script per step) and its plain loop (one
process) both call these functions, so the two do the same work as each other and as
reprotrain's rules: read the CSV, split it (stratified, seeded), fit the model with the
config's hyperparameters, pickle it, predict, write the metrics and both figures.
"""

from __future__ import annotations

import json
import pickle
from pathlib import Path
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import yaml
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import (
    ConfusionMatrixDisplay,
    RocCurveDisplay,
    accuracy_score,
    confusion_matrix,
    roc_auc_score,
)
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

CSV = "data/breast_cancer/v1.0/breast_cancer.csv"
MODELS = ("logistic_regression", "hist_gradient_boosting")


def settings(config: str = "config/config.yaml") -> dict[str, Any]:
    loaded = yaml.safe_load(Path(config).read_text(encoding="utf-8"))
    return {"test_fraction": loaded["split"]["test_fraction"], "models": loaded["models"]}


def preprocess(csv: str, test_fraction: float, seed: int, train_out: str, test_out: str) -> None:
    frame = pd.read_csv(csv)
    train, test = train_test_split(
        frame, test_size=test_fraction, random_state=seed, stratify=frame["target"]
    )
    np.save(train_out, train.to_numpy(dtype=np.float64))
    np.save(test_out, test.to_numpy(dtype=np.float64))


def build(model: str, params: dict[str, Any], seed: int) -> Any:
    params = dict(params)
    if model == "logistic_regression":
        standardize = params.pop("standardize", False)
        estimator = LogisticRegression(**params, random_state=seed)
        return make_pipeline(StandardScaler(), estimator) if standardize else estimator
    return HistGradientBoostingClassifier(**params, random_state=seed)


def train(train_table: str, model: str, params: dict[str, Any], seed: int, out: str) -> None:
    table = np.load(train_table)
    estimator = build(model, params, seed).fit(table[:, :-1], table[:, -1])
    Path(out).write_bytes(pickle.dumps(estimator))


def validate(model: str, test_table: str, metrics_out: str, roc_out: str, matrix_out: str) -> None:
    estimator = pickle.loads(Path(model).read_bytes())
    table = np.load(test_table)
    features, labels = table[:, :-1], table[:, -1]
    scores = estimator.predict_proba(features)[:, 1]
    predicted = estimator.predict(features)
    metrics = {
        "accuracy": accuracy_score(labels, predicted),
        "roc_auc": roc_auc_score(labels, scores),
        "confusion_matrix": confusion_matrix(labels, predicted).tolist(),
    }
    Path(metrics_out).write_text(json.dumps(metrics, indent=2, sort_keys=True))
    RocCurveDisplay.from_predictions(labels, scores)
    plt.savefig(roc_out, format="svg")
    plt.close("all")
    ConfusionMatrixDisplay.from_predictions(labels, predicted)
    plt.savefig(matrix_out, format="svg")
    plt.close("all")


def combinations(count: int) -> list[tuple[int, str]]:
    """``count`` (seed, model) pairs: both models per seed (one model for one run)."""
    models = MODELS if count > 1 else MODELS[:1]
    return [(seed, model) for seed in range(1, count // len(models) + 1) for model in models]


def loop(count: int, out: Path) -> None:
    """The plain loop: every model run in this one process (one split per seed)."""
    config = settings()
    runs = combinations(count)
    for seed in sorted({seed for seed, _ in runs}):
        split = out / f"seed-{seed}"
        split.mkdir(parents=True, exist_ok=True)
        train_table, test_table = str(split / "train.npy"), str(split / "test.npy")
        preprocess(CSV, config["test_fraction"], seed, train_table, test_table)
        for model in [model for run_seed, model in runs if run_seed == seed]:
            run = split / model
            run.mkdir(exist_ok=True)
            train(train_table, model, config["models"][model], seed, str(run / "model.pkl"))
            validate(
                str(run / "model.pkl"),
                test_table,
                str(run / "metrics.json"),
                str(run / "roc.svg"),
                str(run / "confusion.svg"),
            )


if __name__ == "__main__":
    import sys

    loop(int(sys.argv[1]), Path(sys.argv[2]))
