"""A run proves what it claims by hashing: outputs deleted or changed after a run, even
with their mtimes restored, are made again, and a forged run fails checksum."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest
from helpers import BIN, MODEL, assert_same_manifest, covered_bytes, snakemake

from reprotrain.hashing import sha256_file
from reprotrain.records import manifest


@pytest.fixture
def finished_run(default_run, tmp_path) -> Path:
    return shutil.copytree(default_run, tmp_path / "run", symlinks=True)


def rewrite_keeping_mtime(path: Path, data: bytes) -> None:
    before = path.stat()
    path.write_bytes(data)
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))


def test_a_deleted_output_is_made_again(finished_run, default_run):
    (finished_run / MODEL / "metrics.json").unlink()
    dry = snakemake(finished_run, "--dry-run")
    assert f"missing       {MODEL}/metrics.json" in dry.output
    assert "a run would remove results/manifest.json" in dry.output
    assert (finished_run / "results/manifest.json").exists()
    run = snakemake(finished_run)
    assert "removed results/manifest.json: it is made again" in run.output
    assert covered_bytes(finished_run) == covered_bytes(default_run)
    assert_same_manifest(finished_run, default_run)


def test_a_flipped_byte_with_its_mtime_restored_is_made_again(finished_run, default_run):
    model = finished_run / MODEL / "model.pkl"
    data = model.read_bytes()
    rewrite_keeping_mtime(model, data[:-1] + bytes([data[-1] ^ 1]))
    run = snakemake(finished_run)
    assert f"tampered      {MODEL}/model.pkl: expected " in run.output
    assert covered_bytes(finished_run) == covered_bytes(default_run)
    assert_same_manifest(finished_run, default_run)


def test_a_forged_run_resealed_in_results_fails_checksum(finished_run):
    """Metrics, run manifest (integrity recomputed) and verdict rewritten together, mtimes
    restored: they agree with each other, so only the record in the repository tells."""
    metrics = finished_run / MODEL / "metrics.json"
    values = json.loads(metrics.read_text())
    values["accuracy"] = 1.0
    rewrite_keeping_mtime(metrics, json.dumps(values).encode())
    run_path = finished_run / "results/manifest.json"
    document = json.loads(run_path.read_text())
    document["files"][f"{MODEL}/metrics.json"]["sha256"] = sha256_file(metrics)
    del document["integrity"]
    rewrite_keeping_mtime(
        run_path,
        json.dumps(document | {"integrity": manifest.integrity(document)}).encode(),
    )
    verdict = finished_run / "results/checksum.json"
    claim = {"matches": "config/manifest.json", "run_manifest_sha256": sha256_file(run_path)}
    rewrite_keeping_mtime(verdict, json.dumps(claim).encode())
    # The tools that vouch for a run judge it against the record themselves.
    store = finished_run.parent / "store"
    store.mkdir()
    for tool in (
        ["crate", "--out", str(store / "crate.zip"), "--source", str(finished_run)],
        ["export", "mlflow", "--tracking-uri", f"sqlite:///{store}/mlflow.db"],
    ):
        done = subprocess.run(
            [str(BIN / "reprotrain"), *tool], cwd=finished_run, capture_output=True, text=True
        )
        assert done.returncode == 2, done.stdout + done.stderr
        assert "does not reproduce the record config/manifest.json" in done.stderr
        assert "Traceback" not in done.stderr
    assert list(store.iterdir()) == []
    run = snakemake(finished_run, check=False)
    assert run.returncode != 0
    assert "removed results/checksum.json: it is made again" in run.output
    assert "output(s) differ from the recorded manifest config/manifest.json" in run.output
    assert f"{MODEL}/metrics.json" in run.output
    assert not verdict.exists()


def test_check_hashes_the_files_of_the_last_run(finished_run):
    def check():
        return subprocess.run(
            [str(BIN / "reprotrain"), "check"], cwd=finished_run, capture_output=True, text=True
        )

    assert check().returncode == 0
    metrics = finished_run / MODEL / "metrics.json"
    rewrite_keeping_mtime(metrics, metrics.read_bytes() + b" ")
    done = check()
    assert done.returncode == 2
    assert "results/manifest.json: files: the files on disk no longer match" in done.stderr
    assert f"tampered      {MODEL}/metrics.json" in done.stderr
