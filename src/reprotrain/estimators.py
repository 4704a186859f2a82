"""The model registry: every model type a config can name, in one place.

Each entry says which scikit-learn estimator it builds and which hyperparameters a config
may set for it (a JSON Schema of `models.<type>`). Adding a model type is one entry here,
plus its test. Standard library only: the Snakefile checks configs against it without
importing scikit-learn.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any

POSITIVE = {"type": "number", "exclusiveMinimum": 0}
ITERATIONS = {"type": "integer", "minimum": 1}


@dataclass(frozen=True)
class ModelType:
    """A model type: its estimator ("module:Class"), the JSON Schema of each hyperparameter
    a config may set, and whether it takes a `standardize` option (scale features first).
    `random_state` always comes from config `seed`, threads from config `threads`."""

    estimator: str
    hyperparameters: dict[str, Any] = field(default_factory=dict)
    standardize: bool = False


MODEL_TYPES = {
    "logistic_regression": ModelType(
        "sklearn.linear_model:LogisticRegression",
        {
            "C": POSITIVE,
            "max_iter": ITERATIONS,
            "tol": POSITIVE,
            "solver": {
                "enum": ["lbfgs", "newton-cg", "newton-cholesky", "liblinear", "sag", "saga"]
            },
            "class_weight": {"enum": [None, "balanced"]},
        },
        standardize=True,
    ),
    "random_forest": ModelType(
        "sklearn.ensemble:RandomForestClassifier",
        {
            "n_estimators": ITERATIONS,
            "max_depth": {"type": ["integer", "null"], "minimum": 1},
            "min_samples_split": {"type": "integer", "minimum": 2},
            "min_samples_leaf": ITERATIONS,
            "max_features": {
                "oneOf": [
                    {"enum": ["sqrt", "log2", None]},
                    {"type": "number", "exclusiveMinimum": 0, "maximum": 1},
                ]
            },
            "class_weight": {"enum": [None, "balanced", "balanced_subsample"]},
            "bootstrap": {"type": "boolean"},
        },
    ),
    "hist_gradient_boosting": ModelType(
        "sklearn.ensemble:HistGradientBoostingClassifier",
        {
            "learning_rate": POSITIVE,
            "max_iter": ITERATIONS,
            "max_leaf_nodes": {"type": ["integer", "null"], "minimum": 2},
            "max_depth": {"type": ["integer", "null"], "minimum": 1},
            "min_samples_leaf": ITERATIONS,
            "l2_regularization": {"type": "number", "minimum": 0},
            "max_bins": {"type": "integer", "minimum": 2, "maximum": 255},
            "early_stopping": {
                "enum": [False],
                "description": "early stopping draws a validation split; off keeps training "
                "a pure function of the data",
            },
            "class_weight": {"enum": [None, "balanced"]},
        },
    ),
}

STANDARDIZE = {"type": "boolean", "description": "scale features before fitting"}


def config_schema(base: dict[str, Any]) -> dict[str, Any]:
    """The config schema with the registry filled in: `model` names a registered type, and
    `models.<type>` takes that type's hyperparameters and no others."""
    schema = copy.deepcopy(base)
    schema["$defs"]["model"]["enum"] = list(MODEL_TYPES)
    schema["properties"]["models"]["properties"] = {
        name: {
            "type": "object",
            "additionalProperties": False,
            "properties": model_type.hyperparameters
            | ({"standardize": STANDARDIZE} if model_type.standardize else {}),
        }
        for name, model_type in MODEL_TYPES.items()
    }
    schema["properties"]["models"]["additionalProperties"] = False
    return schema
