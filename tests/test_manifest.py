"""Manifests: building, loading, integrity and recording."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from helpers import PROVENANCE

from reprotrain import fileio
from reprotrain.errors import ReprotrainError
from reprotrain.hashing import digest_value
from reprotrain.records import manifest

RECIPES = {
    "results/a.csv": {
        "rule": "make_a",
        "role": "artifact",
        "pattern": "results/a.csv",
        "inputs": {"dataset": {"kind": "data", "sha256": "0" * 64}},
        "params_digest": digest_value({"make_a": {}}),
        "code_digest": digest_value({"make_a": "x"}),
    },
    "results/b.json": {
        "rule": "make_b",
        "role": "record",
        "pattern": "results/b.json",
        "inputs": {"results/a.csv": {"kind": "output"}, "lock.txt": {"kind": "environment"}},
        "params_digest": digest_value({"make_b": {}}),
        "code_digest": digest_value({"make_b": "y"}),
    },
}


@pytest.fixture
def outputs(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "results").mkdir()
    (tmp_path / "results/a.csv").write_text("1,2\n")
    (tmp_path / "results/b.json").write_text("{}\n")
    (tmp_path / "lock.txt").write_text("numpy==2.3.5\n")
    return sorted(RECIPES)


def build(paths=None, provenance=PROVENANCE):
    return manifest.build(paths or sorted(RECIPES), RECIPES, provenance, ["results/manifest.json"])


def test_build_records_hashes_recipes_and_input_hashes(outputs):
    built = build()
    assert built["schema_version"] == manifest.SCHEMA_VERSION
    entry = built["files"]["results/b.json"]
    assert entry["rule"] == "make_b"
    assert entry["size"] == 3
    assert entry["inputs"]["results/a.csv"]["sha256"] == built["files"]["results/a.csv"]["sha256"]
    assert entry["inputs"]["lock.txt"]["kind"] == "environment"
    assert built["integrity"] == manifest.integrity(built)
    assert manifest.inconsistencies(built) == []


def test_written_manifest_is_canonical_json(outputs, tmp_path):
    first, second = tmp_path / "one.json", tmp_path / "two.json"
    manifest.write(first, build())
    manifest.write(second, build(list(reversed(outputs)), dict(reversed(PROVENANCE.items()))))
    assert first.read_bytes() == second.read_bytes()
    assert str(tmp_path) not in first.read_text()
    assert manifest.load(first, "run manifest")["files"].keys() == set(outputs)


def test_edited_entry_breaks_integrity(outputs, tmp_path):
    document = build()
    document["files"]["results/a.csv"]["sha256"] = "f" * 64
    path = tmp_path / "tampered.json"
    path.write_text(json.dumps(document))
    with pytest.raises(ReprotrainError) as error:
        manifest.load(path, "recorded manifest")
    assert error.value.field == "integrity"
    assert "modified after it was written" in error.value.message


def test_inconsistent_input_hash_is_reported(outputs):
    document = build()
    document["files"]["results/b.json"]["inputs"]["results/a.csv"]["sha256"] = "e" * 64
    problems = manifest.inconsistencies(document)
    assert len(problems) == 1
    assert problems[0].startswith("results/b.json: made from results/a.csv")


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        (None, "does not exist"),
        ("{not json", "not valid JSON"),
        ('{"schema_version": 99, "files": {}}', "schema version 99"),
        ('{"schema_version": 6, "files": {"x": {"sha256": "zz"}}}', "not a sha256"),
        ('{"schema_version": 6, "files": {}}', "lists no files"),
        ("[1, 2]", "not a JSON object"),
        ('{"schema_version": 6, "files": {"../../../../etc/passwd": {}}}', "not a relative path"),
        ('{"schema_version": 6, "files": {"/etc/hostname": {}}}', "not a relative path"),
        ('{"schema_version": 6, "files": {"": {}}}', "not a relative path"),
        ('{"schema_version": 6, "files": {"x": {"size": NaN}}}', "NaN is not a JSON number"),
        ("[" * 100_000 + "]" * 100_000, "nested too deeply"),
        (b"\xff\xfe{}", "not valid JSON"),
    ],
    ids=[
        "missing",
        "malformed",
        "schema-version",
        "bad-digest",
        "empty",
        "not-an-object",
        "parent-path",
        "absolute-path",
        "empty-path",
        "nan",
        "deep-nesting",
        "not-utf8",
    ],
)
def test_bad_manifests_are_refused_by_name(tmp_path, content, problem):
    path = tmp_path / "manifest.json"
    if isinstance(content, bytes):
        path.write_bytes(content)
    elif content is not None:
        path.write_text(content)
    with pytest.raises(ReprotrainError) as error:
        manifest.load(path, "recorded manifest")
    assert problem in error.value.message
    assert str(path) in error.value.message


def test_record_refuses_a_manifest_that_no_longer_matches_the_disk(outputs):
    manifest.write("results/manifest.json", build())
    Path("results/a.csv").write_text("edited\n")
    with pytest.raises(ReprotrainError, match="no longer match"):
        manifest.record("results/manifest.json", "config/manifest.json")
    assert not Path("config/manifest.json").exists()


def test_record_copies_a_verified_manifest_byte_for_byte(outputs):
    manifest.write("results/manifest.json", build())
    manifest.record("results/manifest.json", "config/manifest.json")
    assert Path("config/manifest.json").read_bytes() == Path("results/manifest.json").read_bytes()


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("environment", 5),
        ("data", ["d/v1"]),
        ("params_digest", None),
        ("code", "abc"),
    ],
)
def test_a_provenance_of_the_wrong_type_is_refused_by_name(outputs, tmp_path, field, value):
    document = build(provenance=PROVENANCE | {field: value})
    del document["integrity"]
    path = tmp_path / "manifest.json"
    manifest.write(path, document | {"integrity": manifest.integrity(document)})
    with pytest.raises(ReprotrainError) as error:
        manifest.load(path, "run manifest")
    assert error.value.field == f"provenance.{field}"


def test_hardware_of_the_wrong_type_is_refused_by_name(outputs, tmp_path):
    environment = PROVENANCE["environment"] | {"hardware": {"blas": [1]}}
    document = build(provenance=PROVENANCE | {"environment": environment})
    path = tmp_path / "manifest.json"
    manifest.write(path, document)
    with pytest.raises(ReprotrainError) as error:
        manifest.load(path, "run manifest")
    assert error.value.field == "provenance.environment.hardware.blas.0"


@pytest.mark.parametrize(
    ("edit", "field"),
    [
        (lambda d: d["files"]["results/a.csv"].update(role="result"), "files.results/a.csv.role"),
        (
            lambda d: d["provenance"]["environment"].update(python="3.12.1"),
            "provenance.environment.python",
        ),
    ],
    ids=["unknown role", "interpreter as a bare version"],
)
def test_a_role_or_interpreter_audits_cannot_read_is_refused_by_name(
    outputs, tmp_path, edit, field
):
    document = json.loads(json.dumps(build()))
    edit(document)
    path = tmp_path / "manifest.json"
    del document["integrity"]
    manifest.write(path, document | {"integrity": manifest.integrity(document)})
    with pytest.raises(ReprotrainError) as error:
        manifest.load(path, "run manifest")
    assert error.value.field == field


def test_a_remembered_type_check_is_of_the_very_bytes_parsed(outputs, tmp_path, monkeypatch):
    """With a memo, the manifest is still read once, and a verdict remembered for good
    bytes never stands for other ones."""
    from reprotrain import memo

    remember = memo.Memo(tmp_path / "memo.json", salt="s")
    path = tmp_path / "manifest.json"
    manifest.write(path, build())
    reads = []
    real = fileio.open_file
    monkeypatch.setattr(fileio, "open_file", lambda p, **kw: reads.append(p) or real(p, **kw))
    for _ in range(2):
        manifest.load(path, "run manifest", remember=remember)
    assert reads.count(path) == 2  # once per load, the remembered check included
    document = json.loads(json.dumps(build()))
    document["files"]["results/a.csv"]["size"] = "3"
    del document["integrity"]
    manifest.write(path, document | {"integrity": manifest.integrity(document)})
    with pytest.raises(ReprotrainError) as error:
        manifest.load(path, "run manifest", remember=remember)
    assert error.value.field == "files.results/a.csv.size"
