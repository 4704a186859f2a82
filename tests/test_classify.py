"""audit.classify on hand-built manifests: why each differing output changed."""

from __future__ import annotations

import copy

import pytest

from reprotrain import audit

SPLIT = "results/runs/d/v1/seed-1"
TRAIN = f"{SPLIT}/data/train.npy"
MODEL = f"{SPLIT}/m/model.pkl"
METRICS = f"{SPLIT}/m/metrics.json"


def entry(sha, rule, inputs, params="p", code="c", pattern=None):
    return {
        "sha256": sha,
        "rule": rule,
        "pattern": pattern or rule,
        "inputs": {
            name: {"kind": kind, "sha256": digest} for name, (kind, digest) in inputs.items()
        },
        "params_digest": params,
        "code_digest": code,
    }


def manifest():
    """preprocess -> train/save (model.pkl) -> validate (metrics.json), one run."""
    return {
        "files": {
            TRAIN: entry(
                "t1", "preprocess", {"dataset": ("data", "d1"), "hardware": ("hardware", "h1")}
            ),
            MODEL: entry("m1", "save", {TRAIN: ("output", "t1"), "hardware": ("hardware", "h1")}),
            METRICS: entry("x1", "validate", {MODEL: ("output", "m1")}),
        },
        "provenance": {
            "data": {"d/v1": {"sha256": "d1"}},
            "params_digest": "run-params",
            "config_digest": "config",
            "code": {"digest": "code"},
            "environment": {"packages": {"numpy": "2.3.5"}, "hardware": {"simd": "x86-64-v3"}},
        },
    }


def by_path(differences):
    return {d.path: d for d in differences}


def test_identical_manifests_have_no_difference():
    assert audit.classify(manifest(), manifest()) == []
    assert audit.status([]) == audit.IDENTICAL


def test_new_data_explains_its_split_and_everything_downstream():
    before, after = manifest(), manifest()
    after["files"][TRAIN] |= {"sha256": "t2"}
    after["files"][TRAIN]["inputs"]["dataset"]["sha256"] = "d2"
    after["files"][MODEL] |= {"sha256": "m2"}
    after["files"][MODEL]["inputs"][TRAIN]["sha256"] = "t2"
    after["provenance"]["data"] = {"d/v1": {"sha256": "d2"}}
    after["provenance"]["config_digest"] = "config-2"

    found = by_path(audit.classify(before, after))

    assert found[TRAIN].causes == [audit.DATA]
    assert found[MODEL].causes == [audit.UPSTREAM]
    assert found[MODEL].upstream == [TRAIN]
    assert found[MODEL].root_causes == [audit.DATA]
    assert METRICS not in found  # same bytes: nothing to explain
    assert audit.status(list(found.values())) == audit.EXPLAINED


def test_a_changed_hyperparameter_is_params_and_a_changed_kernel_is_hardware():
    before, after = manifest(), manifest()
    after["files"][MODEL] |= {"sha256": "m2", "params_digest": "p2"}
    after["provenance"]["config_digest"] = "config-2"
    assert by_path(audit.classify(before, after))[MODEL].causes == [audit.PARAMS]

    after = manifest()
    after["files"][MODEL] |= {"sha256": "m2"}
    after["files"][MODEL]["inputs"]["hardware"]["sha256"] = "h2"
    assert by_path(audit.classify(before, after))[MODEL].causes == [audit.HARDWARE]


def test_other_bytes_with_nothing_changed_are_nondeterminism():
    before, after = manifest(), manifest()
    after["files"][METRICS] |= {"sha256": "x2"}

    (difference,) = audit.classify(before, after)

    assert difference.unexplained
    assert difference.causes == [audit.NONDETERMINISM]
    assert audit.status([difference]) == audit.UNEXPLAINED


def test_params_that_changed_with_the_same_config_and_code_point_at_the_driver():
    before, after = manifest(), manifest()
    after["files"][MODEL] |= {"sha256": "m2", "params_digest": "p2"}

    (difference,) = audit.classify(before, after)

    assert difference.causes == [audit.NONDETERMINISM]
    assert difference.note == audit.DRIVER_PARAMS


def test_a_moved_output_is_paired_by_its_pattern_and_the_run_inputs_explain_the_rest():
    before, after = manifest(), manifest()
    # Another seed: every path moves; paired by pattern, the split's data input changed.
    moved = {
        path.replace("seed-1", "seed-2"): copy.deepcopy(e) for path, e in after["files"].items()
    }
    moved[TRAIN.replace("seed-1", "seed-2")] |= {"sha256": "t2", "params_digest": "p2"}
    after["files"] = moved
    after["provenance"]["config_digest"] = "config-2"

    found = by_path(audit.classify(before, after))

    train = found[TRAIN.replace("seed-1", "seed-2")]
    assert train.path_in_a == TRAIN
    assert train.causes == [audit.PARAMS]


@pytest.mark.parametrize(
    ("change", "cause"),
    [
        (lambda p: p["environment"]["packages"].update(numpy="2.4.0"), audit.ENVIRONMENT),
        (lambda p: p["code"].update(digest="code-2"), audit.CODE),
    ],
    ids=["environment", "code"],
)
def test_an_output_only_one_run_made_is_explained_by_what_changed_for_the_whole_run(change, cause):
    before, after = manifest(), manifest()
    after["files"][f"{SPLIT}/m/extra.svg"] = entry("e1", "validate", {})
    change(after["provenance"])

    (difference,) = audit.classify(before, after)

    assert difference.change == "only in B"
    assert difference.causes == [cause]


def in_results(document, results):
    """The manifest of the same run written to another results directory."""
    rebased = audit._rebased(document, "results", results)
    return rebased | {"uncovered": [f"{results}/manifest.json"]}


def test_runs_in_two_results_directories_are_paired_output_by_output():
    before = manifest() | {"uncovered": ["results/manifest.json"]}
    after = in_results(manifest(), "results-other")
    after["provenance"]["config_digest"] = "config-2"  # results: results-other
    assert audit.results_directory(after) == "results-other"
    # Identical outputs: neither "data" (a changed config) nor "only in A/B".
    assert audit.classify(before, after) == []

    after["files"][MODEL.replace("results", "results-other")] |= {
        "sha256": "m2",
        "params_digest": "p2",
    }
    (changed,) = audit.classify(before, after)
    assert changed.path == MODEL.replace("results", "results-other")
    assert changed.path_a == MODEL and changed.causes == [audit.PARAMS]


def test_a_changed_parameter_is_named_with_its_values(tmp_path):
    import json

    from reprotrain.hashing import sha256_bytes

    def run(root, learning_rate):
        card = {
            "data": {"split": {"seed": 1, "test_fraction": 0.25}},
            "model": {
                "type": "m",
                "hyperparameters": {"learning_rate": learning_rate, "max_iter": 5},
            },
        }
        document = manifest() | {"uncovered": ["results/manifest.json"]}
        path = root / SPLIT / "m/model_card.json"
        path.parent.mkdir(parents=True)
        path.write_text(json.dumps(card))
        document["files"][f"{SPLIT}/m/model_card.json"] = entry(
            sha256_bytes(path.read_bytes()), "save", {TRAIN: ("output", "t1")}
        )
        return document

    before = run(tmp_path / "a", 0.1)
    after = run(tmp_path / "b", 0.05)
    after["files"][MODEL] |= {"sha256": "m2", "params_digest": "p2"}
    after["provenance"]["config_digest"] = "config-2"
    differences = audit.classify(before, after)
    audit.name_changed_params(differences, before, after, tmp_path / "a", tmp_path / "b")
    model = by_path(differences)[MODEL]
    assert model.params_changed == ["model.learning_rate: 0.1 -> 0.05"]
    assert "params (model.learning_rate: 0.1 -> 0.05)" in audit.format_report(differences, "A", "B")

    # A record whose bytes are not the ones its manifest covers is not read.
    (tmp_path / "b" / SPLIT / "m/model_card.json").write_text("{}")
    audit.name_changed_params(differences, before, after, tmp_path / "a", tmp_path / "b")
    assert by_path(differences)[MODEL].params_changed == []


def test_explain_shows_the_changed_keys_before_the_bounded_bytes(tmp_path):
    import json
    import shutil

    if shutil.which("diffoscope") is None:
        pytest.skip("diffoscope is not installed (make test installs it)")
    a, b = tmp_path / "a", tmp_path / "b"
    for root, rate in ((a, 0.1), (b, 0.05)):
        (root / SPLIT / "m").mkdir(parents=True)
        (root / METRICS).write_text(json.dumps({"accuracy": rate, "blob": "x" * 50_000}))
        (root / MODEL).write_bytes(bytes(range(256)) * 400 + str(rate).encode())
    differences = [
        audit.Difference(METRICS, "changed", [audit.PARAMS]),
        audit.Difference(MODEL, "changed", [audit.PARAMS]),
    ]
    text = audit.explain(differences, a, b)
    keys = text.index(f"{METRICS}:\n  accuracy: 0.1 -> 0.05")
    assert keys < text.index("Byte by byte")
    assert len(text) < 4 * audit.EXPLAIN_BYTES


def test_upstream_is_named_relative_to_the_row_and_summarised_when_many():
    near = audit.Difference(
        METRICS, "changed", [audit.UPSTREAM], [MODEL, TRAIN], root_causes=[audit.PARAMS]
    )
    assert audit._detail(near) == "upstream: model.pkl, ../data/train.npy (root cause: params)"
    summary = "results/summary/metrics.csv"
    sweep = [f"results/runs/d/v1/seed-{seed}/m/metrics.json" for seed in range(64)]
    many = audit.Difference(summary, "changed", [audit.UPSTREAM], sweep, root_causes=[audit.PARAMS])
    assert audit._detail(many) == "upstream: 64 outputs (metrics.json) (root cause: params)"
    assert len(audit.format_report([many], "A", "B").splitlines()[3]) < 120


def test_explain_names_the_columns_of_a_split_table_that_changed(tmp_path):
    import numpy as np
    import pandas as pd

    from reprotrain import tables

    before = pd.DataFrame({"x": [1.0, np.nan, 3.0], "y": [1.0, 2.0, 3.0], "target": [0, 1, 0]})
    after = pd.DataFrame({"x": [1.0, np.nan, 4.0], "z": [1.0, 2.0, 3.0], "target": [0, 1, 1]})
    tables.write_table(before, tmp_path / "a.npy")
    tables.write_table(after, tmp_path / "b.npy")
    assert audit.semantic_changes(tmp_path / "a.npy", tmp_path / "b.npy") == [
        "  column x: 1 of 3 values differ",  # the gap in both rows is no difference
        "  column y: removed",
        "  column target: 1 of 3 values differ",
        "  column z: added",
    ]
    tables.write_table(after.iloc[:2], tmp_path / "c.npy")
    assert audit.semantic_changes(tmp_path / "b.npy", tmp_path / "c.npy") == ["  rows: 3 -> 2"]
