"""The dataset registry: name + version -> source, sha256 and expected table schema."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from reprotrain import manifest, yamlfile
from reprotrain.errors import ReprotrainError
from reprotrain.hashing import digest_value

FEATURE_DTYPE = "float64"
TARGET_DTYPE = "int64"


@dataclass(frozen=True)
class TableSchema:
    """What a raw table must look like: feature columns (float64) and an integer target."""

    features: tuple[str, ...]
    target: str
    classes: tuple[int, ...]

    @property
    def columns(self) -> tuple[str, ...]:
        return (*self.features, self.target)


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


def resolve(registry: dict[str, Any], name: str, version: str, registry_path: str) -> Dataset:
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
    table = entry["schema"]
    schema = TableSchema(
        features=tuple(table["features"]),
        target=table["target"],
        classes=tuple(table["classes"]),
    )
    if entry["kind"] == "synthetic":
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


def _check_source_is_confined(dataset: Dataset, registry_path: str) -> None:
    """A source is a URL or a file of the repository: an absolute path or one with ".."
    would read outside it, and its path would enter the data record, which is covered."""
    if not dataset.is_url and not manifest.stays_inside(dataset.source):
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
    if dataset.kind != "file":
        return None
    if dataset.is_url or Path(dataset.source).is_file():
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
        if self.dataset.kind == "file":
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
