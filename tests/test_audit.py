"""Audits on real runs: `reprotrain diff` names the cause of every change; `verify` checks disks."""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import zipfile
from pathlib import Path

import numpy as np
import pytest
import yaml
from helpers import (
    BIN,
    COVERED_DEFAULT,
    DATA,
    FIT_LINE,
    MODEL,
    REPO,
    UNSEEDED_DRAW,
    config_override,
    copy_repo,
    plant,
    snakemake,
)

from reprotrain.audit import comparison
from reprotrain.records import manifest

RAW = "data/breast_cancer/v1.0/breast_cancer.csv"


def reprotrain(*args, cwd=REPO, **kwargs):
    return subprocess.run(
        [str(BIN / "reprotrain"), *args], cwd=cwd, capture_output=True, text=True, **kwargs
    )


def diff(a: Path, b: Path) -> tuple[int, dict]:
    done = reprotrain(
        "diff", "--json", str(a / "results/manifest.json"), str(b / "results/manifest.json")
    )
    return done.returncode, json.loads(done.stdout)


def by_path(report: dict) -> dict[str, dict]:
    return {item["path"]: item for item in report["differences"]}


def test_identical_runs_diff_clean(default_run, tmp_path):
    elsewhere = copy_repo(tmp_path / "other")
    snakemake(elsewhere, "results/manifest.json")
    status, report = diff(default_run, elsewhere)
    assert status == comparison.IDENTICAL
    assert report == {
        "status": "identical",
        "reproduced": True,
        "provenance_changes": [],
        "environment_change": None,
        "hardware_change": None,
        "differences": [],
    }


def test_new_data_version_is_classified_as_data(default_run, scratch_repo):
    rows = (scratch_repo / RAW).read_text().splitlines(keepends=True)
    new_raw = scratch_repo / "data/breast_cancer/v1.1/breast_cancer.csv"
    new_raw.parent.mkdir(parents=True)
    new_raw.write_text("".join(rows[:-20]))
    registry = yaml.safe_load((scratch_repo / "config/datasets.yaml").read_text())
    versions = registry["datasets"]["breast_cancer"]
    versions["v1.1"] = dict(
        versions["v1.0"],
        source="data/breast_cancer/v1.1/breast_cancer.csv",
        sha256=hashlib.sha256(new_raw.read_bytes()).hexdigest(),
    )
    (scratch_repo / "config/datasets.yaml").write_text(yaml.safe_dump(registry))
    override = config_override(scratch_repo, "v11", {"dataset": {"version": "v1.1"}})
    snakemake(scratch_repo, "results/manifest.json", *override)
    status, report = diff(default_run, scratch_repo)
    assert status == comparison.EXPLAINED
    assert "data" in report["provenance_changes"]
    found = by_path(report)
    # The version is part of the paths: each output of v1.1 is paired with v1.0's.
    new_data, new_model = (path.replace("/v1.0/", "/v1.1/") for path in (DATA, MODEL))
    for table in ("train.npy", "test.npy", "data.json"):
        assert found[f"{new_data}/{table}"]["causes"] == ["data"], table
        assert found[f"{new_data}/{table}"]["path_in_a"] == f"{DATA}/{table}"
    model = found[f"{new_model}/model.pkl"]
    assert model["causes"] == ["upstream"]
    assert f"{new_data}/train.npy" in model["upstream"]
    assert model["root_causes"] == ["data"]
    assert not [d for d in report["differences"] if d["change"] != "changed"]


@pytest.mark.parametrize("change", ["renamed", "moved"])
def test_same_bytes_under_another_version_or_path_are_data_not_nondeterminism(
    default_run, scratch_repo, change
):
    """The data record names the version and its source: renaming the version, or moving
    the file, with the same bytes changes that record, and diff says data."""
    registry = yaml.safe_load((scratch_repo / "config/datasets.yaml").read_text())
    versions = registry["datasets"]["breast_cancer"]
    args: list[str] = []
    if change == "renamed":
        versions["v1.0-renamed"] = versions.pop("v1.0")
        args = config_override(scratch_repo, "renamed", {"dataset": {"version": "v1.0-renamed"}})
    else:
        moved = "data/breast_cancer/moved.csv"
        shutil.copy(scratch_repo / RAW, scratch_repo / moved)
        versions["v1.0"]["source"] = moved
    (scratch_repo / "config/datasets.yaml").write_text(yaml.safe_dump(registry))
    snakemake(scratch_repo, *args, "--", "results/manifest.json")
    status, report = diff(default_run, scratch_repo)
    assert status == comparison.EXPLAINED, report
    record = f"{DATA}/data.json".replace("/v1.0/", "/v1.0-renamed/" if args else "/v1.0/")
    assert by_path(report)[record]["causes"] == ["data"]
    assert all(item["root_causes"] == ["data"] for item in report["differences"])


def test_a_new_config_is_diffed_by_key_and_recorded_with_the_command_it_is_given(
    default_run, scratch_repo
):
    """A hyperparameter changed in an overlay that writes to its own results directory:
    the checksum gives the exact record command, the diff pairs the two results
    directories and names the key with both values, and the recorded run reruns clean."""
    values = {"results": "results-params", "models": {"hist_gradient_boosting": {"max_iter": 50}}}
    override = config_override(scratch_repo, "params", values)
    first = snakemake(scratch_repo, *override, check=False)
    assert first.returncode != 0
    assert "this run's config is not the one config/manifest.json was recorded for" in first.output
    assert "reprotrain record --run results-params/manifest.json --to <file>" in first.output

    model = f"{MODEL}/model.pkl".replace("results/", "results-params/", 1)
    a, b = default_run / "results/manifest.json", scratch_repo / "results-params/manifest.json"
    text = reprotrain("diff", str(a), str(b))
    assert text.returncode == comparison.EXPLAINED
    assert "params (model.max_iter: 200 -> 50)" in text.stdout
    report = json.loads(reprotrain("diff", "--json", str(a), str(b)).stdout)
    found = by_path(report)
    assert found[model]["causes"] == ["params"]
    assert found[model]["file_in_a"] == f"{MODEL}/model.pkl"
    # Same bytes under both results directories: not listed as data or "only in".
    assert not any(path.endswith(("environment.json", "train.npy")) for path in found)
    assert found[model.replace("model.pkl", "metrics.json")]["root_causes"] == ["params"]

    recorded = reprotrain(
        "record",
        "--run",
        "results-params/manifest.json",
        "--to",
        "config/params-manifest.json",
        cwd=scratch_repo,
    )
    assert recorded.returncode == 0, recorded.stderr
    values["manifest"] = {"expected": "config/params-manifest.json"}
    config_override(scratch_repo, "params", values)
    assert snakemake(scratch_repo, *override).returncode == 0


def test_uncommitted_training_code_edit_is_classified_as_code(default_run, scratch_repo):
    models_py = scratch_repo / "src/reprotrain/ml/models.py"
    models_py.write_text(
        models_py.read_text().replace("PICKLE_PROTOCOL = 5", "PICKLE_PROTOCOL = 4")
    )
    snakemake(scratch_repo, "results/manifest.json")
    status, report = diff(default_run, scratch_repo)
    assert status == comparison.EXPLAINED
    found = by_path(report)
    assert found[f"{MODEL}/model.pkl"]["causes"] == ["code"]
    assert f"{DATA}/train.npy" not in found


@pytest.fixture
def other_setuptools(tmp_path) -> Path:
    """A real, different setuptools release (from virtualenv's embedded wheels), on a path."""
    embedded = sorted(
        (BIN.parent / "lib").glob(
            "python3.12/site-packages/virtualenv/seed/wheels/embed/setuptools-*.whl"
        )
    )
    wheel = next(w for w in embedded if "80.9.0" not in w.name)
    target = tmp_path / "other-setuptools"
    with zipfile.ZipFile(wheel) as archive:
        archive.extractall(target)
    return target


@pytest.mark.pipeline
def test_drifted_environment_stops_the_run(scratch_repo, other_setuptools, monkeypatch):
    monkeypatch.setenv("PYTHONPATH", str(other_setuptools))
    run = snakemake(scratch_repo, check=False)
    assert run.returncode != 0
    assert "envs/requirements.lock: setuptools" in run.output
    assert "has drifted from its lock: setuptools: locked 80.9.0, found" in run.output
    assert not (scratch_repo / "results").exists()


def test_tolerated_drift_is_recorded_and_classified_as_environment(
    default_run, scratch_repo, other_setuptools, monkeypatch
):
    monkeypatch.setenv("PYTHONPATH", str(other_setuptools))
    override = config_override(scratch_repo, "warn", {"environment_drift": "warn"})
    snakemake(scratch_repo, "results/manifest.json", *override)
    environment = json.loads((scratch_repo / "results/environment.json").read_text())
    assert environment["drift"][0]["package"] == "setuptools"
    assert environment["drift"][0]["locked"] == "80.9.0"
    status, report = diff(default_run, scratch_repo)
    assert status == comparison.EXPLAINED
    found = by_path(report)
    assert found["results/environment.json"]["causes"] == ["environment"]
    # The card names the environment record rather than embedding it; the model, which no
    # drifted package touched, is equal too. Only the record of the environment differs.
    assert set(found) == {"results/environment.json"}


@pytest.mark.pipeline
def test_drift_no_model_job_used_does_not_explain_a_random_model(
    tmp_path, other_setuptools, monkeypatch
):
    """A planted unseeded draw makes model.pkl random; a drifted setuptools (which no job
    imports) is tolerated in run B. diff must not relabel the model as environment."""
    runs = {}
    for name in ("a", "b"):
        project = copy_repo(tmp_path / name)
        plant(project, "src/reprotrain/steps/learning.py", FIT_LINE, after=UNSEEDED_DRAW)
        if name == "b":
            monkeypatch.setenv("PYTHONPATH", str(other_setuptools))
        override = config_override(project, "warn", {"environment_drift": "warn"})
        snakemake(project, "results/manifest.json", *override)
        runs[name] = project
    status, report = diff(runs["a"], runs["b"])
    assert status == comparison.UNEXPLAINED
    found = by_path(report)
    assert found["results/environment.json"]["causes"] == ["environment"]
    assert found[f"{MODEL}/model.pkl"]["causes"] == ["nondeterminism"]
    # The card pins the random model's sha256: nothing it is made from changed either.
    unexplained = {path for path, item in found.items() if item["causes"] == ["nondeterminism"]}
    assert unexplained == {f"{MODEL}/model.pkl", f"{MODEL}/model_card.json"}


def test_flipped_output_is_nondeterminism_and_downstream_is_upstream(default_run, tmp_path):
    flipped = shutil.copytree(default_run, tmp_path / "flipped", symlinks=True)
    train = flipped / f"{DATA}/train.npy"
    records = np.load(train)
    records["target"][0] = 1 - records["target"][0]
    np.save(train, records)
    # As if preprocess itself had made other bytes: its run has no manifest yet (else the
    # next run finds the flip and makes train.npy again, test_trust_on_disk), and no record
    # (validate would refuse a model other than the one recorded for this recipe).
    (flipped / "results/manifest.json").unlink()
    (flipped / "config/manifest.json").unlink()
    snakemake(flipped, "results/manifest.json")
    status, report = diff(default_run, flipped)
    assert status == comparison.UNEXPLAINED
    assert report["status"] == "unexplained"
    found = by_path(report)
    assert found[f"{DATA}/train.npy"]["causes"] == ["nondeterminism"]
    assert found[f"{MODEL}/model.pkl"]["causes"] == ["upstream"]
    assert found[f"{MODEL}/model.pkl"]["upstream"] == [f"{DATA}/train.npy"]
    assert [p for p, item in found.items() if item["causes"] == ["nondeterminism"]] == [
        f"{DATA}/train.npy"
    ]
    human = reprotrain(
        "diff", str(default_run / "results/manifest.json"), str(flipped / "results/manifest.json")
    )
    assert human.returncode == comparison.UNEXPLAINED
    assert "!! NONDETERMINISM" in human.stdout
    explained = reprotrain(
        "diff",
        "--explain",
        str(default_run / "results/manifest.json"),
        str(flipped / "results/manifest.json"),
    )
    # diffoscope shows where the bytes of train.npy differ.
    assert f"--- {default_run / DATA / 'train.npy'}" in explained.stdout


def test_verify_names_tampered_missing_and_extra_files(default_run, tmp_path):
    clean = reprotrain(
        "verify", "--root", str(default_run), str(default_run / "results/manifest.json")
    )
    assert clean.returncode == 0, clean.stdout
    assert f"verified: {len(COVERED_DEFAULT)} files" in clean.stdout
    copy = shutil.copytree(default_run, tmp_path / "audited", symlinks=True)
    model = copy / f"{MODEL}/model.pkl"
    model.write_bytes(model.read_bytes()[:-1] + b"\x00")
    (copy / f"{MODEL}/metrics.json").unlink()
    (copy / f"{DATA}/unexpected.csv").write_text("x\n")
    done = reprotrain("verify", "--root", str(copy), str(copy / "results/manifest.json"))
    assert done.returncode == 1
    lines = done.stdout.splitlines()
    assert any(line.startswith("tampered") and f"{MODEL}/model.pkl" in line for line in lines)
    assert f"missing       {MODEL}/metrics.json" in lines
    assert f"extra         {DATA}/unexpected.csv" in lines
    assert not any("checksum.json" in line for line in lines)


def test_verify_refuses_a_tampered_manifest(default_run, tmp_path):
    document = json.loads((default_run / "results/manifest.json").read_text())
    document["files"][f"{MODEL}/model.pkl"]["sha256"] = "0" * 64
    path = tmp_path / "manifest.json"
    manifest.write(path, document)
    done = reprotrain("verify", "--root", str(default_run), str(path))
    assert done.returncode == 2
    assert "integrity" in done.stderr


def test_verify_refuses_a_resealed_manifest_that_points_outside_root(default_run, tmp_path):
    document = json.loads((default_run / "results/manifest.json").read_text())
    document["files"]["../../../../etc/passwd"] = document["files"][f"{MODEL}/model.pkl"]
    del document["integrity"]
    path = tmp_path / "manifest.json"
    manifest.write(path, document | {"integrity": manifest.integrity(document)})
    done = reprotrain("verify", "--root", str(default_run), str(path))
    assert done.returncode == 2
    assert "files.../../../../etc/passwd: is not a relative path" in done.stderr
    assert "passwd" not in done.stdout


def test_verify_does_not_follow_a_symlink_out_of_root(default_run, tmp_path):
    run = shutil.copytree(default_run, tmp_path / "run", symlinks=True)
    metrics = run / MODEL / "metrics.json"
    metrics.unlink()
    metrics.symlink_to("/etc/hostname")
    done = reprotrain("verify", "--root", str(run), str(run / "results/manifest.json"))
    assert done.returncode == 1
    assert f"outside       {MODEL}/metrics.json: leads outside" in done.stdout
    assert "extra" not in done.stdout


def test_diff_of_unreadable_manifest_is_an_error(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text("{")
    done = reprotrain("diff", str(bad), str(bad))
    assert done.returncode == 2
    assert f"{bad}: the manifest A is not valid JSON" in done.stderr
