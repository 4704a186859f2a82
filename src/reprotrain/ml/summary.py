"""The sweep's summary: every run's test-split metrics as a table, an HTML page and a plot.

Runs are compared like with like: one table per task (binary, multiclass, regression),
each with its own metrics, and the averaging of each multi-class score said beside it.
"""

from __future__ import annotations

import logging
from typing import Any

import pandas as pd

from reprotrain import fileio
from reprotrain.fileio import atomic_write_bytes
from reprotrain.ml import evaluate, figures
from reprotrain.ml.html import Spread, page, table

log = logging.getLogger(__name__)

RUN_KEYS = ("dataset", "version", "seed", "model")
# The plot's panels per kind of task: (metrics drawn side by side, y axis label).
PANELS = {
    evaluate.CLASSIFICATION: (
        (("accuracy", "balanced_accuracy", "roc_auc", "f1"), "score (higher is better)"),
        (("log_loss",), "log loss (lower is better)"),
    ),
    evaluate.REGRESSION: (
        (("rmse", "mae"), "error, in the target's unit (lower is better)"),
        (("r2",), "R² (higher is better)"),
    ),
}
TASK_ORDER = ("binary", "multiclass", "regression")


def summary_frame(metrics_paths: list[str], runs: list[dict[str, Any]]) -> pd.DataFrame:
    """Every run's metrics, a row each: the run's keys, its task, its kind's metrics (the
    other kind's columns empty)."""
    rows, kinds = [], []
    for path, run in zip(metrics_paths, runs, strict=True):
        metrics = fileio.read_json(path, what="metrics record")
        kind = evaluate.kind_of(metrics["task"])
        kinds.append(kind)
        rows.append(
            {key: run[key] for key in RUN_KEYS}
            | {"task": metrics["task"]}
            | {name: metrics[name] for name in evaluate.METRICS[kind]}
        )
    columns = [
        *RUN_KEYS,
        "task",
        *(name for kind in evaluate.METRICS if kind in kinds for name in evaluate.METRICS[kind]),
    ]
    frame = pd.DataFrame(rows, columns=columns)
    frame["seed"] = frame["seed"].astype(int)
    return frame.sort_values(list(RUN_KEYS), kind="stable").reset_index(drop=True)


def _section(task: str, runs: pd.DataFrame) -> str:
    """One task's runs and their mean and spread over seeds."""
    metrics = list(evaluate.METRICS[evaluate.kind_of(task)])
    note = ""
    if task == "binary":
        note = (
            "<p>ROC AUC and F1 of the positive class: the second class in sorted order, "
            "which each run's metrics.json names. Balanced accuracy: the mean of the recall "
            "of each class.</p>"
        )
    elif task == "multiclass":
        averaging = evaluate.averaging(task, [])
        note = (
            f"<p>ROC AUC: {averaging['roc_auc']}. F1: {averaging['f1']}. Balanced accuracy: "
            "the mean of the recall of each class.</p>"
        )
    by_model = (
        runs.groupby(["dataset", "version", "model"], sort=True)[metrics]
        .agg(["mean", "std"])
        .reset_index()
    )
    # One cell per metric, "mean ± std": the table stays as wide as the runs' own.
    spread_header = [
        "dataset",
        "version",
        "model",
        *(f"{metric} (mean ± std)" for metric in metrics),
    ]
    spread_rows = [
        [
            row[0],
            row[1],
            row[2],
            *(Spread(row[3 + 2 * i], row[4 + 2 * i]) for i in range(len(metrics))),
        ]
        for row in by_model.itertuples(index=False)
    ]
    return (
        f"<h2>{task.capitalize()} tasks: every run</h2>"
        + note
        + table([*RUN_KEYS, *metrics], runs[[*RUN_KEYS, *metrics]].astype(object).values.tolist())
        + f"<h2>{task.capitalize()} tasks: mean and standard deviation over "
        + f"{runs['seed'].nunique()} seed(s)</h2>"
        + table(spread_header, spread_rows)
    )


def summarize(
    metrics_paths: list[str],
    runs: list[dict[str, Any]],
    table_out: str,
    html_out: str,
    plot_out: str,
) -> None:
    """The sweep's comparison: every run's metrics, their mean and spread over seeds, a plot."""
    frame = summary_frame(metrics_paths, runs)
    atomic_write_bytes(table_out, frame.to_csv(index=False, float_format="%.10g").encode())
    tasks = [task for task in TASK_ORDER if task in set(frame["task"])]
    body = "".join(_section(task, frame[frame["task"] == task]) for task in tasks)
    atomic_write_bytes(html_out, page("Sweep summary: test-split metrics", body))
    labelled = frame.assign(
        run=frame["model"]
        + "\n"
        + frame["dataset"]
        + " "
        + frame["version"]
        + ", seed "
        + frame["seed"].astype(str)
    )
    kind = evaluate.kind_of(tasks[0])
    figures.comparison(labelled, PANELS[kind], plot_out)
    log.info("summarized %d run(s)", len(frame))
