"""Estimators by import path: an installed one and one of the user's own code directory
run end to end, are recorded, rerun clean, and change no other model's bytes or records;
editing the user's module re-records only the runs that use it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from helpers import BIN, MODEL, copy_repo, snakemake

from reprotrain.errors import ReprotrainError
from reprotrain.ml import model_types
from reprotrain.records import provenance

USER_MODULE = '''"""Extra trees capped in depth: a custom estimator of the project's own."""

from sklearn.ensemble import ExtraTreesClassifier

from helpers_of_mine import DEFAULT_DEPTH


class ShallowExtraTrees(ExtraTreesClassifier):
    def __init__(self, n_estimators=50, max_depth=DEFAULT_DEPTH, random_state=None):
        super().__init__(
            n_estimators=n_estimators, max_depth=max_depth, random_state=random_state
        )
'''


def write_user_code(root: Path) -> None:
    (root / "user").mkdir(parents=True, exist_ok=True)
    (root / "user/my_models.py").write_text(USER_MODULE)
    (root / "user/helpers_of_mine.py").write_text("DEFAULT_DEPTH = 4\n")
    (root / "user/unrelated.py").write_text("X = 1\n")


def test_a_user_module_is_checked_and_digested_with_what_it_imports(tmp_path):
    write_user_code(tmp_path)
    entry = {"estimator": "my_models.ShallowExtraTrees", "params": {"max_depth": 3}}
    model_types.check_models(
        ["shallow"], {"shallow": entry}, "config/x.yaml", str(tmp_path / "user")
    )
    with pytest.raises(ReprotrainError) as error:
        model_types.check_models(
            ["shallow"],
            {"shallow": entry | {"params": {"max_dept": 3}}},
            "config/x.yaml",
            str(tmp_path / "user"),
        )
    assert error.value.field == "models.shallow.params.max_dept"
    assert "did you mean max_depth" in error.value.fix

    (tmp_path / "user/broken.py").write_text("def oops(:\n")
    with pytest.raises(ReprotrainError, match=r"module broken cannot be imported \(SyntaxError"):
        model_types.check_models(
            ["b"], {"b": {"estimator": "broken.Model"}}, "config/x.yaml", str(tmp_path / "user")
        )

    before = provenance.user_module_digest(tmp_path / "user", "my_models")
    (tmp_path / "user/unrelated.py").write_text("X = 2\n")
    assert provenance.user_module_digest(tmp_path / "user", "my_models") == before
    (tmp_path / "user/helpers_of_mine.py").write_text("DEFAULT_DEPTH = 5\n")
    assert provenance.user_module_digest(tmp_path / "user", "my_models") != before
    assert provenance.user_module_digest(tmp_path / "user", "sklearn.ensemble") is None


CUSTOM = {
    "results": "results-custom",
    "model": ["hist_gradient_boosting", "extra_trees", "shallow"],
    "models": {
        "extra_trees": {
            "estimator": "sklearn.ensemble.ExtraTreesClassifier",
            "params": {"n_estimators": 50},
        },
        "shallow": {"estimator": "my_models.ShallowExtraTrees", "params": {"max_depth": 3}},
    },
    "manifest": {"expected": "config/custom-manifest.json"},
}


def cli(repo: Path, *args: str):
    import subprocess

    return subprocess.run(
        [str(BIN / "reprotrain"), *args], cwd=repo, capture_output=True, text=True
    )


@pytest.mark.pipeline
def test_custom_estimators_run_record_and_rerun_clean(tmp_path):
    repo = copy_repo(tmp_path / "repo")
    write_user_code(repo)
    (repo / "config/custom.yaml").write_text(yaml.safe_dump(CUSTOM))
    args = ["--configfile", "config/config.yaml", "config/custom.yaml"]

    first = snakemake(repo, *args, check=False)
    assert first.returncode != 0
    record = "reprotrain record --run results-custom/manifest.json --to config/custom-manifest.json"
    assert "config/custom-manifest.json: no record exists for this run's config yet" in first.output
    assert record in first.output
    recorded = cli(repo, *record.split()[1:])
    assert recorded.returncode == 0, recorded.stderr
    assert snakemake(repo, *args).returncode == 0  # reruns clean against its own record

    split = "results-custom/runs/breast_cancer/v1.0/seed-42"
    card = json.loads((repo / split / "shallow/model_card.json").read_text())
    assert card["model"]["estimator"] == "ShallowExtraTrees"
    assert card["model"]["hyperparameters"]["max_depth"] == 3
    assert card["model"]["random_state"] == 42
    # The preset's model and card are the default run's, byte for byte.
    ours = json.loads((repo / "config/custom-manifest.json").read_text())["files"]
    default = json.loads((repo / "config/manifest.json").read_text())["files"]
    for name in ("model.pkl", "model_card.json", "metrics.json"):
        assert (
            ours[f"{split}/hist_gradient_boosting/{name}"]["sha256"]
            == default[f"{MODEL}/{name}"]["sha256"]
        )

    # Editing the user's module re-records the runs that use it, and only those.
    (repo / "user/helpers_of_mine.py").write_text("DEFAULT_DEPTH = 4\nREVIEWED = True\n")
    edited = snakemake(repo, *args, check=False)
    assert edited.returncode != 0
    changed = {
        line.split()[0]
        for line in edited.output.splitlines()
        if line.startswith(f"{split}/") and "code" in line
    }
    assert changed == {f"{split}/shallow/model_card.json"}
