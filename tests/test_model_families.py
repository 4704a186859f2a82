"""Every family of model a user brings runs, records and reruns clean on the embedded
tables: the docs' own BaseEstimator class, a Pipeline of user steps, meta-estimators, and
LightGBM and XGBoost in the locked `boosting` environment, whose records hold at one and
two cores, cold and warm, and under the hunt."""

from __future__ import annotations

import copy
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from helpers import BIN, REPO, copy_repo, read_json, run_hunt, snakemake
from test_estimator_check import NESTED, docs_example

from reprotrain.audit import hunt
from reprotrain.environment import named
from reprotrain.errors import ReprotrainError
from reprotrain.ml import model_types

BOOSTING_PYTHON = named.venv_of(Path(sys.prefix), "boosting") / "bin" / "python"
SPLIT = "runs/breast_cancer/v1.0/seed-42"


def cli(repo: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(BIN / "reprotrain"), *args], cwd=repo, capture_output=True, text=True
    )


@pytest.mark.pipeline
def test_own_classes_pipelines_and_meta_estimators_run_record_and_rerun_clean(tmp_path):
    repo = copy_repo(tmp_path / "repo")
    (repo / "user").mkdir(exist_ok=True)
    (repo / "user/log_features.py").write_text(docs_example())
    overlay = {
        "results": "results-families",
        "model": ["logfeatures", *sorted(NESTED)],
        "models": {
            "logfeatures": {
                "estimator": "log_features.LogFeaturesLogReg",
                "params": {"C": 0.5},
            },
            **copy.deepcopy(NESTED),
        },
        "manifest": {"expected": "config/families-manifest.json"},
    }
    # The Pipeline ends in the docs' own class, and bagging is around it.
    own = {"estimator": "log_features.LogFeaturesLogReg", "params": {"C": 0.5}}
    overlay["models"]["pipeline"]["params"]["steps"] = [
        ["impute", {"estimator": "sklearn.impute.SimpleImputer"}],
        ["model", own],
    ]
    overlay["models"]["bagging"]["params"]["estimator"] = own
    (repo / "config/families.yaml").write_text(yaml.safe_dump(overlay))
    args = ["--configfile", "config/config.yaml", "config/families.yaml"]

    first = snakemake(repo, *args, check=False)
    assert "no record exists for this run's config yet" in first.output, first.output[-3000:]
    recorded = cli(
        repo, "record", "--run", "results-families/manifest.json", "--to",
        "config/families-manifest.json",
    )  # fmt: skip
    assert recorded.returncode == 0, recorded.stderr
    rerun = snakemake(repo, *args)
    assert "Nothing to be done" in rerun.output or rerun.returncode == 0
    for model in overlay["model"]:
        card = read_json(repo / "results-families" / SPLIT / model / "model_card.json")
        assert card["model"]["random_state"] == 42
        metrics = read_json(repo / "results-families" / SPLIT / model / "metrics.json")
        assert metrics["accuracy"] > 0.9, (model, metrics)


def check_in_boosting(entry: dict, tasks: dict | None = None) -> None:
    model_types.check_models_apart(
        ["mine"],
        {"mine": entry},
        "config/mine.yaml",
        "user",
        tasks,
        lambda function, *args, files=(): function(*args),
        python=str(BOOSTING_PYTHON),
    )


def test_lightgbm_and_xgboost_are_checked_in_their_own_environment():
    """The check runs in the boosting venv's interpreter (the driver's has neither
    library): `**kwargs` names are taken as the libraries document them, what reprotrain
    pins and the thread aliases are refused, the wrong kind is named."""
    lightgbm = {"estimator": "lightgbm.LGBMClassifier", "params": {"verbose": -1}}
    check_in_boosting(lightgbm)
    check_in_boosting({"estimator": "xgboost.XGBRegressor"}, {"regression": "diabetes"})
    refusals = {
        "models.mine.params.force_col_wise": {**lightgbm, "params": {"force_col_wise": False}},
        "models.mine.params.num_threads": {**lightgbm, "params": {"num_threads": 4}},
        "models.mine.params.nthread": {
            "estimator": "xgboost.XGBClassifier",
            "params": {"nthread": 2},
        },
        "models.mine.params.tree_method": {
            "estimator": "xgboost.XGBClassifier",
            "params": {"tree_method": "exact"},
        },
        "models.mine.estimator": {"estimator": "lightgbm.LGBMRegressor"},
    }
    for field, entry in refusals.items():
        with pytest.raises(ReprotrainError) as error:
            check_in_boosting(entry)
        assert error.value.field == field, error.value.message
    # The driver's own environment has neither: its message says how a library enters.
    with pytest.raises(ReprotrainError) as error:
        model_types.check_models(["mine"], {"mine": lightgbm}, "config/mine.yaml", "user")
    assert "reprotrain env add" in error.value.fix


def boosting_runs(repo: Path, config: str, cores: int, warm: bool) -> subprocess.CompletedProcess:
    environment = dict(os.environ, REPROTRAIN_WARM_WORKERS="1" if warm else "0")
    return snakemake(
        repo, "--configfile", "config/config.yaml", f"config/{config}.yaml",
        cores=cores, env=environment, check=False,
    )  # fmt: skip


@pytest.mark.pipeline
def test_the_boosting_records_reproduce_at_one_and_two_cores(tmp_path):
    """Each run checks its manifest against the record (checksum): the classification
    record at two cores with warm workers and at one core without, the regression record
    at one core. The model jobs ran in the boosting venv, and the records say so."""
    repo = copy_repo(tmp_path / "repo")
    for config, cores, warm in (
        ("boosting", 2, True),
        ("boosting", 1, False),
        ("boosting-regression", 1, False),
    ):
        results = repo / f"results-{config}"
        done = boosting_runs(repo, config, cores, warm)
        assert done.returncode == 0, done.output[-4000:]
        assert read_json(results / "checksum.json")["matches"], config
        if config == "boosting":
            subprocess.run(["rm", "-rf", str(results)], check=True)  # the next run is fresh

    manifest = read_json(repo / "config/boosting-manifest.json")
    fingerprint = manifest["provenance"]["environment"]["environments"]["boosting"]
    assert fingerprint["lock"]["path"] == "envs/boosting/requirements.lock"
    assert fingerprint["packages"]["lightgbm"] == "4.7.0"
    assert fingerprint["library_pins"] == model_types.LIBRARY_PINS
    model = manifest["files"][f"results-boosting/{SPLIT}/xgboost/model.pkl"]
    assert "envs/boosting/requirements.lock" in model["inputs"]
    used = json.loads(
        (repo / "logs/results-boosting-regression/train/diabetes/v1.0/seed-42"
         / "lightgbm.packages.json").read_text()
    )  # fmt: skip
    assert used["lightgbm"] == "4.7.0"
    # predict serves a boosting model in its own environment's interpreter.
    rows = tmp_path / "rows.csv"
    raw = (REPO / "data/diabetes/v1.0/diabetes.csv").read_text().splitlines()
    rows.write_text("\n".join(raw[:11]) + "\n")  # the target column is ignored
    predicted = subprocess.run(
        [str(BIN / "reprotrain"), "predict", str(rows), "--out", str(tmp_path / "p.csv"),
         "--configfile", "config/boosting-regression.yaml", "--model", "lightgbm"],
        cwd=repo, capture_output=True, text=True,
    )  # fmt: skip
    assert predicted.returncode == 0, predicted.stderr
    record = read_json(tmp_path / "p.csv.record.json")
    assert record["environment"]["differences"] == []
    assert (tmp_path / "p.csv").read_text().startswith("progression_predicted\n")
    assert record["input"]["rows"] == 10
    # No record of a run that uses no named environment names one.
    for record in ("manifest", "sweep-manifest", "penguins-manifest", "diabetes-manifest"):
        environment = read_json(REPO / f"config/{record}.json")["provenance"]["environment"]
        assert "environments" not in environment


@pytest.mark.hunt
def test_the_boosting_record_is_clean_under_the_hunt(tmp_path):
    """Threads, CPUs, the OpenBLAS kernel and numpy's SIMD level this host can run, and
    every other variation: LightGBM and XGBoost give the same bytes."""
    project = copy_repo(tmp_path / "project")
    done, report = run_hunt(
        project, tmp_path / "report", "--target", "results-boosting/manifest.json",
        "--", "--configfile", "config/config.yaml", "config/boosting.yaml",
    )  # fmt: skip
    assert done.returncode == hunt.CLEAN, done.stdout[-3000:] + done.stderr[-3000:]
    statuses = {v["name"]: v["status"] for v in report["variations"]}
    for variation in ("threads", "num_cpus", "cpu_count", "blas_kernel", "numpy_simd"):
        assert statuses[variation].startswith("identical"), statuses


THREAD_SWEEP = """
import hashlib, json, sys
from sklearn.datasets import make_classification
from reprotrain.ml import models
X, y = make_classification(n_samples=8000, n_features=24, n_informative=10, n_classes=3,
                           random_state=0)
found = {}
for name, estimator in (("lightgbm", "lightgbm.LGBMClassifier"),
                        ("xgboost", "xgboost.XGBClassifier")):
    for threads in (1, 2, 3, 8):
        built = models.build_estimator(
            name, {"estimator": estimator, "params": {"n_estimators": 30}}, seed=3)
        models.fit(built, X, y, threads)
        digest = hashlib.sha256(models.model_bytes(built)).hexdigest()
        found.setdefault(name, set()).add(digest)
print(json.dumps({name: len(digests) for name, digests in found.items()}))
"""


def test_boosting_bytes_do_not_depend_on_the_thread_count():
    """With reprotrain's pins, LightGBM and XGBoost give one model at 1, 2, 3 and 8
    OpenMP threads (more than this machine's cores, so the work is split other ways)."""
    done = subprocess.run(
        [str(BOOSTING_PYTHON), "-c", THREAD_SWEEP],
        capture_output=True,
        text=True,
        env=dict(os.environ, PYTHONPATH=str(REPO / "src")),
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    # The last line: LightGBM prints its warnings to stdout.
    assert json.loads(done.stdout.splitlines()[-1]) == {"lightgbm": 1, "xgboost": 1}


@pytest.mark.pipeline
def test_a_model_that_fails_to_fit_is_one_message(tmp_path):
    """XGBoost takes classes only as 0..K-1: unwrapped on the penguins' species, its fit
    fails, and the run says so once, naming the overlay's key and the way out; the
    traceback is in the job's log alone."""
    repo = copy_repo(tmp_path / "repo")
    overlay = yaml.safe_load((repo / "config/boosting.yaml").read_text())
    overlay["dataset"] = {"name": "penguins", "version": "v1.0"}
    overlay["model"] = ["xgboost"]
    overlay["models"]["xgboost"] = {
        **overlay["models"]["xgboost"]["params"]["estimator"],
        "environment": "boosting",
    }
    (repo / "config/unwrapped.yaml").write_text(yaml.safe_dump(overlay))

    done = snakemake(
        repo, "--configfile", "config/config.yaml", "config/unwrapped.yaml", check=False
    )

    assert done.returncode != 0
    assert (
        "reprotrain: config/unwrapped.yaml: models.xgboost: XGBClassifier failed to fit"
        in done.output
    ), done.output[-3000:]
    assert "reprotrain.ml.estimators.LabelEncodedClassifier" in done.output
    assert "Traceback" not in done.output
    log = repo / "logs/results-boosting/train/penguins/v1.0/seed-42/xgboost.log"
    assert "Traceback" in log.read_text()
