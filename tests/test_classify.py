"""audit.classify on hand-built manifests: why each differing output changed."""

from __future__ import annotations

import copy

import pytest
from hypothesis import given
from hypothesis import strategies as st

from reprotrain.audit import comparison, explain

SPLIT = "results/runs/d/v1/seed-1"
TRAIN = f"{SPLIT}/data/train.npy"
MODEL = f"{SPLIT}/m/model.pkl"
METRICS = f"{SPLIT}/m/metrics.json"


ENVIRONMENT = "results/environment.json"
PYTHON = {"implementation": "cpython", "version": "3.12.1", "build": "3.12.1 (main) [GCC 12.2.0]"}


def entry(sha, rule, inputs, params="p", code="c", pattern=None, role="artifact"):
    return {
        "sha256": sha,
        "rule": rule,
        "role": role,
        "pattern": pattern or rule,
        "inputs": {
            name: {"kind": kind, "sha256": digest} for name, (kind, digest) in inputs.items()
        },
        "params_digest": params,
        "code_digest": code,
    }


def manifest():
    """environment; preprocess -> train/save (model.pkl) -> validate (metrics.json), one
    run. Every job ran on the interpreter."""
    on = {"interpreter": ("environment", "py1")}
    return {
        "uncovered": ["results/manifest.json"],
        "files": {
            ENVIRONMENT: entry(
                "e1",
                "environment",
                {"envs/requirements.lock": ("environment", "l1"), **on},
                role="record",
            ),
            TRAIN: entry(
                "t1",
                "preprocess",
                {"dataset": ("data", "d1"), "hardware": ("hardware", "h1"), **on},
            ),
            MODEL: entry(
                "m1",
                "save",
                {TRAIN: ("output", "t1"), "hardware": ("hardware", "h1"), **on},
            ),
            METRICS: entry("x1", "validate", {MODEL: ("output", "m1"), **on}),
        },
        "provenance": {
            "data": {"d/v1": {"sha256": "d1"}},
            "params_digest": "run-params",
            "config_digest": "config",
            "code": {"digest": "code"},
            "environment": {
                "python": dict(PYTHON),
                "platform": "linux-x86_64",
                "lock": {"path": "envs/requirements.lock", "sha256": "l1"},
                "packages": {"numpy": "2.3.5"},
                "hardware": {"simd": "x86-64-v3"},
            },
        },
    }


def by_path(differences):
    return {d.path: d for d in differences}


def test_identical_manifests_have_no_difference():
    assert comparison.classify(manifest(), manifest()) == []
    assert comparison.status([]) == comparison.IDENTICAL


def test_new_data_explains_its_split_and_everything_downstream():
    before, after = manifest(), manifest()
    after["files"][TRAIN] |= {"sha256": "t2"}
    after["files"][TRAIN]["inputs"]["dataset"]["sha256"] = "d2"
    after["files"][MODEL] |= {"sha256": "m2"}
    after["files"][MODEL]["inputs"][TRAIN]["sha256"] = "t2"
    after["provenance"]["data"] = {"d/v1": {"sha256": "d2"}}
    after["provenance"]["config_digest"] = "config-2"

    found = by_path(comparison.classify(before, after))

    assert found[TRAIN].causes == [comparison.DATA]
    assert found[MODEL].causes == [comparison.UPSTREAM]
    assert found[MODEL].upstream == [TRAIN]
    assert found[MODEL].root_causes == [comparison.DATA]
    assert METRICS not in found  # same bytes: nothing to explain
    assert comparison.status(list(found.values())) == comparison.EXPLAINED


def test_a_changed_hyperparameter_is_params_and_a_changed_kernel_is_hardware():
    before, after = manifest(), manifest()
    after["files"][MODEL] |= {"sha256": "m2", "params_digest": "p2"}
    after["provenance"]["config_digest"] = "config-2"
    assert by_path(comparison.classify(before, after))[MODEL].causes == [comparison.PARAMS]

    after = manifest()
    after["files"][MODEL] |= {"sha256": "m2"}
    after["files"][MODEL]["inputs"]["hardware"]["sha256"] = "h2"
    assert by_path(comparison.classify(before, after))[MODEL].causes == [comparison.HARDWARE]


def test_other_bytes_with_nothing_changed_are_nondeterminism():
    before, after = manifest(), manifest()
    after["files"][METRICS] |= {"sha256": "x2"}

    (difference,) = comparison.classify(before, after)

    assert difference.unexplained
    assert difference.causes == [comparison.NONDETERMINISM]
    assert comparison.status([difference]) == comparison.UNEXPLAINED


def test_params_that_changed_with_the_same_config_and_code_point_at_the_driver():
    before, after = manifest(), manifest()
    after["files"][MODEL] |= {"sha256": "m2", "params_digest": "p2"}

    (difference,) = comparison.classify(before, after)

    assert difference.causes == [comparison.NONDETERMINISM]
    assert difference.note == comparison.DRIVER_PARAMS


def test_a_moved_output_is_paired_by_its_pattern_and_the_run_inputs_explain_the_rest():
    before, after = manifest(), manifest()
    # Another seed: every path moves; paired by pattern, the split's data input changed.
    moved = {
        path.replace("seed-1", "seed-2"): copy.deepcopy(e) for path, e in after["files"].items()
    }
    moved[TRAIN.replace("seed-1", "seed-2")] |= {"sha256": "t2", "params_digest": "p2"}
    after["files"] = moved
    after["provenance"]["config_digest"] = "config-2"

    found = by_path(comparison.classify(before, after))

    train = found[TRAIN.replace("seed-1", "seed-2")]
    assert train.path_in_a == TRAIN
    assert train.causes == [comparison.PARAMS]


@pytest.mark.parametrize(
    ("change", "cause"),
    [
        (lambda p: p["environment"]["packages"].update(numpy="2.4.0"), comparison.ENVIRONMENT),
        (lambda p: p["code"].update(digest="code-2"), comparison.CODE),
    ],
    ids=["environment", "code"],
)
def test_an_output_only_one_run_made_is_explained_by_what_changed_for_the_whole_run(change, cause):
    before, after = manifest(), manifest()
    after["files"][f"{SPLIT}/m/extra.svg"] = entry("e1", "validate", {})
    change(after["provenance"])

    (difference,) = comparison.classify(before, after)

    assert difference.change == "only in B"
    assert difference.causes == [cause]


def in_results(document, results):
    """The manifest of the same run written to another results directory."""
    rebased = comparison._rebased(document, "results", results)
    return rebased | {"uncovered": [f"{results}/manifest.json"]}


def test_runs_in_two_results_directories_are_paired_output_by_output():
    before = manifest() | {"uncovered": ["results/manifest.json"]}
    after = in_results(manifest(), "results-other")
    after["provenance"]["config_digest"] = "config-2"  # results: results-other
    assert comparison.results_directory(after) == "results-other"
    # Identical outputs: neither "data" (a changed config) nor "only in A/B".
    assert comparison.classify(before, after) == []

    after["files"][MODEL.replace("results", "results-other")] |= {
        "sha256": "m2",
        "params_digest": "p2",
    }
    (changed,) = comparison.classify(before, after)
    assert changed.path == MODEL.replace("results", "results-other")
    assert changed.path_a == MODEL and changed.causes == [comparison.PARAMS]


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
    differences = comparison.classify(before, after)
    comparison.name_changed_params(differences, before, after, tmp_path / "a", tmp_path / "b")
    model = by_path(differences)[MODEL]
    assert model.params_changed == ["model.learning_rate: 0.1 -> 0.05"]
    assert "params (model.learning_rate: 0.1 -> 0.05)" in comparison.format_report(
        differences, "A", "B"
    )

    # A record whose bytes are not the ones its manifest covers is not read.
    (tmp_path / "b" / SPLIT / "m/model_card.json").write_text("{}")
    comparison.name_changed_params(differences, before, after, tmp_path / "a", tmp_path / "b")
    assert by_path(differences)[MODEL].params_changed == []

    # The recorded side's card is gone (the run was made again) while its split's data
    # record holds: the keys only the card states are not shown as new, and the
    # message says which record is not at hand.
    for side, document in (("a", before), ("b", after)):
        record = tmp_path / side / SPLIT / "data/data.json"
        record.parent.mkdir(parents=True, exist_ok=True)
        record.write_text(json.dumps({"split": {"seed": 1, "test_fraction": 0.25}}))
        document["files"][f"{SPLIT}/data/data.json"] = entry(
            sha256_bytes(record.read_bytes()), "preprocess", {}
        )
    (tmp_path / "b" / SPLIT / "m/model_card.json").write_text(
        json.dumps({"data": {"split": {"seed": 1, "test_fraction": 0.25}},
                    "model": {"type": "m", "hyperparameters": {"learning_rate": 0.05}}})
    )  # fmt: skip
    after["files"][f"{SPLIT}/m/model_card.json"]["sha256"] = sha256_bytes(
        (tmp_path / "b" / SPLIT / "m/model_card.json").read_bytes()
    )
    (tmp_path / "a" / SPLIT / "m/model_card.json").unlink()
    comparison.name_changed_params(differences, before, after, tmp_path / "a", tmp_path / "b")
    named = by_path(differences)[MODEL].params_changed
    assert named == [
        f"A's {SPLIT}/m/model_card.json is not at hand (gone, or made again since): its "
        "values are not named"
    ]
    assert not any("null" in line for line in named)


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
        comparison.Difference(METRICS, "changed", [comparison.PARAMS]),
        comparison.Difference(MODEL, "changed", [comparison.PARAMS]),
    ]
    text = explain.explain(differences, a, b)
    keys = text.index(f"{METRICS}:\n  accuracy: 0.1 -> 0.05")
    assert keys < text.index("Byte by byte")
    assert len(text) < 4 * explain.EXPLAIN_BYTES


def test_upstream_is_named_relative_to_the_row_and_summarised_when_many():
    near = comparison.Difference(
        METRICS, "changed", [comparison.UPSTREAM], [MODEL, TRAIN], root_causes=[comparison.PARAMS]
    )
    assert comparison._detail(near) == "upstream: model.pkl, ../data/train.npy (root cause: params)"
    summary = "results/summary/metrics.csv"
    sweep = [f"results/runs/d/v1/seed-{seed}/m/metrics.json" for seed in range(64)]
    many = comparison.Difference(
        summary, "changed", [comparison.UPSTREAM], sweep, root_causes=[comparison.PARAMS]
    )
    assert comparison._detail(many) == "upstream: 64 outputs (metrics.json) (root cause: params)"
    assert len(comparison.format_report([many], "A", "B").splitlines()[3]) < 120


def test_explain_names_the_columns_of_a_split_table_that_changed(tmp_path):
    import numpy as np
    import pandas as pd

    from reprotrain.ml import tables

    before = pd.DataFrame({"x": [1.0, np.nan, 3.0], "y": [1.0, 2.0, 3.0], "target": [0, 1, 0]})
    after = pd.DataFrame({"x": [1.0, np.nan, 4.0], "z": [1.0, 2.0, 3.0], "target": [0, 1, 1]})
    tables.write_table(before, tmp_path / "a.npy")
    tables.write_table(after, tmp_path / "b.npy")
    assert explain.semantic_changes(tmp_path / "a.npy", tmp_path / "b.npy") == [
        "  column x: 1 of 3 values differ",  # the gap in both rows is no difference
        "  column y: removed",
        "  column target: 1 of 3 values differ",
        "  column z: added",
    ]
    tables.write_table(after.iloc[:2], tmp_path / "c.npy")
    assert explain.semantic_changes(tmp_path / "b.npy", tmp_path / "c.npy") == ["  rows: 3 -> 2"]


def on_another_python(document, version="3.12.3"):
    """The same run's manifest as another interpreter patch records it: the environment
    record's bytes and every output's interpreter input change."""
    document["provenance"]["environment"]["python"]["version"] = version
    for item in document["files"].values():
        item["inputs"]["interpreter"]["sha256"] = f"py-{version}"
    document["files"][ENVIRONMENT]["sha256"] = f"e-{version}"
    return document


def test_another_interpreter_patch_that_changes_only_the_environment_record_reproduces():
    before, after = manifest(), on_another_python(manifest())

    differences = comparison.classify(before, after)

    (environment,) = differences
    assert environment.path == ENVIRONMENT and environment.causes == [comparison.ENVIRONMENT]
    assert environment.environment_detail == "python 3.12.1 -> 3.12.3"
    judgement = comparison.judge(differences, before, after, strict=False)
    assert judgement.reproduced and not judgement.identical
    assert judgement.line().startswith(
        "reproduced: every artifact identical; environment differs: python 3.12.1 -> 3.12.3"
    )
    assert not comparison.judge(differences, before, after, strict=True).reproduced


def test_an_artifact_that_differs_on_another_interpreter_names_it_and_fails():
    before, after = manifest(), on_another_python(manifest())
    after["files"][MODEL]["sha256"] = "m2"

    found = by_path(comparison.classify(before, after))

    assert found[MODEL].causes == [comparison.ENVIRONMENT]
    assert "environment (python 3.12.1 -> 3.12.3)" in comparison.format_report(
        list(found.values()), "A", "B"
    )
    assert not comparison.judge(list(found.values()), before, after, strict=False).reproduced


def test_a_lock_only_one_run_has_is_the_environment_not_a_changed_recipe():
    """conda's pin file in place of pip's lock: the recipe names another lock."""
    before, after = manifest(), manifest()
    inputs = after["files"][ENVIRONMENT]["inputs"]
    inputs["envs/environment.linux-64.pin.txt"] = inputs.pop("envs/requirements.lock")
    after["files"][ENVIRONMENT]["sha256"] = "e-conda"
    after["provenance"]["environment"]["lock"] = {
        "path": "envs/environment.linux-64.pin.txt",
        "sha256": "pin",
    }

    (difference,) = comparison.classify(before, after)

    assert difference.causes == [comparison.ENVIRONMENT]
    judgement = comparison.judge([difference], before, after, strict=False)
    assert judgement.reproduced
    assert "lock envs/requirements.lock -> envs/environment.linux-64.pin.txt" in judgement.line()


CHANGES = {
    "interpreter": lambda d, path: d["files"][path]["inputs"]["interpreter"].update(sha256="py2"),
    "hardware": lambda d, path: (
        d["files"][path]["inputs"]
        .setdefault("hardware", {"kind": "hardware", "sha256": "h1"})
        .update(sha256="h2")
    ),
    "params": lambda d, path: d["files"][path].update(params_digest="p2"),
    "code": lambda d, path: d["files"][path].update(code_digest="c2"),
    "nothing": lambda d, path: None,
}


@given(
    changes=st.dictionaries(
        st.sampled_from([ENVIRONMENT, TRAIN, MODEL, METRICS]),
        st.sampled_from(sorted(CHANGES)),
        min_size=1,
    ),
    strict=st.booleans(),
)
def test_a_run_reproduces_exactly_when_only_records_differ_and_only_by_the_environment(
    changes, strict
):
    """Whatever outputs differ, and why: reproduced iff no artifact differs and each record
    that does was made in a recorded other environment (never under strict)."""
    before, after = manifest(), manifest()
    after["provenance"]["config_digest"] = "config-2"  # params may change
    for path, change in changes.items():
        CHANGES[change](after, path)
        after["files"][path]["sha256"] += "-other"

    differences = comparison.classify(before, after)
    judgement = comparison.judge(differences, before, after, strict)

    records_by_environment = all(
        path == ENVIRONMENT and change in ("interpreter", "hardware")
        for path, change in changes.items()
    )
    assert judgement.reproduced == (records_by_environment and not strict)
    assert judgement.refused_as_strict == (records_by_environment and strict)
    assert {d.path for d in differences} == set(changes)


@given(
    old=st.fixed_dictionaries({"accuracy": st.floats(0, 1), "rmse": st.floats(0, 100)}),
    new=st.fixed_dictionaries({"accuracy": st.floats(0, 1), "rmse": st.floats(0, 100)}),
    gone=st.booleans(),
)
def test_the_summary_leads_with_outputs_causes_and_metric_deltas(tmp_path_factory, old, new, gone):
    import json

    from reprotrain.hashing import sha256_bytes

    roots = tmp_path_factory.mktemp("a"), tmp_path_factory.mktemp("b")

    def run(root, metrics):
        document = manifest()
        path = root / METRICS
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(metrics, sort_keys=True))
        document["files"][METRICS]["sha256"] = sha256_bytes(path.read_bytes())
        return document

    before, after = run(roots[0], old), run(roots[1], new)
    after["files"][MODEL] |= {"sha256": "m2", "params_digest": "p2"}
    after["files"][METRICS]["inputs"][MODEL]["sha256"] = "m2"
    after["provenance"]["config_digest"] = "config-2"
    if gone:
        (roots[0] / METRICS).unlink()
    differences = comparison.classify(before, after)
    deltas = comparison.metric_deltas(differences, before, after, *roots)
    text = comparison.summary(differences, deltas)
    first, outputs, causes, *rest = text.splitlines()
    assert first.startswith(f"summary: {len(differences)} output(s) differ: ")
    assert outputs.startswith("  outputs: ")
    assert "params (1)" in causes
    if old == new:
        assert len(differences) == 1 and not deltas
    elif gone:
        assert deltas == [
            "1 metrics file(s) not at hand on both sides (gone, or made again since): their "
            "deltas are not shown"
        ]
    else:
        changed = [name for name in ("accuracy", "rmse") if old[name] != new[name]]
        (line,) = deltas
        assert line.startswith(f"{SPLIT}/m: ")
        for name in changed:
            assert (
                f"{name} {old[name]:.4f} -> {new[name]:.4f} ({new[name] - old[name]:+.4f})" in line
            )
        assert rest[-1].endswith(line)
