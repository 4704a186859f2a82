"""Manifests: building, loading, comparing and recording."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from reprotrain import manifest
from reprotrain.errors import ReprotrainError

PROVENANCE = {
    "data": {"name": "d", "version": "v1", "sha256": "0" * 64},
    "code": {"digest": "c" * 64, "git_commit": None, "git_dirty": None},
    "params_digest": "p" * 64,
    "environment": {"python": "3.12.1"},
}


@pytest.fixture
def outputs(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "results").mkdir()
    for name, content in (("a.csv", "1,2\n"), ("b.json", "{}\n")):
        (tmp_path / "results" / name).write_text(content)
    return ["results/a.csv", "results/b.json"]


def test_build_hashes_every_file_with_relative_paths(outputs):
    built = manifest.build(outputs, PROVENANCE)
    assert built["schema_version"] == manifest.SCHEMA_VERSION
    assert sorted(built["files"]) == outputs
    assert built["files"]["results/a.csv"]["size"] == 4


def test_written_manifest_is_canonical_json(outputs, tmp_path):
    first, second = tmp_path / "one.json", tmp_path / "two.json"
    manifest.write(first, manifest.build(outputs, PROVENANCE))
    manifest.write(
        second, manifest.build(list(reversed(outputs)), dict(reversed(PROVENANCE.items())))
    )
    assert first.read_bytes() == second.read_bytes()
    assert str(tmp_path) not in first.read_text()


def test_check_passes_on_identical_files_and_ignores_provenance_only_changes(outputs, tmp_path):
    manifest.write("recorded.json", manifest.build(outputs, PROVENANCE))
    later = dict(PROVENANCE, code={"digest": "c" * 64, "git_commit": "abc", "git_dirty": False})
    manifest.write("run.json", manifest.build(outputs, later))
    manifest.check("run.json", "recorded.json")


def test_check_fails_with_a_table_naming_the_changed_file_and_the_cause(outputs):
    manifest.write("recorded.json", manifest.build(outputs, PROVENANCE))
    Path("results/b.json").write_text('{"x": 1}\n')
    manifest.write("run.json", manifest.build(outputs, dict(PROVENANCE, params_digest="q" * 64)))
    with pytest.raises(ReprotrainError) as error:
        manifest.check("run.json", "recorded.json")
    message = error.value.message
    rows = [line.split() for line in message.splitlines() if line.startswith("results/")]
    assert [row[0] for row in rows] == ["results/b.json"]
    assert "changed since the recorded run: params_digest" in message


def test_unexplained_difference_is_called_nondeterminism(outputs):
    manifest.write("recorded.json", manifest.build(outputs, PROVENANCE))
    Path("results/a.csv").write_text("1,2\n3,4\n")
    manifest.write("run.json", manifest.build(outputs, PROVENANCE))
    with pytest.raises(ReprotrainError, match="nondeterminism"):
        manifest.check("run.json", "recorded.json")


def test_missing_and_unrecorded_files_are_reported(outputs):
    manifest.write("recorded.json", manifest.build(outputs[:1], PROVENANCE))
    manifest.write("run.json", manifest.build(outputs[1:], PROVENANCE))
    with pytest.raises(ReprotrainError) as error:
        manifest.check("run.json", "recorded.json")
    assert "(not recorded)" in error.value.message
    assert "(missing)" in error.value.message


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        (None, "does not exist"),
        ("{not json", "not valid JSON"),
        ('{"schema_version": 99, "files": {}}', "schema version 99"),
        ('{"schema_version": 1, "files": {"x": {"sha256": "zz"}}, "provenance": {}}', "sha256"),
        ('{"schema_version": 1, "files": {}}', "lists no files"),
    ],
    ids=["missing", "malformed", "schema-version", "bad-digest", "empty"],
)
def test_bad_manifests_are_refused_by_name(tmp_path, content, problem):
    path = tmp_path / "manifest.json"
    if content is not None:
        path.write_text(content)
    with pytest.raises(ReprotrainError) as error:
        manifest.load(path, "recorded manifest")
    assert problem in error.value.message
    assert str(path) in error.value.message


def test_record_refuses_a_manifest_that_no_longer_matches_the_disk(outputs):
    manifest.write("results/manifest.json", manifest.build(outputs, PROVENANCE))
    Path("results/a.csv").write_text("edited\n")
    with pytest.raises(ReprotrainError, match="no longer match"):
        manifest.record("results/manifest.json", "config/manifest.json")
    assert not Path("config/manifest.json").exists()


def test_record_copies_a_verified_manifest(outputs):
    manifest.write("results/manifest.json", manifest.build(outputs, PROVENANCE))
    manifest.record("results/manifest.json", "config/manifest.json")
    recorded = json.loads(Path("config/manifest.json").read_text())
    assert recorded == json.loads(Path("results/manifest.json").read_text())
