"""The docs cannot go stale: every command they show exists and parses, every file they
link exists, and the README's console example is what a run prints."""

from __future__ import annotations

import itertools
import re
import shlex
import subprocess
from pathlib import Path

import pytest
from helpers import BIN, REPO

from reprotrain import cli

DOCS = sorted(
    {
        REPO / "README.md",
        REPO / "config/README.md",
        REPO / "profiles/README.md",
        REPO / "benchmarks/README.md",
        *(REPO / "docs").glob("*.md"),
    }
)
FENCE = re.compile(r"```(\w*)\n(.*?)```", re.S)
SHELLS = {"sh", "bash", "console"}


def shown_commands(doc: Path) -> list[str]:
    """The command lines of a page's sh and console blocks (`$ ` lines of a console block),
    with continuations joined and comments dropped."""
    found = []
    for language, body in FENCE.findall(doc.read_text(encoding="utf-8")):
        if language not in SHELLS:
            continue
        lines = body.replace("\\\n", " ").splitlines()
        if language == "console":
            lines = [line[2:] for line in lines if line.startswith("$ ")]
        for line in lines:
            command = line.split(" #")[0].strip()
            if command and not command.startswith("#"):
                found.append(command)
    return found


COMMANDS = [(doc, command) for doc in DOCS for command in shown_commands(doc)]
MAKE_TARGETS = set(
    re.findall(r"^([A-Za-z][\w-]*):", (REPO / "Makefile").read_text(encoding="utf-8"), re.M)
)


def parses(parser, arguments: list[str]) -> None:
    try:
        parser.parse_args(arguments)
    except SystemExit as exit_:
        pytest.fail(f"does not parse ({exit_.code}): {arguments}")


def runcrate_parses(arguments: list[str]) -> None:
    """A runcrate command parses: runcrate is a click group without options of its own."""
    import click
    from runcrate.cli import cli as program

    name, *rest = arguments
    with program.make_context("runcrate", [name]) as context:
        command = program.get_command(context, name)
        if command is None:
            pytest.fail(f"runcrate has no command {name}")
        try:
            command.make_context(name, rest, parent=context)
        except click.exceptions.ClickException as error:
            pytest.fail(f"does not parse: {arguments}: {error.format_message()}")


@pytest.mark.parametrize(
    ("doc", "command"),
    COMMANDS,
    ids=[f"{doc.relative_to(REPO)}: {command}" for doc, command in COMMANDS],
)
def test_each_command_the_docs_show_exists_and_parses(doc, command, tmp_path, monkeypatch):
    program, *arguments = shlex.split(command)
    name = Path(program).name
    if name == "make":
        targets = [argument for argument in arguments if "=" not in argument]
        assert set(targets) <= MAKE_TARGETS, set(targets) - MAKE_TARGETS
    elif name == "reprotrain":
        parses(cli.parser(), arguments)
    elif name == "snakemake":
        from snakemake.cli import get_argument_parser

        parses(get_argument_parser(), arguments)
        for flag, value in itertools.pairwise(arguments):
            if flag in ("--profile", "--workflow-profile"):
                assert (REPO / value / "config.yaml").is_file(), value
    elif name == "snakedeploy":
        from snakedeploy.client import get_parser

        parses(get_parser(), arguments)
    elif name == "runcrate":
        # runcrate's arguments must exist: parse where the paths shown do.
        monkeypatch.chdir(tmp_path)
        for argument in arguments:
            if "/" in argument and not argument.startswith("-"):
                (tmp_path / argument).parent.mkdir(parents=True, exist_ok=True)
                (tmp_path / argument).touch()
        runcrate_parses(arguments)
    else:
        assert name in ("cd", "echo"), f"a command the docs test does not know: {command}"


def test_the_docs_show_commands():
    # The extraction above finds something to check in each kind of page.
    assert {doc.name for doc, _ in COMMANDS} >= {"README.md", "auditing.md", "slurm.md"}


LINK = re.compile(r"\]\(([^)#\s]+)(?:#[^)]*)?\)")


@pytest.mark.parametrize("doc", DOCS, ids=[str(doc.relative_to(REPO)) for doc in DOCS])
def test_every_file_the_docs_link_exists(doc):
    for target in LINK.findall(doc.read_text(encoding="utf-8")):
        if "://" not in target:
            assert (doc.parent / target).exists(), f"{doc.relative_to(REPO)} links {target}"


def test_the_readme_is_short():
    assert len((REPO / "README.md").read_text(encoding="utf-8").splitlines()) <= 150


@pytest.mark.pipeline
def test_the_readme_console_example_is_what_the_run_prints(default_run):
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    (block,) = [body for language, body in FENCE.findall(readme) if language == "console"]
    command, *shown = block.rstrip("\n").splitlines()
    argv = shlex.split(command.removeprefix("$ "))
    done = subprocess.run(
        [str(BIN / argv[0]), *argv[1:]],
        cwd=default_run,
        capture_output=True,
        text=True,
        check=True,
    )
    assert done.stdout.splitlines() == shown


# The audit commands the docs show, run as shown against a real run: A and B stand for two
# runs (here the same one, so each reports a match); a command that needs a key or reruns
# the pipeline (keygen, record, hunt) is checked by the parse test above.
AUDITS = [
    (doc, command)
    for doc, command in COMMANDS
    # Captured by tools/capture-*-examples.sh against runs of their own.
    if not doc.name.endswith("-examples.md")
    # An attestation needs a key the shared run has not got (tests/test_attestation.py).
    and "--attestation" not in command
    and re.match(r"(\.venv/bin/)?reprotrain (diff|verify|check)\b", command)
]


@pytest.mark.pipeline
@pytest.mark.parametrize(
    ("doc", "command"), AUDITS, ids=[f"{d.relative_to(REPO)}: {c}" for d, c in AUDITS]
)
def test_each_audit_command_the_docs_show_runs_on_a_real_run(default_run, tmp_path, doc, command):
    for run in ("A", "B"):
        (tmp_path / run).symlink_to(default_run)
    program, *arguments = shlex.split(command)
    done = subprocess.run(
        [str(BIN / Path(program).name), *arguments],
        cwd=tmp_path if "A/" in command else default_run,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_every_cli_option_has_help_text():
    """`reprotrain <command> --help` explains every argument of every command."""
    import argparse

    from reprotrain import cli

    missing = []

    def walk(parser: argparse.ArgumentParser, path: list[str]) -> None:
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                for name, sub in action.choices.items():
                    walk(sub, [*path, name])
            elif not isinstance(action, argparse._HelpAction) and not action.help:
                missing.append(f"{' '.join(path)} {action.option_strings or action.dest}")

    walk(cli.parser(), ["reprotrain"])
    assert missing == []
