"""The one adapter to Snakemake holds for the pinned Snakemake, and nothing else in the
package or the rules reaches past it (reprotrain.driver.snakemake_adapter)."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from helpers import BIN, REPO

from reprotrain import source_tree
from reprotrain.driver import snakemake_adapter as adapter

# What a Snakefile may import from Snakemake itself: its documented Snakefile API.
PUBLIC = {"snakemake.utils", "snakemake.exceptions"}


def imported_modules(tree: ast.AST) -> set[str]:
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
    return found


def test_only_the_adapter_imports_snakemake():
    for name in source_tree.code_files(REPO):
        path = REPO / name
        if name.endswith(".py"):
            modules = imported_modules(ast.parse(path.read_text(encoding="utf-8")))
        else:  # a Snakefile: its import lines are Python
            modules = {
                line.split()[1]
                for line in path.read_text(encoding="utf-8").splitlines()
                if line.startswith(("import ", "from "))
            }
        snakemake = {m for m in modules if m.split(".")[0].startswith("snakemake")}
        if name == "src/reprotrain/driver/snakemake_adapter.py":
            continue
        allowed = PUBLIC if not name.endswith(".py") or name.startswith("workflow/") else set()
        assert snakemake <= allowed, f"{name} imports {sorted(snakemake - allowed)}"


def test_wildcards_and_patterns_as_snakemake_fills_them():
    values = adapter.wildcards({"dataset": "d", "seed": "42"})
    assert values.dataset == "d" and values["seed"] == "42"
    assert dict(values.items()) == {"dataset": "d", "seed": "42"}
    assert adapter.apply_wildcards("r/{dataset}/seed-{seed}.npy", {"dataset": "d", "seed": 42}) == (
        "r/d/seed-42.npy"
    )
    assert adapter.VERSION.split(".")[0] == "9"
    # A copy, since the adapter is loaded before the package can be imported.
    assert adapter.COMMIT_FILE == source_tree.COMMIT_FILE
    assert [int(part) for part in adapter.MIN_CONDA_VERSION.split(".")[:2]] >= [4, 0]


def test_the_end_of_run_comes_before_the_interpreter_waits_for_timers():
    """A callback at the main thread's end cancels a 60 s timer: the process ends at
    once, not after it."""
    program = textwrap.dedent(
        f"""
        import sys, threading
        sys.path.insert(0, {str(REPO / "src")!r})
        from reprotrain.driver import snakemake_adapter as adapter
        threading.Timer(60, lambda: None).start()
        adapter.at_main_thread_end(lambda: [t.cancel() for t in adapter.timers()])
        """
    )
    subprocess.run([sys.executable, "-c", program], check=True, timeout=20)


SNAKEFILE = """
import json, sys
from pathlib import Path
sys.path.insert(0, {src!r})
from reprotrain.driver import snakemake_adapter as adapter

settings = adapter.settings(workflow)
root = adapter.workflow_source_root(workflow)  # while the Snakefile is read


rule made:
    output:
        "made.txt",
    shell:
        "touch {{output}}"


rule undeclared:
    output:
        "other.txt",
    shell:
        "touch {{output}}"


def report_what_the_adapter_sees(wildcards):
    Path("seen.json").write_text(json.dumps({{
        "root": str(root),
        "use_conda": settings.use_conda,
        "config_files": list(settings.config_files),
        "local_cores": settings.local_cores,
        "main_process": settings.main_process,
        "executing": adapter.executing(workflow),
        "undeclared": adapter.undeclared_rules(workflow, globals(), [rules.made]),
    }}))
    return []


rule all:
    default_target: True
    input:
        report_what_the_adapter_sees,
        "made.txt",
"""


@pytest.mark.parametrize(
    "dry_run",
    [pytest.param(True, marks=pytest.mark.dryrun), pytest.param(False, marks=pytest.mark.pipeline)],
)
def test_what_the_adapter_reads_of_a_real_workflow(tmp_path, dry_run):
    # Where the workflow's rules files are: the source tree is two levels up.
    (tmp_path / "workflow/rules").mkdir(parents=True)
    (tmp_path / "workflow/rules/all.smk").write_text(SNAKEFILE.format(src=str(REPO / "src")))
    (tmp_path / "extra.yaml").write_text("a: 1\n")
    done = subprocess.run(
        [
            str(BIN / "snakemake"),
            "--snakefile",
            "workflow/rules/all.smk",
            "--cores",
            "3",
            "--configfile",
            "extra.yaml",
            *(["-n"] if dry_run else []),
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    seen = json.loads((tmp_path / "seen.json").read_text())
    assert seen == {
        "root": str(tmp_path),
        "use_conda": False,
        "config_files": [str(tmp_path / "extra.yaml")],
        "local_cores": 3,
        "main_process": True,
        "executing": not dry_run,
        "undeclared": ["undeclared"],
    }
    assert Path(tmp_path / "made.txt").exists() != dry_run
