"""The run's layout: every output declared once, covered or not, with its paths."""

import pytest

from reprotrain import layout

RUN = "results/runs/breast_cancer/v1.0/seed-42"


def one_run(results="results"):
    return layout.Layout(
        results, tuple(layout.combinations([("breast_cancer", "v1.0")], [42], ["hgb"]))
    )


def test_one_run_covers_its_split_its_model_and_the_environment_but_no_comparison():
    covered = one_run().covered
    assert set(covered) == {
        f"{RUN}/data/train.npy",
        f"{RUN}/data/test.npy",
        f"{RUN}/data/data.json",
        f"{RUN}/hgb/model.pkl",
        f"{RUN}/hgb/model_card.json",
        f"{RUN}/hgb/metrics.json",
        f"{RUN}/hgb/roc.svg",
        f"{RUN}/hgb/confusion.svg",
        "results/environment.json",
    }
    assert covered[f"{RUN}/hgb/metrics.json"] == (
        "metrics",
        {"dataset": "breast_cancer", "version": "v1.0", "seed": 42, "model": "hgb"},
    )


def test_a_sweep_covers_every_combination_and_the_comparison():
    sweep = layout.Layout(
        "results-sweep",
        tuple(layout.combinations([("d", "v1"), ("d", "v2")], [1, 2], ["a", "b"])),
    )
    covered = sweep.covered
    assert len(sweep.runs) == 8
    # 4 splits x 3 files + 8 model runs x 5 files + environment + 3 comparison files
    assert len(covered) == 4 * 3 + 8 * 5 + 1 + 3
    assert "results-sweep/summary/comparison.svg" in covered
    assert sweep.paths_of("metrics")[0] == "results-sweep/runs/d/v1/seed-1/a/metrics.json"
    assert sweep.logs == "logs/results-sweep"
    assert sweep.log("train", layout.SPLIT_MODEL) == (
        "logs/results-sweep/train/{dataset}/{version}/seed-{seed}/{model}.log"
    )


def test_intermediates_are_neither_covered_nor_listed_as_uncovered():
    run = one_run()
    assert run.uncovered == [
        "results/manifest.json",
        "results/checksum.json",
        "results/report/provenance.html",
        "results/report.html",
        "results/crate.zip",
    ]
    everything = set(run.covered) | set(run.uncovered)
    assert not any(path.endswith(("estimator.pkl", "training.json")) for path in everything)
    assert run.out["estimator"] == f"results/runs/{layout.SPLIT_MODEL}/estimator.pkl"


def test_an_output_is_declared_once():
    twice = (*layout.OUTPUTS, layout.Output("model", "other.pkl", "model"))
    with pytest.raises(ValueError, match="output 'model' is declared twice"):
        layout.Layout("results", (), twice)
