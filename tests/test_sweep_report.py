"""The 2-model x 2-seed sweep of config/sweep.yaml, and the HTML report built from it."""

from __future__ import annotations

import base64
import csv
import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from helpers import BIN, MODEL, RUN, copy_repo, read_json, snakemake

SWEEP = ["--configfile", "config/config.yaml", "config/sweep.yaml"]
MODELS = ("hist_gradient_boosting", "logistic_regression")
SEEDS = (42, 7)
DATASET_DIR = "results-sweep/runs/breast_cancer/v1.0"


@pytest.fixture(scope="module")
def sweep(tmp_path_factory):
    workdir = copy_repo(tmp_path_factory.mktemp("sweep") / "reprotrain")
    run = snakemake(workdir, *SWEEP, cores=2)
    return workdir, run


@pytest.fixture(scope="module")
def report(sweep, tmp_path_factory) -> Path:
    workdir, _ = sweep
    html = tmp_path_factory.mktemp("report") / "report.html"
    snakemake(workdir, *SWEEP, "--report", str(html))
    return html


def test_sweep_matches_its_recorded_manifest(sweep):
    workdir, _ = sweep
    checksum = read_json(workdir / "results-sweep/checksum.json")
    assert checksum["matches"] == "config/sweep-manifest.json"
    files = read_json(workdir / "results-sweep/manifest.json")["files"]
    for seed in SEEDS:
        assert f"{DATASET_DIR}/seed-{seed}/data/train.npy" in files
        for model in MODELS:
            entry = files[f"{DATASET_DIR}/seed-{seed}/{model}/model.pkl"]
            assert entry["rule"] == "save"
            assert f"{DATASET_DIR}/seed-{seed}/data/train.npy" in entry["inputs"]


def test_sweep_jobs_ran_in_parallel(sweep):
    _, run = sweep
    running = most = 0
    for line in run.output.splitlines():
        if re.match(r"(local)?rule \w+:$", line):
            running += 1
            most = max(most, running)
        elif line.startswith("Finished jobid"):
            running -= 1
    assert most >= 2, run.output[-3000:]


def test_a_sweep_combination_has_the_bytes_of_the_same_single_run(sweep, default_run):
    workdir, _ = sweep
    for name in ("model.pkl", "model_card.json", "metrics.json", "roc.svg"):
        swept = workdir / DATASET_DIR / "seed-42/hist_gradient_boosting" / name
        assert swept.read_bytes() == (default_run / MODEL / name).read_bytes(), name
    swept_split = workdir / DATASET_DIR / "seed-42/data/train.npy"
    assert swept_split.read_bytes() == (default_run / RUN / "data/train.npy").read_bytes()


def test_summary_table_compares_every_combination(sweep):
    workdir, _ = sweep
    with (workdir / "results-sweep/summary/metrics.csv").open(encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    assert sorted((int(r["seed"]), r["model"]) for r in rows) == sorted(
        (seed, model) for seed in SEEDS for model in MODELS
    )
    for row in rows:
        metrics = read_json(
            workdir / DATASET_DIR / f"seed-{row['seed']}" / row["model"] / "metrics.json"
        )
        assert row["task"] == metrics["task"] == "binary"
        for name in ("accuracy", "balanced_accuracy", "roc_auc", "f1", "log_loss"):
            assert float(row[name]) == pytest.approx(metrics[name], abs=1e-9)
    summary = (workdir / "results-sweep/summary/metrics.html").read_text(encoding="utf-8")
    assert "Binary tasks: mean and standard deviation over 2 seed(s)" in summary
    assert "ROC AUC and F1 of the positive class" in summary


def embedded_results(html: Path) -> dict:
    """The results Snakemake's report embeds (a JSON object in a script tag)."""
    text = html.read_text(encoding="utf-8")
    marker = "var results = "
    start = text.index(marker, text.index('<script id="results">')) + len(marker)
    return json.JSONDecoder().raw_decode(text, start)[0]


def decoded(entry: dict) -> str:
    return base64.b64decode(entry["data_uri"].split("base64,", 1)[1]).decode("utf-8")


def test_report_holds_every_figure_and_table_with_captions(report):
    results = embedded_results(report)
    for seed in SEEDS:
        for model in MODELS:
            roc = results[f"{DATASET_DIR}/seed-{seed}/{model}/roc.svg"]
            assert roc["mime_type"] == "image/svg+xml"
            assert f"ROC curve of {model}" in roc["caption"]
            assert f"seeded\nwith {seed}" in roc["caption"]
            confusion = results[f"{DATASET_DIR}/seed-{seed}/{model}/confusion.svg"]
            assert "Confusion matrix" in confusion["caption"]
            assert "<svg" in decoded(confusion)
    table = results["results-sweep/summary/metrics.html"]
    assert "Metrics table" in table["caption"]
    assert decoded(table).count("logistic_regression") == 2 + 1  # two seeds, one mean row
    assert "Sweep comparison plot" in results["results-sweep/summary/comparison.svg"]["caption"]


def test_report_provenance_page_names_data_code_and_locked_software(sweep, report):
    workdir, _ = sweep
    recorded = read_json(workdir / "results-sweep/manifest.json")["provenance"]
    page = decoded(embedded_results(report)["results-sweep/report/provenance.html"])
    assert recorded["data"]["breast_cancer/v1.0"]["sha256"] in page
    assert recorded["code"]["digest"] in page
    assert recorded["environment"]["lock"]["sha256"] in page
    assert "<td>scikit-learn</td><td>1.7.2</td>" in page
    assert "match the recorded manifest <code>config/sweep-manifest.json</code>" in page


def test_report_renders_in_a_browser(report):
    chromium = shutil.which("chromium")
    assert chromium, "chromium is installed by tools/install-system-deps.sh"
    done = subprocess.run(
        [
            chromium,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--virtual-time-budget=10000",
            "--dump-dom",
            report.as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    # The menu is drawn by the report's JavaScript: these only exist once it ran.
    for category in ("Models", "Provenance", "Sweep"):
        assert f">{category}<" in done.stdout, category


def test_compare_ranks_a_sweep_and_two_overlays_from_verified_files(sweep, default_run, tmp_path):
    workdir, _ = sweep
    snakemake(workdir, "--configfile", "config/config.yaml", "config/penguins.yaml")
    figure = tmp_path / "leaderboard.svg"
    sources = ["config/sweep.yaml", "config/penguins.yaml", str(default_run / "results")]
    done = subprocess.run(
        [str(BIN / "reprotrain"), "compare", *sources, "--json", "--figure", str(figure)],
        cwd=workdir,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr
    (board,) = json.loads(done.stdout)["boards"]
    assert (board["kind"], board["ranked_by"], board["higher_is_better"]) == (
        "classification",
        "roc_auc",
        True,
    )
    rows = board["rows"]
    assert [row["source"] for row in rows].count("config/sweep.yaml") == len(MODELS) * len(SEEDS)
    assert len(rows) == len(MODELS) * len(SEEDS) + 2 + 1
    scores = [row["metrics"]["roc_auc"] for row in rows]
    assert scores == sorted(scores, reverse=True)
    # Each number is the one the run's own metrics.json holds.
    for row in rows:
        places = {"config/sweep.yaml": "results-sweep", "config/penguins.yaml": "results-penguins"}
        source = row["source"]
        base = workdir / places[source] if source in places else default_run / "results"
        dataset, version, seed, model = row["run"].split("/")
        metrics = read_json(base / "runs" / dataset / version / seed / model / "metrics.json")
        assert row["metrics"] == {name: metrics[name] for name in row["metrics"]}
    assert "<svg" in figure.read_text()

    # A number changed on disk is never shown.
    metrics = workdir / f"{DATASET_DIR}/seed-7/logistic_regression/metrics.json"
    original = metrics.read_text()
    metrics.write_text(original.replace('"accuracy": 0.', '"accuracy": 1.'))
    try:
        refused = subprocess.run(
            [str(BIN / "reprotrain"), "compare", "config/sweep.yaml"],
            cwd=workdir,
            capture_output=True,
            text=True,
        )
    finally:
        metrics.write_text(original)
    assert refused.returncode == 2 and "no longer match" in refused.stderr, refused.stderr
    assert "Traceback" not in refused.stderr


def test_the_sweep_summary_fits_a_1400_px_window_with_mean_and_spread(sweep, tmp_path):
    from helpers import seen_in_chromium

    workdir, _ = sweep
    seen = seen_in_chromium(workdir / "results-sweep/summary/metrics.html", tmp_path)
    assert seen["overflow"] <= 0, seen["wide"]
    assert "accuracy (mean ± std)" in seen["text"]
    assert "0.9825 ± 0.0049" in seen["text"]  # logistic_regression over seeds 42 and 7


def test_a_sweep_that_misses_thresholds_reports_every_runs_verdict(sweep):
    """Last in this module: it leaves the sweep's runs that missed without metrics."""
    workdir, _ = sweep
    (workdir / "config/higher-bar.yaml").write_text("thresholds:\n  min_accuracy: 0.97\n")
    run = snakemake(workdir, *SWEEP, "config/higher-bar.yaml", "--keep-going", check=False)
    assert run.returncode != 0
    verdicts = run.stderr.split("reprotrain: thresholds of the 4 model runs:\n", 1)[1]
    lines = verdicts.rstrip().splitlines()
    for seed in SEEDS:
        name = f"breast_cancer v1.0 seed {seed}"
        assert f"  met     {name} logistic_regression" in lines
        (missed,) = [line for line in lines if f"{name} hist_gradient_boosting" in line]
        assert missed.startswith("  MISSED  ") and "accuracy = 0.9650, required >= 0.97" in missed
    # Each miss was also its job's own error, naming the run and the key to change.
    assert run.output.count("misses its quality thresholds") >= 2
