"""Metrics on the held-out split, and the thresholds a model must meet."""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.metrics import accuracy_score, confusion_matrix, f1_score, log_loss, roc_auc_score

from reprotrain.errors import ReprotrainError

# threshold key -> (metric, whether higher is better)
THRESHOLDS = {
    "min_accuracy": ("accuracy", True),
    "min_roc_auc": ("roc_auc", True),
    "min_f1": ("f1", True),
    "max_log_loss": ("log_loss", False),
}


def metrics_from_probabilities(target, probabilities, classes) -> dict[str, Any]:
    predictions = classes[np.argmax(probabilities, axis=1)]
    binary = len(classes) == 2
    return {
        "n_test": len(target),
        "classes": [int(c) for c in classes],
        "accuracy": float(accuracy_score(target, predictions)),
        "roc_auc": float(
            roc_auc_score(target, probabilities[:, 1])
            if binary
            else roc_auc_score(target, probabilities, multi_class="ovr", labels=classes)
        ),
        "f1": float(f1_score(target, predictions, average="binary" if binary else "macro")),
        "log_loss": float(log_loss(target, probabilities, labels=classes)),
        "confusion_matrix": confusion_matrix(target, predictions, labels=classes).tolist(),
    }


def check_thresholds(
    metrics: dict[str, Any], thresholds: dict[str, float], config_path: str
) -> None:
    """Raise one error listing every metric that misses its configured threshold."""
    missed_keys, misses = [], []
    for key, bound in sorted(thresholds.items()):
        metric, higher_is_better = THRESHOLDS[key]
        value = metrics[metric]
        if (value < bound) if higher_is_better else (value > bound):
            relation = ">=" if higher_is_better else "<="
            missed_keys.append(f"thresholds.{key}")
            misses.append(f"{metric} = {value:.4f}, required {relation} {bound}")
    if misses:
        raise ReprotrainError(
            config_path,
            ", ".join(missed_keys),
            "the model misses its quality thresholds on the test split: " + "; ".join(misses),
            "improve the model (data, hyperparameters) or, if the bar is wrong, change the "
            "thresholds in the config",
        )
