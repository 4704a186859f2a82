"""Remembered start-up checks: skipped only when nothing they read has changed."""

from __future__ import annotations

import datetime
import json
from typing import ClassVar

import pytest

from reprotrain import memo
from reprotrain.errors import ReprotrainError


class Check:
    """A check that records its calls and can be made to fail."""

    calls: ClassVar[list[tuple]] = []
    fail = False

    @classmethod
    def run(cls, *arguments):
        cls.calls.append(arguments)
        if cls.fail:
            raise ValueError("bad input")
        return {"checked": list(arguments)}


@pytest.fixture
def check(monkeypatch):
    monkeypatch.setattr(Check, "calls", [])
    monkeypatch.setattr(Check, "fail", False)
    return Check


def test_a_result_is_remembered_across_processes_for_the_same_bytes(tmp_path, check):
    data = tmp_path / "data.yaml"
    data.write_text("a: 1\n")
    store = tmp_path / ".snakemake/memo.json"
    first = memo.Memo(store, salt="code-1")(check.run, "x", files=[data])
    # A new Memo reads the file, as the next Snakemake invocation does.
    second = memo.Memo(store, salt="code-1")(check.run, "x", files=[data])
    assert first == second == {"checked": ["x"]}
    assert len(check.calls) == 1


@pytest.mark.parametrize("change", ["file bytes", "argument", "salt", "file created"])
def test_any_change_to_what_the_check_reads_runs_it_again(tmp_path, check, change):
    data, extra = tmp_path / "data.yaml", tmp_path / "extra.yaml"
    data.write_text("a: 1\n")
    store = tmp_path / "memo.json"
    memo.Memo(store, salt="code-1")(check.run, "x", files=[data, extra])
    salt, argument = "code-1", "x"
    if change == "file bytes":
        data.write_text("a: 2\n")
    elif change == "argument":
        argument = "y"
    elif change == "salt":
        salt = "code-2"
    else:
        extra.write_text("")
    memo.Memo(store, salt=salt)(check.run, argument, files=[data, extra])
    assert len(check.calls) == 2


def test_a_failing_check_is_never_remembered(tmp_path, check):
    store = tmp_path / "memo.json"
    check.fail = True
    for _ in range(2):
        with pytest.raises(ValueError):
            memo.Memo(store, salt="s")(check.run, "x")
    assert len(check.calls) == 2
    assert not store.exists()


@pytest.mark.parametrize(
    "content", ["{not json", '{"entries": {"k": 1}}', "[1, 2]", '{"entries": [1]}']
)
def test_a_damaged_store_costs_a_recheck_not_a_failure(tmp_path, check, content):
    store = tmp_path / "memo.json"
    store.write_text(content)
    memo.Memo(store, salt="s")(check.run, "x")
    memo.Memo(store, salt="s")(check.run, "x")
    assert len(check.calls) == 1
    assert len(json.loads(store.read_text())["entries"]) == 1


def test_arguments_json_cannot_hold_are_checked_every_time(tmp_path, check):
    store = tmp_path / "memo.json"
    for _ in range(2):
        memo.Memo(store, salt="s")(check.run, {"when": datetime.date(2026, 1, 1)})
    assert len(check.calls) == 2


def test_the_store_keeps_the_newest_entries(tmp_path, check, monkeypatch):
    monkeypatch.setattr(memo, "MAX_ENTRIES", 3)
    store = tmp_path / "memo.json"
    for argument in range(5):
        memo.Memo(store, salt="s")(check.run, argument)
    kept = [value for _, value in json.loads(store.read_text())["entries"]]
    assert kept == [{"checked": [2]}, {"checked": [3]}, {"checked": [4]}]
    memo.Memo(store, salt="s")(check.run, 4)
    memo.Memo(store, salt="s")(check.run, 0)
    assert [arguments for arguments in check.calls[5:]] == [(0,)]


def test_the_schemas_set_no_defaults_that_a_remembered_check_would_skip():
    # Snakemake's validate() fills in schema defaults; a remembered check does not call it.
    from helpers import REPO

    for schema in (REPO / "workflow/schemas").glob("*.yaml"):
        assert "default:" not in schema.read_text(), schema


def test_a_file_that_cannot_be_read_leaves_the_check_to_say_so(tmp_path, check):
    unreadable = tmp_path / "a-directory.yaml"
    unreadable.mkdir()
    store = tmp_path / "memo.json"
    for _ in range(2):
        memo.Memo(store, salt="s")(check.run, "x", files=[unreadable])
    assert len(check.calls) == 2


def test_a_second_opinion_runs_with_the_check_and_a_refusal_is_not_remembered(tmp_path, check):
    store = tmp_path / "memo.json"
    opinions: list[str] = []

    def refuse() -> None:
        opinions.append("asked")
        raise ValueError("the second opinion refuses")

    for _ in range(2):
        with pytest.raises(ValueError, match="second opinion"):
            memo.Memo(store, salt="s")(check.run, "x", also=refuse)
    assert len(opinions) == 2 and not store.exists()
    for _ in range(2):
        memo.Memo(store, salt="s")(check.run, "x", also=lambda: opinions.append("agreed"))
    assert opinions[2:] == ["agreed"]
    assert len(check.calls) == 3


def test_a_file_swapped_while_it_is_checked_lends_its_verdict_to_nothing(tmp_path):
    """The check reads the files itself, after the memo hashed them: bytes swapped in
    between are refused, not remembered under the digest of the bytes checked."""
    config = tmp_path / "c.yaml"
    config.write_text("good")

    def check_then_swap() -> str:
        verdict = "ok" if config.read_text() == "good" else "bad"
        config.write_text("swapped")  # another process, in the window
        return verdict

    store = tmp_path / "memo.json"
    with pytest.raises(ReprotrainError, match="changed while it was being checked"):
        memo.Memo(store, salt="s")(check_then_swap, files=[config])
    assert not store.exists() or "ok" not in store.read_text()
