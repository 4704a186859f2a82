"""Model bytes depend on data, params and seed only; tampered models are never unpickled."""

from __future__ import annotations

import importlib
import inspect
import pickle

import numpy as np
import pandas as pd
import pytest
import yaml
from helpers import REPO

from reprotrain.errors import ReprotrainError
from reprotrain.hashing import sha256_bytes
from reprotrain.ml import model_types, models

MODEL_TYPES = tuple(model_types.MODEL_TYPES)


@pytest.fixture(scope="module")
def training_data():
    frame = pd.read_csv(
        REPO / "data/breast_cancer/v1.0/breast_cancer.csv", float_precision="round_trip"
    )
    return frame.drop(columns=["target"]), frame["target"]


@pytest.fixture(scope="module")
def hyperparameters():
    return yaml.safe_load((REPO / "config/config.yaml").read_text())["models"]


def train_bytes(model_type, hyperparameters, training_data, threads, seed=42):
    features, target = training_data
    estimator = models.build_estimator(model_type, hyperparameters.get(model_type, {}), seed)
    return models.model_bytes(models.fit(estimator, features, target, threads))


@pytest.mark.parametrize("model_type", MODEL_TYPES)
def test_each_registered_type_builds_its_estimator_with_every_declared_hyperparameter(
    model_type,
):
    spec = model_types.MODEL_TYPES[model_type]
    module, _, name = spec.estimator.partition(":")
    accepted = inspect.signature(getattr(importlib.import_module(module), name)).parameters
    assert "random_state" in accepted
    assert set(spec.hyperparameters) <= set(accepted), set(spec.hyperparameters) - set(accepted)
    built = models.build_estimator(model_type, {}, seed=3)
    assert models._steps(built)[-1].random_state == 3


def test_the_config_schema_takes_exactly_the_registered_types_and_their_hyperparameters():
    base = yaml.safe_load((REPO / "workflow/schemas/config.schema.yaml").read_text())
    schema = model_types.config_schema(base)
    assert schema["properties"]["models"]["additionalProperties"] == model_types.CUSTOM
    entry = schema["properties"]["models"]["properties"]["logistic_regression"]
    assert entry["additionalProperties"] is False
    assert "standardize" in entry["properties"]
    assert (
        "standardize"
        not in schema["properties"]["models"]["properties"]["random_forest"]["properties"]
    )
    assert "enum" not in base["$defs"]["model"]  # presets and custom entries alike


@pytest.mark.parametrize("model_type", MODEL_TYPES)
def test_model_bytes_do_not_depend_on_thread_count(model_type, hyperparameters, training_data):
    # Fewer boosting rounds than the shipped 200: what the thread count leaves in the
    # pickle does not depend on how many there are.
    shorter = hyperparameters | {
        "hist_gradient_boosting": hyperparameters["hist_gradient_boosting"] | {"max_iter": 30}
    }
    one = train_bytes(model_type, shorter, training_data, threads=1)
    two = train_bytes(model_type, shorter, training_data, threads=2)
    assert sha256_bytes(one) == sha256_bytes(two)


@pytest.mark.parametrize("model_type", ("random_forest", "hist_gradient_boosting"))
def test_seed_changes_the_model(model_type, hyperparameters, training_data):
    assert train_bytes(model_type, hyperparameters, training_data, 1, seed=1) != train_bytes(
        model_type, hyperparameters, training_data, 1, seed=2
    )


def test_plain_pickle_would_record_the_thread_count(hyperparameters, training_data):
    """Guards the reason erase_execution_settings exists: if sklearn stops storing it, say so."""
    features, target = training_data
    params = hyperparameters["hist_gradient_boosting"] | {"max_iter": 30}
    fitted = [
        models.fit(
            models.build_estimator("hist_gradient_boosting", params, 42), features, target, n
        )
        for n in (1, 2)
    ]
    assert pickle.dumps(fitted[0]) != pickle.dumps(fitted[1])
    assert models.model_bytes(fitted[0]) == models.model_bytes(fitted[1])


def test_canonical_pickle_ignores_which_equal_dtypes_are_shared():
    shared = np.dtype("float64")
    first = np.arange(3.0)
    second = np.arange(3.0)
    # Same values, but the second array's dtype is a distinct (unpickled) dtype object.
    distinct = second.view(pickle.loads(pickle.dumps(shared)))
    assert distinct.dtype is not first.dtype
    assert models.model_bytes({"a": first, "b": second}) == models.model_bytes(
        {"a": first, "b": distinct}
    )
    assert pickle.dumps({"a": first, "b": second}) != pickle.dumps({"a": first, "b": distinct})


def test_canonical_pickle_loads_back_with_plain_pickle(hyperparameters, training_data):
    features, target = training_data
    blob = train_bytes("random_forest", hyperparameters, training_data, threads=2)
    loaded = pickle.loads(blob)
    assert loaded.score(features, target) > 0.95


UNPICKLED: list[str] = []


def _note_unpickled(name: str) -> str:
    UNPICKLED.append(name)
    return name


class Noted:
    """A pickle that notes when it is loaded (a hostile one would run a command there)."""

    def __init__(self, name: str) -> None:
        self.name = name

    def __reduce__(self):
        return (_note_unpickled, (self.name,))


@pytest.mark.parametrize("record", ["matches", "differs", None])
@pytest.mark.parametrize("seal", ["of these bytes", "of other bytes", None])
def test_a_model_is_unpickled_only_when_its_record_or_its_seal_vouches_for_it(
    tmp_path, monkeypatch, record, seal
):
    """A record the caller checked (predict's manifest) or, without one, this directory's
    seal (validate's) vouches; the card alone never does, and a seal never overrules a
    record the bytes do not match."""
    from reprotrain.records import signing

    monkeypatch.chdir(tmp_path)
    signing.make_seal_key()
    blob = pickle.dumps(Noted("model"))
    model = tmp_path / "model.pkl"
    model.write_bytes(blob)
    seal_path = tmp_path / "model.seal"
    if seal is not None:
        signing.seal(blob if seal == "of these bytes" else b"other", seal_path)
    recorded = {
        "matches": (sha256_bytes(blob), "config/manifest.json"),
        "differs": (sha256_bytes(b"recorded"), "config/manifest.json"),
        None: None,
    }[record]
    UNPICKLED.clear()
    vouched = record == "matches" or (record is None and seal == "of these bytes")
    if vouched:
        assert models.load_verified(model, sha256_bytes(blob), "card", recorded, seal_path)
        assert UNPICKLED == ["model"]
        return
    with pytest.raises(ReprotrainError) as error:
        models.load_verified(model, sha256_bytes(blob), "card", recorded, seal_path)
    assert UNPICKLED == []
    assert "refused to unpickle" in error.value.message
    assert str(model) in error.value.message


def test_a_model_nothing_vouches_for_is_refused(tmp_path):
    blob = pickle.dumps(Noted("model"))
    model = tmp_path / "model.pkl"
    model.write_bytes(blob)
    UNPICKLED.clear()
    with pytest.raises(ReprotrainError, match="nothing vouches"):
        models.load_verified(model, sha256_bytes(blob), "card", None, None)
    assert UNPICKLED == []


def test_a_model_that_does_not_match_its_card_is_refused_however_it_is_vouched_for(
    tmp_path, monkeypatch
):
    from reprotrain.records import signing

    monkeypatch.chdir(tmp_path)
    signing.make_seal_key()
    blob = pickle.dumps(Noted("model"))
    model = tmp_path / "model.pkl"
    model.write_bytes(blob)
    signing.seal(blob, tmp_path / "model.seal")
    UNPICKLED.clear()
    with pytest.raises(ReprotrainError, match="does not match card"):
        models.load_verified(
            model, sha256_bytes(b"other"), "card", (sha256_bytes(blob), "rec"), "model.seal"
        )
    assert UNPICKLED == []


def test_hyperparameters_are_json_friendly_and_complete(hyperparameters):
    pipeline = models.build_estimator(
        "logistic_regression", hyperparameters["logistic_regression"], 7
    )
    flat = models.hyperparameters(pipeline)
    assert flat["LogisticRegression.random_state"] == 7
    assert flat["LogisticRegression.C"] == 1.0
    assert "StandardScaler.with_mean" in flat
