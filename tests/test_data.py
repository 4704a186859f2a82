"""Raw data: sha256 verification, schema validation, seeded generation and splitting."""

from __future__ import annotations

import copy
import dataclasses

import pandas as pd
import pytest
import yaml
from helpers import REPO
from hypothesis import given, settings
from hypothesis import strategies as st

from reprotrain.datasets import resolve
from reprotrain.errors import ReprotrainError
from reprotrain.hashing import sha256_file
from reprotrain.ml import data, tables

RAW = REPO / "data/breast_cancer/v1.0/breast_cancer.csv"


@pytest.fixture(scope="module")
def registry():
    return yaml.safe_load((REPO / "config/datasets.yaml").read_text())


@pytest.fixture(scope="module")
def breast_cancer(registry):
    return resolve(registry, "breast_cancer", "v1.0", "config/datasets.yaml")


@pytest.fixture(scope="module")
def synthetic(registry):
    return resolve(registry, "synthetic", "v1", "config/datasets.yaml")


def test_embedded_data_matches_its_registry_entry(breast_cancer):
    content = data.read_verified(RAW, breast_cancer, "config/datasets.yaml")
    assert content.read() == RAW.read_bytes()
    content.seek(0)
    frame = data.read_raw_table(RAW, breast_cancer, "config/datasets.yaml", content)
    assert frame.shape == (569, 31)


def test_the_bytes_verified_are_the_bytes_parsed(tmp_path, breast_cancer, monkeypatch):
    """The raw file swapped between its check and its parse (the race an audit won on the
    first try): the parse still sees the verified bytes."""
    raw = tmp_path / "raw.csv"
    raw.write_bytes(RAW.read_bytes())
    original = data.read_raw_table(RAW, breast_cancer, "config/datasets.yaml")
    lines = RAW.read_bytes().splitlines(keepends=True)
    swapped = b"".join([lines[0], *lines[2:], lines[1]])  # same header, rows reordered
    real_read_csv = data.pd.read_csv

    def swapping_read_csv(*args, **kwargs):
        raw.write_bytes(swapped)
        return real_read_csv(*args, **kwargs)

    content = data.read_verified(raw, breast_cancer, "config/datasets.yaml")
    monkeypatch.setattr(data.pd, "read_csv", swapping_read_csv)
    frame = data.read_raw_table(raw, breast_cancer, "config/datasets.yaml", content)
    assert raw.read_bytes() == swapped
    assert frame.equals(original)


def test_sha256_mismatch_names_both_hashes_and_the_registry_entry(tmp_path, breast_cancer):
    tampered = tmp_path / "raw.csv"
    tampered.write_bytes(RAW.read_bytes() + b"\n")
    with pytest.raises(ReprotrainError) as error:
        data.read_verified(tampered, breast_cancer, "config/datasets.yaml")
    message = error.value.message
    assert f"expected {breast_cancer.sha256}" in message
    assert f"actual {sha256_file(tampered)}" in message
    assert "datasets.breast_cancer" in message


def test_missing_raw_file_is_named(tmp_path, breast_cancer):
    with pytest.raises(ReprotrainError, match="does not exist"):
        data.read_verified(tmp_path / "nope.csv", breast_cancer, "config/datasets.yaml")


def write_variant(tmp_path, mutate) -> str:
    frame = pd.read_csv(RAW, float_precision="round_trip")
    path = tmp_path / "variant.csv"
    mutate(frame).to_csv(path, index=False)
    return str(path)


@pytest.mark.parametrize(
    ("mutate", "expected_column"),
    [
        (lambda f: f.drop(columns=["target"]), "target"),
        (lambda f: f.drop(columns=["mean_radius"]), "mean_radius"),
        (lambda f: f.assign(extra=1.0), "extra"),
        (lambda f: f.assign(mean_radius=float("nan")), "mean_radius"),
        (lambda f: f.assign(mean_area=float("inf")), "mean_area"),
        (lambda f: f.assign(mean_texture="abc"), "mean_texture"),
        (lambda f: f.assign(target=3), "target"),
    ],
    ids=["no-target", "missing-feature", "extra-column", "nan", "inf", "non-numeric", "bad-class"],
)
def test_schema_violations_name_the_column(tmp_path, breast_cancer, mutate, expected_column):
    path = write_variant(tmp_path, mutate)
    with pytest.raises(ReprotrainError) as error:
        data.read_raw_table(path, breast_cancer, "config/datasets.yaml")
    assert error.value.file == path
    assert expected_column in error.value.message
    assert "datasets.breast_cancer.v1.0.schema" in error.value.fix


def test_single_class_is_refused(tmp_path, breast_cancer):
    path = write_variant(tmp_path, lambda f: f[f.target == 1])
    with pytest.raises(ReprotrainError, match="at least two classes"):
        data.read_raw_table(path, breast_cancer, "config/datasets.yaml")


def test_header_only_and_empty_files_are_refused(tmp_path, breast_cancer):
    header_only = tmp_path / "header.csv"
    header_only.write_text(RAW.read_text().splitlines()[0] + "\n")
    with pytest.raises(ReprotrainError, match="no rows"):
        data.read_raw_table(header_only, breast_cancer, "config/datasets.yaml")
    empty = tmp_path / "empty.csv"
    empty.write_bytes(b"")
    with pytest.raises(ReprotrainError, match="is empty"):
        data.read_raw_table(empty, breast_cancer, "config/datasets.yaml")


def test_synthetic_generation_is_a_function_of_rows_and_seed(synthetic):
    first, first_sha256 = data.generate_synthetic(synthetic, 500)
    second, second_sha256 = data.generate_synthetic(synthetic, 500)
    _, other_sha256 = data.generate_synthetic(synthetic, 501)
    assert first.equals(second)
    assert first_sha256 == second_sha256
    assert other_sha256 != first_sha256
    assert list(first.columns) == [*synthetic.schema.features, "target"]
    data.encode_table(first, synthetic, "generated", "config/datasets.yaml")


def test_a_generator_that_breaks_its_schema_is_named(registry):
    edited = copy.deepcopy(registry)
    edited["datasets"]["synthetic"]["v1"]["schema"]["classes"] = [0, 2]
    narrowed = resolve(edited, "synthetic", "v1", "config/datasets.yaml")
    frame, _ = data.generate_synthetic(narrowed, 200)
    refused = r"line 4: 1 is not one of the classes \['0', '2'\]"
    with pytest.raises(ReprotrainError, match=refused) as raised:
        data.encode_table(frame, narrowed, "config/datasets.yaml: synthetic v1", "registry")
    assert raised.value.field == "target"


def test_split_is_seeded_stratified_and_round_trips_exactly(tmp_path, breast_cancer):
    frame = data.read_raw_table(RAW, breast_cancer, "config/datasets.yaml")
    schema = breast_cancer.schema
    train, test = data.split(frame, schema, 0.25, seed=42, origin="t.csv")
    again_train, _ = data.split(frame, schema, 0.25, seed=42, origin="t.csv")
    other_train, _ = data.split(frame, schema, 0.25, seed=43, origin="t.csv")
    assert train.equals(again_train)
    assert not train.equals(other_train)
    assert len(test) == 143
    assert abs(train.target.mean() - frame.target.mean()) < 0.01
    path = tmp_path / "train.npy"
    tables.write_table(train, path)
    features, target = tables.read_table(path, schema)
    pd.testing.assert_frame_equal(features, train.drop(columns=["target"]), check_exact=True)
    assert target.tolist() == train.target.tolist()


@settings(max_examples=60, deadline=None)
@given(
    position=st.integers(min_value=0, max_value=len(RAW.read_bytes()) - 1),
    control=st.sampled_from([*range(0, 9), 11, 12, *range(14, 32), 127]),
)
def test_a_control_character_is_refused_by_its_line_and_column(
    tmp_path_factory, breast_cancer, position, control
):
    """Wherever a control character is (a NUL inside a cell once trained as 17.9), the
    registered bytes are refused naming its line and column, counted as an editor does."""
    content = RAW.read_bytes()
    planted = content[:position] + bytes([control]) + content[position:]
    raw = tmp_path_factory.mktemp("control") / "raw.csv"
    raw.write_bytes(planted)
    registered = dataclasses.replace(breast_cancer, sha256=sha256_file(raw))
    with pytest.raises(ReprotrainError) as error:
        data.read_verified(raw, registered, "config/datasets.yaml")
    before = content[:position]
    line = before.count(b"\n") + 1
    column = position - (before.rfind(b"\n") + 1) + 1
    assert error.value.field == f"line {line}, column {column}"
    assert repr(bytes([control])) in error.value.problem


LARGER_THAN_MEMORY = """
import dataclasses, resource, sys
from reprotrain.datasets import resolve
from reprotrain.errors import ReprotrainError
from reprotrain.ml import data
import yaml

raw, digest, registry_file = sys.argv[1:]
entry = resolve(yaml.safe_load(open(registry_file)), "breast_cancer", "v1.0", "r")
entry = dataclasses.replace(entry, sha256=digest)
# The address space the process has now, plus 96 MiB: less than the table.
used = int(open("/proc/self/statm").read().split()[0]) * resource.getpagesize()
limit = used + 96 * 1024 * 1024
resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
verified = data.read_verified(raw, entry, "r")
print("verified", flush=True)
try:
    data.read_raw_table(raw, entry, "r", verified)
except ReprotrainError as error:
    print(error.problem)
"""


def test_a_table_larger_than_memory_is_hashed_in_a_stream_and_refused_clearly(tmp_path):
    """A 160 MiB table under a memory limit 96 MiB above the interpreter's needs: its
    sha256 is verified in a stream (the verified copy spills to a temporary file), and a
    parse that cannot fit is one message, not a MemoryError traceback."""
    import subprocess
    import sys

    raw = tmp_path / "big.csv"
    lines = RAW.read_bytes().splitlines(keepends=True)
    with raw.open("wb") as handle:
        handle.write(lines[0])
        body = b"".join(lines[1:])
        while handle.tell() < 160 * 1024 * 1024:
            handle.write(body)
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            LARGER_THAN_MEMORY,
            raw,
            sha256_file(raw),
            REPO / "config/datasets.yaml",
        ],
        capture_output=True,
        text=True,
        env={"TMPDIR": str(tmp_path), "PATH": "/usr/bin:/bin"},
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [
        "verified",
        "the parsed table does not fit in this job's memory",
    ]


def test_a_table_ten_thousand_columns_wide_is_checked_split_stored_and_read(tmp_path):
    """numpy's default header bound stopped split tables past about 416 columns; the bound
    now follows the schema's width."""
    width = 10_000
    names = [f"feature_{index:05d}" for index in range(width)]
    rows = 40
    lines = [",".join([*names, "target"])]
    lines += [
        ",".join([*(f"{(r * 7 + c) % 13}.5" for c in range(width)), str(r % 2)])
        for r in range(rows)
    ]
    raw = tmp_path / "wide.csv"
    raw.write_text("\n".join(lines) + "\n")
    registry = {
        "datasets": {
            "wide": {
                "v1": {
                    "kind": "file",
                    "source": "wide.csv",
                    "sha256": sha256_file(raw),
                    "schema": {"target": "target", "classes": [0, 1], "features": names},
                }
            }
        }
    }
    dataset = resolve(registry, "wide", "v1", "r")
    frame = data.read_raw_table(raw, dataset, "r", data.read_verified(raw, dataset, "r"))
    train, _ = data.split(frame, dataset.schema, 0.25, seed=1, origin="wide.csv")
    path = tmp_path / "train.npy"
    tables.write_table(train, path)
    features, target = tables.read_table(path, dataset.schema)
    assert features.shape == (30, width)
    assert target.tolist() == [int(label) for label in train.target]


def test_a_tmpdir_without_room_for_the_verified_copy_is_named(tmp_path, breast_cancer):
    """A large table is copied to TMPDIR as it is hashed: a TMPDIR that fills up is named
    as what failed, not the raw file."""
    import subprocess

    small = tmp_path / "tmp"
    small.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(small)], capture_output=True
    )
    assert mounted.returncode == 0, "mounting a tmpfs needs root"
    raw = tmp_path / "big.csv"
    body = b"".join(RAW.read_bytes().splitlines(keepends=True)[1:])
    raw.write_bytes(RAW.read_bytes() + body * (data.IN_MEMORY_LIMIT // len(body) + 1))
    entry = dataclasses.replace(breast_cancer, sha256=sha256_file(raw))
    try:
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(data.tempfile, "tempdir", str(small))
            with pytest.raises(ReprotrainError) as refused:
                data.read_verified(raw, entry, "config/datasets.yaml")
    finally:
        subprocess.run(["umount", "-l", str(small)], check=False)
    assert refused.value.file.startswith(f"{small} (TMPDIR, the verified copy of {raw})")
    assert "No space left on device" in refused.value.problem
    assert "tmpdir" in refused.value.fix
