"""Code version, git state and environment fingerprint."""

from __future__ import annotations

import subprocess

from conftest import REPO, copy_repo

from reprotrain import provenance


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
    train = repo / "src/reprotrain/models.py"
    train.write_text(train.read_text() + "\n# edited\n")
    assert provenance.code_digest(repo) != before


def test_code_files_cover_the_workflow_and_the_package():
    files = provenance.code_files(REPO)
    assert "Snakefile" in files
    assert "workflow/rules/train.smk" in files
    assert "workflow/scripts/train.py" in files
    assert "src/reprotrain/models.py" in files
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
    assert fingerprint["python"].startswith("3.12.")
    assert fingerprint["packages"] == {"not-installed-anywhere": None, "numpy": "2.3.5"}


def test_rule_code_follows_the_modules_a_script_imports():
    save = provenance.package_closure(REPO, "workflow/scripts/save.py")
    train = provenance.package_closure(REPO, "workflow/scripts/train.py")
    assert "src/reprotrain/records.py" in save
    assert "src/reprotrain/models.py" in train
    # The record-keeping steps never import the ML stack's modules.
    assert "src/reprotrain/models.py" not in save


def test_rule_code_digest_changes_only_for_rules_that_import_the_edit(tmp_path):
    repo = copy_repo(tmp_path / "repo")
    args = {
        "save": ("workflow/rules/save.smk", "workflow/scripts/save.py"),
        "train": ("workflow/rules/train.smk", "workflow/scripts/train.py"),
    }
    before = {name: provenance.rule_code_digest(repo, *files) for name, files in args.items()}
    models_py = repo / "src/reprotrain/models.py"
    models_py.write_text(models_py.read_text() + "\n# edited\n")
    after = {name: provenance.rule_code_digest(repo, *files) for name, files in args.items()}
    assert after["train"] != before["train"]
    assert after["save"] == before["save"]
