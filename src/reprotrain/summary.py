"""The sweep's summary: every run's test-split metrics as a table, an HTML page and a plot."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import pandas as pd

from reprotrain import figures
from reprotrain.fileio import atomic_write_bytes
from reprotrain.report import page, table

log = logging.getLogger(__name__)

METRICS = ("accuracy", "roc_auc", "f1", "log_loss")
PLOTTED = ("accuracy", "roc_auc", "f1")
RUN_KEYS = ("dataset", "version", "seed", "model")


def summary_frame(metrics_paths: list[str], runs: list[dict[str, Any]]) -> pd.DataFrame:
    rows = []
    for path, run in zip(metrics_paths, runs, strict=True):
        metrics = json.loads(Path(path).read_text(encoding="utf-8"))
        rows.append({key: run[key] for key in RUN_KEYS} | {m: metrics[m] for m in METRICS})
    frame = pd.DataFrame(rows, columns=[*RUN_KEYS, *METRICS])
    frame["seed"] = frame["seed"].astype(int)
    return frame.sort_values(list(RUN_KEYS), kind="stable").reset_index(drop=True)


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
    by_model = (
        frame.groupby(["dataset", "version", "model"], sort=True)[list(METRICS)]
        .agg(["mean", "std"])
        .reset_index()
    )
    spread_header = ["dataset", "version", "model"] + [
        f"{metric} {stat}" for metric in METRICS for stat in ("mean", "std")
    ]
    spread_rows = [
        [row[0], row[1], row[2], *(None if pd.isna(v) else float(v) for v in row[3:])]
        for row in by_model.itertuples(index=False)
    ]
    body = (
        "<h2>Every run</h2>"
        + table([*RUN_KEYS, *METRICS], frame.astype(object).values.tolist())
        + f"<h2>Mean and standard deviation over {frame['seed'].nunique()} seed(s)</h2>"
        + table(spread_header, spread_rows)
    )
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
    figures.comparison(labelled, PLOTTED, plot_out)
    log.info("summarized %d run(s)", len(frame))
