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


def _save(figure: Any, out: str) -> None:
    buffer = io.StringIO()
    figure.savefig(buffer, format="svg", metadata=_METADATA, bbox_inches="tight")
    plt.close(figure)
    atomic_write_bytes(out, buffer.getvalue().encode("utf-8"))


def roc_curve(target, probabilities, classes: Sequence[int], title: str, out: str) -> None:
    """The ROC curve of the positive class (one curve per class when there are more)."""
    from sklearn.metrics import RocCurveDisplay  # not imported by the sweep summary

    with plt.rc_context(_STYLE):
        figure, axes = plt.subplots()
        curves = [(1, classes[1])] if len(classes) == 2 else list(enumerate(classes))
        for column, label in curves:
            RocCurveDisplay.from_predictions(
                np.asarray(target) == label,
                probabilities[:, column],
                name=f"class {label}",
                ax=axes,
                plot_chance_level=label == curves[-1][1],
            )
        axes.set_title(title)
        _save(figure, out)


def confusion_matrix(matrix: list[list[int]], classes: Sequence[int], title: str, out: str):
    from sklearn.metrics import ConfusionMatrixDisplay

    with plt.rc_context(_STYLE):
        figure, axes = plt.subplots()
        ConfusionMatrixDisplay(np.asarray(matrix), display_labels=list(classes)).plot(
            ax=axes, colorbar=False, cmap="Blues", values_format="d"
        )
        axes.set_title(title)
        _save(figure, out)


def comparison(frame, metrics: Sequence[str], out: str) -> None:
    """One group of bars per run of the sweep, one bar per metric."""
    with plt.rc_context(_STYLE | {"figure.figsize": (max(5.0, 1.1 * len(frame) + 2), 4.2)}):
        figure, axes = plt.subplots()
        positions = np.arange(len(frame))
        width = 0.8 / len(metrics)
        for index, metric in enumerate(metrics):
            axes.bar(positions + index * width, frame[metric], width, label=metric)
        axes.set_xticks(positions + width * (len(metrics) - 1) / 2, frame["run"], rotation=30)
        for label in axes.get_xticklabels():
            label.set_horizontalalignment("right")
        low = float(frame[list(metrics)].to_numpy().min())
        axes.set_ylim(max(0.0, low - 0.02), 1.0)
        axes.set_ylabel("score on the test split")
        axes.set_title("Sweep: test-split metrics per run")
        axes.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
        _save(figure, out)
