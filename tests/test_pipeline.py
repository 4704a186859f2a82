"""End-to-end runs of the default pipeline: bit-identity, no-op reruns, loud failures."""

from __future__ import annotations

import shutil

import pytest
from helpers import (
    COVERED_DEFAULT,
    DATA,
    LOGS_OF_RUN,
    MODEL,
    config_override,
    copy_repo,
    covered_bytes,
    read_json,
    snakemake,
)


def test_default_run_matches_the_recorded_manifest(default_run):
    recorded = read_json(default_run / "config/manifest.json")
    run = read_json(default_run / "results/manifest.json")
    assert sorted(run["files"]) == sorted(COVERED_DEFAULT)
    assert run["files"] == recorded["files"]
    assert read_json(default_run / "results/checksum.json")["matches"] == "config/manifest.json"


def test_manifest_records_provenance(default_run):
    provenance = read_json(default_run / "results/manifest.json")["provenance"]
    assert provenance["data"] == {
        "breast_cancer/v1.0": {
            "kind": "file",
            "source": "data/breast_cancer/v1.0/breast_cancer.csv",
            "rows": None,
            "sha256": "9b9e3a2fe53a2264f7e756aff00ab883450186c47bfb2027b4d90ca51d23347d",
        }
    }
    assert set(provenance["code"]) == {"digest", "git_commit", "git_dirty"}
    assert len(provenance["params_digest"]) == 64
    environment = provenance["environment"]
    assert environment["lock"]["path"] == "envs/requirements.lock"
    assert environment["python"]["version"].startswith("3.12.")
    assert environment["packages"]["scikit-learn"] == "1.7.2"


def test_every_job_log_is_complete_although_jobs_skip_the_interpreter_teardown(default_run):
    # A job ends with os._exit after flushing the log (steps.job; benchmarks/README.md).
    logs = default_run / "logs"
    # Each step says first which warm worker it was forked from (reprotrain.steps.worker).
    forked = "INFO reprotrain.steps.job: step forked from warm worker "
    train = (logs / "train/breast_cancer/v1.0/seed-42/hist_gradient_boosting.log").read_text()
    assert train.startswith(forked)
    trained = "INFO reprotrain.steps.learning: trained HistGradientBoostingClassifier"
    assert train.splitlines()[1].startswith(trained)
    validate = (logs / "validate/breast_cancer/v1.0/seed-42/hist_gradient_boosting.log").read_text()
    assert validate.startswith(forked)
    assert validate.splitlines()[1].startswith(
        "INFO reprotrain.steps.learning: metrics: {'accuracy': "
    )
    preprocess = (logs / "preprocess/breast_cancer/v1.0/seed-42.log").read_text().splitlines()
    assert preprocess[-1] == "INFO reprotrain.steps.learning: split into 426 train / 143 test rows"


def test_rerun_is_a_no_op(default_run):
    run = snakemake(default_run)
    assert "Nothing to be done" in run.output


def test_two_runs_from_clean_are_byte_identical(default_run, tmp_path):
    first = covered_bytes(default_run)
    again = shutil.copytree(default_run, tmp_path / "again", symlinks=True)
    shutil.rmtree(again / "results")
    shutil.rmtree(again / ".snakemake")
    snakemake(again)
    assert covered_bytes(again) == first


def test_run_from_another_path_is_byte_identical(default_run, tmp_path):
    elsewhere = copy_repo(tmp_path / "a" / "much" / "deeper" / "clone")
    snakemake(elsewhere)
    assert covered_bytes(elsewhere) == covered_bytes(default_run)


def test_one_core_and_two_cores_give_the_same_bytes(default_run, tmp_path):
    single = copy_repo(tmp_path / "single-core")
    snakemake(single, cores=1)
    assert "1 thread(s)" in (single / LOGS_OF_RUN["train"]).read_text()
    assert "2 thread(s)" in (default_run / LOGS_OF_RUN["train"]).read_text()
    assert covered_bytes(single) == covered_bytes(default_run)


def test_an_output_made_with_other_bytes_fails_checksum_naming_the_file(default_run, tmp_path):
    """As if validate had written other metrics: its run has no manifest yet (an output
    changed after its run's manifest is made again instead: test_trust_on_disk)."""
    edited = shutil.copytree(default_run, tmp_path / "edited", symlinks=True)
    metrics = edited / f"{MODEL}/metrics.json"
    metrics.write_text(metrics.read_text().replace('"accuracy": 0.', '"accuracy": 1.'))
    (edited / "results/manifest.json").unlink()
    run = snakemake(edited, check=False)
    assert run.returncode != 0
    assert "Error in rule checksum" in run.output
    table_rows = [line for line in run.output.splitlines() if line.startswith("results/")]
    # The table is printed once by the rule and once more from its log: the edited file,
    # which nothing it depends on explains.
    causes = {row.split()[0]: row.split()[1] for row in table_rows}
    assert causes == {f"{MODEL}/metrics.json": "NOTHING"}
    assert not (edited / "results/checksum.json").exists()


@pytest.mark.pipeline
def test_tampered_raw_data_is_refused_before_use(scratch_repo):
    raw = scratch_repo / "data/breast_cancer/v1.0/breast_cancer.csv"
    raw.write_bytes(raw.read_bytes().replace(b"17.99", b"17.98", 1))
    run = snakemake(scratch_repo, check=False)
    assert run.returncode != 0
    assert "data/breast_cancer/v1.0/breast_cancer.csv: sha256: content does not match" in run.output
    assert "expected 9b9e3a2fe53a2264f7e756aff00ab883450186c47bfb2027b4d90ca51d23347d" in run.output
    assert "datasets.breast_cancer" in run.output
    assert not (scratch_repo / DATA).exists() or not any((scratch_repo / DATA).iterdir())
    assert not (scratch_repo / MODEL).exists()


@pytest.mark.pipeline
def test_missed_threshold_fails_validate_and_leaves_no_metrics(scratch_repo):
    strict = config_override(scratch_repo, "strict", {"thresholds": {"min_accuracy": 0.999}})
    run = snakemake(scratch_repo, *strict, check=False)
    assert run.returncode != 0
    assert "thresholds.min_accuracy" in run.output
    # It names the run that missed, the file that set the bar, this dataset's own key
    # and how a sweep lets its other runs finish.
    assert (
        "config/strict.yaml: thresholds.min_accuracy: breast_cancer v1.0, seed 42, "
        "hist_gradient_boosting misses its quality thresholds"
    ) in run.output
    assert "`thresholds.by_dataset.breast_cancer.<key>` in your overlay" in run.output
    assert "--keep-going" in run.output
    assert not (scratch_repo / f"{MODEL}/metrics.json").exists()


@pytest.mark.pipeline
def test_synthetic_dataset_runs_and_is_covered(scratch_repo):
    config = config_override(
        scratch_repo, "synthetic", {"dataset": {"name": "synthetic", "version": "v1", "rows": 3000}}
    )
    snakemake(scratch_repo, "results/manifest.json", *config)
    manifest = read_json(scratch_repo / "results/manifest.json")
    split = "results/runs/synthetic/v1/seed-42/data"
    assert f"{split}/train.npy" in manifest["files"]
    record = read_json(scratch_repo / f"{split}/data.json")
    assert record["kind"] == "synthetic" and record["rows"] == 3000
    assert len(record["sha256"]) == 64
    # Generated inside preprocess: no raw table is written and read back.
    assert not (scratch_repo / "results/raw").exists()
    assert manifest["provenance"]["data"]["synthetic/v1"]["rows"] == 3000
    model = MODEL.replace("/breast_cancer/v1.0/", "/synthetic/v1/")
    metrics = read_json(scratch_repo / f"{model}/metrics.json")
    assert metrics["n_test"] == 750
