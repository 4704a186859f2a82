"""The workflow's own source tree, defined once: where it is, which of its files are the
code that makes outputs, which a crate describes, and what a copy of a project holds.

Standard library only: the driver, the jobs and the CLI all read it.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterable
from pathlib import Path

from reprotrain.errors import ReprotrainError

# The package's own directory (src/reprotrain) and its data.
PACKAGE_DIR = Path(__file__).resolve().parent
PACKAGE_DATA = PACKAGE_DIR / "data"
# In an exported module tree: the commit it was exported from (git has no other record there).
COMMIT_FILE = ".reprotrain-commit"
# The code that can change an output: the workflow, its rule scripts and schemas, and the
# package. Tests, docs and the recorded manifests are not part of it.
CODE_GLOBS = (
    "workflow/Snakefile",
    "workflow/rules/*.smk",
    "workflow/scripts/*.py",
    "workflow/schemas/*.yaml",
    "src/reprotrain/**/*.py",
)
# What else describes how outputs are made: the locks, and the licence they are under.
ENVIRONMENT_FILES = ("envs/environment.yaml", "envs/conda-lock.yml", "envs/requirements.lock")
DESCRIBED = (*CODE_GLOBS, *ENVIRONMENT_FILES, "LICENSE")
# Never part of a project's copy: outputs of earlier runs and tools' caches.
NOT_SOURCE = frozenset(
    {
        ".git",
        ".snakemake",
        ".venv",
        "logs",
        ".pytest_cache",
        ".ruff_cache",
        ".mypy_cache",
        "__pycache__",
    }
)


def matching(root: str | Path, globs: Iterable[str], absolute: bool = False) -> list[str]:
    """The files under ``root`` that ``globs`` match, relative to it (or absolute), sorted."""
    base = Path(root)
    found = sorted(
        {
            path.relative_to(base).as_posix()
            for pattern in globs
            for path in base.glob(pattern)
            if path.is_file() and not NOT_SOURCE & set(path.relative_to(base).parts)
        }
    )
    return [str(base / name) for name in found] if absolute else found


def code_files(root: str | Path, absolute: bool = False) -> list[str]:
    """The files of the code digest."""
    return matching(root, CODE_GLOBS, absolute)


def package_source_root() -> Path:
    """The source tree this reprotrain runs from (an editable install or a checkout)."""
    root = PACKAGE_DIR.parents[1]
    if not (root / "workflow" / "Snakefile").is_file():
        raise ReprotrainError(
            root,
            "--source",
            "is not a reprotrain source tree (no workflow/Snakefile)",
            "give the workflow's source with --source (a checkout, or "
            ".snakemake/reprotrain-source/<commit> for a module)",
        )
    return root


def project_files(root: Path, exclude: Iterable[Path] = ()) -> list[str]:
    """A project's files: git's view (tracked and new, not ignored) or, outside git, the
    tree without outputs of earlier runs."""
    done = subprocess.run(
        ["git", "-C", str(root), "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        capture_output=True,
        check=False,
    )
    if done.returncode == 0:
        names = [name for name in done.stdout.decode().split("\0") if name]
    else:
        names = [
            path.relative_to(root).as_posix()
            for path in sorted(root.rglob("*"))
            if path.is_file()
            and not NOT_SOURCE & set(path.relative_to(root).parts)
            and not path.relative_to(root).parts[0].startswith(("results", ".venv-"))
        ]
    skipped = [Path(p).resolve() for p in exclude]
    return [
        name
        for name in names
        if (root / name).is_file()
        and not any((root / name).resolve().is_relative_to(s) for s in skipped)
    ]


def copy_project(root: Path, destination: Path, files: Iterable[str] | None = None) -> Path:
    """A copy of the project's files (``files``, or all of them: project_files) at
    ``destination``, as a clone would hold them plus uncommitted edits."""
    for name in project_files(root) if files is None else files:
        target = destination / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(root / name, target)
    return destination
