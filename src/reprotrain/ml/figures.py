"""The report's figures, as SVG whose bytes depend only on the data and the locked matplotlib."""

from __future__ import annotations

import io
from collections.abc import Sequence
from typing import Any

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np

from reprotrain.fileio import atomic_write_bytes

# SVG element ids are random and the file carries a date unless told otherwise; text is
# drawn as paths so no font on the viewing machine changes the picture.
_STYLE = {
    "svg.hashsalt": "reprotrain",
    "svg.fonttype": "path",
    "font.family": "DejaVu Sans",
    "figure.figsize": (5.0, 4.2),
    "axes.grid": False,
}
_METADATA = {"Date": None}


def _styled(more: dict[str, Any] | None = None) -> Any:
    """matplotlib's own defaults with the figures' style on top: a matplotlibrc of the
    user's (in the working directory, the home directory or MATPLOTLIBRC) styles nothing."""
    return plt.style.context(["default", _STYLE | (more or {})])


def _save(figure: Any, out: str) -> None:
    buffer = io.StringIO()
    figure.savefig(buffer, format="svg", metadata=_METADATA, bbox_inches="tight")
    plt.close(figure)
    atomic_write_bytes(out, buffer.getvalue().encode("utf-8"))


def roc_curve(
    target: Any, probabilities: Any, classes: Sequence[Any], title: str, out: str
) -> None:
    """The ROC curve of the positive class (binary), or one-vs-rest for each class."""
    from sklearn.metrics import RocCurveDisplay  # not imported by the sweep summary

    with _styled():
        figure, axes = plt.subplots()
        binary = len(classes) == 2
        curves = [(1, classes[1])] if binary else list(enumerate(classes))
        for column, label in curves:
            RocCurveDisplay.from_predictions(
                np.asarray(target) == label,
                probabilities[:, column],
                name=f"{label} (positive class)" if binary else f"{label} vs rest",
                ax=axes,
                plot_chance_level=label == curves[-1][1],
            )
        axes.set_xlabel("false positive rate")
        axes.set_ylabel("true positive rate")
        axes.set_title(title if binary else f"{title}\none-vs-rest per class")
        _save(figure, out)


def confusion_matrix(matrix: list[list[int]], classes: Sequence[Any], title: str, out: str) -> None:
    from sklearn.metrics import ConfusionMatrixDisplay

    with _styled():
        figure, axes = plt.subplots()
        ConfusionMatrixDisplay(np.asarray(matrix), display_labels=list(classes)).plot(
            ax=axes, colorbar=False, cmap="Blues", values_format="d"
        )
        axes.set_title(title)
        _save(figure, out)


# A regression's two figures (PredictionErrorDisplay kinds), by output.
REGRESSION_FIGURES = ("actual_vs_predicted", "residual_vs_predicted")


def prediction_errors(
    target: Any, predictions: Any, kind: str, title: str, out: str, scores: str = ""
) -> None:
    """A regression's figure of kind ``actual_vs_predicted`` (each prediction against its
    true value, with the line of perfect ones) or ``residual_vs_predicted`` (true minus
    predicted, against the prediction). Every test row is drawn: no random subsample.
    The axes name the target (``target``'s name); ``scores`` (R², RMSE) go in a corner."""
    from sklearn.metrics import PredictionErrorDisplay

    name = getattr(target, "name", None) or "target"
    with _styled():
        figure, axes = plt.subplots()
        PredictionErrorDisplay.from_predictions(
            target, predictions, kind=kind, subsample=None, ax=axes
        )
        axes.set_xlabel(f"predicted {name}")
        axes.set_ylabel(
            f"true {name}"
            if kind == "actual_vs_predicted"
            else f"residual: true - predicted {name}"
        )
        if scores:
            axes.text(
                0.03, 0.97, scores, transform=axes.transAxes, va="top", ha="left", fontsize=9,
                bbox={"boxstyle": "round", "facecolor": "white", "edgecolor": "#bbbbbb"},
            )  # fmt: skip
        axes.set_title(title)
        _save(figure, out)


def comparison(frame: Any, panels: Sequence[tuple[Sequence[str], str]], out: str) -> None:
    """One panel per group of comparable metrics (scores, a loss, an error), one group of
    bars per run of the sweep. ``panels``: (metrics, y label). Each axis is scaled to its
    values, not forced from 0 to 1: 0.80 against 0.86 is a visible step."""
    width_inches = max(5.0, 1.1 * len(frame) + 2)
    with _styled({"figure.figsize": (width_inches, 3.4 * len(panels))}):
        figure, axes_list = plt.subplots(len(panels), 1, sharex=True, squeeze=False)
        positions = np.arange(len(frame))
        for axes, (metrics, label) in zip(axes_list[:, 0], panels, strict=True):
            width = 0.8 / len(metrics)
            low, high = value_limits([float(v) for m in metrics for v in frame[m]])
            for index, metric in enumerate(metrics):
                offset = (index - (len(metrics) - 1) / 2) * width  # centred on the run
                axes.bar(positions + offset, frame[metric] - low, width, bottom=low, label=metric)
            axes.set_ylim(low, high)
            axes.set_ylabel(label)
            axes.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
        bottom = axes_list[-1, 0]
        bottom.set_xticks(positions, frame["run"], rotation=30)
        for tick in bottom.get_xticklabels():
            tick.set_horizontalalignment("right")
        axes_list[0, 0].set_title("Sweep: test-split metrics per run")
        _save(figure, out)


def value_limits(values: Sequence[float], pad: float = 0.15) -> tuple[float, float]:
    """An axis range around the values, not from zero: differences of a few hundredths
    stay visible. A single value (or equal ones) gets a small window around it."""
    finite = [value for value in values if np.isfinite(value)]
    if not finite:
        return 0.0, 1.0
    low, high = min(finite), max(finite)
    span = high - low or max(abs(high) * 0.05, 1e-3)
    return low - pad * span, high + pad * span


def leaderboard(panels: Sequence[tuple[str, Sequence[str], Sequence[float]]], out: str) -> None:
    """Horizontal bars, best first from the top: one panel per (metric label, run labels,
    values)."""
    height = sum(0.45 * len(labels) + 1.2 for _, labels, _ in panels)
    longest = max((len(label) for _, labels, _ in panels for label in labels), default=10)
    with _styled({"figure.figsize": (4.0 + 0.07 * longest, max(2.5, height))}):
        figure, axes_list = plt.subplots(
            len(panels),
            1,
            squeeze=False,
            height_ratios=[max(1, len(labels)) for _, labels, _ in panels],
        )
        for axes, (label, labels, values) in zip(axes_list[:, 0], panels, strict=True):
            positions = np.arange(len(labels))[::-1]
            low, high = value_limits(values)
            axes.barh(positions, np.asarray(values) - low, left=low, color="#4c72b0")
            axes.set_xlim(low, high)
            axes.set_yticks(positions, labels)
            axes.set_xlabel(label)
            for position, value in zip(positions, values, strict=True):
                axes.text(value, position, f" {value:.4f}", va="center", fontsize=8)
        axes_list[0, 0].set_title("Model runs, best first")
        _save(figure, out)
