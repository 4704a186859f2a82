"""Build, train and serialise estimators so that the bytes depend only on data, params and seed."""

from __future__ import annotations

import io
import logging
import math
import pickle
from pathlib import Path
from typing import Any

import numpy as np
from joblib import parallel_config
from sklearn.base import BaseEstimator
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import OneHotEncoder, OrdinalEncoder, StandardScaler
from threadpoolctl import threadpool_limits

from reprotrain import fileio
from reprotrain.datasets import Column, TableSchema
from reprotrain.errors import ReprotrainError
from reprotrain.hashing import sha256_bytes
from reprotrain.ml import model_types

log = logging.getLogger(__name__)

PICKLE_PROTOCOL = 5


def build_estimator(
    model_type: str,
    params: dict[str, Any],
    seed: int,
    schema: TableSchema | None = None,
    preprocessing: dict[str, str] | None = None,
) -> BaseEstimator:
    """The estimator for one config `models` entry (a preset's hyperparameters, or a custom
    entry's estimator and params); random_state always comes from `seed`.

    A table with categories or imputed gaps gets the declared preprocessing as the first
    step of the model (``column_transformer``), so that the saved model predicts from rows
    as the registered table holds them; a table of numbers alone goes to the estimator as
    it is. n_jobs is left at None on purpose: the thread count comes from the rule's
    `threads` through joblib's context (see fit), so it never enters the pickle.
    """
    if "estimator" not in params and model_type not in model_types.MODEL_TYPES:
        raise ValueError(f"unknown model type {model_type!r}")
    spec = model_types.spec_of(model_type, params)
    estimator = model_types.instantiate(spec.estimator, spec.params, seed)
    steps = [StandardScaler(), estimator] if spec.standardize else [estimator]
    if schema is not None and schema.needs_column_transformer:
        steps.insert(0, column_transformer(schema, preprocessing or {}))
    return make_pipeline(*steps) if len(steps) > 1 else estimator


# What fills a categorical gap under `impute_categorical: constant`: a category of its own.
MISSING_CATEGORY = "(missing)"


def _missing_category(column: Column) -> str | int:
    """A category of its own for a column's gaps: text, or for numeric categories a number
    below every declared one (an encoder takes one kind of value per column)."""
    numbers = [category for category in column.categories if isinstance(category, int)]
    if numbers and len(numbers) == len(column.categories):
        return min(numbers) - 1
    return MISSING_CATEGORY


def column_transformer(schema: TableSchema, preprocessing: dict[str, str]) -> ColumnTransformer:
    """Imputation and encoding as config `preprocessing` declares them: numeric columns
    imputed (when any may miss a value); each categorical one imputed (when it may miss a
    value) and one-hot or ordinal encoded with the registry's categories, a category never
    seen being refused."""
    numeric = [column.name for column in schema.columns if column.numeric]
    transformers = []
    if numeric:
        imputer = (
            SimpleImputer(strategy=preprocessing["impute_numeric"])
            if any(column.impute for column in schema.columns if column.numeric)
            else "passthrough"
        )
        transformers.append(("numeric", imputer, numeric))
    constant = preprocessing["impute_categorical"] == "constant"
    for column in schema.columns:
        if column.numeric:
            continue
        categories = list(column.categories)
        steps = []
        if column.impute:
            steps.append(
                SimpleImputer(
                    strategy=preprocessing["impute_categorical"],
                    fill_value=_missing_category(column),
                )
            )
            if constant:
                categories.append(_missing_category(column))
        steps.append(
            OneHotEncoder(categories=[categories], handle_unknown="error", sparse_output=False)
            if preprocessing["encode_categorical"] == "one_hot"
            else OrdinalEncoder(categories=[categories], handle_unknown="error")
        )
        transformers.append((column.name, make_pipeline(*steps), [column.name]))
    return ColumnTransformer(transformers, remainder="drop", verbose_feature_names_out=False)


def fit(estimator: BaseEstimator, features: Any, target: Any, threads: int) -> BaseEstimator:
    """Fit with `threads` OpenMP/joblib worker threads and single-threaded BLAS.

    The tree learners parallelise over trees or features, which gives the same
    floats for any thread count; a multithreaded BLAS may sum in a different order,
    so it is kept at one thread.
    """
    with (
        threadpool_limits(limits=1, user_api="blas"),
        threadpool_limits(limits=threads, user_api="openmp"),
        # Threads, never a loky process pool: the job ends with os._exit, and a pool's
        # workers and resource tracker would outlive it, holding the caller's pipes.
        parallel_config(backend="threading", n_jobs=threads),
    ):
        estimator.fit(features, target)
    return estimator


def predict(estimator: BaseEstimator, features: Any, threads: int, classification: bool) -> Any:
    """Class probabilities (a classifier) or predictions (a regressor), with `threads`
    OpenMP threads and single-threaded BLAS.

    HistGradientBoosting predicts each sample on its own, so the thread count changes
    no float. joblib stays at one worker: a random forest sums its trees' outputs in
    whatever order parallel workers finish.
    """
    with (
        threadpool_limits(limits=1, user_api="blas"),
        threadpool_limits(limits=threads, user_api="openmp"),
    ):
        if classification:
            return estimator.predict_proba(features)
        return estimator.predict(features)


def final_step(estimator: BaseEstimator) -> BaseEstimator:
    """The estimator a Pipeline ends with (the estimator itself otherwise)."""
    return _steps(estimator)[-1]


def _steps(estimator: BaseEstimator) -> list[BaseEstimator]:
    return [step for _, step in estimator.steps] if isinstance(estimator, Pipeline) else [estimator]


def erase_execution_settings(estimator: BaseEstimator) -> BaseEstimator:
    """Reset fitted state that records how many threads did the work, not what was learned.

    HistGradientBoosting stores the OpenMP thread count of the fit in its bin mapper;
    it is the only byte difference between a 1- and a 2-thread model. None means
    "use the current limit" at prediction time, which is also the constructor default.
    """
    for step in _steps(estimator):
        bin_mapper = getattr(step, "_bin_mapper", None)
        if bin_mapper is not None:
            bin_mapper.n_threads = None
    return estimator


class _CanonicalPickler(pickle.Pickler):
    """A pickler whose bytes do not depend on which equal numpy dtypes are the same object.

    pickle memoises by object identity. Fitted estimators hold arrays whose equal
    dtypes are sometimes one shared object and sometimes distinct copies (it varied
    with the thread count for LogisticRegression), which changes the memo references
    and so the bytes. Every array and numpy scalar is pickled with the first-seen
    instance of its dtype, so sharing follows equality and order only. The output
    is an ordinary pickle: loading it needs numpy and scikit-learn, not reprotrain.
    """

    def __init__(self, file: io.BytesIO) -> None:
        super().__init__(file, protocol=PICKLE_PROTOCOL)
        self._dtypes: dict[np.dtype, np.dtype] = {}

    def _canonical(self, part: Any) -> Any:
        if isinstance(part, np.dtype):
            return self._dtypes.setdefault(part, part)
        if isinstance(part, tuple):
            return tuple(self._canonical(item) for item in part)
        return part

    def reducer_override(self, obj: Any) -> Any:
        if type(obj) is np.ndarray or isinstance(obj, np.generic):
            return self._canonical(obj.__reduce_ex__(PICKLE_PROTOCOL))
        return NotImplemented


def model_bytes(estimator: BaseEstimator) -> bytes:
    """The canonical pickle of a fitted estimator: the bytes model.pkl holds."""
    buffer = io.BytesIO()
    _CanonicalPickler(buffer).dump(erase_execution_settings(estimator))
    return buffer.getvalue()


def hyperparameters(estimator: BaseEstimator) -> dict[str, Any]:
    """The estimator's full parameter set (sklearn defaults included), JSON-friendly."""
    flat = {}
    for step in _steps(estimator):
        prefix = "" if len(_steps(estimator)) == 1 else f"{type(step).__name__}."
        for key, value in step.get_params(deep=False).items():
            # JSON has no NaN or infinity (XGBoost's `missing` is NaN): those as text.
            plain = isinstance(value, int | str | bool | None) or (
                isinstance(value, float) and math.isfinite(value)
            )
            flat[prefix + key] = value if plain else repr(value)
    return flat


_RERUN = (
    "the model file was modified after it was saved; delete it and rerun the pipeline to "
    "retrain it from its verified inputs"
)


def load_verified(
    model_path: str | Path,
    expected_sha256: str,
    card_path: str | Path,
    recorded: tuple[str, str] | None,
    seal_path: str | Path | None,
) -> BaseEstimator:
    """Unpickle a model only after its bytes match the sha256 its model card recorded and
    are vouched for: by ``recorded`` (a sha256 from a record the caller checked, and where
    it is), else by save's seal at ``seal_path`` (reprotrain.records.signing). Bytes
    neither vouches for are refused.

    The bytes checked are the bytes unpickled: the file is read once."""
    from reprotrain.records import signing

    data = fileio.read_bytes(model_path, limit=fileio.LARGE_FILE_LIMIT, what="model")
    actual = sha256_bytes(data)
    _require_sha256(model_path, actual, expected_sha256, str(card_path))
    if recorded is not None:
        _require_sha256(model_path, actual, recorded[0], recorded[1])
    elif seal_path is not None:
        signing.check_seal(data, model_path, seal_path)
    else:
        raise ReprotrainError(
            model_path, None, "refused to unpickle: nothing vouches for its bytes", _RERUN
        )
    return pickle.loads(data)


def _require_sha256(model_path: str | Path, actual: str, expected: str, source: str) -> None:
    if actual != expected:
        raise ReprotrainError(
            model_path,
            "sha256",
            f"refused to unpickle: content does not match {source} "
            f"(expected {expected}, actual {actual})",
            _RERUN,
        )
