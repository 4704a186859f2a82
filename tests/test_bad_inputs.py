"""Every bad input: one clear message naming the file, the field and the fix, a non-zero
exit, and nothing partial, stale or misleading left on disk."""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import json
import os
import re
import shutil
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml
from helpers import (
    DATA,
    MODEL,
    config_override,
    copy_repo,
    rewrite_model_and_card,
    snakemake,
)

from reprotrain import memo
from reprotrain.driver.plan import Invocation, make_plan
from reprotrain.errors import ReprotrainError
from reprotrain.steps import learning

RAW = "data/breast_cancer/v1.0/breast_cancer.csv"


@dataclass
class Case:
    setup: Callable[[Path], list[str]]  # mutates a scratch repo, returns extra snakemake args
    where: str  # "FILE: FIELD" as the message must start
    fix: str  # a piece of the fix
    target: str = "all"  # what to ask Snakemake for
    after_run: bool = False  # start from a completed run (outputs on disk)
    # What must (not) be on disk after it, where the default expectations do not fit.
    leaves: Callable[[Path], None] | None = None


def override(values: dict) -> Callable[[Path], list[str]]:
    return lambda repo: config_override(repo, "bad", values)


def edit_document(path: str, change: Callable[[dict], None]) -> Callable[[Path], list[str]]:
    """Load a YAML or JSON file of the repo, change it in place, write it back."""
    load, dump = (
        (json.loads, json.dumps) if path.endswith(".json") else (yaml.safe_load, yaml.safe_dump)
    )

    def setup(repo: Path) -> list[str]:
        file = repo / path
        document = load(file.read_text())
        change(document)
        file.write_text(dump(document))
        return []

    return setup


def raw_as_fifo(repo: Path) -> list[str]:
    """The raw file replaced by a FIFO: reading it would wait for a writer forever."""
    (repo / RAW).unlink()
    os.mkfifo(repo / RAW)
    return []


def registered_raw(make: Callable[[bytes], bytes]) -> Callable[[Path], list[str]]:
    """Replace the raw file and register its sha256: the registered data itself is bad."""

    def setup(repo: Path) -> list[str]:
        raw = repo / RAW
        raw.write_bytes(make(raw.read_bytes()))
        registry_path = repo / "config/datasets.yaml"
        registry = yaml.safe_load(registry_path.read_text())
        entry = registry["datasets"]["breast_cancer"]["v1.0"]
        entry["sha256"] = hashlib.sha256(raw.read_bytes()).hexdigest()
        registry_path.write_text(yaml.safe_dump(registry))
        return []

    return setup


def rows(transform: Callable[[list[list[str]]], list[list[str]]]) -> Callable[[bytes], bytes]:
    def make(content: bytes) -> bytes:
        table = [line.split(",") for line in content.decode().splitlines()]
        return ("\n".join(",".join(row) for row in transform(table)) + "\n").encode()

    return make


def set_cell(column: str, value: str):
    def transform(table):
        index = table[0].index(column)
        table[1][index] = value
        return table

    return rows(transform)


def drop_column(column: str):
    def transform(table):
        index = table[0].index(column)
        return [row[:index] + row[index + 1 :] for row in table]

    return rows(transform)


def mutate_file(path: str, change: Callable[[str], str]) -> Callable[[Path], list[str]]:
    def setup(repo: Path) -> list[str]:
        file = repo / path
        file.write_text(change(file.read_text()))
        return []

    return setup


def remove(path: str) -> Callable[[Path], list[str]]:
    def setup(repo: Path) -> list[str]:
        (repo / path).unlink()
        return []

    return setup


def flip_last_byte(path: str) -> Callable[[Path], list[str]]:
    def setup(repo: Path) -> list[str]:
        file = repo / path
        data = file.read_bytes()
        file.write_bytes(data[:-1] + bytes([data[-1] ^ 1]))
        return []

    return setup


def custom_model(estimator: str, params: dict) -> Callable[[Path], list[str]]:
    return override(
        {"model": "extra", "models": {"extra": {"estimator": estimator, "params": params}}}
    )


def overlay_text(text: str) -> Callable[[Path], list[str]]:
    """A config overlay written as given (YAML a dumper would never write)."""

    def setup(repo: Path) -> list[str]:
        (repo / "config/bad.yaml").write_text(text)
        return ["--configfile", "config/config.yaml", "config/bad.yaml"]

    return setup


# Seven levels of nine aliases as one --config value: 4.8 million values expanded.
COMMAND_LINE_BOMB = (
    "[&a0 [x, x, x, x, x, x, x, x, x]"
    + "".join(f", &a{level} [{', '.join([f'*a{level - 1}'] * 9)}]" for level in range(1, 7))
    + "]"
)
# Nine levels of nine aliases: 387 million strings once anything walks the config.
ALIAS_BOMB = "a0: &a0 [x, x, x, x, x, x, x, x, x]\n" + "".join(
    f"a{level}: &a{level} [{', '.join([f'*a{level - 1}'] * 9)}]\n" for level in range(1, 9)
)


def killed_before_its_manifest(setup: Callable[[Path], list[str]]) -> Callable[[Path], list[str]]:
    """``setup`` on a run killed after save, before its manifest: no run manifest tells the
    next run which bytes its outputs had, so validate's own check is what stands."""

    def after_kill(repo: Path) -> list[str]:
        (repo / "results/manifest.json").unlink()
        return setup(repo)

    return after_kill


def model_and_card_rewritten(repo: Path) -> list[str]:
    rewrite_model_and_card(repo)
    return []


def one_row_per_class(raw: bytes) -> bytes:
    header, *rows = raw.decode().splitlines()
    firsts = [next(row for row in rows if row.endswith(f",{label}")) for label in (0, 1)]
    return ("\n".join([header, *firsts]) + "\n").encode()


def truncate(path: str, keep: int) -> Callable[[Path], list[str]]:
    def setup(repo: Path) -> list[str]:
        file = repo / path
        file.write_bytes(file.read_bytes()[:keep])
        return []

    return setup


def bad_cell_of_declared_type(column: str, value: str, declared: dict):
    """The registered table with one bad cell, its column declared as ``declared``."""

    def declare(registry: dict) -> None:
        schema = registry["datasets"]["breast_cancer"]["v1.0"]["schema"]
        schema["features"] = {
            name: (declared if name == column else "float") for name in schema["features"]
        }

    def setup(repo: Path) -> list[str]:
        registered_raw(set_cell(column, value))(repo)
        edit_document("config/datasets.yaml", declare)(repo)
        return []

    return setup


def breast_cancer_as_regression(registry: dict) -> None:
    schema = registry["datasets"]["breast_cancer"]["v1.0"]["schema"]
    schema["task"] = "regression"
    del schema["classes"]


def metrics_missing_and_model_kept(repo: Path) -> None:
    """validate refused the model: no metrics, and what came before it stays."""
    assert not (repo / MODEL / "metrics.json").exists()
    assert (repo / MODEL / "model.pkl").is_file()


def absolute_source(repo: Path) -> list[str]:
    """A source given by its absolute path: it would read outside the repository, and the
    path would enter the covered data record."""
    registry_path = repo / "config/datasets.yaml"
    text = registry_path.read_text()
    registry_path.write_text(text.replace("source: data/", f"source: {repo}/data/", 1))
    return []


SHA256_LINE = re.compile(r"sha256: ([0-9a-f]{64})")
DATA_RECORD = f"{DATA}/data.json"
CASES = {
    # Config
    "config-unknown-key": Case(override({"colour": "red"}), "config/bad.yaml: colour", "remove"),
    "config-wrong-type": Case(override({"seed": "42"}), "config/bad.yaml: seed", "correct seed"),
    "config-negative-seed": Case(override({"seed": -1}), "config/bad.yaml: seed", "correct"),
    "config-float-seed": Case(
        override({"seed": 42.0}), "config/bad.yaml: seed: 42.0 is not valid", "correct seed"
    ),
    "config-float-max-iter": Case(
        override({"models": {"hist_gradient_boosting": {"max_iter": 200.0}}}),
        "config/bad.yaml: models.hist_gradient_boosting.max_iter: 200.0 is not of type",
        "correct",
    ),
    "config-expected-is-the-run-manifest": Case(
        override({"manifest": {"expected": "results/manifest.json"}}),
        "config/bad.yaml: manifest.expected: results/manifest.json is where runs write",
        "config/manifest.json",
    ),
    "config-expected-outside-the-repository": Case(
        override({"manifest": {"expected": "../elsewhere/manifest.json"}}),
        "config/bad.yaml: manifest.expected: ../elsewhere/manifest.json is outside",
        "in the repository",
    ),
    "config-dataset-name-escapes": Case(
        override({"dataset": {"name": ".."}}),
        "config/bad.yaml: dataset.name: '..' does not match",
        "a directory of the results",
    ),
    "config-dataset-version-escapes": Case(
        override({"dataset": {"version": ".."}}),
        "config/bad.yaml: dataset.version: '..' does not match",
        "a directory of the results",
    ),
    "registry-dataset-name-escapes": Case(
        mutate_file(
            "config/datasets.yaml", lambda text: text.replace("  breast_cancer:", '  "..":', 1)
        ),
        "config/datasets.yaml: datasets: '..' does not match",
        "correct datasets",
    ),
    "config-zero-threads": Case(override({"threads": 0}), "config/bad.yaml: threads", "correct"),
    "config-unknown-model": Case(
        override({"model": "svm"}),
        "config/bad.yaml: model: svm is neither a preset",
        "choose a preset",
    ),
    # A custom estimator is imported and its params checked before any job.
    "custom-model-unknown-param": Case(
        custom_model("sklearn.ensemble.ExtraTreesClassifier", {"n_estimator": 5}),
        "config/bad.yaml: models.extra.params.n_estimator: ExtraTreesClassifier takes no "
        "parameter n_estimator",
        "did you mean n_estimators",
    ),
    "custom-model-missing-module": Case(
        custom_model("my_modelz.Extra", {}),
        "config/bad.yaml: models.extra.estimator: my_modelz.Extra: module my_modelz cannot be "
        "imported",
        "put your module in user/",
    ),
    "custom-model-not-an-estimator": Case(
        custom_model("collections.OrderedDict", {}),
        "config/bad.yaml: models.extra.estimator: collections.OrderedDict is not a "
        "scikit-learn estimator",
        "follows scikit-learn's estimator API",
    ),
    "custom-model-random-state": Case(
        custom_model("sklearn.ensemble.ExtraTreesClassifier", {"random_state": 1}),
        "config/bad.yaml: models.extra.params.random_state: is set by reprotrain from `seed`",
        "set `seed` instead",
    ),
    "custom-model-refused-value": Case(
        custom_model("sklearn.ensemble.ExtraTreesClassifier", {"n_estimators": 0}),
        "config/bad.yaml: models.extra.params: ExtraTreesClassifier refuses these params: "
        "InvalidParameterError: The 'n_estimators' parameter",
        "a value the estimator accepts",
    ),
    "config-threshold-range": Case(
        override({"thresholds": {"min_accuracy": 1.5}}),
        "config/bad.yaml: thresholds.min_accuracy",
        "correct",
    ),
    "config-missing-version": Case(
        edit_document("config/config.yaml", lambda c: c["dataset"].pop("version")),
        "config/config.yaml: dataset.version",
        "add dataset.version",
    ),
    "config-unknown-version": Case(
        override({"dataset": {"version": "v9"}}),
        "config/datasets.yaml: datasets.breast_cancer.v9",
        "use one of ['v1.0']",
    ),
    "config-unknown-dataset": Case(
        override({"dataset": {"name": "iris"}}),
        "config/datasets.yaml: datasets.iris",
        "use one of",
    ),
    "config-unknown-hyperparameter": Case(
        override({"models": {"random_forest": {"n_jobs": 4}}}),
        "config/bad.yaml: models.random_forest.n_jobs",
        "remove",
    ),
    "config-alias-bomb": Case(
        overlay_text(ALIAS_BOMB),
        "config/bad.yaml: a8: expands through YAML aliases to 490,329,064 values",
        "share fewer of them",
    ),
    "config-duplicate-key": Case(
        overlay_text("seed: 1\nthreads: 2\nseed: 7\n"),
        "config/bad.yaml: seed: is given twice (lines 1 and 3)",
        "keep one of them",
    ),
    "registry-duplicate-version": Case(
        mutate_file(
            "config/datasets.yaml",
            lambda text: text.replace(
                "  breast_cancer:\n", "  breast_cancer:\n    v1.0: {kind: file}\n", 1
            ),
        ),
        "config/datasets.yaml: datasets.breast_cancer.v1.0: is given twice",
        "keep one of them",
    ),
    "config-test-fraction-too-high": Case(
        override({"split": {"test_fraction": 0.999}}),
        # The job names the overlay that set the key, as the driver does.
        "config/bad.yaml: split.test_fraction: 0.999 of 569 rows leaves 0 for training",
        "choose a test_fraction from",
        DATA_RECORD,
    ),
    "config-test-fraction-too-low": Case(
        override({"split": {"test_fraction": 0.001}}),
        "config/bad.yaml: split.test_fraction: 0.001 of 569 rows leaves 568 for training "
        "and 1 for testing",
        "choose a test_fraction from",
        DATA_RECORD,
    ),
    "config-version-read-as-a-number": Case(
        overlay_text("dataset:\n  name: breast_cancer\n  version: 1.10\n"),
        "config/bad.yaml: dataset.version: 1.1 is not of type 'string' (written 1.10, which "
        "YAML reads as the number 1.1)",
        'quote it: "1.10"',
    ),
    "config-octal-seed": Case(
        overlay_text("seed: 042\n"),
        "config/bad.yaml: seed: 042 (line 1) is read by YAML as the number 34 (octal)",
        'quote it ("042")',
    ),
    "config-results-is-a-file": Case(
        override({"results": "README.md"}),
        "config/bad.yaml: results: README.md is a file, not a directory",
        "name a directory",
    ),
    "config-command-line-value": Case(
        lambda repo: ["--config", "seed=-5"],
        "--config: seed: -5 is less than the minimum of 0",
        "correct seed as",
    ),
    "config-command-line-alias-bomb": Case(
        lambda repo: ["--config", f"bomb={COMMAND_LINE_BOMB}"],
        "--config: bomb: expands through YAML aliases",
        "share fewer of them",
    ),
    "config-results-is-git": Case(
        override({"results": ".git"}),
        "config/bad.yaml: results: .git is git's own folder",
        "name a new folder for the results directory",
    ),
    "config-results-is-a-folder-of-the-project": Case(
        override({"results": "docs"}),
        "config/bad.yaml: results: docs holds files",
        "name a new folder for the results directory",
    ),
    "config-results-is-user-code": Case(
        override({"results": "user"}),
        "config/bad.yaml: results: user is (or holds, or is inside) user/",
        "name a new folder for the results directory",
    ),
    "config-user-code-is-results": Case(
        override({"user_code": "results"}),
        "config/bad.yaml: user_code: results is where runs or git write",
        "keep your modules in a folder of the repository of their own",
    ),
    "config-registry-outside-the-repository": Case(
        override({"registry": "/tmp/datasets.yaml"}),
        "config/bad.yaml: registry: /tmp/datasets.yaml is outside the repository",
        "config/datasets.yaml",
    ),
    "config-public-key-outside-the-repository": Case(
        override({"manifest": {"public_key": "../keys/record.pub"}}),
        "config/bad.yaml: manifest.public_key: ../keys/record.pub is outside",
        "in the repository",
    ),
    "registry-upper-case-sha256": Case(
        mutate_file(
            "config/datasets.yaml",
            lambda t: SHA256_LINE.sub(lambda m: f"sha256: {m[1].upper()}", t, count=1),
        ),
        "config/datasets.yaml: datasets.breast_cancer.v1.0.sha256: '9B9E",
        "64 lower-case hexadecimal digits",
    ),
    "registry-space-padded-sha256": Case(
        mutate_file(
            "config/datasets.yaml",
            lambda t: SHA256_LINE.sub(lambda m: f'sha256: " {m[1]} "', t, count=1),
        ),
        "config/datasets.yaml: datasets.breast_cancer.v1.0.sha256: ' 9b9e",
        "nothing else",
    ),
    "registry-absolute-source": Case(
        absolute_source,
        "config/datasets.yaml: datasets.breast_cancer.v1.0.source: /",
        "under data/",
    ),
    "registry-source-leaves-the-repository": Case(
        mutate_file(
            "config/datasets.yaml", lambda t: t.replace("source: data/", "source: ../data/", 1)
        ),
        "config/datasets.yaml: datasets.breast_cancer.v1.0.source: ../data/breast_cancer",
        "under data/",
    ),
    # Tasks and thresholds
    "config-classifier-on-a-regression-table": Case(
        override({"dataset": {"name": "diabetes", "version": "v1.0"}}),
        "config/config.yaml: model: hist_gradient_boosting is a classifier, but diabetes is a "
        "regression dataset",
        "sklearn.linear_model.Ridge",
    ),
    "config-regressor-on-a-classification-table": Case(
        custom_model("sklearn.linear_model.Ridge", {"alpha": 1.0}),
        "config/bad.yaml: models.extra.estimator: extra is a regressor, but breast_cancer is a "
        "classification",
        "a preset such as hist_gradient_boosting, or `models: {logreg: {estimator: "
        "sklearn.linear_model.LogisticRegression",
    ),
    "config-threshold-of-the-other-task": Case(
        override({"thresholds": {"by_dataset": {"breast_cancer": {"min_r2": 0.5}}}}),
        "config/bad.yaml: thresholds.by_dataset.breast_cancer.min_r2: min_r2 bounds a "
        "regression metric",
        "min_accuracy",
    ),
    "config-threshold-of-an-unknown-dataset": Case(
        override({"thresholds": {"by_dataset": {"breast_cancr": {"min_accuracy": 0.5}}}}),
        "config/bad.yaml: thresholds.by_dataset.breast_cancr: breast_cancr is not a dataset",
        "breast_cancer",
    ),
    "config-preprocessing-strategy": Case(
        override({"preprocessing": {"impute_numeric": "zero"}}),
        "config/bad.yaml: preprocessing.impute_numeric: 'zero' is not one of",
        "fills a missing number",
    ),
    "config-missed-threshold-of-an-overlay": Case(
        override({"thresholds": {"by_dataset": {"breast_cancer": {"min_accuracy": 0.999}}}}),
        "config/bad.yaml: thresholds.by_dataset.breast_cancer.min_accuracy: breast_cancer "
        "v1.0, seed 42, hist_gradient_boosting misses",
        "`thresholds.by_dataset.breast_cancer.<key>` in your overlay",
        leaves=metrics_missing_and_model_kept,
    ),
    "registry-regression-with-classes": Case(
        edit_document(
            "config/datasets.yaml",
            lambda d: d["datasets"]["breast_cancer"]["v1.0"]["schema"].update(task="regression"),
        ),
        "config/datasets.yaml: datasets.breast_cancer.v1.0.schema.classes: a regression target "
        "has no classes",
        "remove `classes`",
    ),
    "registry-mixed-categories": Case(
        edit_document(
            "config/datasets.yaml",
            lambda d: d["datasets"]["penguins"]["v1.0"]["schema"]["features"]["island"].update(
                categories=["Biscoe", 2]
            ),
        ),
        "config/datasets.yaml: datasets.penguins.v1.0.schema.features.island.categories: mixes",
        "every category of the column as text",
    ),
    "registry-binary-with-three-classes": Case(
        edit_document(
            "config/datasets.yaml",
            lambda d: d["datasets"]["penguins"]["v1.0"]["schema"].update(task="binary"),
        ),
        "config/datasets.yaml: datasets.penguins.v1.0.schema.task: is binary but the target "
        "has 3 classes",
        "correct `task` or `classes`",
    ),
    "registry-classification-without-classes": Case(
        edit_document(
            "config/datasets.yaml",
            lambda d: d["datasets"]["penguins"]["v1.0"]["schema"].pop("classes"),
        ),
        "config/datasets.yaml: datasets.penguins.v1.0.schema.classes: a multiclass target "
        "needs its classes",
        "task: regression",
    ),
    "registry-target-declared-as-a-feature": Case(
        edit_document(
            "config/datasets.yaml",
            lambda d: d["datasets"]["penguins"]["v1.0"]["schema"]["features"].update(
                species="float"
            ),
        ),
        "config/datasets.yaml: datasets.penguins.v1.0.schema.features.species: the target is "
        "also declared as a feature",
        "remove it from `features`",
    ),
    "registry-class-listed-twice-as-written": Case(
        edit_document(
            "config/datasets.yaml",
            lambda d: d["datasets"]["breast_cancer"]["v1.0"]["schema"].update(classes=[0, "0"]),
        ),
        "config/datasets.yaml: datasets.breast_cancer.v1.0.schema.classes: [0, '0'] lists a "
        "class twice",
        "list each class once",
    ),
    "registry-one-name-two-kinds-of-task": Case(
        lambda repo: [
            *edit_document(
                "config/datasets.yaml",
                lambda d: d["datasets"]["diabetes"].update(
                    {"v0": d["datasets"]["penguins"]["v1.0"]}
                ),
            )(repo),
            *config_override(
                repo,
                "bad",
                {
                    "dataset": [
                        {"name": "diabetes", "version": "v1.0"},
                        {"name": "diabetes", "version": "v0"},
                    ]
                },
            ),
        ],
        "config/datasets.yaml: datasets.diabetes.v0.schema.task: diabetes has both "
        "classification and regression versions",
        "a dataset name of its own",
    ),
    # Data
    "data-regression-target-not-a-number": Case(
        lambda repo: [
            *registered_raw(set_cell("target", "benign"))(repo),
            *edit_document("config/datasets.yaml", breast_cancer_as_regression)(repo),
            *custom_model("sklearn.linear_model.Ridge", {"alpha": 1.0})(repo),
        ],
        f"{RAW}: target: target 'target': line 2: 'benign' is not a number",
        "make the table match",
        DATA_RECORD,
    ),
    "data-target-value-missing": Case(
        registered_raw(set_cell("target", "")),
        f"{RAW}: target: target 'target': line 2: the target is missing",
        "fill in the target",
        DATA_RECORD,
    ),
    "data-true-false-in-a-float-column": Case(
        registered_raw(rows(lambda t: [t[0]] + [[*r[:3], "true", *r[4:]] for r in t[1:]])),
        f"{RAW}: mean_area: column 'mean_area': holds true/false values",
        "declare the column boolean",
        DATA_RECORD,
    ),
    "data-not-a-whole-number": Case(
        bad_cell_of_declared_type("mean_area", "1001.5", "integer"),
        f"{RAW}: mean_area: column 'mean_area': line 2: 1001.5 is not a whole number",
        "declare the column float",
        DATA_RECORD,
    ),
    "data-unknown-category": Case(
        bad_cell_of_declared_type(
            "mean_area", "huge", {"type": "categorical", "categories": ["small", "large"]}
        ),
        f"{RAW}: mean_area: column 'mean_area': line 2: 'huge' is not one of its categories",
        "register a new data version",
        DATA_RECORD,
    ),
    "data-label-not-a-class": Case(
        registered_raw(set_cell("target", "malignant")),
        f"{RAW}: target: target 'target': line 2: 'malignant' is not one of the classes",
        "correct the label",
        DATA_RECORD,
    ),
    "data-text-in-a-boolean-column": Case(
        bad_cell_of_declared_type("mean_area", "maybe", "boolean"),
        f"{RAW}: mean_area: column 'mean_area': line 2: 'maybe' is not a boolean",
        "true/false",
        DATA_RECORD,
    ),
    "data-one-row-per-class": Case(
        registered_raw(one_row_per_class),
        f"{RAW}: target: class 0 has 1 row: a stratified split needs at least 2",
        "add rows of that class",
        DATA_RECORD,
    ),
    "data-duplicate-column": Case(
        registered_raw(lambda raw: raw.replace(b"mean_texture", b"mean_radius", 1)),
        f"{RAW}: mean_radius: the header names column 'mean_radius' twice (columns 1 and 2)",
        "give each column its own name",
        DATA_RECORD,
    ),
    "data-trailing-comma": Case(
        registered_raw(rows(lambda t: [t[0], *([*row, ""] for row in t[1:])])),
        f"{RAW}: its rows have one field more than its header (31 names)",
        "remove the extra field",
        DATA_RECORD,
    ),
    "data-missing-file": Case(remove(RAW), f"{RAW}: the raw data file", "restore it"),
    "data-sha256-mismatch": Case(
        mutate_file(RAW, lambda text: text.replace("17.99", "17.98", 1)),
        f"{RAW}: sha256",
        "register them as a new version",
        DATA_RECORD,
    ),
    "data-empty": Case(
        registered_raw(lambda _: b""), f"{RAW}: is empty", "make the table", DATA_RECORD
    ),
    "data-header-only": Case(
        registered_raw(lambda raw: raw.split(b"\n", 1)[0] + b"\n"),
        f"{RAW}: has a header but no rows",
        "make the table",
        DATA_RECORD,
    ),
    "data-missing-target": Case(
        registered_raw(drop_column("target")),
        f"{RAW}: target",
        "datasets.breast_cancer",
        DATA_RECORD,
    ),
    "data-missing-feature": Case(
        registered_raw(drop_column("mean_radius")), f"{RAW}: mean_radius", "schema", DATA_RECORD
    ),
    "data-unexpected-column": Case(
        registered_raw(
            rows(lambda t: [row + (["extra"] if i == 0 else ["1.0"]) for i, row in enumerate(t)])
        ),
        f"{RAW}: extra",
        "schema",
        DATA_RECORD,
    ),
    "data-raw-file-is-a-fifo": Case(
        raw_as_fifo,
        f"{RAW}: is a FIFO (named pipe), not a regular file",
        "remove it; restore it",
        DATA_RECORD,
    ),
    "data-nul-inside-a-cell": Case(
        registered_raw(lambda raw: raw.replace(b"17.99,", b"17.9\x009,", 1)),
        f"{RAW}: line 2, column 5: holds the control character b'\\x00'",
        "remove it",
        DATA_RECORD,
    ),
    "data-nan": Case(
        registered_raw(set_cell("mean_area", "nan")), f"{RAW}: mean_area", "schema", DATA_RECORD
    ),
    "data-inf": Case(
        registered_raw(set_cell("mean_area", "inf")), f"{RAW}: mean_area", "schema", DATA_RECORD
    ),
    "data-non-numeric": Case(
        registered_raw(set_cell("mean_texture", "abc")),
        f"{RAW}: mean_texture",
        "schema",
        DATA_RECORD,
    ),
    "data-single-class": Case(
        registered_raw(rows(lambda t: [t[0]] + [row for row in t[1:] if row[-1] == "1"])),
        f"{RAW}: target",
        "schema",
        DATA_RECORD,
    ),
    "data-wrong-delimiter": Case(
        registered_raw(lambda raw: raw.replace(b",", b";")),
        f"{RAW}: delimiter",
        "','",
        DATA_RECORD,
    ),
    "data-not-utf8": Case(
        registered_raw(lambda raw: raw.replace(b"17.99", b"17.9\xff", 1)),
        f"{RAW}: is not UTF-8",
        "make the table",
        DATA_RECORD,
    ),
    "data-gzip": Case(
        registered_raw(gzip.compress), f"{RAW}: is gzip-compressed", "decompress it", DATA_RECORD
    ),
    # Locks
    "lock-missing-pip-lock": Case(
        remove("envs/requirements.lock"),
        "envs/requirements.lock: the pip lock does not exist",
        "make lock",
    ),
    "lock-missing-conda-lock": Case(
        remove("envs/conda-lock.yml"),
        "envs/conda-lock.yml: the conda lock does not exist",
        "make lock",
    ),
    "lock-edited-hash": Case(
        mutate_file(
            "envs/requirements.lock",
            lambda t: re.sub(
                r"--hash=sha256:[0-9a-f]{64}", "--hash=sha256:" + 64 * "0", t, count=1
            ),
        ),
        "envs/requirements.lock: sha256: changed since",
        "make setup",
    ),
    "lock-spec-changed": Case(
        mutate_file("envs/environment.yaml", lambda t: t.replace("numpy=2.3.5", "numpy=2.3.4")),
        "envs/environment.yaml: dependencies: numpy=2.3.4",
        "make lock",
    ),
    "lock-pin-out-of-sync": Case(
        mutate_file(
            "envs/environment.linux-64.pin.txt",
            lambda t: "\n".join(line for line in t.splitlines() if "/zstd-" not in line) + "\n",
        ),
        "envs/environment.linux-64.pin.txt: zstd-",
        "make lock",
    ),
    # Manifests
    "manifest-missing": Case(
        remove("config/manifest.json"),
        "config/manifest.json: no record exists for this run's config yet",
        "record them: `reprotrain record --run results/manifest.json --to config/manifest.json`",
    ),
    "manifest-malformed": Case(
        mutate_file("config/manifest.json", lambda t: t[:-10]),
        "config/manifest.json: the recorded manifest is not valid JSON",
        "make record",
    ),
    "manifest-schema-version": Case(
        edit_document("config/manifest.json", lambda d: d.update(schema_version=1)),
        "config/manifest.json: schema_version",
        "make record",
    ),
    "manifest-tampered-entry": Case(
        edit_document(
            "config/manifest.json",
            lambda d: d["files"][f"{MODEL}/model.pkl"].update(sha256="0" * 64),
        ),
        "config/manifest.json: integrity",
        "restore it",
    ),
    "manifest-nan": Case(
        mutate_file(
            "config/manifest.json", lambda t: re.sub(r"\"size\": \d+", '"size": NaN', t, count=1)
        ),
        "config/manifest.json: the recorded manifest is not valid JSON: NaN is not a JSON number",
        "make record",
    ),
    "manifest-deep-nesting": Case(
        mutate_file("config/manifest.json", lambda t: "[" * 100_000 + "]" * 100_000),
        "config/manifest.json: the recorded manifest is not valid JSON: nested too deeply",
        "make record",
    ),
    "manifest-provenance-of-the-wrong-type": Case(
        edit_document("config/manifest.json", lambda d: d["provenance"].update(environment=5)),
        "config/manifest.json: provenance.environment: is not an object",
        "make record",
    ),
    # Model
    "card-truncated": Case(
        killed_before_its_manifest(truncate(f"{MODEL}/model_card.json", 100)),
        f"{MODEL}/model_card.json: the model card is not valid JSON",
        "save makes both again",
        after_run=True,
    ),
    "model-and-card-rewritten": Case(
        killed_before_its_manifest(model_and_card_rewritten),
        f"{MODEL}/model.pkl: seal: refused to unpickle: its bytes are not the ones this "
        "directory's save job sealed",
        "delete the model and its card and rerun",
        after_run=True,
    ),
    "model-tampered": Case(
        killed_before_its_manifest(flip_last_byte(f"{MODEL}/model.pkl")),
        f"{MODEL}/model.pkl: sha256: refused to unpickle",
        "delete it and rerun",
        after_run=True,
    ),
}


# Refused by a job, or where what Snakemake does around the refusal is the behaviour: the
# model's cases start from a finished run, the alias bomb and the duplicate key are in a
# config file Snakemake itself loads first, a missing record is found by checksum.
BY_A_JOB = {
    "config-missed-threshold-of-an-overlay",
    "config-test-fraction-too-high",
    "config-test-fraction-too-low",
    "manifest-missing",
}
END_TO_END = {
    *BY_A_JOB,
    *(name for name, case in CASES.items() if case.after_run),
    # One of each kind the plan refuses, through Snakemake: one message, exit 1, no results/.
    "config-alias-bomb",
    "config-command-line-value",
    "config-command-line-alias-bomb",
    "config-duplicate-key",
    "config-unknown-key",
    "registry-absolute-source",
    "lock-edited-hash",
    "manifest-tampered-entry",
    "custom-model-missing-module",
    # And two the preprocess job refuses.
    "data-sha256-mismatch",
    "data-nan",
}
BY_PREPROCESS = {
    name for name, case in CASES.items() if case.target == DATA_RECORD and name not in BY_A_JOB
}
BY_THE_PLAN = set(CASES) - BY_A_JOB - BY_PREPROCESS - {n for n, c in CASES.items() if c.after_run}


def assert_one_clear_message(text: str, case: Case) -> None:
    assert text.count(case.where) == 1, text[-3000:]
    message = text[text.index(case.where) :]
    assert "\n  fix: " in message, message[:500]
    fix = message.split("\n  fix: ", 1)[1].splitlines()[0]
    assert case.fix in fix, fix


@pytest.mark.pipeline
@pytest.mark.parametrize("name", sorted(END_TO_END))
def test_bad_input_gets_one_clear_message_and_leaves_nothing_behind(name, default_run, tmp_path):
    case = CASES[name]
    if case.after_run:
        repo = shutil.copytree(default_run, tmp_path / "repo", symlinks=True)
    else:
        repo = copy_repo(tmp_path / "repo")
        # With the good run's remembered checks (reprotrain.memo), which must not hide it.
        (repo / memo.STORE).parent.mkdir()
        shutil.copy(default_run / memo.STORE, repo / memo.STORE)
    before = {p for p in (repo / "results").rglob("*")} if case.after_run else set()
    args = case.setup(repo)
    run = snakemake(repo, case.target, *args, check=False)
    assert run.returncode != 0, run.output[-3000:]
    assert_one_clear_message(run.output, case)
    assert "Traceback" not in run.output
    results = repo / "results"
    if case.leaves:
        case.leaves(repo)
    elif case.after_run:
        # Only the refused step's output is gone; nothing new appeared.
        assert not (repo / MODEL / "metrics.json").exists()
        assert {p for p in results.rglob("*")} <= before
    elif case.target == DATA_RECORD:
        assert not any((repo / DATA).glob("*")) if (repo / DATA).exists() else True
        assert not (repo / MODEL).exists()
    elif name == "manifest-missing":
        # The outputs are complete and consistent; only the comparison could not happen.
        assert not (results / "checksum.json").exists()
    else:
        # Refused before any job ran.
        assert not results.exists()


@pytest.fixture(scope="module")
def good_project(tmp_path_factory) -> Path:
    """A copy of the project whose plan was made once: its remembered checks
    (reprotrain.memo) are those of a good run, which must not hide a bad input."""
    project = copy_repo(tmp_path_factory.mktemp("good") / "project")
    plan_in(project, [])
    return project


def config_files(args: list[str]) -> list[str]:
    """config/config.yaml, then each --configfile of Snakemake's arguments over it."""
    given = args[args.index("--configfile") + 1 :] if "--configfile" in args else []
    ends = [i for i, entry in enumerate(given) if entry.startswith("--")]
    return ["config/config.yaml", *(given[: ends[0]] if ends else given)]


def snakemake_config(repo: Path, files: list[str]) -> dict:
    """The config Snakemake makes of the config files, merged key by key in order."""

    def merge(base: dict, overlay: dict) -> dict:
        for key, value in overlay.items():
            if isinstance(value, dict) and isinstance(base.get(key), dict):
                merge(base[key], value)
            else:
                base[key] = value
        return base

    config: dict = {}
    for name in files:
        merge(config, yaml.safe_load((repo / name).read_text()) or {})
    return config


def command_line_config(args: list[str]) -> dict:
    """What Snakemake makes of ``--config key=value ...`` (its own parser)."""
    from snakemake.cli import parse_config

    if "--config" not in args:
        return {}
    entries = args[args.index("--config") + 1 :]
    ends = [i for i, entry in enumerate(entries) if entry.startswith("--")]
    return parse_config(entries[: ends[0]] if ends else entries)


def plan_in(repo: Path, args: list[str]):
    """The run's plan in ``repo`` (its working directory), as the Snakefile makes it."""
    files = config_files(args)
    overrides = command_line_config(args)
    config = snakemake_config(repo, files)
    config.update(overrides)  # Snakemake lays --config over the files key by key
    with contextlib.chdir(repo):
        return make_plan(
            config,
            Invocation(
                repo=repo.resolve(),
                config_files=tuple(dict.fromkeys(files)),
                prefix=Path(sys.prefix),
                config_overrides=overrides,
            ),
        )


@pytest.mark.parametrize("name", sorted(BY_THE_PLAN))
def test_bad_input_is_refused_by_the_plan_before_any_job(name, good_project, tmp_path):
    case = CASES[name]
    repo = shutil.copytree(good_project, tmp_path / "repo", symlinks=True)
    args = case.setup(repo)
    with pytest.raises(ReprotrainError) as refused:
        plan_in(repo, args)
    assert_one_clear_message(refused.value.message, case)
    assert not (repo / "results").exists()


@pytest.mark.parametrize("name", sorted(BY_PREPROCESS))
def test_bad_data_is_refused_by_preprocess_and_leaves_no_table(name, good_project, tmp_path):
    """What the preprocess job runs, on the raw table a case makes: one message, and no
    split table or data record written."""
    case = CASES[name]
    repo = shutil.copytree(good_project, tmp_path / "repo", symlinks=True)
    args = case.setup(repo)
    plan = plan_in(repo, args)
    wildcards = {"dataset": "breast_cancer", "version": "v1.0", "seed": "42"}
    version = plan.data_version(wildcards)
    out = repo / DATA
    with contextlib.chdir(repo), pytest.raises(ReprotrainError) as refused:
        learning.preprocess(
            raw=version.location,
            dataset=version.spec,
            registry=plan.config["registry"],
            test_fraction=plan.config["split"]["test_fraction"],
            seed=42,
            train=str(out / "train.npy"),
            test=str(out / "test.npy"),
            record=str(out / "data.json"),
        )
    assert_one_clear_message(refused.value.message, case)
    assert not out.exists() or not any(out.iterdir())


def test_every_case_is_tried_somewhere():
    assert set(CASES) == BY_THE_PLAN | BY_PREPROCESS | END_TO_END
    assert not BY_THE_PLAN & BY_PREPROCESS
