"""`reprotrain hunt`: clean on the shipped pipeline, and names a planted variation."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from helpers import BIN, FIT_LINE, MODEL, config_override, copy_repo, plant, run_hunt

from reprotrain import hunt

pytestmark = pytest.mark.pipeline

# A planted bug: a float sum split into one chunk per training thread (1e16 + 1 rounds
# to 1e16, so the chunking changes the result), stored on the fitted model.
PLANTED = """
    import numpy as np

    chunks = np.array_split(np.array([1e16, 1.0, -1e16, 1.0]), threads)
    estimator.planted_sum_ = float(sum(float(sum(chunk)) for chunk in chunks))
"""
PLANTED_HUNT = ("threads", "timezone", "locales", "python_hash_seed")
LR_MODEL = MODEL.replace("hist_gradient_boosting", "logistic_regression") + "/model.pkl"


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


def test_planted_thread_dependence_is_pinned_on_threads(tmp_path):
    project = copy_repo(tmp_path / "project")
    plant(project, "src/reprotrain/pipeline.py", FIT_LINE, after=PLANTED)

    # Four variations keep the bisection short; the clean hunt above applies all of them.
    done, report = run_hunt(project, tmp_path / "report", "--only", ",".join(PLANTED_HUNT))
    assert done.returncode == hunt.NONDETERMINISTIC, done.stdout + done.stderr
    assert report["verdict"] == "nondeterministic"
    outputs = {o["path"]: o for o in report["outputs"]}
    model = outputs[f"{MODEL}/model.pkl"]
    assert model["culprits"] == ["threads"]
    assert model["how"] == "changes itself"
    # The card pins the model's sha256, and both come from the same save job.
    assert outputs[f"{MODEL}/model_card.json"]["culprits"] == ["threads"]
    assert outputs[f"{MODEL}/metrics.json"]["identical"]
    statuses = {v["name"]: v["status"] for v in report["variations"]}
    assert set(statuses) == set(PLANTED_HUNT)
    assert statuses.pop("threads") == "breaks bit-identity"
    assert all(s.startswith("identical") for s in statuses.values()), statuses
    # diffoscope shows the difference inside the pickle, against the threads-only run.
    explanations = {e["path"]: e for e in report["explanations"]}
    assert explanations[f"{MODEL}/model.pkl"]["variation"] == "threads"
    # A hexdump of the pickle: the changed lines hold the planted attribute's name
    # (which a 16-byte row may cut, so only its end is matched).
    assert "_sum_" in explanations[f"{MODEL}/model.pkl"]["diffoscope"]


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


def test_unknown_variation_is_refused(tmp_path):
    done = subprocess.run(
        [str(BIN / "reprotrain"), "hunt", "--only", "moon_phase", "--out", str(tmp_path / "r")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 2
    assert "unknown variation 'moon_phase'" in done.stderr
    assert "build_path" in done.stderr
