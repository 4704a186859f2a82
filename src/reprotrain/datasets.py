"""The dataset registry: name + version -> source, sha256 and expected table schema."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from reprotrain import yamlfile
from reprotrain.errors import ReprotrainError
from reprotrain.hashing import digest_value
from reprotrain.records import manifest

# Split tables hold every feature as float64 (a category as its index in the declared
# categories, a missing value as NaN) and a class as its index in `classes`.
FEATURE_DTYPE = "float64"
TARGET_DTYPE = "int64"
# How a raw table writes a missing value, and a boolean: preprocess reads by these, and
# `reprotrain add-data` infers a schema by them (reprotrain.registration).
MISSING_TOKENS = ("", "NA", "N/A", "NaN", "nan", "null", "NULL")
TRUE_WORDS, FALSE_WORDS = ("true", "yes", "1"), ("false", "no", "0")
REGRESSION_TARGET_DTYPE = "float64"

COLUMN_TYPES = ("float", "integer", "boolean", "categorical")
TASKS = ("binary", "multiclass", "regression")


@dataclass(frozen=True)
class Column:
    """One feature column: its type, its categories (categorical only) and whether a
    missing value is imputed by the model (`missing: impute`) or refused (the default)."""

    name: str
    type: str = "float"
    categories: tuple[str | int, ...] = ()
    impute: bool = False

    @property
    def numeric(self) -> bool:
        return self.type != "categorical"


@dataclass(frozen=True)
class TableSchema:
    """What a raw table must look like: its feature columns by name, with their types, and
    its target (the classes of a classification task; numbers for a regression)."""

    columns: tuple[Column, ...]
    target: str
    classes: tuple[str | int, ...]
    task: str
    # Columns of the file that are neither a feature nor the target: read, then dropped.
    ignored: tuple[str, ...] = ()

    @property
    def features(self) -> tuple[str, ...]:
        return tuple(column.name for column in self.columns)

    @property
    def names(self) -> tuple[str, ...]:
        """Every column of the table: the features in declared order, then the target."""
        return (*self.features, self.target)

    @property
    def is_classification(self) -> bool:
        return self.task != "regression"

    @property
    def kind(self) -> str:
        """classification (binary or multiclass) or regression."""
        return "classification" if self.is_classification else "regression"

    @property
    def needs_column_transformer(self) -> bool:
        """Whether the model must encode or impute before the estimator: a table of
        numbers without missing values goes to the estimator as it is."""
        return any(not column.numeric or column.impute for column in self.columns)

    @classmethod
    def from_dict(cls, fields: dict[str, Any]) -> TableSchema:
        """Back from ``dataclasses.asdict`` (how the rules get it)."""
        return cls(
            columns=tuple(
                Column(**{**column, "categories": tuple(column["categories"])})
                for column in fields["columns"]
            ),
            target=fields["target"],
            classes=tuple(fields["classes"]),
            task=fields["task"],
            ignored=tuple(fields.get("ignored", ())),
        )


@dataclass(frozen=True)
class Dataset:
    name: str
    version: str
    kind: str  # "file" or "synthetic"
    schema: TableSchema
    source: str | None = None
    sha256: str | None = None
    generator: dict[str, Any] = field(default_factory=dict)

    @property
    def is_url(self) -> bool:
        return self.source is not None and self.source.startswith(("http://", "https://"))


def load_yaml(path: str | Path, what: str) -> Any:
    """Parse a YAML file safely and strictly (reprotrain.yamlfile): no objects, aliases or
    duplicate keys."""
    return yamlfile.load(path, what)


def resolve(registry: Mapping[str, Any], name: str, version: str, registry_path: str) -> Dataset:
    """Look up one dataset version in an already schema-validated registry."""
    datasets = registry["datasets"]
    if name not in datasets:
        raise ReprotrainError(
            registry_path,
            f"datasets.{name}",
            f"unknown dataset {name!r}",
            f"use one of {sorted(datasets)} in config dataset.name, or register {name!r}",
        )
    versions = datasets[name]
    if version not in versions:
        raise ReprotrainError(
            registry_path,
            f"datasets.{name}.{version}",
            f"unknown version {version!r} of dataset {name!r}",
            f"use one of {sorted(versions)} in config dataset.version, or register it",
        )
    entry = versions[version]
    schema = table_schema(entry["schema"], registry_path, f"datasets.{name}.{version}.schema")
    if entry["kind"] == "synthetic":
        _check_generator_schema(schema, registry_path, f"datasets.{name}.{version}")
        if len(schema.features) != entry["generator"]["n_features"]:
            raise ReprotrainError(
                registry_path,
                f"datasets.{name}.{version}.schema.features",
                f"lists {len(schema.features)} features but the generator makes "
                f"{entry['generator']['n_features']}",
                "make generator.n_features equal the number of feature names",
            )
        return Dataset(name, version, "synthetic", schema, generator=dict(entry["generator"]))
    dataset = Dataset(name, version, "file", schema, source=entry["source"], sha256=entry["sha256"])
    _check_source_is_confined(dataset, registry_path)
    return dataset


def table_schema(table: dict[str, Any], registry_path: str, field_: str) -> TableSchema:
    """The schema of a schema-validated registry entry, its task settled and checked.

    `features` is a list of names (float columns without missing values) or a mapping of
    name to type (`float`, `integer`, `boolean`) or to a column spec."""
    features = table["features"]
    if isinstance(features, list):
        features = dict.fromkeys(features, "float")
    columns = tuple(
        Column(name)
        if spec == "float"
        else Column(name, spec)
        if isinstance(spec, str)
        else Column(
            name,
            spec["type"],
            tuple(spec.get("categories", ())),
            spec.get("missing", "refuse") == "impute",
        )
        for name, spec in features.items()
    )
    classes = tuple(table.get("classes", ()))
    task = table.get("task") or ("binary" if len(classes) == 2 else "multiclass")
    fix_task = (
        "declare `task: regression` without `classes` for a numeric target, or list the "
        "target's classes (`task: binary` for two, `multiclass` for more)"
    )
    if task == "regression" and classes:
        raise ReprotrainError(
            registry_path,
            f"{field_}.classes",
            "a regression target has no classes",
            "remove `classes`, or declare the task binary or multiclass",
        )
    if task != "regression" and not classes:
        raise ReprotrainError(
            registry_path, f"{field_}.classes", f"a {task} target needs its classes", fix_task
        )
    if (task == "binary") != (len(classes) == 2):
        raise ReprotrainError(
            registry_path,
            f"{field_}.task",
            f"is {task} but the target has {len(classes)} classes",
            "a binary task has exactly two classes, a multiclass one three or more: "
            "correct `task` or `classes`",
        )
    if len({str(label) for label in classes}) != len(classes):
        raise ReprotrainError(
            registry_path,
            f"{field_}.classes",
            f"{list(classes)} lists a class twice as written in a table (1 and '1')",
            "list each class once",
        )
    if table["target"] in features:
        raise ReprotrainError(
            registry_path,
            f"{field_}.features.{table['target']}",
            "the target is also declared as a feature",
            "remove it from `features`: the target is never an input of the model",
        )
    for column in columns:
        if len({type(value) for value in column.categories}) > 1:
            raise ReprotrainError(
                registry_path,
                f"{field_}.features.{column.name}.categories",
                "mixes numbers and text: the model's encoder takes one or the other",
                "write every category of the column as text (quoted), or every one as a number",
            )
        if len({str(value) for value in column.categories}) != len(column.categories):
            raise ReprotrainError(
                registry_path,
                f"{field_}.features.{column.name}.categories",
                "lists a category twice as written in a table (1 and '1')",
                "list each category once",
            )
    ignored = tuple(table.get("ignore", ()))
    for name in ignored:
        if name == table["target"] or name in features:
            raise ReprotrainError(
                registry_path,
                f"{field_}.ignore",
                f"{name!r} is {'the target' if name == table['target'] else 'a feature'} too",
                "a column is a feature, the target, or ignored: list it in one place",
            )
    return TableSchema(columns, table["target"], classes, task, ignored)


def _check_generator_schema(schema: TableSchema, registry_path: str, field_: str) -> None:
    """The generator makes float features without gaps and integer classes 0..n-1."""
    if schema.task == "regression" or any(
        column.type != "float" or column.impute for column in schema.columns
    ):
        raise ReprotrainError(
            registry_path,
            f"{field_}.schema",
            "a synthetic dataset is a classification table of float features without "
            "missing values",
            "list its features by name only, and its classes",
        )


def check_schemas(registry: dict[str, Any], registry_path: str) -> None:
    """Every version's schema, used by this run or not, is one that can be used: a mistake
    in the registry is reported when it is made, not when a run first asks for it."""
    for name, versions in registry["datasets"].items():
        for version in versions:
            resolve(registry, name, version, registry_path)


def kinds_of(registry: dict[str, Any]) -> dict[str, set[str]]:
    """Each registered dataset name -> the kinds of task (classification, regression) of
    its versions; read from a schema-validated registry."""
    return {
        name: {
            "regression" if entry["schema"].get("task") == "regression" else "classification"
            for entry in versions.values()
        }
        for name, versions in registry["datasets"].items()
    }


def task_kinds(data_versions: dict[tuple[str, str], Any], registry_path: str) -> dict[str, str]:
    """The kind of task (classification or regression) of each dataset name of a run:
    the versions of one name must share it, since the rule that scores a model, and the
    figures it draws, are chosen by the dataset's name."""
    kinds: dict[str, str] = {}
    for (name, version), data_version in data_versions.items():
        kind = data_version.dataset.schema.kind
        if kinds.setdefault(name, kind) != kind:
            raise ReprotrainError(
                registry_path,
                f"datasets.{name}.{version}.schema.task",
                f"{name} has both classification and regression versions in this run",
                "register the other task under a dataset name of its own",
            )
    return kinds


def _check_source_is_confined(dataset: Dataset, registry_path: str) -> None:
    """A source is a URL or a file of the repository: an absolute path or one with ".."
    would read outside it, and its path would enter the data record, which is covered."""
    source = dataset.source
    if source is not None and not dataset.is_url and not manifest.stays_inside(source):
        raise ReprotrainError(
            registry_path,
            f"datasets.{dataset.name}.{dataset.version}.source",
            f"{dataset.source} is outside the repository",
            "put the file (or a symbolic link to it: its bytes are pinned by the sha256 all "
            "the same) under data/ and give that relative path, or serve it over http(s)",
        )


def check_rows(
    dataset: Dataset, rows: int | None, config_path: str, config_field: str = "dataset"
) -> int | None:
    """Synthetic datasets need a row count; file datasets must not be given one.

    ``config_field`` names the config entry, e.g. ``dataset`` or ``dataset[1]`` in a sweep.
    """
    if dataset.kind == "synthetic" and rows is None:
        raise ReprotrainError(
            config_path,
            f"{config_field}.rows",
            f"dataset {dataset.name} {dataset.version} is synthetic and needs a row count",
            f"set {config_field}.rows in the config (e.g. rows: 10000)",
        )
    if dataset.kind == "file" and rows is not None:
        raise ReprotrainError(
            config_path,
            f"{config_field}.rows",
            f"dataset {dataset.name} {dataset.version} is a file; its row count is fixed",
            f"remove {config_field}.rows",
        )
    return rows


def source_location(dataset: Dataset, workflow_root: Path, registry_path: str) -> str | None:
    """Where the raw table of a dataset is read: a URL as it is; a repository path from the
    working directory (the project's own data) or, when not there, from the workflow's
    source tree (the data it embeds, when used as a module); None for a generator.

    Either way the bytes must have the sha256 the registry pins (preprocess checks), so
    where they are found changes nothing they can be.
    """
    if dataset.kind != "file" or dataset.source is None:
        return None
    # Anything there (a FIFO, a device, a link) is the dataset's: preprocess opens it
    # through the confined layer, which names what it is if it is not a regular file.
    if dataset.is_url or os.path.lexists(dataset.source):
        return dataset.source
    embedded = workflow_root / dataset.source
    if embedded.is_file():
        return str(embedded)
    raise ReprotrainError(
        dataset.source,
        None,
        f"the raw data file of {dataset.name} {dataset.version} does not exist",
        f"restore it, or correct datasets.{dataset.name}.{dataset.version}.source "
        f"in {registry_path}",
    )


@dataclass(frozen=True)
class DataVersion:
    """One dataset version of the run: the registry entry and, if synthetic, its rows."""

    dataset: Dataset
    rows: int | None
    # Where its raw table is read (None for a generator): registry.source_location.
    location: str | None

    @property
    def spec(self) -> dict[str, Any]:
        """What the rules get: the registry entry (plus rows for a generator)."""
        return asdict(self.dataset) | ({"rows": self.rows} if self.rows else {})

    @property
    def digest(self) -> str:
        """The data version as one input: a file's pinned sha256, or the generator's spec."""
        if self.dataset.kind == "file" and self.dataset.sha256 is not None:
            return self.dataset.sha256
        return digest_value(self.spec)

    @property
    def input_digest(self) -> str:
        """The data version as an input of outputs: its content and what the data record
        says of it, so that a version renamed or moved with the same bytes is a data
        change to `reprotrain diff`, not nondeterminism."""
        dataset = self.dataset
        return digest_value(
            {
                "name": dataset.name,
                "version": dataset.version,
                "source": dataset.source,
                "content": self.digest,
            }
        )
