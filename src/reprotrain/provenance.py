"""Where outputs came from: code version, parameters and the environment that ran the rules.

Standard library only: the Snakefile calls it from any Snakemake installation and the
rules call it from inside the locked environment.
"""

from __future__ import annotations

import ast
import functools
import platform
import subprocess
import sys
import sysconfig
from pathlib import Path
from typing import Any

from reprotrain.hashing import digest_tree, sha256_file

# The code that can change an output: the workflow, its rule scripts and schemas, and
# the package. Tests, docs and the recorded manifest are not part of it.
CODE_GLOBS = (
    "Snakefile",
    "workflow/rules/*.smk",
    "workflow/scripts/*.py",
    "workflow/schemas/*.yaml",
    "src/reprotrain/*.py",
)


PACKAGE = "reprotrain"
PACKAGE_DIR = f"src/{PACKAGE}"


def _imported_package_modules(path: Path) -> frozenset[str]:
    """Names of the package's modules that one Python file imports (``reprotrain.x``)."""
    stat = path.stat()
    return _parsed_imports(str(path), stat.st_mtime_ns, stat.st_size)


# Every rule's code digest walks the same modules: parse each file once per version.
@functools.cache
def _parsed_imports(path: str, mtime_ns: int, size: int) -> frozenset[str]:
    found = set()
    for node in ast.walk(ast.parse(Path(path).read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
    return frozenset(name for name in found if name.split(".")[0] == PACKAGE)


def package_closure(root: str | Path, script: str) -> list[str]:
    """The script plus every package module it imports, directly or not (relative paths)."""
    base = Path(root)
    seen = {f"{PACKAGE_DIR}/__init__.py"}
    pending = [script]
    while pending:
        current = pending.pop()
        for module in _imported_package_modules(base / current):
            relative = f"src/{module.replace('.', '/')}.py"
            if relative not in seen and (base / relative).is_file():
                seen.add(relative)
                pending.append(relative)
    return sorted(seen | {script})


def rule_code_digest(root: str | Path, rules_file: str, script: str) -> str:
    """Digest of the code one rule runs: its rules file, its script and the modules it imports.

    The Snakefile and common.smk are included because they shape every rule.
    """
    files = ["Snakefile", "workflow/rules/common.smk", rules_file, *package_closure(root, script)]
    return digest_tree(root, files)


def code_files(root: str | Path) -> list[str]:
    base = Path(root)
    return sorted({p.relative_to(base).as_posix() for g in CODE_GLOBS for p in base.glob(g)})


def code_digest(root: str | Path) -> str:
    """Digest of the code that makes the outputs: an uncommitted edit changes it too."""
    return digest_tree(root, code_files(root))


def git_state(root: str | Path) -> dict[str, Any]:
    """The commit checked out and whether the tree differs from it (None outside git)."""

    def git(*args: str) -> str | None:
        try:
            done = subprocess.run(
                ["git", "-C", str(root), *args], capture_output=True, text=True, check=True
            )
        except (OSError, subprocess.CalledProcessError):
            return None
        return done.stdout.strip()

    commit = git("rev-parse", "HEAD")
    if commit is None:
        return {"commit": None, "dirty": None}
    status = git("status", "--porcelain", "--untracked-files=no")
    return {"commit": commit, "dirty": bool(status)}


def installed_versions(distributions: list[str]) -> dict[str, str | None]:
    import importlib.metadata  # 33 ms, and only the environment record needs it

    versions: dict[str, str | None] = {}
    for name in sorted(distributions):
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            versions[name] = None
    return versions


def environment_fingerprint(lock_path: str, distributions: list[str]) -> dict[str, Any]:
    """What ran the rules: the lock in force, the interpreter, the platform, what is installed.

    Called from inside a rule, so it describes the rule environment (conda env or
    venv), not the Snakemake driver's.
    """
    return {
        "lock": {"path": lock_path, "sha256": sha256_file(lock_path)},
        "platform": sysconfig.get_platform(),
        "python": platform.python_version(),
        "implementation": sys.implementation.name,
        "packages": installed_versions(distributions),
    }
