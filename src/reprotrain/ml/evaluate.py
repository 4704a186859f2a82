"""Metrics on the held-out split, and the thresholds a model must meet.

Each task has its own metrics, and metrics.json names how a multi-class score averages
over classes, so that a table of runs never puts a binary F1 beside a macro F1 unawares.
The driver reads the thresholds from here: numpy and scikit-learn are imported only by
the functions that compute metrics.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from reprotrain.errors import ReprotrainError
from reprotrain.yamlfile import CONFIG_LABEL

CLASSIFICATION, REGRESSION = "classification", "regression"
# threshold key -> (metric, whether higher is better, the tasks it applies to)
THRESHOLDS = {
    "min_accuracy": ("accuracy", True, CLASSIFICATION),
    "min_balanced_accuracy": ("balanced_accuracy", True, CLASSIFICATION),
    "min_roc_auc": ("roc_auc", True, CLASSIFICATION),
    "min_f1": ("f1", True, CLASSIFICATION),
    "max_log_loss": ("log_loss", False, CLASSIFICATION),
    "max_rmse": ("rmse", False, REGRESSION),
    "max_mae": ("mae", False, REGRESSION),
    "min_r2": ("r2", True, REGRESSION),
}
# The metrics of each kind of task, as metrics.json and the sweep's summary name them.
METRICS = {
    CLASSIFICATION: ("accuracy", "balanced_accuracy", "roc_auc", "f1", "log_loss"),
    REGRESSION: ("rmse", "mae", "r2"),
}


def kind_of(task: str) -> str:
    """classification (binary, multiclass) or regression."""
    return REGRESSION if task == REGRESSION else CLASSIFICATION


def averaging(task: str, classes: Sequence[Any]) -> dict[str, str]:
    """How ROC AUC and F1 treat the classes, in words that go into metrics.json."""
    if task == "binary":
        positive = f"binary: class {classes[1]} is the positive class"
        return {"roc_auc": positive, "f1": positive}
    return {
        "roc_auc": "one-vs-rest, macro average over classes",
        "f1": "macro average over classes",
    }


def classification_metrics(
    target: Any, probabilities: Any, classes: Sequence[Any], task: str
) -> dict[str, Any]:
    import numpy as np
    from sklearn.metrics import (
        accuracy_score,
        balanced_accuracy_score,
        confusion_matrix,
        f1_score,
        log_loss,
        roc_auc_score,
    )

    predictions = classes[np.argmax(probabilities, axis=1)]
    binary = task == "binary"
    return {
        "task": task,
        "n_test": len(target),
        "classes": [label.item() if hasattr(label, "item") else label for label in classes],
        "accuracy": float(accuracy_score(target, predictions)),
        "balanced_accuracy": float(balanced_accuracy_score(target, predictions)),
        "roc_auc": float(
            roc_auc_score(target == classes[1], probabilities[:, 1])
            if binary
            else roc_auc_score(target, probabilities, multi_class="ovr", labels=classes)
        ),
        "f1": float(
            f1_score(target, predictions, pos_label=classes[1], average="binary")
            if binary
            else f1_score(target, predictions, average="macro", labels=classes)
        ),
        "averaging": averaging(task, classes),
        "log_loss": float(log_loss(target, probabilities, labels=classes)),
        "confusion_matrix": confusion_matrix(target, predictions, labels=classes).tolist(),
    }


def regression_metrics(target: Any, predictions: Any) -> dict[str, Any]:
    from sklearn.metrics import mean_absolute_error, r2_score, root_mean_squared_error

    return {
        "task": REGRESSION,
        "n_test": len(target),
        "rmse": float(root_mean_squared_error(target, predictions)),
        "mae": float(mean_absolute_error(target, predictions)),
        "r2": float(r2_score(target, predictions)),
    }


def thresholds_for(
    task: str, defaults: dict[str, Any], own: dict[str, float] | None
) -> dict[str, float]:
    """The bounds a model of one dataset must meet: config `thresholds` of its kind of
    task, each replaced by the dataset's own (`thresholds.by_dataset.<name>`)."""
    kind = kind_of(task)
    merged = {key: bound for key, bound in defaults.items() if key in THRESHOLDS}
    merged |= own or {}
    return {key: bound for key, bound in sorted(merged.items()) if THRESHOLDS[key][2] == kind}


def check_dataset_thresholds(
    by_dataset: dict[str, dict[str, float]], kinds: dict[str, set[str]], file: str
) -> None:
    """Each dataset's own thresholds (`thresholds.by_dataset`) name a registered dataset
    and suit its kind of task (``kinds``: dataset name -> kinds of its versions)."""
    for name, own in sorted(by_dataset.items()):
        field_ = f"thresholds.by_dataset.{name}"
        if name not in kinds:
            raise ReprotrainError(
                file,
                field_,
                f"{name} is not a dataset of the registry",
                f"use one of {sorted(kinds)}",
            )
        for key in sorted(own):
            if THRESHOLDS[key][2] not in kinds[name]:
                fitting = [k for k, v in THRESHOLDS.items() if v[2] in kinds[name]]
                raise ReprotrainError(
                    file,
                    f"{field_}.{key}",
                    f"{key} bounds a {THRESHOLDS[key][2]} metric, and {name} is a "
                    f"{' and '.join(sorted(kinds[name]))} dataset",
                    f"use its own kind of threshold: {', '.join(fitting)}",
                )


def threshold_misses(
    metrics: dict[str, Any], thresholds: dict[str, float], fields: dict[str, str]
) -> list[tuple[str, str]]:
    """Every metric that misses its configured threshold: (the config field that set the
    bar, what was measured against it)."""
    misses = []
    for key, bound in sorted(thresholds.items()):
        metric, higher_is_better, _ = THRESHOLDS[key]
        value = metrics[metric]
        if (value < bound) if higher_is_better else (value > bound):
            relation = ">=" if higher_is_better else "<="
            misses.append(
                (
                    fields.get(key, f"thresholds.{key}"),
                    f"{metric} = {value:.4f}, required {relation} {bound}",
                )
            )
    return misses


def check_thresholds(
    metrics: dict[str, Any],
    thresholds: dict[str, float],
    fields: dict[str, str],
    run: str = "the model",
    dataset: str | None = None,
) -> None:
    """Raise one error listing every metric that misses its configured threshold.

    ``fields``: each threshold's config field (its own dataset's or the run's); ``run``:
    which model run missed (dataset, version, seed, model), so that a sweep says which;
    ``dataset``: whose own thresholds the fix names."""
    misses = threshold_misses(metrics, thresholds, fields)
    if misses:
        own = (
            f"set `thresholds.by_dataset.{dataset}.<key>` in your overlay, which changes the "
            f"bar for {dataset} alone (config/config.yaml's `thresholds` hold for every run)"
            if dataset
            else "change the thresholds in your overlay"
        )
        raise ReprotrainError(
            CONFIG_LABEL,
            ", ".join(field for field, _ in misses),
            f"{run} misses its quality thresholds on the test split: "
            + "; ".join(text for _, text in misses),
            f"improve the model (data, hyperparameters) or, if the bar is wrong, {own}; in "
            "a sweep, `snakemake --keep-going` lets the other runs finish and be judged",
        )
