"""Where outputs go: a folder reprotrain writes into, and may replace, is new, empty, a
reprotrain output of the same kind, or holds only what such an output holds; no link in a
results or logs folder leads out of it. Generated folders and links, and the plan."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from helpers import copy_repo
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_bad_inputs import plan_in

from reprotrain import fileio, layout
from reprotrain.errors import ReprotrainError

OURS = sorted(layout.TOP_LEVEL)
contents = st.lists(
    st.one_of(
        st.sampled_from(OURS).map(lambda name: ("ours", name)),
        st.sampled_from(["notes.md", "thesis.tex", ".git"]).map(lambda name: ("theirs", name)),
        st.just(("marker", fileio.OUTPUT_MARKER)),
    ),
    max_size=4,
    unique_by=lambda item: item[1],
)


@settings(
    max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    items=contents,
    kind=st.sampled_from(["results directory", "crate"]),
    marked_as=st.sampled_from(["results directory", "crate", "hunt"]),
)
def test_a_folder_is_taken_only_when_it_is_ours(tmp_path, monkeypatch, items, kind, marked_as):
    monkeypatch.chdir(tmp_path)
    folder = tmp_path / "out"
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir()
    for what, name in items:
        (folder / name).write_text(marked_as if what == "marker" else "x")
    names = {name for _, name in items}
    may_hold = layout.TOP_LEVEL if kind == "results directory" else frozenset()
    acceptable = names <= may_hold | {fileio.OUTPUT_MARKER} or (
        fileio.OUTPUT_MARKER in names and marked_as == kind
    )
    try:
        fileio.check_output_directory(folder, kind, file="f", field=None, may_hold=may_hold)
    except ReprotrainError as error:
        assert not acceptable, error.message
        assert "they may be yours" in error.problem
    else:
        assert acceptable


def test_the_repository_git_and_user_code_are_never_an_output_folder(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / ".git").mkdir()
    (tmp_path / "user").mkdir()
    for path, problem in (
        (".", "is the repository itself"),
        ("..", "is the repository itself, or holds it"),
        (".git", "git's own folder"),
        (".git/objects", "git's own folder"),
        ("user", "holds your code"),
        ("user/sub", "holds your code"),
    ):
        with pytest.raises(ReprotrainError, match=problem):
            fileio.check_output_directory(path, "crate", file="f", field=None, reserved=("user",))


link_targets = st.sampled_from(
    ["..", "../..", "/", "/etc", "runs", "runs/../..", "loop", "x/../../outside", "inside"]
)


@settings(
    max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    links=st.lists(
        st.tuples(st.sampled_from(["runs/a", "runs/b", "loop", "x"]), link_targets), max_size=4
    )
)
def test_a_link_out_of_a_results_folder_is_refused_before_any_job(tmp_path, links):
    base = tmp_path / "results"
    shutil.rmtree(base, ignore_errors=True)
    (base / "runs").mkdir(parents=True)
    (base / "inside").mkdir()
    for name, target in links:
        if not os.path.lexists(base / name):
            (base / name).symlink_to(target)
    try:
        fileio.check_tree_confined(base)
    except ReprotrainError as error:
        assert "remove it" in error.fix
    else:
        for path in base.rglob("*"):
            if path.is_symlink():
                assert Path(os.path.realpath(path)).is_relative_to(base.resolve())


def test_the_plan_refuses_a_results_folder_with_a_link_out(tmp_path):
    repo = copy_repo(tmp_path / "repo")
    outside = tmp_path / "outside"
    outside.mkdir()
    (repo / "results").mkdir()
    (repo / "results/runs").symlink_to(outside)
    with pytest.raises(ReprotrainError) as refused:
        plan_in(repo, [])
    assert "results/runs: is a symbolic link that leads outside" in refused.value.message
    assert list(outside.iterdir()) == []


def test_a_hunt_report_replaces_only_a_hunt_report(tmp_path, monkeypatch):
    from reprotrain.audit import hunt

    monkeypatch.chdir(tmp_path)
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs/guide.md").write_text("mine")
    with pytest.raises(ReprotrainError, match="docs holds files a reprotrain hunt report"):
        hunt.hunt(tmp_path, tmp_path / "docs", only=["timezone"])
    assert (tmp_path / "docs/guide.md").read_text() == "mine"
