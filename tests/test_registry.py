"""The dataset registry and the config: schema validation and clear lookups."""

from __future__ import annotations

import pytest
import yaml
from helpers import REPO
from snakemake.exceptions import WorkflowError
from snakemake.utils import validate

from reprotrain import estimators, registry, schema
from reprotrain.errors import ReprotrainError

CONFIG_SCHEMA = str(REPO / "workflow/schemas/config.schema.yaml")
REGISTRY_SCHEMA = str(REPO / "workflow/schemas/datasets.schema.yaml")


@pytest.fixture
def config():
    return yaml.safe_load((REPO / "config/config.yaml").read_text())


@pytest.fixture
def datasets():
    return yaml.safe_load((REPO / "config/datasets.yaml").read_text())


def test_shipped_config_and_registry_are_valid(config, datasets):
    validate(config, CONFIG_SCHEMA)
    validate(datasets, REGISTRY_SCHEMA)


@pytest.mark.parametrize(
    ("change", "field"),
    [
        (lambda c: c.update(colour="red"), "colour"),
        (lambda c: c.update(seed=-1), "seed"),
        (lambda c: c.update(seed="42"), "seed"),
        (lambda c: c.update(threads=0), "threads"),
        (lambda c: c.update(model="svm"), "model"),
        (lambda c: c["thresholds"].update(min_accuracy=1.5), "min_accuracy"),
        (lambda c: c["models"]["random_forest"].update(n_jobs=4), "n_jobs"),
        (lambda c: c["split"].update(test_fraction=1.0), "test_fraction"),
        (lambda c: c["dataset"].pop("version"), "version"),
    ],
    ids=[
        "unknown-key",
        "negative-seed",
        "string-seed",
        "zero-threads",
        "unknown-model",
        "threshold-range",
        "n_jobs-not-configurable",
        "test-fraction",
        "missing-version",
    ],
)
def test_bad_config_is_rejected_naming_the_field(config, change, field):
    # The check the workflow runs first: the schema file completed by the model registry.
    schema.check(config, CONFIG_SCHEMA, "config/config.yaml", complete=estimators.config_schema)
    change(config)
    with pytest.raises(ReprotrainError) as error:
        schema.check(config, CONFIG_SCHEMA, "config/config.yaml", complete=estimators.config_schema)
    assert field in error.value.field


def test_unknown_dataset_and_version_list_the_known_ones(datasets):
    with pytest.raises(ReprotrainError) as error:
        registry.resolve(datasets, "iris", "v1", "config/datasets.yaml")
    assert "breast_cancer" in error.value.fix
    with pytest.raises(ReprotrainError) as error:
        registry.resolve(datasets, "breast_cancer", "v9", "config/datasets.yaml")
    assert "v1.0" in error.value.fix
    assert error.value.field == "datasets.breast_cancer.v9"


def test_registry_entry_needs_a_well_formed_sha256(datasets):
    datasets["datasets"]["breast_cancer"]["v1.0"]["sha256"] = "abc"
    with pytest.raises(WorkflowError):
        validate(datasets, REGISTRY_SCHEMA)


def test_synthetic_needs_rows_and_files_refuse_them(datasets):
    synthetic = registry.resolve(datasets, "synthetic", "v1", "config/datasets.yaml")
    with pytest.raises(ReprotrainError, match="needs a row count"):
        registry.check_rows(synthetic, None, "config/config.yaml")
    assert registry.check_rows(synthetic, 100, "config/config.yaml") == 100
    breast_cancer = registry.resolve(datasets, "breast_cancer", "v1.0", "config/datasets.yaml")
    with pytest.raises(ReprotrainError, match=r"remove dataset\.rows"):
        registry.check_rows(breast_cancer, 100, "config/config.yaml")


def test_broken_yaml_is_reported_with_its_file(tmp_path):
    path = tmp_path / "datasets.yaml"
    path.write_text("datasets: [unclosed\n")
    with pytest.raises(ReprotrainError) as error:
        registry.load_yaml(path, "dataset registry")
    assert str(path) in error.value.message
    assert "not valid YAML" in error.value.message
