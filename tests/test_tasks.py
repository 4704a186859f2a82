"""Tables as users have them and every supervised task: typed columns in any order,
categories, missing values and string labels; binary, multi-class and regression, each
with its metrics, figures and thresholds; and the embedded penguins and diabetes tables
end to end against their own records, with one core and with two."""

from __future__ import annotations

import copy
import hashlib
import io
import json
import pickle
import subprocess
import warnings

import numpy as np
import pandas as pd
import pytest
import yaml
from helpers import BIN, REPO, copy_repo, snakemake

from reprotrain.datasets import resolve, task_kinds
from reprotrain.errors import ReprotrainError
from reprotrain.ml import data, evaluate, model_types, models, tables

PREPROCESSING = {
    "impute_numeric": "median",
    "impute_categorical": "most_frequent",
    "encode_categorical": "one_hot",
}


@pytest.fixture(scope="module")
def registry():
    return yaml.safe_load((REPO / "config/datasets.yaml").read_text())


def schema_entry(registry, name, change):
    """A copy of the registry with one change to a dataset's schema."""
    edited = copy.deepcopy(registry)
    change(edited["datasets"][name]["v1.0"]["schema"])
    return edited


# Registry


def test_each_column_has_a_type_and_the_task_follows_the_classes(registry):
    penguins = resolve(registry, "penguins", "v1.0", "r").schema
    assert penguins.task == "multiclass" and penguins.kind == "classification"
    assert penguins.classes == ("Adelie", "Chinstrap", "Gentoo")
    types = {column.name: (column.type, column.impute) for column in penguins.columns}
    assert types["island"] == ("categorical", False)
    assert types["sex"] == ("categorical", True)
    assert types["year"] == ("integer", False)
    assert penguins.needs_column_transformer
    diabetes = resolve(registry, "diabetes", "v1.0", "r").schema
    assert (diabetes.task, diabetes.classes) == ("regression", ())
    breast_cancer = resolve(registry, "breast_cancer", "v1.0", "r").schema
    assert breast_cancer.task == "binary"
    assert not breast_cancer.needs_column_transformer  # numbers alone: the estimator as it is


@pytest.mark.parametrize(
    ("name", "change", "field", "problem"),
    [
        (
            "diabetes",
            lambda s: s.update(classes=[0, 1]),
            "datasets.diabetes.v1.0.schema.classes",
            "a regression target has no classes",
        ),
        (
            "penguins",
            lambda s: s.update(task="binary"),
            "datasets.penguins.v1.0.schema.task",
            "is binary but the target has 3 classes",
        ),
        (
            "penguins",
            lambda s: s["features"]["island"].update(categories=["Biscoe", 1]),
            "datasets.penguins.v1.0.schema.features.island.categories",
            "mixes numbers and text",
        ),
        (
            "penguins",
            lambda s: s["features"].update(species="float"),
            "datasets.penguins.v1.0.schema.features.species",
            "the target is also declared as a feature",
        ),
        (
            "penguins",
            lambda s: s.pop("classes"),
            "datasets.penguins.v1.0.schema.classes",
            "a multiclass target needs its classes",
        ),
    ],
    ids=[
        "regression-with-classes",
        "binary-of-three",
        "mixed-categories",
        "target-as-feature",
        "no-classes",
    ],
)
def test_a_schema_that_contradicts_itself_is_refused(registry, name, change, field, problem):
    with pytest.raises(ReprotrainError) as error:
        resolve(schema_entry(registry, name, change), name, "v1.0", "config/datasets.yaml")
    assert (error.value.file, error.value.field) == ("config/datasets.yaml", field)
    assert problem in error.value.message


def test_versions_of_one_dataset_name_share_their_kind_of_task(registry):
    edited = copy.deepcopy(registry)
    edited["datasets"]["diabetes"]["v2"] = copy.deepcopy(registry["datasets"]["penguins"]["v1.0"])
    versions = {
        (name, version): type("V", (), {"dataset": resolve(edited, name, version, "r")})
        for name, version in [("diabetes", "v1.0"), ("diabetes", "v2")]
    }
    with pytest.raises(ReprotrainError, match="both classification and regression versions"):
        task_kinds(versions, "config/datasets.yaml")


# Parsing and encoding


def penguins_table(registry):
    dataset = resolve(registry, "penguins", "v1.0", "config/datasets.yaml")
    return dataset, (REPO / dataset.source).read_text()


def test_a_mixed_table_is_encoded_and_read_back_as_it_was(tmp_path, registry):
    dataset, text = penguins_table(registry)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no library warning reaches the user
        frame = data.read_raw_table(dataset.source, dataset, "r", text.encode())
    assert list(frame.columns) == [*dataset.schema.features, "species"]
    assert all(dtype == np.float64 for dtype in frame.dtypes[:-1])
    path = tmp_path / "table.npy"
    tables.write_table(frame, path)
    features, labels = tables.read_table(path, dataset.schema)
    raw = pd.read_csv(REPO / dataset.source)
    assert labels.tolist() == raw["species"].tolist()
    for name in ("island", "sex"):
        assert features[name].fillna("NA").tolist() == raw[name].fillna("NA").tolist()
    assert features["year"].tolist() == raw["year"].astype(float).tolist()
    assert features["bill_length_mm"].isna().sum() == raw["bill_length_mm"].isna().sum() == 2


def test_column_order_is_free(registry):
    dataset, text = penguins_table(registry)
    raw = pd.read_csv(io.StringIO(text), keep_default_na=False, dtype=str)
    shuffled = raw[list(reversed(raw.columns))].to_csv(index=False).encode()
    in_order = data.read_raw_table("a.csv", dataset, "r", text.encode())
    reordered = data.read_raw_table("b.csv", dataset, "r", shuffled)
    pd.testing.assert_frame_equal(in_order, reordered, check_exact=True)


def edited_penguins(text: str, line: int, column: str, value: str) -> bytes:
    """The penguins table with one cell changed (``line`` as an editor counts, 1 = header)."""
    rows = [row.split(",") for row in text.splitlines()]
    rows[line - 1][rows[0].index(column)] = value
    return ("\n".join(",".join(row) for row in rows) + "\n").encode()


@pytest.mark.parametrize(
    ("column", "value", "problem", "fix"),
    [
        ("bill_depth_mm", "deep", "column 'bill_depth_mm': line 7: 'deep' is not a number", None),
        (
            "year",
            "2007.5",
            "column 'year': line 7: 2007.5 is not a whole number",
            "declare the column float",
        ),
        (
            "year",
            "NA",
            "column 'year': line 7: a value is missing, and the column does not allow",
            "missing: impute",
        ),
        (
            "island",
            "Anvers",
            "column 'island': line 7: 'Anvers' is not one of its categories "
            "['Biscoe', 'Dream', 'Torgersen']",
            "register a new data version",
        ),
        (
            "species",
            "adelie",
            "target 'species': line 7: 'adelie' is not one of the classes "
            "['Adelie', 'Chinstrap', 'Gentoo']",
            "correct the label",
        ),
        ("bill_length_mm", "inf", "column 'bill_length_mm': line 7: inf is not a finite", None),
    ],
    ids=[
        "text-in-float",
        "fraction-in-integer",
        "missing-not-allowed",
        "unknown-category",
        "unknown-label",
        "infinite",
    ],
)
def test_each_refusal_names_the_column_the_line_the_value_and_the_fix(
    registry, column, value, problem, fix
):
    dataset, text = penguins_table(registry)
    content = edited_penguins(text, 7, column, value)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(ReprotrainError) as error:
            data.read_raw_table("raw.csv", dataset, "config/datasets.yaml", content)
    assert (error.value.file, error.value.field) == ("raw.csv", column)
    assert problem in error.value.message
    assert "datasets.penguins.v1.0.schema" in error.value.fix
    if fix:
        assert fix in error.value.fix


def test_a_regression_target_must_be_numbers(registry):
    dataset = resolve(registry, "diabetes", "v1.0", "r")
    text = (REPO / dataset.source).read_text().replace(",151\n", ",high\n", 1)
    with pytest.raises(ReprotrainError, match="target 'progression': line 2: 'high' is not a"):
        data.read_raw_table("raw.csv", dataset, "r", text.encode())


# Models on raw rows


def fitted(tmp_path, registry, name, model_type, params, preprocessing=PREPROCESSING):
    """A model fitted as train fits it: on the table as the split tables give it back."""
    dataset = resolve(registry, name, "v1.0", "r")
    frame = data.read_raw_table(dataset.source, dataset, "r", (REPO / dataset.source).read_bytes())
    tables.write_table(frame, tmp_path / "table.npy")
    features, labels = tables.read_table(tmp_path / "table.npy", dataset.schema)
    estimator = models.build_estimator(model_type, params, 42, dataset.schema, preprocessing)
    return dataset, models.fit(estimator, features, labels, threads=1)


@pytest.mark.parametrize("encoding", ["one_hot", "ordinal"])
@pytest.mark.parametrize("imputation", ["most_frequent", "constant"])
def test_the_saved_model_predicts_from_raw_rows_in_any_column_order(
    tmp_path, registry, encoding, imputation
):
    preprocessing = PREPROCESSING | {
        "encode_categorical": encoding,
        "impute_categorical": imputation,
    }
    dataset, estimator = fitted(
        tmp_path, registry, "penguins", "hist_gradient_boosting", {"max_iter": 50}, preprocessing
    )
    loaded = pickle.loads(models.model_bytes(estimator))
    raw = pd.read_csv(REPO / dataset.source)
    rows = raw.drop(columns=["species"]).iloc[:, ::-1]  # plain pandas, columns reversed
    predicted = loaded.predict(rows)
    assert set(predicted) <= {"Adelie", "Chinstrap", "Gentoo"}
    assert (predicted == raw["species"]).mean() > 0.95


def test_a_regressor_on_integer_and_categorical_columns(tmp_path, registry):
    dataset, estimator = fitted(
        tmp_path,
        registry,
        "diabetes",
        "ridge",
        {"estimator": "sklearn.linear_model.Ridge", "params": {"alpha": 1.0}, "standardize": True},
    )
    raw = pd.read_csv(REPO / dataset.source)
    predicted = estimator.predict(raw.drop(columns=["progression"]))
    assert evaluate.regression_metrics(raw["progression"], predicted)["r2"] > 0.4


def test_models_must_suit_the_task():
    with pytest.raises(ReprotrainError) as error:
        model_types.check_models(
            ["random_forest"], {}, "config/x.yaml", "user", {"regression": "diabetes"}
        )
    assert error.value.field == "model"
    assert "random_forest is a classifier, but diabetes is a regression dataset" in str(error.value)
    ridge = {"ridge": {"estimator": "sklearn.linear_model.Ridge"}}
    with pytest.raises(ReprotrainError, match="ridge is a regressor, but penguins is a"):
        model_types.check_models(
            ["ridge"], ridge, "config/x.yaml", "user", {"classification": "penguins"}
        )
    model_types.check_models(["ridge"], ridge, "config/x.yaml", "user", {"regression": "d"})


# Metrics and thresholds


def test_metrics_name_their_averaging_and_suit_the_task():
    labels = np.array(["a", "b", "c", "a", "b", "c"])
    probabilities = np.array(
        [
            [0.8, 0.1, 0.1],
            [0.1, 0.8, 0.1],
            [0.2, 0.2, 0.6],
            [0.3, 0.6, 0.1],
            [0.1, 0.7, 0.2],
            [0.1, 0.1, 0.8],
        ]
    )
    multi = evaluate.classification_metrics(
        labels, probabilities, np.array(["a", "b", "c"]), "multiclass"
    )
    assert multi["averaging"] == {
        "roc_auc": "one-vs-rest, macro average over classes",
        "f1": "macro average over classes",
    }
    assert multi["classes"] == ["a", "b", "c"]
    assert multi["accuracy"] == pytest.approx(5 / 6)
    assert multi["balanced_accuracy"] == pytest.approx((0.5 + 1 + 1) / 3)
    binary = evaluate.classification_metrics(
        np.array(["no", "yes", "yes", "no"]),
        np.array([[0.9, 0.1], [0.2, 0.8], [0.6, 0.4], [0.7, 0.3]]),
        np.array(["no", "yes"]),
        "binary",
    )
    assert binary["averaging"]["f1"] == "binary: class yes is the positive class"
    assert binary["f1"] == pytest.approx(2 / 3)
    regression = evaluate.regression_metrics(np.array([1.0, 2.0, 3.0]), np.array([1.0, 2.0, 5.0]))
    assert regression == {
        "task": "regression",
        "n_test": 3,
        "rmse": pytest.approx(np.sqrt(4 / 3)),
        "mae": pytest.approx(2 / 3),
        "r2": pytest.approx(-1.0),
    }


def test_thresholds_apply_by_kind_of_task_and_by_dataset():
    defaults = {"min_accuracy": 0.9, "max_rmse": 50.0, "by_dataset": {"x": {}}}
    assert evaluate.thresholds_for("binary", defaults, None) == {"min_accuracy": 0.9}
    assert evaluate.thresholds_for("regression", defaults, {"min_r2": 0.3}) == {
        "max_rmse": 50.0,
        "min_r2": 0.3,
    }
    assert evaluate.thresholds_for("multiclass", defaults, {"min_accuracy": 0.99}) == {
        "min_accuracy": 0.99
    }
    kinds = {"penguins": {"classification"}, "diabetes": {"regression"}}
    with pytest.raises(ReprotrainError) as error:
        evaluate.check_dataset_thresholds({"penguins": {"max_rmse": 1.0}}, kinds, "config/o.yaml")
    assert error.value.field == "thresholds.by_dataset.penguins.max_rmse"
    assert "use its own kind of threshold: min_accuracy" in error.value.fix
    with pytest.raises(ReprotrainError, match="pengiuns is not a dataset of the registry"):
        evaluate.check_dataset_thresholds({"pengiuns": {}}, kinds, "config/o.yaml")
    with pytest.raises(ReprotrainError) as missed:
        evaluate.check_thresholds(
            {"r2": 0.1, "rmse": 70.0},
            {"min_r2": 0.3, "max_rmse": 60.0},
            {"min_r2": "thresholds.by_dataset.diabetes.min_r2", "max_rmse": "thresholds.max_rmse"},
            "diabetes v1.0, seed 7, ridge",
            "diabetes",
        )
    assert missed.value.field == "thresholds.max_rmse, thresholds.by_dataset.diabetes.min_r2"
    assert missed.value.problem.startswith("diabetes v1.0, seed 7, ridge misses")
    assert "thresholds.by_dataset.diabetes.<key>" in missed.value.fix
    assert "rmse = 70.0000, required <= 60.0; r2 = 0.1000, required >= 0.3" in str(missed.value)


# End to end, with their own records

EMBEDDED = {
    "penguins": ("results-penguins/runs/penguins/v1.0/seed-42", ("roc.svg", "confusion.svg")),
    "diabetes": ("results-diabetes/runs/diabetes/v1.0/seed-42", ("predicted.svg", "residuals.svg")),
}


def covered(repo, name):
    record = json.loads((repo / f"config/{name}-manifest.json").read_text())
    return {path: (repo / path).read_bytes() for path in record["files"]}


@pytest.mark.pipeline
@pytest.mark.parametrize("name", sorted(EMBEDDED))
def test_embedded_tables_match_their_records_with_one_core_and_with_two(tmp_path, name):
    repo = copy_repo(tmp_path / "repo")
    args = ["--configfile", "config/config.yaml", f"config/{name}.yaml"]
    snakemake(repo, *args, cores=1)  # checksum against config/<name>-manifest.json passes
    one_core = covered(repo, name)
    for path, content in one_core.items():
        assert (
            hashlib.sha256(content).hexdigest()
            == json.loads((repo / f"config/{name}-manifest.json").read_text())["files"][path][
                "sha256"
            ]
        )
    subprocess.run(["rm", "-rf", f"results-{name}"], cwd=repo, check=True)
    # Two cores, and two threads for each model job (a run of two models would share the
    # cores out, one thread each): jobs side by side and threads both vary.
    snakemake(repo, *args, "--set-threads", "train=2", "validate=2", cores=2)
    assert covered(repo, name) == one_core
    train_log = next((repo / f"logs/results-{name}/train").rglob("*.log")).read_text()
    assert "with 2 thread(s)" in train_log

    # Each output's recipe names the rule that made it: the scoring rule of its task.
    made_by = {
        path: entry["rule"]
        for path, entry in json.loads((repo / f"results-{name}/manifest.json").read_text())[
            "files"
        ].items()
        if path.endswith("metrics.json") and "/runs/" in path
    }
    scoring = "validate_regression" if name == "diabetes" else "validate"
    assert set(made_by.values()) == {scoring}, made_by
    split, figures = EMBEDDED[name]
    for model_dir in (repo / split).iterdir():
        if model_dir.name == "data":
            continue
        metrics = json.loads((model_dir / "metrics.json").read_text())
        assert metrics["task"] == ("regression" if name == "diabetes" else "multiclass")
        for figure in figures:
            assert (model_dir / figure).read_bytes().startswith(b"<?xml")
    summary = (repo / f"results-{name}/summary/metrics.csv").read_text().splitlines()
    expected = "rmse,mae,r2" if name == "diabetes" else "accuracy,balanced_accuracy,roc_auc,f1"
    assert expected in summary[0]


OWN_SCHEMA = {
    "target": "outcome",
    "classes": ["no", "yes"],
    "features": {
        "dose": {"type": "float", "missing": "impute"},
        "visits": "integer",
        "smoker": "boolean",
        "clinic": {
            "type": "categorical",
            "categories": ["east", "north", "west"],
            "missing": "impute",
        },
    },
}


def own_table() -> str:
    """A binary table with string labels, the target first, every column type, and gaps."""
    rng = np.random.default_rng(7)
    lines = ["outcome,clinic,visits,smoker,dose"]
    for row in range(240):
        dose = rng.normal(5, 2)
        visits = int(rng.integers(0, 12))
        smoker = bool(rng.integers(0, 2))
        clinic = ["east", "north", "west"][row % 3]
        outcome = "yes" if dose + 0.3 * visits + rng.normal(0, 1) > 7 else "no"
        lines.append(
            f"{outcome},{'' if row % 17 == 0 else clinic},{visits},"
            f"{'true' if smoker else 'false'},{'NA' if row % 13 == 0 else round(dose, 3)}"
        )
    return "\n".join(lines) + "\n"


@pytest.mark.pipeline
def test_your_own_table_runs_records_and_reruns_clean_with_readme_commands(tmp_path):
    repo = copy_repo(tmp_path / "repo")
    (repo / "data/clinic/v1").mkdir(parents=True)
    (repo / "data/clinic/v1/clinic.csv").write_text(own_table())
    digest = hashlib.sha256((repo / "data/clinic/v1/clinic.csv").read_bytes()).hexdigest()
    registry = yaml.safe_load((repo / "config/datasets.yaml").read_text())
    registry["datasets"]["clinic"] = {
        "v1": {
            "kind": "file",
            "source": "data/clinic/v1/clinic.csv",
            "sha256": digest,
            "schema": OWN_SCHEMA,
        }
    }
    (repo / "config/datasets.yaml").write_text(yaml.safe_dump(registry, sort_keys=False))
    (repo / "config/clinic.yaml").write_text(
        yaml.safe_dump(
            {
                "results": "results-clinic",
                "dataset": {"name": "clinic", "version": "v1"},
                "model": "logistic_regression",
                "thresholds": {
                    "by_dataset": {
                        "clinic": {
                            "min_accuracy": 0.7,
                            "min_roc_auc": 0.7,
                            "min_f1": 0.6,
                            "max_log_loss": 0.7,
                        }
                    }
                },
                "manifest": {"expected": "config/clinic-manifest.json"},
            }
        )
    )
    args = ["--configfile", "config/config.yaml", "config/clinic.yaml"]
    first = snakemake(repo, *args, check=False)
    record = "reprotrain record --run results-clinic/manifest.json --to config/clinic-manifest.json"
    assert record in first.output, first.output[-3000:]
    done = subprocess.run(
        [str(BIN / "reprotrain"), *record.split()[1:]], cwd=repo, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    again = snakemake(repo, *args)
    ran = {line.split()[-1].rstrip(":") for line in again.output.splitlines() if "rule " in line}
    assert ran - {"all"} == {"checksum"}, again.output[-3000:]
    model = repo / "results-clinic/runs/clinic/v1/seed-42/logistic_regression"
    # Its seal gone, the recorded model is still scored: the record vouches for its bytes.
    for seal in (repo / "logs/results-clinic/save").rglob("*.seal"):
        seal.unlink()
    (model / "metrics.json").unlink()
    rescored = snakemake(repo, *args)
    assert f"sealed {model.relative_to(repo)}/model.pkl again" in rescored.output
    metrics = json.loads((model / "metrics.json").read_text())
    assert metrics["classes"] == ["no", "yes"]
    assert metrics["averaging"]["f1"] == "binary: class yes is the positive class"
    estimator = pickle.loads((model / "model.pkl").read_bytes())  # the test's own run
    raw = pd.read_csv(repo / "data/clinic/v1/clinic.csv")
    assert set(estimator.predict(raw.drop(columns=["outcome"]))) <= {"no", "yes"}
