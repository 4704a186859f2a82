"""What a new run redoes because the last run's claims no longer hold on disk (by bytes,
never by mtimes): reprotrain.audit.verify.reconcile."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest
from helpers import PROVENANCE

from reprotrain.audit import verify
from reprotrain.hashing import digest_value, sha256_file
from reprotrain.records import manifest

RUN, VERDICT, RECORD = "results/manifest.json", "results/checksum.json", "config/manifest.json"
RECIPES = {
    "results/a.npy": {
        "rule": "make_a",
        "role": "artifact",
        "pattern": "results/a.npy",
        "inputs": {"dataset": {"kind": "data", "sha256": "0" * 64}},
        "params_digest": digest_value({"make_a": {}}),
        "code_digest": digest_value({"make_a": "x"}),
    },
    "results/b.json": {
        "rule": "make_b",
        "role": "record",
        "pattern": "results/b.json",
        "inputs": {"results/a.npy": {"kind": "output"}},
        "params_digest": digest_value({"make_b": {}}),
        "code_digest": digest_value({"make_b": "y"}),
    },
}


def write_run() -> dict:
    document = manifest.build(sorted(RECIPES), RECIPES, PROVENANCE, [RUN, VERDICT])
    manifest.write(RUN, document)
    return document


def write_verdict() -> None:
    Path(VERDICT).write_text(
        json.dumps({"matches": RECORD, "run_manifest_sha256": sha256_file(RUN), "strict": False})
    )


@pytest.fixture
def last_run(tmp_path, monkeypatch) -> dict:
    """A finished run that matched its record: outputs, run manifest, verdict, record."""
    monkeypatch.chdir(tmp_path)
    Path("results").mkdir()
    Path("config").mkdir()
    Path("results/a.npy").write_bytes(b"\x93NUMPY table")
    Path("results/b.json").write_text('{"accuracy": 0.95}\n')
    recorded = write_run()
    manifest.write(RECORD, recorded)
    write_verdict()
    return recorded


def reconcile(recorded):
    return verify.reconcile(RUN, VERDICT, recorded, RECORD)


def test_a_run_whose_files_hold_their_bytes_redoes_nothing(last_run):
    assert reconcile(last_run) == verify.Reconciliation([], [])


def test_nothing_to_check_before_the_first_run(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert reconcile(None) == verify.Reconciliation([], [])


def test_a_missing_output_makes_the_manifest_and_verdict_go(last_run):
    Path("results/b.json").unlink()
    found = reconcile(last_run)
    assert found.remove == [RUN, VERDICT]
    assert found.notes == ["missing       results/b.json"]


def test_a_byte_flipped_with_its_mtime_restored_is_found_and_made_again(last_run):
    path = Path("results/a.npy")
    before = path.stat()
    path.write_bytes(b"\x93NUMPY tablE")
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))
    found = reconcile(last_run)
    assert found.remove == ["results/a.npy", RUN, VERDICT]
    assert found.notes[0].startswith("tampered      results/a.npy: expected ")


def test_a_verdict_for_another_run_manifest_is_redone(last_run):
    Path(VERDICT).write_text(json.dumps({"matches": RECORD, "run_manifest_sha256": "0" * 64}))
    assert reconcile(last_run).remove == [VERDICT]


def test_a_verdict_given_under_another_strictness_is_redone(last_run):
    assert reconcile(last_run).remove == []
    assert verify.reconcile(RUN, VERDICT, last_run, RECORD, strict=True).remove == [VERDICT]


def test_a_verdict_without_its_run_manifest_is_redone(last_run):
    Path(RUN).unlink()
    assert reconcile(last_run).remove == [VERDICT]


def test_a_forged_run_with_a_resealed_manifest_and_verdict_is_compared_again(last_run):
    """Outputs, run manifest (integrity recomputed) and verdict rewritten together in
    results/: all agree with each other, but not with the record the repository holds."""
    Path("results/b.json").write_text('{"accuracy": 1.0}\n')
    write_run()
    write_verdict()
    assert reconcile(last_run).remove == [VERDICT]


def test_an_unreadable_run_manifest_is_made_again(last_run):
    Path(RUN).write_text("{")
    found = reconcile(last_run)
    assert found.remove == [RUN, VERDICT]
    assert "not valid JSON" in found.notes[0]


@pytest.mark.parametrize("kind", ["fifo", "endless"])
def test_a_run_manifest_that_is_a_fifo_or_endless_is_made_again_without_waiting(last_run, kind):
    """A FIFO once hung `snakemake -n` and `reprotrain check`; /dev/zero gave a MemoryError."""
    Path(RUN).unlink()
    if kind == "fifo":
        os.mkfifo(RUN)
    else:  # a device node of /dev/zero's numbers (root may make one)
        os.mknod(RUN, stat.S_IFCHR | 0o600, os.makedev(1, 5))
    found = reconcile(last_run)
    assert found.remove == [RUN, VERDICT]
    assert "not a regular file" in found.notes[0]


def test_a_symlink_out_of_the_directory_is_never_followed_or_removed(last_run, tmp_path):
    outside = tmp_path.parent / "outside.json"
    outside.write_text("secret\n")
    Path("results/b.json").unlink()
    Path("results/b.json").symlink_to(outside)
    found = reconcile(last_run)
    assert found.remove == [RUN, VERDICT]
    assert found.notes == ["outside       results/b.json: leads outside the directory"]
    assert outside.read_text() == "secret\n"
