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
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from reprotrain import fileio, source_tree
from reprotrain.codedigest import digest_code
from reprotrain.hashing import digest_value, digest_value_remembered, sha256_file

PACKAGE = "reprotrain"
PACKAGE_DIR = f"src/{PACKAGE}"


def _imported_package_modules(path: Path) -> frozenset[str]:
    """Names of the package's modules that one Python file imports (``reprotrain.x``)."""
    return frozenset(name for name in _imports(path) if name.split(".")[0] == PACKAGE)


def _imports(path: Path) -> frozenset[str]:
    stat = path.stat()
    return _parsed_imports(str(path), stat.st_mtime_ns, stat.st_size)


# Every rule's code digest walks the same modules: parse each file once per version.
@functools.cache
def _parsed_imports(path: str, mtime_ns: int, size: int) -> frozenset[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(fileio.read_text(path, what="code file"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
        elif step := _step_named(node):
            # run_step(log, "package.module:function"): the module runs the job's step in a
            # warm worker, imported there rather than by the script (reprotrain.steps.worker).
            found.add(step.partition(":")[0])
    return frozenset(found)


def _step_named(node: ast.AST) -> str | None:
    """The step a ``run_step`` call names by "module:function", if ``node`` is one."""
    if not isinstance(node, ast.Call) or len(node.args) < 2:
        return None
    name = getattr(node.func, "id", None) or getattr(node.func, "attr", None)
    step = node.args[1]
    if name == "run_step" and isinstance(step, ast.Constant) and isinstance(step.value, str):
        return step.value if ":" in step.value else None
    return None


def package_closure(root: str | Path, script: str) -> list[str]:
    """The script plus every package module it imports, directly or not (relative paths)."""
    base = Path(root)
    seen = {f"{PACKAGE_DIR}/__init__.py"}
    pending = [script]
    while pending:
        current = pending.pop()
        for module in _imported_package_modules(base / current):
            for relative in _files_of(base, module):
                if relative not in seen:
                    seen.add(relative)
                    pending.append(relative)
    return sorted(seen | {script})


def _files_of(base: Path, module: str) -> list[str]:
    """The package's files that importing ``module`` runs: its own (a module, or a
    package's __init__) and each enclosing package's __init__."""
    parts = module.split(".")
    found = [
        f"src/{'/'.join(parts[:end])}/__init__.py"
        for end in range(2, len(parts))
        if (base / "src" / Path(*parts[:end]) / "__init__.py").is_file()
    ]
    for candidate in (f"src/{'/'.join(parts)}.py", f"src/{'/'.join(parts)}/__init__.py"):
        if (base / candidate).is_file():
            found.append(candidate)
    return found


def _module_file(directory: Path, module: str) -> Path | None:
    base = directory.joinpath(*module.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def user_module_digest(directory: str | Path, module: str) -> str | None:
    """Digest of a module of the user's code directory and of every module of that
    directory it imports, directly or not; None when the module is not in it (an
    installed package, which the lock pins)."""
    base = Path(directory)
    first = _module_file(base, module)
    if first is None:
        return None
    seen = {first}
    pending = [first]
    while pending:
        for name in _imports(pending.pop()):
            found = _module_file(base, name)
            if found is not None and found not in seen:
                seen.add(found)
                pending.append(found)
    return digest_code(base, sorted(path.relative_to(base).as_posix() for path in seen))


def rule_code_digest(root: str | Path, rules_file: str, script: str) -> str:
    """Digest of the code one rule runs: its rules file, its script and the modules it imports.

    The workflow's Snakefile and common.smk are included because they shape every rule.
    """
    files = [
        "workflow/Snakefile",
        "workflow/rules/common.smk",
        rules_file,
        *package_closure(root, script),
    ]
    return digest_code(root, files)


def code_digest(root: str | Path) -> str:
    """Digest of the code that makes the outputs: an uncommitted edit changes it too, a
    comment or a reformatted line does not (reprotrain.codedigest)."""
    return digest_code(root, source_tree.code_files(root))


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


def environment_fingerprint(
    lock_path: str, distributions: list[str], lock_name: str | None = None
) -> dict[str, Any]:
    """What ran the rules: the lock in force, the interpreter, the platform, what is installed.

    Called from inside a rule, so it describes the rule environment (conda env or
    venv), not the Snakemake driver's.
    """
    return {
        "lock": {"path": lock_name or lock_path, "sha256": sha256_file(lock_path)},
        "platform": sysconfig.get_platform(),
        "python": interpreter(),
        "packages": installed_versions(distributions),
    }


def interpreter() -> dict[str, str]:
    """The interpreter that runs this process: implementation, version and build (the
    build string names the build date and compiler; a conda one says conda-forge). Every
    output's recipe has it as an input (``recipe``'s "interpreter")."""
    return {
        "implementation": sys.implementation.name,
        "version": platform.python_version(),
        "build": sys.version,
    }


# What each output was made from: every rule states, beside itself, what each of its params
# means, and the recipe of an output follows its inputs back through uncovered intermediates.


@dataclass(frozen=True)
class Declaration:
    """What a rule's params and inputs mean to the provenance of its outputs.

    Every param is named once: `params` change output bytes (the params digest); `code`
    ones carry code digests; `data`, `environment` and `hardware` name the param that stands
    for the data version, the installed software or the numerics pin; `not_provenance` ones
    (paths, what a record says) change no bytes. `made_from` names, for an output made from
    only some of the rule's inputs, which ones.
    """

    params: tuple[str, ...] = ()
    code: tuple[str, ...] = ()
    data: str | None = None
    environment: str | None = None
    hardware: str | None = None
    not_provenance: tuple[str, ...] = ()
    made_from: Mapping[str, tuple[str, ...]] = field(default_factory=dict)

    def named(self) -> list[str]:
        singles = [name for name in (self.data, self.environment, self.hardware) if name]
        return [*self.params, *self.code, *singles, *self.not_provenance]

    def check(self, rule: str, param_names: Iterable[str], input_names: Iterable[str]) -> None:
        """Every param declared exactly once, nothing declared that the rule lacks: renaming
        a param must fail here, not silently change what its value means."""
        named = self.named()
        problems = []
        if twice := sorted({name for name in named if named.count(name) > 1}):
            problems.append(f"declares {', '.join(twice)} more than once")
        if undeclared := sorted(set(param_names) - set(named)):
            problems.append(f"does not declare its params {', '.join(undeclared)}")
        if unknown := sorted(set(named) - set(param_names)):
            problems.append(f"declares params it does not have: {', '.join(unknown)}")
        inputs = set(input_names)
        for output, sources in self.made_from.items():
            if missing := sorted(set(sources) - inputs):
                problems.append(
                    f"makes {output} from inputs it does not have: {', '.join(missing)}"
                )
        if problems:
            raise ValueError(f"the provenance declaration of rule {rule} " + "; ".join(problems))


@dataclass(frozen=True)
class RuleInput:
    """One input item of a rule for concrete wildcards: its name, the pattern it was given
    as (None for an input function), and the files it names."""

    name: str | None
    pattern: str | None
    files: tuple[str, ...]


@dataclass(frozen=True)
class RuleView:
    """A rule for concrete wildcards, as the recipe needs it (built from Snakemake's rule by
    the workflow, or by hand in tests)."""

    name: str
    declaration: Declaration
    outputs: Mapping[str, str | None]  # output pattern -> its name in the rule (if named)
    inputs: tuple[RuleInput, ...]
    params: Mapping[str, Any]
    packages_record: str  # where the job records the packages it imported

    # A view is built once per rule and wildcards (the workflow caches it) but is part of
    # the recipe of several outputs: its declared params are picked and digested once.
    @functools.cached_property
    def made_params(self) -> dict[str, Any]:
        """The params that change its outputs' bytes (Declaration.params)."""
        return {key: self.params[key] for key in self.declaration.params}

    @functools.cached_property
    def made_params_digest(self) -> str:
        """The digest of each made param, digested: a value every job shares (the table
        schema) is encoded once."""
        return digest_value(
            {key: digest_value_remembered(value) for key, value in self.made_params.items()}
        )


# The input that stands for the interpreter in every output's recipe.
INTERPRETER = "interpreter"


@dataclass(frozen=True)
class RecipeContext:
    """What the recipe needs to know of the run beyond the rules."""

    covered: frozenset[str]  # paths the manifest pins: an input that is one is an output
    locks: Mapping[str, str]  # a lock file's location -> its repository path (its name)
    raw: str | None = None  # the raw data file of the data version, when it is a file
    data_input: Mapping[str, Any] | None = None  # the data version as an input


def recipe(
    pattern: str,
    wildcards: Mapping[str, Any],
    view: Callable[[str, Mapping[str, Any]], RuleView],
    producers: Mapping[str, str],
    context: RecipeContext,
) -> dict[str, Any]:
    """Rule, inputs, params and code of one output, looking through uncovered intermediates.

    `producers` maps an output pattern to the rule that makes it; `view` gives that rule for
    the wildcards. Returns {"rule", "inputs", "params": {rule: {...}}, "code": {...},
    "params_digest", "code_digest"}. The params digest is composed of each rule's own
    (RuleView.made_params_digest), so a sweep digests each job's params once, not once per
    output that job leads to.
    """
    rules: dict[str, RuleView] = {}
    code: dict[str, Any] = {}
    inputs = _gather(pattern, wildcards, view, producers, context, rules, code)
    return {
        "rule": next(iter(rules)),  # the first rule gathered: the output's own
        "inputs": inputs,
        "params": {name: rule.made_params for name, rule in rules.items()},
        "code": code,
        "params_digest": digest_value(
            {name: rule.made_params_digest for name, rule in rules.items()}
        ),
        "code_digest": digest_value(code),
    }


def _gather(
    pattern: str,
    wildcards: Mapping[str, Any],
    view: Callable[[str, Mapping[str, Any]], RuleView],
    producers: Mapping[str, str],
    context: RecipeContext,
    rules: dict[str, RuleView],
    code: dict[str, Any],
) -> dict[str, dict[str, Any]]:
    """The inputs of one output; adds the rules it went through to `rules` and their code
    params to `code`."""
    rule = view(producers[pattern], wildcards)
    declared = rule.declaration
    params = rule.params
    rules[rule.name] = rule
    code |= {f"{rule.name}.{key}": params[key] for key in declared.code}
    inputs: dict[str, dict[str, Any]] = {}
    if declared.data is not None and params[declared.data] is not None:
        inputs["dataset"] = dict(context.data_input or {})
    if declared.environment is not None and params[declared.environment] is not None:
        inputs["installed packages"] = {
            "kind": "environment",
            "sha256": params[declared.environment],
        }
    # The numerics the job ran with, and the interpreter every job runs on: the manifest
    # job fills in their digests from the environment fingerprint.
    if declared.hardware is not None and params[declared.hardware] is not None:
        inputs["hardware"] = {"kind": "hardware", "fingerprint": "hardware"}
    inputs[INTERPRETER] = {"kind": "environment", "fingerprint": "python"}
    # The software the job used; the manifest job reads its record (drift.packages_used).
    inputs[f"packages used by {rule.name}"] = {
        "kind": "environment",
        "record": rule.packages_record,
    }
    made_from = declared.made_from.get(rule.outputs[pattern] or "")
    for item in rule.inputs:
        if made_from is not None and item.name not in made_from:
            continue
        for file in item.files:
            if file in context.covered:
                inputs[file] = {"kind": "output"}
            elif item.pattern is not None and item.pattern in producers:
                inputs |= _gather(item.pattern, wildcards, view, producers, context, rules, code)
            elif file in context.locks:
                inputs[context.locks[file]] = {"kind": "environment", "file": file}
            elif file == context.raw:
                inputs["dataset"] = dict(context.data_input or {})
            else:
                inputs[file] = {"kind": "file"}
    return inputs
