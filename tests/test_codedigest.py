"""The code digest follows what code means: comments, docstrings and layout change no
digest and so no record; a changed constant does (reprotrain.codedigest)."""

from __future__ import annotations

import ast
import io
import shutil
import subprocess
import tokenize
from pathlib import Path

import pytest
from helpers import BIN, REPO, copy_repo, read_json, snakemake
from hypothesis import given, settings
from hypothesis import strategies as st

from reprotrain import codedigest, source_tree
from reprotrain.records import provenance

CODE = source_tree.code_files(REPO)
SOURCES = [name for name in CODE if name.endswith((".py", ".smk")) or name.endswith("Snakefile")]


def logical_line_ends(text: str) -> list[int]:
    """Line numbers after which a comment line can go without entering a string."""
    return sorted(
        {
            end[0]
            for kind, _, _, end, _ in tokenize.generate_tokens(io.StringIO(text).readline)
            if kind == tokenize.NEWLINE
        }
    )


def with_comments(text: str, after: list[int], words: str) -> str:
    lines = text.splitlines(keepends=True)
    for number in sorted(set(after), reverse=True):
        lines.insert(number, f"# {words}\n")
    return "".join(lines)


def meaning(name: str, text: str) -> str | None:
    return codedigest.normalized(name, text)


@settings(max_examples=60, deadline=None)
@given(
    name=st.sampled_from(SOURCES),
    picks=st.lists(st.integers(min_value=0), min_size=1, max_size=5),
    words=st.text("abcdefghijklmnopqrstuvwxyz .,:'\"()", max_size=40),
)
def test_comments_anywhere_change_no_meaning(name, picks, words):
    text = (REPO / name).read_text(encoding="utf-8")
    ends = logical_line_ends(text)
    after = [ends[pick % len(ends)] for pick in picks]
    assert meaning(name, with_comments(text, after, words)) == meaning(name, text)


@pytest.mark.parametrize("name", [name for name in SOURCES if name.endswith(".py")])
def test_docstrings_change_no_meaning_and_a_constant_does(name):
    text = (REPO / name).read_text(encoding="utf-8")
    tree = ast.parse(text)
    docstrings = set()
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if isinstance(body, list) and body and codedigest._is_docstring(body[0]):
            body[0].value.value = "Rewritten, as docs are."
            docstrings.add(id(body[0].value))
    assert meaning(name, ast.unparse(tree)) == meaning(name, text)

    constants = [
        node
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant)
        and type(node.value) in (int, str)
        and id(node) not in docstrings
    ]
    changed = next(
        (node for node in constants if not isinstance(node.value, str) or node.value), None
    )
    if changed is None:
        assert not constants or name.endswith("__init__.py")
        return
    changed.value = changed.value + 1 if isinstance(changed.value, int) else changed.value + "!"
    assert meaning(name, ast.unparse(tree)) != meaning(name, text)


def test_reformatting_changes_no_meaning(tmp_path):
    """What the formatters make of the code at another line length means the same."""
    copy = tmp_path / "code"
    for name in CODE:
        (copy / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(REPO / name, copy / name)
    smk = [str(copy / name) for name in SOURCES if not name.endswith(".py")]
    py = [str(copy / name) for name in SOURCES if name.endswith(".py")]
    subprocess.run([str(BIN / "ruff"), "format", "--line-length", "60", *py], check=True)
    subprocess.run(
        [str(BIN / "snakefmt"), "--line-length", "60", *smk], check=True, capture_output=True
    )
    assert any((copy / name).read_bytes() != (REPO / name).read_bytes() for name in SOURCES)
    assert provenance.code_digest(copy) == provenance.code_digest(REPO)


def test_a_snakefile_string_by_its_value_and_a_rule_docstring_by_nothing():
    one = 'rule a:\n    """Make a."""\n    output:\n        "x",\n    shell:\n        "touch x"\n'
    two = "rule a:\n    output:\n        'x'\n    shell:\n        'touch x'  # there\n"
    assert meaning("a.smk", one) == meaning("a.smk", two)
    assert meaning("a.smk", one) != meaning("a.smk", one.replace("touch x", "touch y"))


@pytest.mark.pipeline
def test_a_comment_edit_of_every_code_file_leaves_the_shipped_records_valid(tmp_path):
    project = copy_repo(tmp_path / "project")
    for name in SOURCES:
        path = project / name
        text = path.read_text(encoding="utf-8")
        path.write_text(with_comments(text, logical_line_ends(text), "reviewed"), "utf-8")

    snakemake(project)  # checksum against the shipped record passes

    recorded = read_json(project / "config/manifest.json")
    run = read_json(project / "results/manifest.json")
    assert run["files"] == recorded["files"]
    assert run["provenance"]["code"]["digest"] == recorded["provenance"]["code"]["digest"]


def test_bytes_that_do_not_parse_stand_for_themselves(tmp_path):
    broken = tmp_path / "broken.py"
    broken.write_text("def oops(:\n")
    assert codedigest.meaning_digest(Path(broken)) == codedigest.sha256_bytes(broken.read_bytes())
