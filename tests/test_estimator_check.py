"""The check of a custom estimator uses only the public estimator API and never crashes:
whatever a user's class does (generated classes that fail at every step the check takes),
the result is the built estimator or one message naming the overlay, the key, the class
and the exception. The families a user brings: a plain BaseEstimator subclass (the docs'
own example), a Pipeline of user steps, meta-estimators around another estimator."""

from __future__ import annotations

import itertools
import re
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from reprotrain.errors import ReprotrainError
from reprotrain.ml import model_types, models

REPO = Path(__file__).resolve().parents[1]
OVERLAY = "config/mine.yaml"


def docs_example() -> str:
    """The module docs/development.md shows for a class of one's own."""
    text = (REPO / "docs/development.md").read_text()
    found = re.search(r"```python\n# user/log_features\.py\n(.*?)```", text, re.S)
    assert found, "docs/development.md shows user/log_features.py"
    return found.group(1)


def check(tmp_path: Path, entry: dict, tasks: dict | None = None, name: str = "mine"):
    return model_types.check_models([name], {name: entry}, OVERLAY, str(tmp_path / "user"), tasks)


def test_the_docs_own_base_estimator_class_is_checked_and_built(tmp_path):
    (tmp_path / "user").mkdir()
    (tmp_path / "user/log_features.py").write_text(docs_example())
    entry = {"estimator": "log_features.LogFeaturesLogReg", "params": {"C": 0.5}}
    check(tmp_path, entry)
    with pytest.raises(ReprotrainError) as error:
        check(tmp_path, entry | {"params": {"c": 0.5}})
    assert error.value.field == "models.mine.params.c"
    assert "did you mean C" in error.value.fix
    # Only names a config may set are offered.
    assert "random_state" not in error.value.fix and "n_jobs" not in error.value.fix


NESTED = {
    "pipeline": {
        "estimator": "sklearn.pipeline.Pipeline",
        "params": {
            "steps": [
                ["scale", {"estimator": "sklearn.preprocessing.StandardScaler"}],
                [
                    "model",
                    {
                        "estimator": "sklearn.linear_model.LogisticRegression",
                        "params": {"C": 0.5},
                    },
                ],
            ]
        },
    },
    "bagging": {
        "estimator": "sklearn.ensemble.BaggingClassifier",
        "params": {
            "estimator": {"estimator": "sklearn.tree.DecisionTreeClassifier"},
            "n_estimators": 5,
        },
    },
    "stacking": {
        "estimator": "sklearn.ensemble.StackingClassifier",
        "params": {
            "estimators": [
                ["tree", {"estimator": "sklearn.tree.DecisionTreeClassifier"}],
                ["logreg", {"estimator": "sklearn.linear_model.LogisticRegression"}],
            ],
            "final_estimator": {"estimator": "sklearn.linear_model.LogisticRegression"},
        },
    },
}


@pytest.mark.parametrize("family", sorted(NESTED))
def test_pipelines_and_meta_estimators_are_built_from_nested_entries(family):
    entry = NESTED[family]
    model_types.check_models([family], {family: entry}, OVERLAY, "user")
    built = models.build_estimator(family, entry, seed=7)
    # Every estimator inside that takes a seed got the run's.
    seeds = {
        value for key, value in built.get_params(deep=True).items() if key.endswith("random_state")
    }
    assert seeds == {7}
    with pytest.raises(ReprotrainError) as error:
        broken = {**entry, "params": {**entry["params"]}}
        inner = next(iter(broken["params"]))
        broken["params"][inner] = _break_innermost(broken["params"][inner])
        model_types.check_models([family], {family: broken}, OVERLAY, "user")
    assert error.value.field.startswith(f"models.{family}.params.{inner}")
    assert error.value.field.endswith(".params.no_such_parameter")


def _break_innermost(value):
    if model_types.is_nested(value):
        return {**value, "params": {**(value.get("params") or {}), "no_such_parameter": 1}}
    return [_break_innermost(item) for item in value] if isinstance(value, list) else value


def test_messages_give_an_example_of_the_right_kind():
    ridge = {"estimator": "sklearn.linear_model.Ridge"}
    with pytest.raises(ReprotrainError) as error:
        model_types.check_models(
            ["ridge"], {"ridge": ridge}, OVERLAY, "user", {"classification": "penguins"}
        )
    assert "LogisticRegression" in error.value.fix and "Ridge" not in error.value.fix
    logreg = {"estimator": "sklearn.linear_model.LogisticRegression"}
    with pytest.raises(ReprotrainError) as error:
        model_types.check_models(
            ["lr"], {"lr": logreg}, OVERLAY, "user", {"regression": "diabetes"}
        )
    assert "Ridge" in error.value.fix
    for reserved in ("n_jobs", "num_threads", "seed"):
        with pytest.raises(ReprotrainError, match="set by reprotrain"):
            model_types.check_models(
                ["lr"], {"lr": {**logreg, "params": {reserved: 1}}}, OVERLAY, "user"
            )


# Generated classes: each step of the check can meet a class that fails there.
FAULTS = (
    "none",
    "init_raises",
    "init_changes_param",
    "init_drops_param",
    "get_params_raises",
    "get_params_not_a_dict",
    "tags_raise",
    "no_kind",
    "regressor",
    "signature_kwargs",
    "constraints_refuse",
    "import_raises",
    "no_fit",
)

_counter = itertools.count()


def class_source(fault: str, parameters: list[str]) -> str:
    """A module with one estimator class of ``parameters`` that fails by ``fault``."""
    mixin = {"regressor": "RegressorMixin, ", "no_kind": ""}.get(fault, "ClassifierMixin, ")
    signature = ", ".join(f"{p}=1" for p in parameters)
    if fault == "signature_kwargs":
        signature = f"{signature}, **kwargs" if signature else "**kwargs"
    body = [f"        self.{p} = {p}" for p in parameters]
    if fault == "signature_kwargs":
        body.append("        self._extra = kwargs")
    if fault == "init_raises":
        body.append("        raise RuntimeError('boom in __init__')")
    if fault == "init_changes_param" and parameters:
        body[0] = f"        self.{parameters[0]} = [{parameters[0]}]"
    if fault == "init_drops_param" and parameters:
        body[0] = "        pass"
    lines = [
        "from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin",
        "raise ImportError('broken import')" if fault == "import_raises" else "",
        f"class Generated({mixin}BaseEstimator):",
    ]
    if fault == "constraints_refuse" and parameters:
        lines.append(f"    _parameter_constraints = {{{parameters[0]!r}: [str]}}")
    arguments = f", {signature}" if signature else ""
    lines += [f"    def __init__(self{arguments}):", *body, "        pass"]
    if fault != "no_fit":
        lines += ["    def fit(self, X, y):", "        return self"]
    if fault == "get_params_raises":
        lines += ["    def get_params(self, deep=True):", "        raise KeyError('nope')"]
    if fault == "get_params_not_a_dict":
        lines += ["    def get_params(self, deep=True):", "        return 3"]
    if fault == "signature_kwargs":
        lines += [
            "    def get_params(self, deep=True):",
            "        return {**super().get_params(deep), **self._extra}",
        ]
    if fault == "tags_raise":
        lines += ["    def __sklearn_tags__(self):", "        raise ValueError('tags')"]
    return "\n".join(lines) + "\n"


@settings(max_examples=60, deadline=None)
@given(
    fault=st.sampled_from(FAULTS),
    parameters=st.lists(
        st.sampled_from(["alpha", "depth", "C", "random_state", "width"]), unique=True, max_size=3
    ),
    given_params=st.dictionaries(
        st.sampled_from(["alpha", "depth", "C", "extra", "n_jobs"]),
        st.one_of(st.integers(-2, 3), st.text(max_size=3), st.none()),
        max_size=2,
    ),
    task=st.sampled_from(["classification", "regression"]),
)
def test_no_class_crashes_the_check(tmp_path_factory, fault, parameters, given_params, task):
    if fault in {"init_changes_param", "init_drops_param", "constraints_refuse"} and not (
        parameters
    ):
        fault = "none"  # these faults need a parameter to fail on
    user = tmp_path_factory.mktemp("user")
    module = f"generated_{next(_counter)}"
    (user / f"{module}.py").write_text(class_source(fault, parameters))
    entry = {"estimator": f"{module}.Generated", "params": given_params}
    try:
        model_types.check_models(["mine"], {"mine": entry}, OVERLAY, str(user), {task: "data"})
    except ReprotrainError as error:
        assert error.file == OVERLAY
        assert error.field == "model" or error.field.startswith("models.mine")
        assert error.fix
        if fault in {"init_raises", "get_params_raises", "tags_raise"} and "Generated" in (
            error.problem
        ):
            assert re.search(r"(RuntimeError|KeyError|ValueError)", error.problem) or (
                "takes no parameter" in error.problem or "set by reprotrain" in error.problem
            )
        return
    # Accepted: a class that builds, reports, clones and is of the dataset's kind.
    assert fault in {"none", "signature_kwargs", "tags_raise", "regressor", "constraints_refuse"}
    assert ("regressor" in fault) == (task == "regression") or fault == "tags_raise"
