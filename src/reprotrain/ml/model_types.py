"""The model registry: the built-in presets, and any other estimator a config names by
import path.

A preset says which scikit-learn estimator it builds and which hyperparameters a config
may set for it (a JSON Schema of `models.<preset>`). Any other entry of `models` names its
estimator by import path (`sklearn.ensemble.ExtraTreesClassifier`, or a class in a module
of the user's own code directory) with its `params`, checked against the estimator's own
parameters before any job (``check_custom``). Standard library only at import: scikit-learn
is imported only to check a custom entry.
"""

from __future__ import annotations

import copy
import difflib
import importlib
import inspect
import json
import os
import re
import subprocess
import sys
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from reprotrain.errors import ReprotrainError

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
ENVIRONMENT = {
    "type": "string",
    "pattern": r"^[a-z][a-z0-9_-]{0,31}$",
    "description": "the locked environment the model's jobs run in: base (the rule "
    "environment, the default) or one defined under envs/<name>/ (reprotrain env add)",
}
# An entry of `models` that is not a preset: an estimator by import path, its params.
IMPORT_PATH = r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*[.:][A-Za-z_][A-Za-z0-9_]*$"
CUSTOM = {
    "type": "object",
    "required": ["estimator"],
    "additionalProperties": False,
    "properties": {
        "estimator": {
            "type": "string",
            "pattern": IMPORT_PATH,
            "description": "import path of a scikit-learn-compatible estimator class "
            "(module.Class), from an installed package or the user code directory",
        },
        "params": {"type": "object", "description": "the estimator's constructor arguments"},
        "standardize": STANDARDIZE,
        "environment": ENVIRONMENT,
    },
}
# Set by reprotrain itself, never by a config: seeds come from `seed`, thread counts from
# `threads` (and never enter a model's params or its bytes). The other names are the
# aliases LightGBM, XGBoost and CatBoost document for the same two settings.
RESERVED = {
    "random_state": "seed",
    "seed": "seed",
    "random_seed": "seed",
    "n_jobs": "threads",
    "nthread": "threads",
    "nthreads": "threads",
    "num_threads": "threads",
    "num_thread": "threads",
    "thread_count": "threads",
}
# What reprotrain sets in the boosting libraries, as it pins threads and BLAS: their bytes
# must depend on neither the thread count nor the machine (docs/environment.md). LightGBM
# otherwise times both histogram layouts on the first iteration and keeps the faster (a
# choice of the machine), and row-wise histograms sum per-thread partial histograms;
# col-wise builds each feature's histogram in one thread, and `deterministic` fixes the
# rest of its parallel reductions. LightGBM's `n_jobs` left at None is the machine's
# count of physical cores, written into the model (the hunt's cpu_count finds it); 0
# leaves the count to OpenMP, which reprotrain sets from `threads` as for every library.
# XGBoost's `hist` (its default) is named, so that a config cannot pick a method nobody
# measured: it gave the same bytes at 1 to 8 threads (docs/environment.md). Keyed by the
# class that takes them ("module:Class"); any subclass gets them.
LIBRARY_PINS: dict[str, dict[str, Any]] = {
    "lightgbm.sklearn:LGBMModel": {"deterministic": True, "force_col_wise": True, "n_jobs": 0},
    "xgboost.sklearn:XGBModel": {"tree_method": "hist"},
}
# What a config may write as a param value to build an estimator there: a meta-estimator's
# inner estimator, a Pipeline's steps, a stacking's estimators.
NESTED_KEYS = frozenset({"estimator", "params"})
# An example of the right kind of model, for a message that refuses the wrong kind.
EXAMPLES = {
    "classification": "a preset such as hist_gradient_boosting, or `models: {logreg: "
    "{estimator: sklearn.linear_model.LogisticRegression, params: {C: 1.0}}}`",
    "regression": "`models: {ridge: {estimator: sklearn.linear_model.Ridge, params: "
    "{alpha: 1.0}}}` (the presets are classifiers)",
}


def config_schema(base: dict[str, Any]) -> dict[str, Any]:
    """The config schema with the registry filled in: `models.<preset>` takes that preset's
    hyperparameters and no others; any other entry is a custom estimator."""
    schema = copy.deepcopy(base)
    schema["properties"]["models"]["properties"] = {
        name: {
            "type": "object",
            "additionalProperties": False,
            "properties": model_type.hyperparameters
            | ({"standardize": STANDARDIZE} if model_type.standardize else {})
            | {"environment": ENVIRONMENT},
        }
        for name, model_type in MODEL_TYPES.items()
    }
    schema["properties"]["models"]["additionalProperties"] = CUSTOM
    return schema


@dataclass(frozen=True)
class Spec:
    """What to build for one `models` entry: the estimator's import path, its arguments
    and whether to scale features first."""

    estimator: str
    params: dict[str, Any]
    standardize: bool
    custom: bool


def spec_of(name: str, entry: dict[str, Any]) -> Spec:
    """The build of a `models` entry: a preset's, or a custom estimator's."""
    if "estimator" in entry:
        return Spec(
            entry["estimator"],
            dict(entry.get("params") or {}),
            entry.get("standardize", False),
            True,
        )
    preset = MODEL_TYPES[name]
    params = dict(entry)
    params.pop("environment", None)
    standardize = params.pop("standardize", True) if preset.standardize else False
    return Spec(preset.estimator, params, standardize, False)


def split_import_path(path: str) -> tuple[str, str]:
    """("module", "Class") of `module.Class` or `module:Class`."""
    module, separator, name = path.partition(":")
    if not separator:
        module, _, name = path.rpartition(".")
    return module, name


def import_estimator(path: str) -> Any:
    module, name = split_import_path(path)
    return getattr(importlib.import_module(module), name)


def is_nested(value: Any) -> bool:
    """Whether a param value stands for an estimator to build there
    (`{estimator: module.Class, params: {...}}`)."""
    return (
        isinstance(value, dict)
        and "estimator" in value
        and set(value) <= NESTED_KEYS
        and isinstance(value["estimator"], str)
        and re.fullmatch(IMPORT_PATH, value["estimator"]) is not None
    )


def takes_random_state(estimator_class: Any) -> bool:
    return "random_state" in inspect.signature(estimator_class).parameters


def instantiate(path: str, params: dict[str, Any], seed: int) -> Any:
    """The estimator ``path`` names, built with ``params`` (any value that is itself an
    `{estimator, params}` mapping built the same way, at any depth of lists), and
    random_state from ``seed`` wherever a class takes it and the config leaves it."""
    estimator_class = import_estimator(path)
    arguments = {key: _built(value, seed) for key, value in params.items()}
    arguments |= library_pins(estimator_class)
    if "random_state" not in arguments and takes_random_state(estimator_class):
        arguments["random_state"] = seed
    return estimator_class(**arguments)


def library_pins(estimator_class: Any) -> dict[str, Any]:
    """What reprotrain sets in this class (LIBRARY_PINS of any class it derives from)."""
    pins: dict[str, Any] = {}
    for base in reversed(inspect.getmro(estimator_class)):
        pins |= LIBRARY_PINS.get(f"{base.__module__}:{base.__qualname__}", {})
    return pins


def _built(value: Any, seed: int) -> Any:
    if is_nested(value):
        return instantiate(value["estimator"], dict(value.get("params") or {}), seed)
    if isinstance(value, list):
        return [_built(item, seed) for item in value]
    return value


def user_code_on_path(directory: str | Path) -> None:
    """Make the user code directory importable (first, so it cannot be shadowed)."""
    resolved = str(Path(directory).resolve())
    if resolved not in sys.path:
        sys.path.insert(0, resolved)


def check_models(
    names: list[str],
    models: dict[str, Any],
    file: str,
    user_code: str,
    tasks: dict[str, str] | None = None,
) -> None:
    """Each model a run trains is a preset or a custom entry of `models` that builds, and
    suits the task of every dataset of the run (``tasks``: kind of task -> a dataset of
    that kind, classification or regression)."""
    tasks = tasks or {"classification": "the dataset"}
    for name in names:
        entry = models.get(name) or {}
        if "estimator" in entry:
            built = check_custom(name, entry, file, user_code)
            kind = _kind_of(built)
        elif name in MODEL_TYPES:
            kind = "classification"
        else:
            raise ReprotrainError(
                file,
                "model",
                f"{name} is neither a preset ({', '.join(MODEL_TYPES)}) nor an entry of "
                "`models` that names its estimator",
                f"add `models: {{{name}: {{estimator: <module.Class>, params: {{...}}}}}}`, "
                "or choose a preset",
            )
        for task, dataset in sorted(tasks.items()):
            if kind != task:
                what = {"classification": "a classifier", "regression": "a regressor"}
                raise ReprotrainError(
                    file,
                    f"models.{name}.estimator" if "estimator" in entry else "model",
                    f"{name} is {what.get(kind or '', 'neither a classifier nor a regressor')}, "
                    f"but {dataset} is a {task} dataset",
                    f"train {what[task]} on it: {EXAMPLES[task]}"
                    + (
                        "; a class of your own declares its kind by subclassing "
                        "sklearn.base.ClassifierMixin or RegressorMixin (before BaseEstimator)"
                        if kind is None
                        else "; run classification and regression datasets in separate runs"
                    ),
                )


def _kind_of(built: Any) -> str | None:
    """classification, regression or None, by scikit-learn's tags (a Pipeline's are its
    last step's); a class whose tags fail is judged by its older `_estimator_type`."""
    from sklearn.base import is_classifier, is_regressor

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            if is_classifier(built):
                return "classification"
            if is_regressor(built):
                return "regression"
            return None
    except Exception:  # a user's tags can fail in any way
        declared = str(getattr(built, "_estimator_type", None))
        return {"classifier": "classification", "regressor": "regression"}.get(declared)


def check_custom(name: str, entry: dict[str, Any], file: str, user_code: str) -> Any:
    """Refuse, before any job, a custom entry whose estimator cannot be imported, is not a
    scikit-learn estimator, or is given parameters it does not take or values it refuses;
    return the estimator it builds (not fitted).

    Only the public estimator API is relied on: the constructor's signature (a `**kwargs`
    takes any name, as LightGBM and XGBoost document it), `get_params`, and `clone`, which
    every meta-estimator and search applies. scikit-learn's own parameter validation runs
    only for a class that declares constraints. Whatever a class raises while it is checked
    is one message naming the key, the class and the exception: a user's class can fail
    in any way, and the check must not."""
    user_code_on_path(user_code)
    return _check_spec(
        entry["estimator"], dict(entry.get("params") or {}), f"models.{name}", file, user_code
    )


def _check_spec(path: str, params: dict[str, Any], field_: str, file: str, user_code: str) -> Any:
    estimator = _import_class(path, field_, file, user_code)
    class_name = estimator.__name__
    try:
        signature = inspect.signature(estimator)
    except (TypeError, ValueError) as error:
        raise ReprotrainError(
            file,
            f"{field_}.estimator",
            f"{path}: the signature of {class_name} cannot be read ({error})",
            "give the class an __init__ with its parameters as keyword arguments, as "
            "scikit-learn's estimator API asks",
        ) from None
    named = [
        p.name
        for p in signature.parameters.values()
        if p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)
    ]
    open_ended = any(p.kind is p.VAR_KEYWORD for p in signature.parameters.values())
    pins = library_pins(estimator)
    may_set = sorted(n for n in named if n not in RESERVED)
    arguments: dict[str, Any] = {}
    for key, value in params.items():
        where = f"{field_}.params.{key}"
        if key in RESERVED:
            raise ReprotrainError(
                file,
                where,
                f"is set by reprotrain from `{RESERVED[key]}`, never by a model's params",
                f"remove it; set `{RESERVED[key]}` instead",
            )
        if key not in named and not open_ended:
            raise ReprotrainError(
                file, where, f"{class_name} takes no parameter {key}", _close(key, may_set)
            )
        if key in pins and value != pins[key]:
            raise ReprotrainError(
                file,
                where,
                f"is pinned by reprotrain to {pins[key]!r} for {class_name}: with it the "
                "model's bytes depend on neither the thread count nor the machine",
                'remove it (docs/environment.md, "Bit-identical boosting")',
            )
        arguments[key] = _checked_value(value, where, file, user_code)
    arguments |= pins
    if "random_state" in named:
        arguments["random_state"] = 0
    refused = "refuses these params" if params else "cannot be built"
    built = _call(estimator, arguments, field_, file, class_name, refused)
    reported = _call(
        built.get_params, {"deep": False}, field_, file, class_name, "fails in get_params()"
    )
    if not isinstance(reported, dict):
        raise _refusal(file, field_, class_name, "get_params() does not return a dict", None)
    lost = sorted(key for key in arguments if key not in reported)
    if lost:
        raise ReprotrainError(
            file,
            f"{field_}.params.{lost[0]}",
            f"{class_name} takes {lost[0]} but its get_params() does not report it, so "
            "clone() (which every meta-estimator and search applies) would lose it",
            "store each constructor argument under its own name in __init__ (as "
            "scikit-learn's estimator API asks), or remove the parameter",
        )
    from sklearn.base import clone

    _call(clone, {"estimator": built}, field_, file, class_name, "cannot be cloned")
    if isinstance(getattr(estimator, "_parameter_constraints", None), dict):
        # The class declares scikit-learn's constraints: its own check, before any job.
        validate = getattr(built, "_validate_params", None)
        if callable(validate):
            _call(validate, {}, field_, file, class_name, "refuses these params")
    return built


def _checked_value(value: Any, where: str, file: str, user_code: str) -> Any:
    """A param value as the check builds it: a nested estimator checked like a model."""
    if is_nested(value):
        return _check_spec(
            value["estimator"], dict(value.get("params") or {}), where, file, user_code
        )
    if isinstance(value, list):
        return [
            _checked_value(item, f"{where}[{index}]", file, user_code)
            for index, item in enumerate(value)
        ]
    return value


def _import_class(path: str, field_: str, file: str, user_code: str) -> Any:
    module, class_name = split_import_path(path)
    try:
        found = importlib.import_module(module)
    except Exception as error:  # a user module can fail on import in any way
        missing = isinstance(error, ModuleNotFoundError) and error.name == module.split(".")[0]
        raise ReprotrainError(
            file,
            f"{field_}.estimator",
            f"{path}: module {module} cannot be imported ({type(error).__name__}: {error})",
            (
                f"a library enters a locked environment of its own: `reprotrain env add "
                f"<name> <package>==<version>`, then `environment: <name>` in this entry "
                f"(docs/environment.md); or put your module in {user_code}/ "
                f"({user_code}/my_models.py is imported as my_models)"
            )
            if missing
            else f"fix the module so that it imports ({user_code}/ holds your modules)",
        ) from None
    estimator = getattr(found, class_name, None)
    if not inspect.isclass(estimator):
        raise ReprotrainError(
            file,
            f"{field_}.estimator",
            f"{path}: {module} has no class {class_name}",
            _close(class_name, [n for n, v in vars(found).items() if inspect.isclass(v)]),
        )
    if not all(callable(getattr(estimator, m, None)) for m in ("fit", "get_params")):
        raise ReprotrainError(
            file,
            f"{field_}.estimator",
            f"{path} is not a scikit-learn estimator (it has no fit and get_params)",
            "name a class that follows scikit-learn's estimator API (subclass "
            "sklearn.base.BaseEstimator)",
        )
    return estimator


def _call(
    function: Callable[..., Any],
    arguments: dict[str, Any],
    field_: str,
    file: str,
    class_name: str,
    what: str,
) -> Any:
    """``function(**arguments)``; what it raises, as one message of the entry."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return function(**arguments)
    except Exception as error:  # a user's class can fail in any way
        raise _refusal(file, field_, class_name, what, error) from None


def _refusal(
    file: str, field_: str, class_name: str, what: str, error: BaseException | None
) -> ReprotrainError:
    raised = f": {type(error).__name__}: {error}" if error is not None else ""
    return ReprotrainError(
        file,
        f"{field_}.params" if what == "refuses these params" else f"{field_}.estimator",
        f"{class_name} {what}{raised}",
        "give each parameter a value the estimator accepts (see its documentation)"
        if what == "refuses these params"
        else "the class must follow scikit-learn's estimator API: __init__ stores each "
        "argument unchanged under its own name, get_params() returns them, and "
        "sklearn.base.clone() rebuilds it (subclass sklearn.base.BaseEstimator)",
    )


def _close(wrong: str, names: list[str]) -> str:
    # Case apart: `c` is close to `C`.
    by_lower = {name.lower(): name for name in names}
    near = [by_lower[n] for n in difflib.get_close_matches(wrong.lower(), list(by_lower), n=3)]
    if near:
        return f"did you mean {' or '.join(near)}? It takes: {', '.join(names)}"
    return f"it takes: {', '.join(names) or 'nothing'}"


# Seconds the driver waits for a custom estimator's module to import and be checked.
IMPORT_TIMEOUT = 300


def check_models_apart(
    names: list[str],
    models: dict[str, Any],
    file: str,
    user_code: str,
    tasks: dict[str, str] | None,
    remember: Callable[..., Any],
    python: str | None = None,
) -> None:
    """``check_models``, with a custom estimator imported in a fresh interpreter of the
    models' environment (``python``; None: this one): the driver never imports
    scikit-learn (or the user's module), and the verdict is remembered (``remember``: a
    reprotrain.memo.Memo) per version of the user's code, the entries and that
    environment's installed packages."""
    if not names:
        return
    if not any("estimator" in (models.get(name) or {}) for name in names):
        check_models(names, models, file, user_code, tasks)  # presets: nothing to import
        return
    user_files = sorted(Path(user_code).rglob("*.py")) if Path(user_code).is_dir() else []
    installed = _installed_record(python)
    entries = {name: models.get(name) for name in names}
    refusal = remember(
        _refusal_apart,
        names,
        entries,
        file,
        user_code,
        tasks,
        python,
        files=[*user_files, *installed],
    )
    if refusal is not None:
        raise ReprotrainError(**refusal)


def _installed_record(python: str | None) -> list[Path]:
    """A named environment's record of the lock it was installed from: reinstalling it
    checks its models anew."""
    if python is None:
        return []
    stamp = Path(python).parent.parent / "reprotrain-installed-lock.sha256"
    return [stamp] if stamp.is_file() else []


def _refusal_apart(
    names: list[str],
    entries: dict[str, Any],
    file: str,
    user_code: str,
    tasks: dict[str, str] | None,
    python: str | None = None,
) -> dict[str, Any] | None:
    """The refusal ``check_models`` gives in a fresh interpreter (None: the models are
    good), as the fields of its ReprotrainError."""
    from reprotrain.environment import jobenv

    request = json.dumps([names, entries, file, user_code, tasks])
    # User code is imported as the jobs import it: with the allow-listed environment
    # only, and within a bound; a named environment finds reprotrain where this one did.
    environment = jobenv.for_user_code(os.environ, ())
    environment["PYTHONPATH"] = os.pathsep.join(
        filter(None, [str(Path(__file__).resolve().parents[2]), environment.get("PYTHONPATH")])
    )
    try:
        done = subprocess.run(
            [python or sys.executable, "-m", "reprotrain.ml.model_types", request],
            capture_output=True,
            text=True,
            check=False,
            env=environment,
            timeout=IMPORT_TIMEOUT,
        )
    except subprocess.TimeoutExpired:
        raise ReprotrainError(
            file,
            "models",
            f"importing and checking the custom models took more than {IMPORT_TIMEOUT} s",
            f"make the modules of {user_code}/ import without waiting on anything",
        ) from None
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["it printed nothing"])[-1]
        return {
            "file": file,
            "field": "models",
            "problem": f"the models could not be checked: {last}",
            "fix": "run `make setup` to install the locked environment, then rerun",
        }
    return json.loads(done.stdout)


def _check_request(request: str) -> dict[str, Any] | None:
    names, entries, file, user_code, tasks = json.loads(request)
    try:
        check_models(
            names, {k: v for k, v in entries.items() if v is not None}, file, user_code, tasks
        )
    except ReprotrainError as error:
        return {
            "file": error.file,
            "field": error.field,
            "problem": error.problem,
            "fix": error.fix,
        }
    return None


if __name__ == "__main__":
    print(json.dumps(_check_request(sys.argv[1])))
