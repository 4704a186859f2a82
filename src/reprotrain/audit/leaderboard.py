"""`reprotrain compare`: several runs (results directories, manifests, overlays, sweeps) as
one leaderboard of test-split metrics, with the params that differ between the model runs.

Every number comes from a file its run's manifest covers, hashed on disk in this call
(``manifest.verify_on_disk``), read through reprotrain.audit.model_runs. Model runs are
ranked like with like: one board per kind of task (classification, regression), each
ranked by one metric, best first; ties keep the order the runs were given in.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from reprotrain.audit import model_runs
from reprotrain.audit.comparison import run_root
from reprotrain.errors import ReprotrainError
from reprotrain.ml.evaluate import METRICS, THRESHOLDS, kind_of
from reprotrain.records import manifest

# Whether a higher value of a metric is better, as the thresholds say (min_/max_).
HIGHER_IS_BETTER = {metric: higher for metric, higher, _ in THRESHOLDS.values()}
DEFAULT_RANKING = {"classification": "roc_auc", "regression": "rmse"}


@dataclass(frozen=True)
class Row:
    source: str  # the run as it was given
    run: model_runs.ModelRun

    @property
    def kind(self) -> str:
        return kind_of(str(self.run.metrics.get("task")))


@dataclass(frozen=True)
class Board:
    kind: str
    ranked_by: str
    rows: list[Row]
    metrics: tuple[str, ...]
    differing: list[str]  # params whose values are not the same in every row


def load(manifest_path: Path, source: str) -> list[Row]:
    """A run's model runs, its covered files hashed on disk first."""
    document = manifest.load(manifest_path, "run manifest")
    root = run_root(manifest_path, document)
    manifest.verify_on_disk(document, str(manifest_path), root)
    return [Row(source, run) for run in model_runs.model_runs(document, root)]


def boards(rows: Sequence[Row], ranked_by: str | None = None) -> list[Board]:
    """One board per kind of task present, ranked by ``ranked_by`` where it is one of the
    kind's metrics (else by the kind's default)."""
    found = []
    for kind, metrics in METRICS.items():
        of_kind = [row for row in rows if row.kind == kind]
        if not of_kind:
            continue
        metric = ranked_by if ranked_by in metrics else DEFAULT_RANKING[kind]
        sign = -1.0 if HIGHER_IS_BETTER[metric] else 1.0
        ranked = sorted(
            of_kind, key=lambda row: sign * float(row.run.scores.get(metric, float("nan")))
        )
        found.append(Board(kind, metric, ranked, metrics, differing_params(of_kind)))
    if ranked_by is not None and not any(board.ranked_by == ranked_by for board in found):
        every = sorted({metric for board in found for metric in board.metrics})
        raise ReprotrainError(
            "compare", "--by", f"{ranked_by!r} is no metric of these runs", f"one of {every}"
        )
    return found


# The run's key names these already.
_IN_KEY = frozenset({"dataset", "data_version", "seed", "model", "estimator"})


def differing_params(rows: Sequence[Row]) -> list[str]:
    """The params that tell model runs of the same model apart: among the runs of each
    model, those every one of them states, with more than one value. (Two models' own
    hyperparameters are not compared with each other: the model column says it.)"""
    differing: set[str] = set()
    for model in {row.run.params["model"] for row in rows}:
        same = [row.run.params for row in rows if row.run.params["model"] == model]
        shared = {
            name
            for name in set.intersection(*(set(params) for params in same)) - _IN_KEY
            if not name.endswith("random_state")  # the seed, which the key names
        }
        differing |= {name for name in shared if len({p[name] for p in same}) > 1}
    return sorted(differing)


def _cell(value: str | None, width: int = 24) -> str:
    """A param's value on one line, cut to ``width``."""
    text = " ".join((value if value is not None else "-").split())
    return text if len(text) <= width else text[: width - 1] + "…"


def to_json(found: Sequence[Board]) -> dict[str, Any]:
    return {
        "boards": [
            {
                "kind": board.kind,
                "ranked_by": board.ranked_by,
                "higher_is_better": HIGHER_IS_BETTER[board.ranked_by],
                "differing_params": board.differing,
                "rows": [
                    {
                        "rank": rank,
                        "source": row.source,
                        "run": row.run.key,
                        "metrics": {m: row.run.scores.get(m) for m in board.metrics},
                        "params": {name: row.run.params.get(name) for name in board.differing},
                    }
                    for rank, row in enumerate(board.rows, 1)
                ],
            }
            for board in found
        ]
    }


def _label(row: Row, sources: int) -> str:
    return f"{row.source}: {row.run.key}" if sources > 1 else row.run.key


def format_text(found: Sequence[Board]) -> str:
    """A terminal table per board: rank, run, metrics (4 decimals), the differing params."""
    blocks = []
    for board in found:
        sources = len({row.source for row in board.rows})
        order = "higher" if HIGHER_IS_BETTER[board.ranked_by] else "lower"
        header = ["#", "run", *board.metrics, *board.differing]
        lines = [header]
        for rank, row in enumerate(board.rows, 1):
            scores = row.run.scores
            lines.append(
                [
                    str(rank),
                    _label(row, sources),
                    *(f"{scores[m]:.4f}" if m in scores else "-" for m in board.metrics),
                    *(_cell(row.run.params.get(name)) for name in board.differing),
                ]
            )
        widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
        title = (
            f"{board.kind}: {len(board.rows)} model run(s), ranked by {board.ranked_by} "
            f"({order} is better)"
        )
        table = [
            "  ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True)).rstrip()
            for line in lines
        ]
        table.insert(1, "  ".join("-" * width for width in widths))
        if not board.differing:
            table.append("(runs of the same model differ in no param but the seed)")
        blocks.append("\n".join([title, *table]))
    return "\n\n".join(blocks)


def figure(found: Sequence[Board], out: str) -> None:
    """The ranking metric of every model run, one panel per board, the axis scaled to the
    values (a 0.80 against a 0.86 is visible)."""
    from reprotrain.ml import figures

    figures.leaderboard(
        [
            (
                f"{board.ranked_by} ({'higher' if HIGHER_IS_BETTER[board.ranked_by] else 'lower'}"
                " is better)",
                [_label(row, len({r.source for r in board.rows})) for row in board.rows],
                [row.run.scores.get(board.ranked_by, float("nan")) for row in board.rows],
            )
            for board in found
        ],
        out,
    )
