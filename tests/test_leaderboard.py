"""compare's boards: ranking and the params that tell runs apart, on generated runs."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from reprotrain.audit import leaderboard
from reprotrain.audit.model_runs import ModelRun
from reprotrain.errors import ReprotrainError


def model_run(index: int, model: str, task: str, scores: dict, params: dict) -> ModelRun:
    card = {
        "data": {"name": "d", "version": "v1", "split": {"seed": index, "test_fraction": 0.25}},
        "model": {"type": model, "estimator": model.title(), "hyperparameters": params},
    }
    return ModelRun(f"d/v1/seed-{index}/{model}", f"r/{index}/model_card.json", card,
                    scores | {"task": task})  # fmt: skip


SCORE = st.floats(0, 1, allow_nan=False)
RUNS = st.lists(
    st.tuples(
        st.sampled_from(["a", "b"]),
        st.sampled_from(["binary", "multiclass", "regression"]),
        st.fixed_dictionaries(
            {"accuracy": SCORE, "roc_auc": SCORE, "log_loss": SCORE, "rmse": SCORE, "r2": SCORE}
        ),
        st.dictionaries(st.sampled_from(["alpha", "depth", "random_state"]), st.integers(0, 2)),
    ),
    min_size=1,
    max_size=8,
)


@given(runs=RUNS, by=st.sampled_from([None, "accuracy", "log_loss", "r2"]))
def test_boards_rank_best_first_and_name_exactly_the_params_that_differ(runs, by):
    rows = [
        leaderboard.Row(f"source-{i % 2}", model_run(i, model, task, scores, params))
        for i, (model, task, scores, params) in enumerate(runs)
    ]
    try:
        boards = leaderboard.boards(rows, by)
    except ReprotrainError as error:
        assert by is not None and error.field == "--by"
        kinds = {leaderboard.kind_of(task) for _, task, _, _ in runs}
        assert all(by not in leaderboard.METRICS[kind] for kind in kinds)
        return
    assert sum(len(board.rows) for board in boards) == len(rows)
    for board in boards:
        values = [row.run.scores[board.ranked_by] for row in board.rows]
        higher = leaderboard.HIGHER_IS_BETTER[board.ranked_by]
        assert values == sorted(values, reverse=higher)
        for name in {key for row in board.rows for key in row.run.params}:
            by_model: dict[str, set] = {}
            stating = {}
            for row in board.rows:
                by_model.setdefault(row.run.params["model"], set()).add(
                    row.run.params.get(name, "<absent>")
                )
                stating.setdefault(row.run.params["model"], []).append(name in row.run.params)
            tells_apart = any(
                all(stating[model]) and len(values_) > 1 for model, values_ in by_model.items()
            )
            expected = tells_apart and name.startswith("model.") and "random_state" not in name
            assert (name in board.differing) == expected, (name, board.differing)
    text = leaderboard.format_text(boards)
    assert all(f"ranked by {board.ranked_by}" in text for board in boards)
    assert leaderboard.to_json(boards)["boards"][0]["rows"][0]["rank"] == 1


def test_an_unknown_ranking_metric_is_one_message():
    rows = [leaderboard.Row("s", model_run(1, "a", "binary", {"accuracy": 0.5}, {}))]
    with pytest.raises(ReprotrainError, match="is no metric of these runs"):
        leaderboard.boards(rows, "accuracy_typo")


def test_the_axis_is_scaled_to_the_values_not_to_zero():
    from reprotrain.ml import figures

    low, high = figures.value_limits([0.80, 0.86])
    assert 0.7 < low < 0.80 and 0.86 < high < 0.9
    low, high = figures.value_limits([0.5])
    assert low < 0.5 < high
