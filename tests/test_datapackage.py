"""A registered table travels to and from Frictionless Data Packages: what add-data
writes passes the Data Package 2.0 profile and reads back as the same registry schema; a
descriptor made by frictionless itself registers a table preprocess accepts; a bad one
is one message naming the field."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml
from helpers import BIN, REPO
from hypothesis import given, settings
from hypothesis import strategies as st
from test_registration import KINDS, column_values

from reprotrain import datapackage, registration
from reprotrain.errors import ReprotrainError

FIXTURES = Path(__file__).parent / "data"


def as_resource(document: dict) -> dict:
    return document["resources"][0] | {"x-where": "resources/0"}


@settings(max_examples=25, deadline=None)
@given(
    kinds=st.lists(st.sampled_from(KINDS), min_size=1, max_size=5),
    rows=st.integers(min_value=160, max_value=200),
    gaps=st.lists(st.booleans(), min_size=5, max_size=5),
    regression=st.booleans(),
    with_id=st.booleans(),
)
def test_a_described_table_reads_back_as_the_schema_it_was_registered_with(
    kinds, rows, gaps, regression, with_id
):
    header = [f"c{i}_{kind}" for i, kind in enumerate(kinds)] + ["label"] + ["id"] * with_id
    columns = [column_values(kind, rows, True, gap) for kind, gap in zip(kinds, gaps, strict=False)]
    target = [f"{i * 0.37:.2f}" if regression else ["a", "b"][i % 2] for i in range(rows)]
    table = [
        [column[r] for column in columns] + [target[r]] + [f"row{r}"] * with_id for r in range(rows)
    ]
    exclude = ["id"] if with_id else []
    schema = registration.infer_schema(header, table, "label", exclude=exclude)
    entry = {"sha256": "ab" * 32, "description": "t", "schema": schema}

    document = datapackage.descriptor(entry, "Generated", "v1", "t.csv", 1000)
    datapackage.check(document, "datapackage.json")  # the standard's own JSON Schema
    task = "regression" if regression else "classification"
    back = datapackage.schema_of(as_resource(document), header, table, None, task, (), "t.csv")

    assert yaml.safe_load(yaml.safe_dump(back)) == yaml.safe_load(yaml.safe_dump(schema))


@pytest.mark.parametrize(
    ("change", "field", "problem"),
    [
        (lambda d: d.update(resources=[]), "resources", "is not a valid Data Package"),
        (
            lambda d: d["resources"][0]["schema"]["fields"][0].update(type="strng"),
            "resources/0/schema/fields/0",
            "is not a valid Data Package",
        ),
        (lambda d: d["resources"][0].update(path="../../etc/passwd"), "resources/0/path", ""),
        (
            lambda d: d["resources"][0].update(hash="sha256:" + "0" * 64),
            "resources/0/hash",
            "hashes to sha256:",
        ),
        (
            lambda d: d["resources"][0]["schema"]["fields"][0].update(type="date"),
            "x",
            "holds dates",
        ),
    ],
)
def test_a_bad_descriptor_is_one_message_naming_the_field(tmp_path, change, field, problem):
    repo = tmp_path / "repo"
    (repo / "config").mkdir(parents=True)
    shutil.copy(REPO / "config/datasets.yaml", repo / "config/datasets.yaml")
    (repo / "data").mkdir()
    table = repo / "data/t.csv"
    table.write_text("x,y\n" + "".join(f"{i % 5},{'ab'[i % 2]}\n" for i in range(40)))
    entry = {
        "sha256": registration.sha256_bytes(table.read_bytes()),
        "schema": {"target": "y", "classes": ["a", "b"], "features": {"x": "integer"}},
    }
    document = datapackage.descriptor(entry, "t", "v1", "t.csv", table.stat().st_size)
    change(document)
    descriptor = repo / "data/datapackage.json"
    descriptor.write_text(json.dumps(document))
    with pytest.raises(ReprotrainError) as error:
        registration.register_from_datapackage(
            repo, "config/datasets.yaml", str(descriptor), None, "t", "v1", "y"
        )
    assert error.value.field == field or (
        field == "resources/0/path" and "path" in str(error.value.field)
    )
    assert problem in error.value.problem
    assert "--exclude x" in error.value.fix if problem == "holds dates" else True


def test_a_descriptor_frictionless_wrote_registers_a_table_preprocess_accepts(tmp_path):
    """tests/data/penguins.datapackage.json: `frictionless describe` (5.21.0) of the
    embedded penguins table, as that tool writes it (types inferred from a sample, no
    enum, no sha256): the declared types decide, the whole table gives the categories."""
    repo = tmp_path / "repo"
    (repo / "config").mkdir(parents=True)
    shutil.copy(REPO / "config/datasets.yaml", repo / "config/datasets.yaml")
    (repo / "data/penguins").mkdir(parents=True)
    shutil.copy(REPO / "data/penguins/v1.0/penguins.csv", repo / "data/penguins/penguins.csv")
    shutil.copy(FIXTURES / "penguins.datapackage.json", repo / "data/penguins/datapackage.json")
    done = subprocess.run(
        [str(BIN / "reprotrain"), "add-data", "--from-datapackage",
         "data/penguins/datapackage.json", "--name", "penguins2", "--version", "v1",
         "--target", "species"],
        cwd=repo, capture_output=True, text=True,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    registered = yaml.safe_load((repo / "config/datasets.yaml").read_text())["datasets"]
    ours = registered["penguins"]["v1.0"]["schema"]
    theirs = registered["penguins2"]["v1"]["schema"]
    assert theirs["classes"] == ours["classes"]
    assert theirs["features"]["island"] == ours["features"]["island"]
    assert theirs["features"]["sex"]["categories"] == ours["features"]["sex"]["categories"]
