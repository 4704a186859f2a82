"""Hermetic jobs: every module a rule job imports comes from the environment it runs in.

Snakemake's script preamble appends the driver's site-packages (and the workflow's
source) to the module path, so under --use-conda a package missing from the conda env
would silently be imported from the driver's venv; in a venv, PYTHONPATH or a user
site-packages can shadow what the lock installed. After its step, each job checks where
every module it loaded came from; Snakemake's own preamble packages are exempt.
"""

from __future__ import annotations

import os
import sys
import sysconfig
from collections.abc import Iterable, Mapping
from pathlib import Path

from reprotrain.errors import ReprotrainError

# The packages of Snakemake's script preamble (snakemake, snakemake_interface_common...),
# found wherever the driver runs: top-level names that start so.
PREAMBLE_PACKAGES = ("snakemake",)


def allowed_roots() -> tuple[list[Path], list[Path]]:
    """Where this job's modules may come from (its environment's prefix, the interpreter's
    standard library, the reprotrain package, the user code directory) and, inside those,
    where not (the base interpreter's own site-packages, which a venv does not use)."""
    import reprotrain

    paths = sysconfig.get_paths()
    stdlib = {Path(paths["stdlib"]).resolve(), Path(paths["platstdlib"]).resolve()}
    allowed = [Path(sys.prefix).resolve(), *stdlib, Path(reprotrain.__file__).parent.resolve()]
    # The user's own modules (config `user_code`): their code digest is in the records.
    if user_code := os.environ.get("REPROTRAIN_USER_CODE"):
        allowed.append(Path(user_code).resolve())
    excluded = [
        library / name
        for library in stdlib
        for name in ("site-packages", "dist-packages")
        if not library.is_relative_to(Path(sys.prefix).resolve())
    ]
    return allowed, excluded


def foreign_modules(
    files: Mapping[str, str | None],
    loaded_before: Iterable[str],
    allowed: Iterable[Path],
    excluded: Iterable[Path] = (),
) -> list[tuple[str, str]]:
    """(module, file) of each module in ``files`` (module -> file, as sys.modules gives it)
    that was not loaded before and whose file lies outside every allowed root."""
    before = set(loaded_before)
    inside_roots = tuple(f"{root}{os.sep}" for root in allowed)
    outside_roots = tuple(f"{root}{os.sep}" for root in excluded)

    def inside(path: str) -> bool:
        return path.startswith(inside_roots) and not path.startswith(outside_roots)

    found = []
    for name, file in sorted(files.items()):
        # Snakemake's own packages carry the job's arguments (its preamble unpickled them
        # from the driver's environment); their modules may load late, as those are used.
        if name in before or name.partition(".")[0].startswith(PREAMBLE_PACKAGES):
            continue
        if not file or not Path(file).is_absolute():
            continue  # the preamble's, a built-in or frozen module, the script itself
        # Resolved (symbolic links) only when the path as loaded is not plainly inside.
        if not inside(file) and not inside(real := os.path.realpath(file)):
            found.append((name, real))
    return found


def check(loaded_before: Iterable[str]) -> None:
    """Fail the job when it loaded a module from outside its environment."""
    allowed, excluded = allowed_roots()
    files = {name: getattr(module, "__file__", None) for name, module in list(sys.modules.items())}
    foreign = foreign_modules(files, loaded_before, allowed, excluded)
    if not foreign:
        return
    name, path = foreign[0]
    others = f" (and {len(foreign) - 1} more)" if len(foreign) > 1 else ""
    raise ReprotrainError(
        path,
        None,
        f"the job imported {name}{others} from outside the environment it runs in "
        f"({sys.prefix}): its outputs would depend on software no lock pins",
        f"install {name.partition('.')[0]} in the locked environment (envs/environment.yaml "
        "and envs/requirements.in, then `make lock`), or take what puts "
        f"{Path(path).parent} on the module path away (PYTHONPATH, a user site-packages)",
    )
