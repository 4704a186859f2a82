"""`reprotrain hunt`: clean on the shipped pipeline, and names a planted variation."""

from __future__ import annotations

import hashlib
import os
import shlex
import shutil
import subprocess
from pathlib import Path

import pytest
from helpers import BIN, MODEL, REPO, config_override, copy_repo, read_json, run_hunt, snakemake
from test_docs import shown_commands

from reprotrain import cli
from reprotrain.audit import hunt

# A planted bug in a user's estimator: a float sum split into one chunk per training
# thread (1e16 + 1 rounds to 1e16, so the chunking changes the result), stored on the model.
THREAD_PLANT = """
import numpy as np
from joblib import effective_n_jobs
from sklearn.ensemble import ExtraTreesClassifier


class ChunkedSum(ExtraTreesClassifier):
    def __init__(self, n_estimators=20, random_state=None):
        super().__init__(n_estimators=n_estimators, random_state=random_state)

    def fit(self, X, y, sample_weight=None):
        super().fit(X, y, sample_weight)
        chunks = np.array_split(np.array([1e16, 1.0, -1e16, 1.0]), effective_n_jobs(None))
        self.planted_sum_ = float(sum(float(sum(chunk)) for chunk in chunks))
        return self
"""
# Three more, each on a condition no job environment can pin: the CPU count the machine
# reports, the order a directory lists in, and the locale's decimal point.
CONDITION_PLANTS = """
import locale
import os

from sklearn.ensemble import ExtraTreesClassifier


class Conditioned(ExtraTreesClassifier):
    def __init__(self, n_estimators=20, random_state=None):
        super().__init__(n_estimators=n_estimators, random_state=random_state)

    def fit(self, X, y, sample_weight=None):
        super().fit(X, y, sample_weight)
        self.pool_size_ = os.cpu_count()
        self.first_listed_ = os.listdir(".")[0]
        locale.setlocale(locale.LC_ALL, "")
        self.score_text_ = locale.format_string("%.4f", 0.965)  # 0,9650 with a decimal comma
        return self
"""
PLANTED_MODEL = "results/runs/breast_cancer/v1.0/seed-42/planted/model.pkl"


def with_user_model(project: Path, source: str, estimator: str) -> list[str]:
    """The project with a user module and an overlay that trains it against a record of
    its own; the Snakemake arguments of that overlay."""
    (project / "user").mkdir(exist_ok=True)
    (project / "user/planted_models.py").write_text(source)
    overlay = {
        "model": "planted",
        "models": {"planted": {"estimator": f"planted_models.{estimator}"}},
        "manifest": {"expected": "config/planted-manifest.json"},
    }
    return config_override(project, "planted", overlay)


LR_MODEL = MODEL.replace("hist_gradient_boosting", "logistic_regression") + "/model.pkl"


@pytest.mark.hunt
def test_shipped_pipeline_is_identical_under_every_variation(tmp_path):
    project = copy_repo(tmp_path / "project")
    done, report = run_hunt(project, tmp_path / "report")
    assert done.returncode == hunt.CLEAN, done.stdout + done.stderr
    assert report["verdict"] == "clean"
    # Every variation was applied: none was left out because the machine lacks it.
    statuses = {v["name"]: v["status"] for v in report["variations"]}
    assert set(statuses) == set(hunt.BY_NAME)
    assert all(s.startswith("identical") for s in statuses.values()), statuses
    # The control twice at the same path, then every variation at once.
    assert [r["variations"] for r in report["runs"]] == [[], [], list(hunt.BY_NAME)]
    assert all(output["identical"] for output in report["outputs"])
    assert f"`{MODEL}/model.pkl` | yes" in (tmp_path / "report/report.md").read_text()


@pytest.mark.hunt
def test_a_recorded_model_that_trains_other_bytes_reaches_a_verdict_and_the_hunt(tmp_path):
    """Recorded with one training thread, the model trains other bytes with two: the run
    still scores it (save sealed it: retrained, not modified), writes its manifest, and
    checksum names model.pkl and nondeterminism; the hunt, whose control differs from the
    record, pins it on threads. (Replaces the planted thread test of the package's own
    train step: this one also covers a record that no longer holds.)"""
    project = copy_repo(tmp_path / "project")
    args = with_user_model(project, THREAD_PLANT, "ChunkedSum")
    snakemake(project, *args, "--config", "threads=1", "--", "results/manifest.json")
    record = project / "config/planted-manifest.json"
    subprocess.run(
        [str(BIN / "reprotrain"), "record", "--to", str(record)], cwd=project, check=True
    )
    shutil.rmtree(project / "results")

    run = snakemake(project, *args, check=False)

    assert run.returncode != 0
    assert (project / "results/manifest.json").is_file()
    row = next(line for line in run.output.splitlines() if line.startswith(PLANTED_MODEL))
    assert "NOTHING IT DEPENDS ON CHANGED: NONDETERMINISM" in row

    done, report = run_hunt(project, tmp_path / "report", "--only", "threads,timezone", "--", *args)
    assert done.returncode == hunt.NONDETERMINISTIC, done.stdout + done.stderr
    outputs = {o["path"]: o for o in report["outputs"]}
    model = outputs[PLANTED_MODEL]
    assert model["culprits"] == ["threads"]
    assert model["how"] == "changes itself"
    # The card pins the model's sha256, and both come from the same save job.
    assert outputs[PLANTED_MODEL.replace("model.pkl", "model_card.json")]["culprits"] == ["threads"]
    assert outputs[PLANTED_MODEL.replace("model.pkl", "metrics.json")]["identical"]
    statuses = {v["name"]: v["status"] for v in report["variations"]}
    assert statuses == {"threads": "breaks bit-identity", "timezone": "identical (varied alone)"}
    # diffoscope shows the difference inside the pickle, against the threads-only run.
    explanations = {e["path"]: e for e in report["explanations"]}
    assert explanations[PLANTED_MODEL]["variation"] == "threads"
    # A hexdump of the pickle: the changed lines hold the planted float, pickled with
    # BINFLOAT ("G", 0x47) as 8 big-endian bytes: 1.0 with one thread.
    assert "47 3ff0 0000 0000 0000" in explanations[PLANTED_MODEL]["diffoscope"]


@pytest.mark.hunt
def test_the_conditions_no_pin_can_set_are_varied_and_named(tmp_path):
    """os.cpu_count(), listing order and a decimal-comma locale, each planted in a user
    estimator: each variation finds its plant alone, and what the runs' jobs recorded
    names the condition."""
    project = copy_repo(tmp_path / "project")
    args = with_user_model(project, CONDITION_PLANTS, "Conditioned")
    planted = ("cpu_count", "fileordering", "locales")

    done, report = run_hunt(project, tmp_path / "report", "--only", ",".join(planted), "--", *args)

    assert done.returncode == hunt.NONDETERMINISTIC, done.stdout + done.stderr
    outputs = {o["path"]: o for o in report["outputs"]}
    assert outputs[PLANTED_MODEL]["culprits"] == sorted(planted)
    statuses = {v["name"]: v["status"] for v in report["variations"]}
    assert statuses == dict.fromkeys(planted, "breaks bit-identity")
    named = {
        "cpu_count": f"os.cpu_count(): {os.cpu_count()} -> {1 if os.cpu_count() != 1 else 2}",
        "fileordering": "filesystem of the working directory (it orders directory listings)",
        "locales": 'locale (LC_ALL): "C.UTF-8" -> "fr_FR.UTF-8"',
    }
    explained = {
        e["variation"]: e["diffoscope"]
        for e in report["explanations"]
        if e["path"] == PLANTED_MODEL
    }
    for variation, condition in named.items():
        assert condition in explained[variation], explained[variation][:600]


@pytest.mark.hunt
def test_the_documented_sweep_hunt_runs(tmp_path):
    """docs/nondeterminism.md's sweep hunt, as a user types it, in a copy of the project."""
    project = copy_repo(tmp_path / "project")
    (line,) = [
        command
        for command in shown_commands(REPO / "docs/nondeterminism.md")
        if "sweep" in command and "hunt" in command
    ]
    command = shlex.split(line)
    assert command[0] == ".venv/bin/reprotrain"

    done = subprocess.run(
        [str(BIN / "reprotrain"), *command[1:]],
        cwd=project,
        capture_output=True,
        text=True,
        check=False,
    )

    assert done.returncode == hunt.CLEAN, done.stdout[-3000:] + done.stderr[-3000:]
    report = read_json(project / "sweep-hunt/report.json")
    assert report["target"] == "results-sweep/manifest.json"
    assert len({o["path"] for o in report["outputs"]}) == len(
        read_json(project / "config/sweep-manifest.json")["files"]
    )


@pytest.mark.hunt
def test_unpinned_logistic_regression_is_pinned_on_the_blas_kernel(tmp_path):
    """Without the numerics pin, another CPU's OpenBLAS kernel changes the LR fit: the hunt
    emulates that CPU here and names the kernel, not nondeterminism."""
    project = copy_repo(tmp_path / "project")
    overlay = {"model": "logistic_regression", "numerics": {"pin": False}}
    args = config_override(project, "unpinned", overlay)
    done, report = run_hunt(
        project, tmp_path / "report", "--only", "blas_kernel,numpy_simd", "--", *args
    )
    assert done.returncode == hunt.NONDETERMINISTIC, done.stdout + done.stderr
    outputs = {o["path"]: o for o in report["outputs"]}
    model = outputs[LR_MODEL]
    assert model["culprits"] == ["blas_kernel"]
    assert model["how"] == "changes itself, with its recorded hardware"
    assert outputs[LR_MODEL.replace("model.pkl", "metrics.json")]["culprits"] == ["blas_kernel"]
    explained = {(e["path"], e["variation"]) for e in report["explanations"]}
    assert (LR_MODEL, "blas_kernel") in explained


class FakeHunt(hunt.Hunt):
    """Bisection logic alone: which outputs a set of variations changes is given."""

    def __init__(self, effects):
        self.effects = effects  # output -> the variation names that must all vary to change it
        self.runs = []

    def run(self, variations):
        names = {v.name for v in variations}
        result = hunt.Run("run", sorted(names), Path(), 0.0, 0, log="")
        result.differing = {path: [] for path, need in self.effects.items() if need <= names}
        self.runs.append(result)
        return result


def test_bisection_finds_several_culprits_and_interactions():
    variations = list(hunt.VARIATIONS)
    effects = {
        "a.csv": {"timezone"},
        "b.pkl": {"umask"},
        "c.json": {"locales", "home"},  # only when both vary
    }
    runner = FakeHunt(effects)
    found = runner.bisect(variations, set(effects))
    assert found["a.csv"] == {"timezone"}
    assert found["b.pkl"] == {"umask"}
    [interaction] = found["c.json"]
    assert "locales" in interaction and "home" in interaction and " + " in interaction
    assert len(runner.runs) < 2 * len(variations)


def test_unknown_variation_is_refused(tmp_path, capsys):
    status = cli.main(["hunt", "--only", "moon_phase", "--out", str(tmp_path / "r")])
    assert status == 2
    error = capsys.readouterr().err
    assert "unknown variation 'moon_phase'" in error
    assert "build_path" in error


def test_a_failed_run_is_compared_output_by_output_where_it_left_them(tmp_path):
    """A variation under which the pipeline fails writes no manifest: what it made is
    hashed where it left it, so an output it never made is not reported identical."""
    made = {"results/a.npy": b"same", "results/b.pkl": b"control", "results/c.json": b"{}"}
    files = {
        path: {"sha256": hashlib.sha256(content).hexdigest()} for path, content in made.items()
    }
    failed = tmp_path / "run"
    (failed / "results").mkdir(parents=True)
    (failed / "results/a.npy").write_bytes(b"same")
    (failed / "results/b.pkl").write_bytes(b"other")
    runner = object.__new__(hunt.Hunt)
    runner.control_manifest = {"files": files}

    left = runner._left_by_failed(hunt.Run("run-02", ["threads"], failed, 1.0, 1, log=""))

    assert left == {"results/b.pkl": [], "results/c.json": [hunt.NOT_MADE]}
    culprits = {path: {"threads"} for path in left}
    assert hunt._how("results/c.json", culprits, left["results/c.json"]).startswith("not made")
    assert "failed run left it" in hunt._how("results/b.pkl", culprits, [])
