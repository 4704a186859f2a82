"""`reprotrain export mlflow` against a real MLflow store (SQLite backend), read back with
MLflow's own client: every model run with its parameters, metrics, artifacts and digests."""

from __future__ import annotations

import contextlib
import hashlib
import json
import posixpath
import shutil
import subprocess
from pathlib import Path

import pytest
from helpers import BIN, MODEL
from hypothesis import given, settings
from hypothesis import strategies as st

from reprotrain.errors import ReprotrainError
from reprotrain.hashing import sha256_file
from reprotrain.records import manifest

RUN_MANIFEST = "results/manifest.json"


@pytest.fixture
def two_model_run(default_run, tmp_path, monkeypatch) -> Path:
    """The default run plus a second model run (a copy of the first under another model
    name), its manifest rewritten to cover both: an export must log each."""
    repo = shutil.copytree(default_run, tmp_path / "repo", symlinks=True)
    monkeypatch.chdir(repo)
    other = Path(MODEL).with_name("copy_model")
    shutil.copytree(MODEL, other)
    card = json.loads((other / "model_card.json").read_text())
    card["model"]["type"] = "copy_model"
    (other / "model_card.json").write_text(json.dumps(card))
    document = json.loads(Path(RUN_MANIFEST).read_text())
    for path in list(document["files"]):
        if path.startswith(f"{MODEL}/"):
            copied = path.replace(MODEL, str(other))
            document["files"][copied] = document["files"][path] | {"sha256": sha256_file(copied)}
    del document["integrity"]
    manifest.write(RUN_MANIFEST, document | {"integrity": manifest.integrity(document)})
    # Recorded as it is: an export vouches only for a run that reproduces its record.
    manifest.record(RUN_MANIFEST, "config/manifest.json")
    return repo


def export(repo: Path, uri: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(BIN / "reprotrain"), "export", "mlflow", "--tracking-uri", uri],
        cwd=repo,
        capture_output=True,
        text=True,
    )


def test_every_model_run_is_in_mlflow_with_its_record(two_model_run, tmp_path):
    from mlflow.tracking import MlflowClient

    uri = f"sqlite:///{tmp_path}/store/mlflow.db"
    (tmp_path / "store").mkdir()
    done = export(two_model_run, uri)
    assert done.returncode == 0, done.stderr
    assert "2 run(s) of results/manifest.json" in done.stdout
    assert "INFO" not in done.stderr  # MLflow's table-creation notes stay quiet

    client = MlflowClient(tracking_uri=uri)
    experiment = client.get_experiment_by_name("reprotrain")
    runs = {
        run.data.tags["reprotrain.run"]: run
        for run in client.search_runs([experiment.experiment_id])
    }
    assert sorted(runs) == [
        "breast_cancer/v1.0/seed-42/copy_model",
        "breast_cancer/v1.0/seed-42/hist_gradient_boosting",
    ]
    document = json.loads(Path(RUN_MANIFEST).read_text())
    run = runs["breast_cancer/v1.0/seed-42/hist_gradient_boosting"]
    metrics = json.loads(Path(MODEL, "metrics.json").read_text())
    assert run.data.metrics == {
        name: value for name, value in metrics.items() if isinstance(value, int | float)
    }
    card = json.loads(Path(MODEL, "model_card.json").read_text())
    assert run.data.params["model.learning_rate"] == str(
        card["model"]["hyperparameters"]["learning_rate"]
    )
    assert run.data.params["seed"] == "42"
    assert run.data.tags["reprotrain.manifest_integrity"] == document["integrity"]
    assert run.data.tags["reprotrain.code_digest"] == document["provenance"]["code"]["digest"]
    assert run.data.tags["reprotrain.data_sha256"] == card["data"]["sha256"]
    lock = document["provenance"]["environment"]["lock"]
    assert run.data.tags["reprotrain.environment_lock_sha256"] == lock["sha256"]
    assert run.data.tags["reprotrain.model_sha256"] == card["model"]["sha256"]

    artifacts = {a.path for a in client.list_artifacts(run.info.run_id)}
    assert {"model.pkl", "model_card.json", "metrics.json", "roc.svg", "confusion.svg"} <= artifacts
    provenance = {a.path for a in client.list_artifacts(run.info.run_id, "provenance")}
    assert provenance == {"provenance/manifest.json", "provenance/environment.json"}
    model = Path(client.download_artifacts(run.info.run_id, "model.pkl", str(tmp_path)))
    assert hashlib.sha256(model.read_bytes()).hexdigest() == card["model"]["sha256"]
    # Artifacts live beside the SQLite store, not in the project.
    assert (tmp_path / "store/mlartifacts/reprotrain").is_dir()
    assert not (two_model_run / "mlruns").exists()

    again = export(two_model_run, uri)
    assert again.returncode == 0 and again.stdout.count("already exported") == 2
    assert len(client.search_runs([experiment.experiment_id])) == 2


def test_a_run_whose_files_changed_is_not_exported(two_model_run, tmp_path):
    Path(MODEL, "metrics.json").write_text('{"accuracy": 1.0}')
    with pytest.raises(ReprotrainError, match="no longer match this manifest"):
        from reprotrain.interop import mlflow_export

        mlflow_export.export(
            RUN_MANIFEST, f"sqlite:///{tmp_path}/mlflow.db", expected="config/manifest.json"
        )
    assert not (tmp_path / "mlflow.db").exists()


def test_an_experiment_name_cannot_lead_artifacts_out_of_the_store(two_model_run, tmp_path):
    """`--experiment ../..` once wrote artifacts outside the store: the name is one
    folder under mlartifacts/, whatever it holds."""
    store = tmp_path / "deep/store"
    store.mkdir(parents=True)
    done = subprocess.run(
        [
            str(BIN / "reprotrain"),
            "export",
            "mlflow",
            "--experiment",
            "../..",
            "--tracking-uri",
            f"sqlite:///{store}/mlflow.db",
        ],
        cwd=two_model_run,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr
    assert sorted(p.name for p in (store / "mlartifacts").iterdir()) == ["%2E%2E%2F%2E%2E"]
    assert sorted(p.name for p in (tmp_path / "deep").iterdir()) == ["store"]


@settings(max_examples=200, deadline=None)
@given(
    named=st.lists(
        st.sampled_from(["..", ".", "metrics.json", "m", "/etc", "runs", "x"]),
        min_size=1,
        max_size=5,
    ).map("/".join)
)
def test_a_card_can_name_only_a_covered_file_of_its_run(tmp_path_factory, named):
    """A card's metrics path is joined to the card's folder and must be a file the manifest
    covers (so hashed on disk): never a file outside the run, nor one it does not cover."""
    from reprotrain.audit import model_runs

    root = tmp_path_factory.mktemp("run")
    covered = "results/runs/m/metrics.json"
    (root / "results/runs/m").mkdir(parents=True)
    (root / covered).write_text('{"accuracy": 1.0}')
    document = {"files": {covered: {}}}
    card = "results/runs/m/model_card.json"
    joined = posixpath.join(posixpath.dirname(card), named)
    with contextlib.chdir(root):
        try:
            read = model_runs.read_covered(joined, document, card)
        except ReprotrainError as error:
            assert "not a covered file of this run" in error.problem
            assert posixpath.normpath(joined) != covered
        else:
            assert posixpath.normpath(joined) == covered
            assert read == {"accuracy": 1.0}
