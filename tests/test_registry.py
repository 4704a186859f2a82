"""The dataset registry and the config: schema validation and clear lookups."""

from __future__ import annotations

import dataclasses

import pytest
import yaml
from helpers import REPO
from snakemake.exceptions import WorkflowError
from snakemake.utils import validate

from reprotrain import datasets
from reprotrain.driver import config_schema
from reprotrain.errors import ReprotrainError
from reprotrain.ml import model_types

CONFIG_SCHEMA = str(REPO / "workflow/schemas/config.schema.yaml")
REGISTRY_SCHEMA = str(REPO / "workflow/schemas/datasets.schema.yaml")


@pytest.fixture
def config():
    return yaml.safe_load((REPO / "config/config.yaml").read_text())


@pytest.fixture
def shipped_registry():
    return yaml.safe_load((REPO / "config/datasets.yaml").read_text())


def test_shipped_config_and_registry_are_valid(config, shipped_registry):
    validate(config, CONFIG_SCHEMA)
    validate(shipped_registry, REGISTRY_SCHEMA)


@pytest.mark.parametrize(
    ("change", "field"),
    [
        (lambda c: c.update(colour="red"), "colour"),
        (lambda c: c.update(seed=-1), "seed"),
        (lambda c: c.update(seed="42"), "seed"),
        (lambda c: c.update(threads=0), "threads"),
        # A name that is no preset is checked by model_types.check_models (test_custom_models).
        (lambda c: c.update(model="not a name"), "model"),
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
        "model-not-a-name",
        "threshold-range",
        "n_jobs-not-configurable",
        "test-fraction",
        "missing-version",
    ],
)
def test_bad_config_is_rejected_naming_the_field(config, change, field):
    # The check the workflow runs first: the schema file completed by the model registry.
    config_schema.check(
        config, CONFIG_SCHEMA, "config/config.yaml", complete=model_types.config_schema
    )
    change(config)
    with pytest.raises(ReprotrainError) as error:
        config_schema.check(
            config, CONFIG_SCHEMA, "config/config.yaml", complete=model_types.config_schema
        )
    assert field in error.value.field


def test_unknown_dataset_and_version_list_the_known_ones(shipped_registry):
    with pytest.raises(ReprotrainError) as error:
        datasets.resolve(shipped_registry, "iris", "v1", "config/datasets.yaml")
    assert "breast_cancer" in error.value.fix
    with pytest.raises(ReprotrainError) as error:
        datasets.resolve(shipped_registry, "breast_cancer", "v9", "config/datasets.yaml")
    assert "v1.0" in error.value.fix
    assert error.value.field == "datasets.breast_cancer.v9"


def test_registry_entry_needs_a_well_formed_sha256(shipped_registry):
    shipped_registry["datasets"]["breast_cancer"]["v1.0"]["sha256"] = "abc"
    with pytest.raises(WorkflowError):
        validate(shipped_registry, REGISTRY_SCHEMA)


def test_synthetic_needs_rows_and_files_refuse_them(shipped_registry):
    synthetic = datasets.resolve(shipped_registry, "synthetic", "v1", "config/datasets.yaml")
    with pytest.raises(ReprotrainError, match="needs a row count"):
        datasets.check_rows(synthetic, None, "config/config.yaml")
    assert datasets.check_rows(synthetic, 100, "config/config.yaml") == 100
    breast_cancer = datasets.resolve(
        shipped_registry, "breast_cancer", "v1.0", "config/datasets.yaml"
    )
    with pytest.raises(ReprotrainError, match=r"remove dataset\.rows"):
        datasets.check_rows(breast_cancer, 100, "config/config.yaml")


def test_broken_yaml_is_reported_with_its_file(tmp_path):
    path = tmp_path / "datasets.yaml"
    path.write_text("datasets: [unclosed\n")
    with pytest.raises(ReprotrainError) as error:
        datasets.load_yaml(path, "dataset registry")
    assert str(path) in error.value.message
    assert "not valid YAML" in error.value.message


def breast_cancer(shipped_registry, **changes):
    dataset = datasets.resolve(shipped_registry, "breast_cancer", "v1.0", "config/datasets.yaml")
    return dataclasses.replace(dataset, **changes)


def test_a_data_version_renamed_or_moved_with_the_same_bytes_is_another_input(shipped_registry):
    original = datasets.DataVersion(breast_cancer(shipped_registry), None, "data/x.csv")
    same = datasets.DataVersion(breast_cancer(shipped_registry), None, "/elsewhere/x.csv")
    renamed = datasets.DataVersion(breast_cancer(shipped_registry, version="v1.1"), None, None)
    moved = datasets.DataVersion(breast_cancer(shipped_registry, source="data/y.csv"), None, None)
    # Where the bytes were found is not what they are.
    assert same.input_digest == original.input_digest
    assert original.digest == renamed.digest == moved.digest == original.dataset.sha256
    assert len({original.input_digest, renamed.input_digest, moved.input_digest}) == 3


def test_a_registry_path_is_found_in_the_project_then_in_the_workflows_tree(
    shipped_registry, tmp_path, monkeypatch
):
    dataset = breast_cancer(shipped_registry)
    monkeypatch.chdir(tmp_path)
    # Not in the project (the working directory): the workflow's embedded copy.
    assert datasets.source_location(dataset, REPO, "config/datasets.yaml") == str(
        REPO / dataset.source
    )
    own = tmp_path / dataset.source
    own.parent.mkdir(parents=True)
    own.write_bytes(b"the project's own copy")
    assert datasets.source_location(dataset, REPO, "config/datasets.yaml") == dataset.source
    own.unlink()
    with pytest.raises(ReprotrainError, match="does not exist"):
        datasets.source_location(dataset, tmp_path / "nowhere", "config/datasets.yaml")
