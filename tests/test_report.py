"""The HTML report as a reader sees it in Chromium: the numbers of every model run, what
ran, no page wider than a 1400 px window; and the figures name what they show."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from helpers import seen_in_chromium, snakemake

from reprotrain.ml import figures


@pytest.fixture(scope="module")
def single_report(default_run, tmp_path_factory):
    html = tmp_path_factory.mktemp("report") / "report.html"
    snakemake(default_run, "--report", str(html))
    return html


@pytest.mark.pipeline
def test_a_single_runs_report_says_what_ran(single_report, tmp_path):
    seen = seen_in_chromium(single_report, tmp_path)
    text = seen["text"]
    assert "breast_cancer v1.0 with seed(s) 42: 1 model run(s)" in text
    assert "summarize" not in text  # it never ran for one model run
    assert "validate_regression for a regression table" in text
    assert seen["overflow"] <= 0, seen["wide"]


@pytest.mark.pipeline
def test_the_provenance_page_shows_metrics_hyperparameters_rows_and_imports_first(
    default_run, tmp_path
):
    page = default_run / "results/report/provenance.html"
    seen = seen_in_chromium(page, tmp_path)
    text = seen["text"]
    assert seen["overflow"] <= 0, seen["wide"]
    assert "Model runs: test-split metrics" in text
    assert "breast_cancer/v1.0/seed-42/hist_gradient_boosting\tbinary\t0.9650" in text
    # The hyperparameters are folded under each run: there, one click away.
    assert "<td>learning_rate</td><td>0.1</td>" in seen["dom"]
    assert "breast_cancer/v1.0\tfile\tdata/breast_cancer/v1.0/breast_cancer.csv\t569\t" in text
    software = text.split("imported first)", 1)[1]
    first_rows = [line.split("\t") for line in software.splitlines()[2:8]]
    assert all(row[2] == "yes" for row in first_rows), first_rows
    assert any(row[0] == "numpy" for row in first_rows) or "numpy\t" in software


def test_regression_figures_name_the_target_and_show_its_scores(monkeypatch, tmp_path):
    drawn = []
    monkeypatch.setattr(figures, "_save", lambda figure, out: drawn.append(figure))
    target = pd.Series(np.linspace(1.0, 9.0, 30), name="progression")
    for kind in figures.REGRESSION_FIGURES:
        figures.prediction_errors(target, target * 1.1, kind, "t", "out.svg", "R² 0.5\nRMSE 3")
    for figure in drawn:
        axes = figure.axes[0]
        assert axes.get_xlabel() == "predicted progression"
        assert "progression" in axes.get_ylabel() and "Actual" not in axes.get_ylabel()
        assert any(text.get_text() == "R² 0.5\nRMSE 3" for text in axes.texts)


def test_the_sweep_plot_scales_each_axis_to_its_values(monkeypatch):
    drawn = []
    monkeypatch.setattr(figures, "_save", lambda figure, out: drawn.append(figure))
    frame = pd.DataFrame({"run": ["a", "b"], "accuracy": [0.80, 0.86], "log_loss": [0.3, 0.2]})
    figures.comparison(frame, [(("accuracy",), "score"), (("log_loss",), "loss")], "x.svg")
    (figure,) = drawn
    low, high = figure.axes[0].get_ylim()
    assert 0.7 < low < 0.80 and 0.86 < high < 0.95
