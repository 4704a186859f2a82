"""Code version, git state and environment fingerprint."""

from __future__ import annotations

import subprocess

import pytest
from helpers import REPO, copy_repo

from reprotrain import source_tree
from reprotrain.hashing import digest_value, digest_value_remembered
from reprotrain.records import provenance


def test_code_digest_ignores_location_and_non_code_files(tmp_path):
    first = copy_repo(tmp_path / "one")
    second = copy_repo(tmp_path / "elsewhere" / "two")
    assert provenance.code_digest(first) == provenance.code_digest(second)
    (second / "README.md").write_text("edited\n")
    (second / "tests" / "test_new.py").write_text("\n")
    assert provenance.code_digest(first) == provenance.code_digest(second)


def test_code_digest_changes_with_an_uncommitted_edit(tmp_path):
    repo = copy_repo(tmp_path / "repo")
    before = provenance.code_digest(repo)
    train = repo / "src/reprotrain/ml/models.py"
    train.write_text(train.read_text() + "\nEDITED = True\n")
    assert provenance.code_digest(repo) != before


def test_code_files_cover_the_workflow_and_the_package():
    files = source_tree.code_files(REPO)
    assert "workflow/Snakefile" in files
    # The top-level Snakefile only uses the workflow as a module: no code of its own.
    assert "Snakefile" not in files
    assert "workflow/rules/train.smk" in files
    assert "workflow/scripts/train.py" in files
    assert "src/reprotrain/ml/models.py" in files
    assert not any(name.startswith(("tests/", "config/")) for name in files)


def test_git_state_outside_git_is_unknown(tmp_path):
    assert provenance.git_state(tmp_path) == {"commit": None, "dirty": None}


def test_git_state_reports_commit_and_dirty_flag(tmp_path):
    def git(*args):
        subprocess.run(["git", *args], cwd=tmp_path, check=True, capture_output=True)

    git("init", "-q")
    (tmp_path / "file.txt").write_text("one\n")
    git("add", "file.txt")
    git("-c", "user.name=t", "-c", "user.email=t@example.org", "commit", "-qm", "one")
    state = provenance.git_state(tmp_path)
    assert len(state["commit"]) == 40
    assert state["dirty"] is False
    (tmp_path / "file.txt").write_text("two\n")
    assert provenance.git_state(tmp_path)["dirty"] is True


def test_environment_fingerprint_describes_this_interpreter():
    fingerprint = provenance.environment_fingerprint(
        "envs/requirements.lock", ["numpy", "not-installed-anywhere"]
    )
    assert fingerprint["lock"]["path"] == "envs/requirements.lock"
    assert len(fingerprint["lock"]["sha256"]) == 64
    assert fingerprint["python"]["implementation"] == "cpython"
    assert fingerprint["python"]["version"].startswith("3.12.")
    # The build names the interpreter binary's build date and compiler.
    assert fingerprint["python"]["build"].startswith(fingerprint["python"]["version"])
    assert fingerprint["packages"] == {"not-installed-anywhere": None, "numpy": "2.3.5"}


def test_rule_code_follows_the_modules_a_script_imports():
    save = provenance.package_closure(REPO, "workflow/scripts/save.py")
    train = provenance.package_closure(REPO, "workflow/scripts/train.py")
    assert "src/reprotrain/steps/record_keeping.py" in save
    assert "src/reprotrain/ml/models.py" in train
    # The record-keeping steps never import the ML stack's modules.
    assert "src/reprotrain/ml/models.py" not in save


def test_rule_code_digest_changes_only_for_rules_that_import_the_edit(tmp_path):
    repo = copy_repo(tmp_path / "repo")
    args = {
        "save": ("workflow/rules/save.smk", "workflow/scripts/save.py"),
        "train": ("workflow/rules/train.smk", "workflow/scripts/train.py"),
    }
    before = {name: provenance.rule_code_digest(repo, *files) for name, files in args.items()}
    models_py = repo / "src/reprotrain/ml/models.py"
    models_py.write_text(models_py.read_text() + "\nEDITED = True\n")
    after = {name: provenance.rule_code_digest(repo, *files) for name, files in args.items()}
    assert after["train"] != before["train"]
    assert after["save"] == before["save"]


# Recipes from declarations, on hand-made rules: what a param's declaration says decides
# where it goes, never its name.

SPLIT = "results/runs/d/v/seed-1"
TRAIN_TABLE = f"{SPLIT}/train.npy"


def view_of(rules):
    def view(name, wildcards):
        return rules[name]

    return view


def rule(name, declaration, outputs, inputs=(), **params):
    return provenance.RuleView(
        name=name,
        declaration=declaration,
        outputs=outputs,
        inputs=tuple(inputs),
        params=params,
        packages_record=f"logs/{name}.packages.json",
    )


def test_a_recipe_follows_uncovered_intermediates_and_sorts_params_by_declaration():
    fit = rule(
        "fit",
        provenance.Declaration(params=("alpha",), code=("source",), hardware="pin"),
        {"tmp/fitted.pkl": "fitted"},
        [provenance.RuleInput("table", TRAIN_TABLE, (TRAIN_TABLE,))],
        alpha=0.5,
        source="digest-of-fit",
        pin="x86-64-v3",
    )
    publish = rule(
        "publish",
        provenance.Declaration(
            params=("seed",),
            code=("code", "fit_code"),
            not_provenance=("report_path",),
            made_from={"model": ("fitted",)},
        ),
        {"out/model.pkl": "model", "out/card.json": "card"},
        [
            provenance.RuleInput("fitted", "tmp/fitted.pkl", ("tmp/fitted.pkl",)),
            provenance.RuleInput("notes", "notes.txt", ("notes.txt",)),
            provenance.RuleInput("lock", None, ("/abs/checkout/envs/requirements.lock",)),
        ],
        seed=7,
        code="digest-of-publish",
        fit_code="digest-of-fit",
        report_path="out/report.html",
    )
    rules = {"fit": fit, "publish": publish}
    producers = {"tmp/fitted.pkl": "fit", "out/model.pkl": "publish", "out/card.json": "publish"}
    context = provenance.RecipeContext(
        covered=frozenset({TRAIN_TABLE, "out/model.pkl"}),
        locks={"/abs/checkout/envs/requirements.lock": "envs/requirements.lock"},
    )

    model = provenance.recipe("out/model.pkl", {}, view_of(rules), producers, context)
    assert model["rule"] == "publish"
    assert model["params"] == {"publish": {"seed": 7}, "fit": {"alpha": 0.5}}
    assert model["code"] == {
        "publish.code": "digest-of-publish",
        "publish.fit_code": "digest-of-fit",
        "fit.source": "digest-of-fit",
    }
    # Made from the fitted pickle only: through it, the covered table and the pin; every
    # job ran on the interpreter.
    assert set(model["inputs"]) == {
        "packages used by publish",
        "packages used by fit",
        "hardware",
        "interpreter",
        TRAIN_TABLE,
    }
    assert model["inputs"]["interpreter"] == {"kind": "environment", "fingerprint": "python"}

    card = provenance.recipe("out/card.json", {}, view_of(rules), producers, context)
    # A lock is named by its repository path wherever it was read; a plain file by itself.
    assert card["inputs"]["envs/requirements.lock"] == {
        "kind": "environment",
        "file": "/abs/checkout/envs/requirements.lock",
    }
    assert card["inputs"]["notes.txt"] == {"kind": "file"}
    assert "report_path" not in card["params"]["publish"]


def test_the_data_version_and_installed_software_are_inputs_not_params():
    prepare = rule(
        "prepare",
        provenance.Declaration(params=("seed",), data="dataset", environment="installed"),
        {f"{SPLIT}/train.npy": "train"},
        [provenance.RuleInput("raw", "data/raw.csv", ("data/raw.csv",))],
        seed=1,
        dataset={"name": "d"},
        installed="digest-of-venv",
    )
    data_input = {"kind": "data", "sha256": "digest-of-data"}
    context = provenance.RecipeContext(
        covered=frozenset(), locks={}, raw="data/raw.csv", data_input=data_input
    )
    producers = {f"{SPLIT}/train.npy": "prepare"}
    made = provenance.recipe(
        f"{SPLIT}/train.npy", {}, view_of({"prepare": prepare}), producers, context
    )
    assert made["params"] == {"prepare": {"seed": 1}}
    assert made["inputs"]["dataset"] == data_input
    assert made["inputs"]["installed packages"] == {
        "kind": "environment",
        "sha256": "digest-of-venv",
    }
    assert "data/raw.csv" not in made["inputs"]


def test_an_outputs_digests_change_with_any_rules_params_or_code_and_nothing_else():
    schema = {"columns": [{"name": f"c{i}", "kind": "number"} for i in range(30)]}

    def recipe_with(alpha=0.5, seed=7, fit_code="digest-of-fit", columns=schema):
        fit = rule(
            "fit",
            provenance.Declaration(params=("alpha", "schema"), code=("source",)),
            {"tmp/fitted.pkl": "fitted"},
            alpha=alpha,
            schema=columns,
            source=fit_code,
        )
        publish = rule(
            "publish",
            provenance.Declaration(params=("seed",), not_provenance=("report_path",)),
            {"out/model.pkl": "model"},
            [provenance.RuleInput("fitted", "tmp/fitted.pkl", ("tmp/fitted.pkl",))],
            seed=seed,
            report_path="out/report.html",
        )
        producers = {"tmp/fitted.pkl": "fit", "out/model.pkl": "publish"}
        context = provenance.RecipeContext(covered=frozenset(), locks={})
        rules = {"fit": fit, "publish": publish}
        return provenance.recipe("out/model.pkl", {}, view_of(rules), producers, context)

    base = recipe_with()
    assert base["params"] == {"publish": {"seed": 7}, "fit": {"alpha": 0.5, "schema": schema}}
    assert base["code_digest"] == digest_value(base["code"])
    assert recipe_with()["params_digest"] == base["params_digest"]
    renamed = {"columns": [*schema["columns"][:-1], {"name": "other", "kind": "number"}]}
    for changed in (
        recipe_with(alpha=0.25),
        recipe_with(seed=8),
        recipe_with(alpha=1),
        recipe_with(columns=renamed),
    ):
        assert changed["params_digest"] != base["params_digest"]
        assert changed["code_digest"] == base["code_digest"]
    other_code = recipe_with(fit_code="edited")
    assert other_code["params_digest"] == base["params_digest"]
    assert other_code["code_digest"] != base["code_digest"]


def test_a_remembered_digest_is_the_digest_of_the_very_value():
    # Values whose JSON differs while Python calls them equal, met one after another.
    values = [1, True, 1.0, "1", [1], {"a": 1}, {"a": True}, {"a": 1.0}, None, [None], {}]
    for _ in range(2):
        for value in values:
            assert digest_value_remembered(value) == digest_value(value)
    assert len({digest_value_remembered(value) for value in values}) == len(values)


@pytest.mark.parametrize(
    ("declaration", "message"),
    [
        (provenance.Declaration(params=("seed",)), "does not declare its params code"),
        (
            provenance.Declaration(params=("seed", "code", "renamed")),
            "declares params it does not have: renamed",
        ),
        (
            provenance.Declaration(params=("seed",), code=("code", "seed")),
            "declares seed more than once",
        ),
        (
            provenance.Declaration(params=("seed",), code=("code",), made_from={"m": ("x",)}),
            "makes m from inputs it does not have: x",
        ),
    ],
    ids=["undeclared", "renamed", "twice", "made-from-unknown"],
)
def test_a_declaration_must_name_every_param_once(declaration, message):
    with pytest.raises(ValueError, match=message):
        declaration.check("train", ["seed", "code"], ["train"])
