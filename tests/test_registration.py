"""`reprotrain add-data` infers a schema from the whole table that preprocess accepts
(generated tables, with the traps of sampling: a float or a gap after row 100, codes with
leading zeros), refuses what it cannot decide with one message, and writes the registry
keeping its comments and order."""

from __future__ import annotations

import subprocess

import pytest
import yaml
from helpers import BIN, copy_repo
from hypothesis import given, settings
from hypothesis import strategies as st

from reprotrain import datasets, registration
from reprotrain.datasets import Dataset
from reprotrain.errors import ReprotrainError
from reprotrain.ml import data

KINDS = ("integer", "float", "boolean", "code", "text")


def column_values(kind: str, rows: int, late: bool, gaps: bool) -> list[str]:
    """A column of one kind; ``late``: its telling value comes after row 100."""
    base = {
        "integer": [str(i % 7 - 3) for i in range(rows)],
        "float": [str(i % 5) for i in range(rows)],
        "boolean": ["yes" if i % 3 else "no" for i in range(rows)],
        "code": [f"{i % 4 + 1}" for i in range(rows)],
        "text": [["red", "green", "blue"][i % 3] for i in range(rows)],
    }[kind]
    if kind == "float":  # whole numbers until one value that is not
        base[min(rows - 1, 150 if late else 1)] = "2.5"
    if kind == "code":  # numbers until one written with a leading zero
        base[min(rows - 1, 150 if late else 1)] = "07"
    if gaps:
        base[min(rows - 1, 120 if late else 0)] = "NA"
    return base


@settings(max_examples=25, deadline=None)
@given(
    kinds=st.lists(st.sampled_from(KINDS), min_size=1, max_size=5),
    rows=st.integers(min_value=160, max_value=220),
    late=st.booleans(),
    gaps=st.lists(st.booleans(), min_size=5, max_size=5),
    regression=st.booleans(),
    left_out=st.sets(st.sampled_from(["id", "when"])),
)
def test_what_add_data_infers_preprocess_accepts(kinds, rows, late, gaps, regression, left_out):
    header = [f"c{i}_{kind}" for i, kind in enumerate(kinds)] + ["label", *sorted(left_out)]
    columns = [column_values(kind, rows, late, gap) for kind, gap in zip(kinds, gaps, strict=False)]
    target = [f"{i * 0.37:.2f}" if regression else ["a", "b"][i % 2] for i in range(rows)]
    # What a model cannot take, left out: an identifier and a date.
    kept_out = {"id": [f"row{r}" for r in range(rows)], "when": ["2024-01-02"] * rows}
    table = [
        [column[r] for column in columns] + [target[r]] + [kept_out[n][r] for n in sorted(left_out)]
        for r in range(rows)
    ]

    schema = registration.infer_schema(header, table, "label", exclude=sorted(left_out))
    assert schema.get("ignore", []) == sorted(left_out)

    for name, kind in zip(header, kinds, strict=False):
        entry = schema["features"][name]
        declared = entry if isinstance(entry, str) else entry["type"]
        expected = {"code": "categorical", "text": "categorical"}.get(kind, kind)
        assert declared == expected, (name, entry)
    assert ("task" in schema) == regression
    csv = "\n".join(",".join(row) for row in [header, *table]) + "\n"
    dataset = Dataset(
        name="generated",
        version="v1",
        kind="file",
        schema=datasets.table_schema(_as_registry(schema), "registry.yaml", "schema"),
        source="generated.csv",
        sha256="0" * 64,
    )
    frame = data.read_raw_table("generated.csv", dataset, "registry.yaml", csv.encode())
    assert len(frame) == rows


def _as_registry(schema: dict) -> dict:
    """The schema as the registry loader reads it back (YAML round trip)."""
    return yaml.safe_load(yaml.safe_dump(schema))


@pytest.mark.parametrize(
    ("header", "rows", "target", "field", "problem"),
    [
        (["d", "y"], [["2024-01-02", "a"], ["2024-01-03", "b"]], "y", "d", "holds dates"),
        (["e", "y"], [["", "a"], ["NA", "b"]], "y", "e", "holds no value at all"),
        (["x", "y"], [["1", "a"], ["2", ""]], "y", "y", "the target is missing in 1 row"),
        (
            ["x", "y"],
            [[str(i), str(i)] for i in range(30)],
            "y",
            "y",
            "30 distinct whole numbers: classes or a quantity?",
        ),
        (
            ["id", "y"],
            [[f"row{i}", "ab"[i % 2]] for i in range(120)],
            "y",
            "id",
            "an identifier or free text",
        ),
        (["x", "y"], [["1", "a"]], "z", "--target", "names no column (z)"),
    ],
)
def test_what_cannot_be_decided_is_one_message(header, rows, target, field, problem):
    with pytest.raises(ReprotrainError) as error:
        registration.infer_schema(header, rows, target, where="data/t.csv")
    assert error.value.field == field
    assert problem in error.value.problem
    if field not in {target, "--target"}:  # a feature column can be left out
        assert f"--exclude {field}" in error.value.fix


@pytest.mark.pipeline
def test_a_new_table_goes_from_csv_to_a_recorded_clean_run(tmp_path):
    """add-data, the overlay it prints, the README's record command, a clean rerun; the
    registry keeps every comment and line it had."""
    from helpers import snakemake

    repo = copy_repo(tmp_path / "repo")
    (repo / "data/cars/v1").mkdir(parents=True)
    lines = ["name,mpg,cylinders,origin,code,turbo"]
    for i in range(240):
        mpg = "NA" if i % 37 == 0 else f"{10 + (i * 7919) % 300 / 10:.1f}"
        origin = ["USA", "Europe", "Japan"][i % 3]  # learnable: the cylinders say it
        turbo = "yes" if i % 2 else "no"
        lines.append(f"car {i},{mpg},{4 + 2 * (i % 3)},{origin},0{i % 3 + 1},{turbo}")
    (repo / "data/cars/v1/cars.csv").write_text("\n".join(lines) + "\n")
    before = (repo / "config/datasets.yaml").read_text()

    added = subprocess.run(
        [str(BIN / "reprotrain"), "add-data", "data/cars/v1/cars.csv", "--name", "cars",
         "--version", "v1", "--target", "origin", "--exclude", "name"],
        cwd=repo, capture_output=True, text=True,
    )  # fmt: skip

    assert added.returncode == 0, added.stderr
    after = (repo / "config/datasets.yaml").read_text()
    assert after.startswith(before)  # only added, comments and layout kept
    entry = yaml.safe_load(after)["datasets"]["cars"]["v1"]
    assert entry["schema"]["features"]["code"] == {
        "type": "categorical",
        "categories": ["01", "02", "03"],
    }
    assert entry["schema"]["features"]["mpg"] == {"type": "float", "missing": "impute"}
    assert entry["schema"]["ignore"] == ["name"]  # the car's name: read, never learned from
    overlay = added.stdout.split("an overlay that runs it:\n", 1)[1]
    (repo / "config/cars.yaml").write_text(overlay)
    args = ["--configfile", "config/config.yaml", "config/cars.yaml"]
    first = snakemake(repo, *args, check=False)
    assert "no record exists for this run's config yet" in first.output, first.output[-3000:]
    record = subprocess.run(
        [str(BIN / "reprotrain"), "record", "--run", "results-cars/manifest.json", "--to",
         "config/cars-manifest.json"],
        cwd=repo, capture_output=True, text=True,
    )  # fmt: skip
    assert record.returncode == 0, record.stderr
    # The first rerun after `record` only compares (the checksum had failed for want of
    # a record); nothing the record does not change is made again.
    clean = snakemake(repo, *args)
    ran = {line.split()[-1].rstrip(":") for line in clean.output.splitlines() if "rule " in line}
    assert ran - {"all"} == {"checksum"}, clean.output[-3000:]
    assert "Nothing to be done" in snakemake(repo, *args).output
    again = subprocess.run(
        [str(BIN / "reprotrain"), "add-data", "data/cars/v1/cars.csv", "--name", "cars",
         "--version", "v1", "--target", "origin", "--exclude", "name"],
        cwd=repo, capture_output=True, text=True,
    )  # fmt: skip
    assert again.returncode == 2 and "is registered already" in again.stderr
