"""The run as a Provenance Run Crate: valid for rocrate-validator (its CLI and its library,
offline), readable by runcrate, faithful to the manifest, and the same bytes every time."""

from __future__ import annotations

import hashlib
import json
import shutil
import socket
import subprocess
import zipfile
from pathlib import Path

import pytest
from helpers import BIN, MODEL, snakemake

from reprotrain.interop import crate

RECORD = "config/manifest.json"


def test_jobs_come_from_the_recipes_of_the_record():
    document = json.loads(Path(RECORD).read_text())
    jobs = {job.id: job for job in crate.jobs_of(document)}
    assert sorted(jobs) == [
        "#job-environment",
        "#job-preprocess-breast_cancer/v1.0/42",
        "#job-save-breast_cancer/v1.0/42/hist_gradient_boosting",
        "#job-validate-breast_cancer/v1.0/42/hist_gradient_boosting",
    ]
    validate = jobs["#job-validate-breast_cancer/v1.0/42/hist_gradient_boosting"]
    assert validate.inputs == {
        f"{MODEL}/model.pkl",
        f"{MODEL}/model_card.json",
        "results/runs/breast_cancer/v1.0/seed-42/data/test.npy",
    }
    assert jobs["#job-preprocess-breast_cancer/v1.0/42"].data == {"breast_cancer/v1.0"}
    covered = sorted(path for job in jobs.values() for path in job.outputs)
    assert covered == sorted(document["files"])


@pytest.fixture(scope="module")
def crated(default_run, tmp_path_factory) -> Path:
    """A copy of the default run with its crate made by `reprotrain crate --validate`."""
    repo = shutil.copytree(default_run, tmp_path_factory.mktemp("crate") / "repo", symlinks=True)
    done = cli(repo, "crate", "--validate", "--source", str(repo))
    assert done.returncode == 0, done.stdout + done.stderr
    assert "valid: provenance-run-crate-0.5" in done.stdout
    return repo


def cli(repo: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(BIN / "reprotrain"), *args], cwd=repo, capture_output=True, text=True
    )


def unpacked(repo: Path, tmp_path: Path) -> Path:
    directory = tmp_path / "unpacked"
    with zipfile.ZipFile(repo / "results/crate.zip") as archive:
        archive.extractall(directory)
    return directory


@pytest.mark.pipeline
def test_the_validator_cli_and_runcrate_accept_it(crated, tmp_path):
    directory = unpacked(crated, tmp_path)
    cache = tmp_path / "cache/http_cache"
    cache.parent.mkdir()
    crate.seed_context_cache(cache)
    validated = subprocess.run(
        [
            str(BIN / "rocrate-validator"),
            "validate",
            "--offline",
            "--cache-path",
            str(cache),
            "-p",
            "provenance-run-crate-0.5",
            "--no-paging",
            "-f",
            "json",
            str(directory),
        ],
        capture_output=True,
        text=True,
    )
    assert validated.returncode == 0, validated.stdout[-3000:] + validated.stderr[-3000:]
    assert json.loads(validated.stdout)["passed"] is True

    report = subprocess.run(
        [str(BIN / "runcrate"), "report", str(crated / "results/crate.zip")],
        capture_output=True,
        text=True,
    )
    assert report.returncode == 0, report.stderr
    assert "action: #job-save-breast_cancer/v1.0/42/hist_gradient_boosting" in report.stdout
    assert f"{MODEL}/model.pkl <- #save-out-model" in report.stdout


@pytest.mark.pipeline
def test_it_is_faithful_to_the_manifest_and_holds_no_host(crated, tmp_path):
    directory = unpacked(crated, tmp_path)
    text = (directory / "ro-crate-metadata.json").read_text()
    graph = {entity["@id"]: entity for entity in json.loads(text)["@graph"]}
    document = json.loads((crated / "results/manifest.json").read_text())
    for path, entry in document["files"].items():
        assert graph[path]["sha256"] == entry["sha256"]
        assert hashlib.sha256((directory / path).read_bytes()).hexdigest() == entry["sha256"]
    run = graph["#run"]
    assert run["actionStatus"] == {"@id": "http://schema.org/CompletedActionStatus"}
    assert run["description"] == (
        "checked against the record config/manifest.json: reproduced: every covered output "
        "is identical"
    )
    assert graph["./"]["mainEntity"] == {"@id": "workflow/Snakefile"}
    conforms = {item["@id"] for item in graph["./"]["conformsTo"]}
    assert set(crate.PROFILES.values()) <= conforms
    save = graph["#job-save-breast_cancer/v1.0/42/hist_gradient_boosting"]
    values = {
        graph[item["@id"]].get("name"): graph[item["@id"]].get("value") for item in save["object"]
    }
    assert values["model.learning_rate"] == "0.1" and values["model"] == '"hist_gradient_boosting"'
    environment = {graph[item["@id"]]["name"] for item in save["environment"]}
    assert "OPENBLAS_CORETYPE" in environment
    assert str(crated) not in text and str(tmp_path) not in text
    assert socket.gethostname() not in text


@pytest.mark.pipeline
def test_the_same_run_gives_the_same_bytes_from_the_rule_too(crated, tmp_path):
    first = (crated / "results/crate.zip").read_bytes()
    moved = shutil.copytree(crated, tmp_path / "elsewhere", symlinks=True)
    (moved / "results/crate.zip").unlink()
    made = snakemake(moved, "crate")
    assert made.returncode == 0
    assert (moved / "results/crate.zip").read_bytes() == first
    assert "written to results/crate.zip" in (moved / "logs/crate.log").read_text()
    assert cli(moved, "verify").returncode == 0  # the crate is a known, uncovered output


@pytest.mark.pipeline
def test_a_crate_whose_steps_are_cut_from_the_workflow_fails_validation(crated, tmp_path):
    directory = unpacked(crated, tmp_path)
    metadata = directory / "ro-crate-metadata.json"
    document = json.loads(metadata.read_text())
    for entity in document["@graph"]:
        if entity["@id"] == "workflow/Snakefile":
            del entity["step"]
    metadata.write_text(json.dumps(document))
    problems = crate.validate(directory)
    assert "provenance-run-crate-0.5_4.1: A HowToStep must be referred to from a " in (
        "\n".join(problems)
    )


@pytest.mark.pipeline
def test_a_crate_is_refused_for_other_code_or_other_data(crated, tmp_path):
    repo = shutil.copytree(crated, tmp_path / "repo", symlinks=True)
    train = repo / "workflow/scripts/train.py"
    train.write_text(train.read_text() + "EDITED_AFTER_THE_RUN = True\n")
    edited = cli(repo, "crate", "--source", str(repo), "--out", str(tmp_path / "a.zip"))
    assert edited.returncode == 2
    assert f"{repo}: code: is not the code that made this run" in edited.stderr
    assert not (tmp_path / "a.zip").exists()

    repo = shutil.copytree(crated, tmp_path / "repo2", symlinks=True)
    raw = repo / "data/breast_cancer/v1.0/breast_cancer.csv"
    raw.write_text(raw.read_text().replace("\n", "\r\n", 1))
    changed = cli(repo, "crate", "--source", str(repo), "--out", str(tmp_path / "b.zip"))
    assert changed.returncode == 2
    assert "breast_cancer.csv: sha256: is not the data the run used" in changed.stderr
    assert not (tmp_path / "b.zip").exists()


def test_a_crate_never_replaces_a_folder_it_did_not_make(crated, tmp_path):
    """`crate --out docs` once deleted the tracked docs/: a folder is replaced only when a
    crate made it."""
    repo = shutil.copytree(crated, tmp_path / "repo", symlinks=True)
    before = sorted(p.name for p in (repo / "docs").iterdir())
    refused = cli(repo, "crate", "--source", str(repo), "--out", "docs")
    assert refused.returncode == 2
    assert "docs holds files a reprotrain crate does not" in refused.stderr
    assert sorted(p.name for p in (repo / "docs").iterdir()) == before
    made = cli(repo, "crate", "--source", str(repo), "--out", str(tmp_path / "crate"))
    assert made.returncode == 0, made.stderr
    again = cli(repo, "crate", "--source", str(repo), "--out", str(tmp_path / "crate"))
    assert again.returncode == 0, again.stderr
    assert (tmp_path / "crate/ro-crate-metadata.json").is_file()
