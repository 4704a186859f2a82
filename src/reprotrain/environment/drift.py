"""Environment drift: is the software that runs the rules the software the lock pins?

Snakemake reads a conda pin file only when it creates the environment, and nothing
watches a venv after `pip install`, so an environment can silently drift from its
lock. This compares what is importable now with the lock in force.
"""

from __future__ import annotations

import logging
import os
import sys
import sysconfig
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING

from reprotrain import fileio, memo
from reprotrain.environment import lockfiles
from reprotrain.environment.lockfiles import (
    explicit_packages,
    explicit_python_packages,
    load_pip_lock,
    normalize,
)
from reprotrain.errors import ReprotrainError
from reprotrain.hashing import digest_value, sha256_file

if TYPE_CHECKING:
    import importlib.metadata

log = logging.getLogger(__name__)

MODES = ("error", "warn")
# Set by the Snakefile for every job: the lock the rules must match, and what to do if not.
LOCK_VARIABLE = "REPROTRAIN_LOCK"
MODE_VARIABLE = "REPROTRAIN_DRIFT"


@dataclass(frozen=True)
class Drift:
    package: str
    locked: str | None  # None: installed, but not in the lock (a fallback solve added it)
    found: str | None  # None: not installed

    def describe(self) -> str:
        locked = f"locked {self.locked}" if self.locked else "not in the lock"
        return f"{self.package}: {locked}, found {self.found or 'not installed'}"


def locked_versions(lock_path: str) -> dict[str, str]:
    """PyPI name -> version for every Python package the lock pins on this machine."""
    if lock_path.endswith(".pin.txt"):
        return explicit_python_packages(lock_path)
    return {
        name: pin.version for name, pin in load_pip_lock(lock_path).items() if pin.applies_here()
    }


def remembered_locked_versions(lock_path: str) -> dict[str, str]:
    """``locked_versions``, remembered (reprotrain.memo) per lock bytes, machine and code.

    Every job checks drift; for the pip lock that meant importing `packaging` and
    evaluating its markers in each of them. Markers depend on the interpreter and the
    platform, which the salt names, so a SLURM node of another kind works it out anew.
    """
    remembered = memo.Memo(
        memo.STORE,
        salt={
            "python": sys.version,
            "platform": sysconfig.get_platform(),
            "code": _digest_of_modules(sys.modules[__name__], lockfiles),
        },
    )
    return remembered(_locked_versions_apart, lock_path, files=[lock_path])


def _digest_of_modules(*modules: ModuleType) -> str:
    """The digest of some modules' files: what a remembered result was worked out by."""
    return digest_value([sha256_file(str(module.__file__)) for module in modules])


def _locked_versions_apart(lock_path: str) -> dict[str, str]:
    """``locked_versions`` in a fresh interpreter of this environment.

    What a job imports is recorded as what its outputs used (``packages_used``); worked out
    here, `packaging` would be imported by the jobs that happen to miss the memo and not by
    the others, and their records would differ with the scheduling.
    """
    import json
    import subprocess

    done = subprocess.run(
        [
            sys.executable,
            "-c",
            "import json, sys\n"
            "from reprotrain.environment.drift import locked_versions\n"
            "print(json.dumps(locked_versions(sys.argv[1])))",
            lock_path,
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        return locked_versions(lock_path)  # raises its own clear error, here
    return json.loads(done.stdout)


def installed_versions() -> dict[str, str]:
    """PyPI name -> version of every distribution importable by this interpreter (first wins).

    Installers name the metadata directory ``{name}-{version}.dist-info``, so a listing of
    each path entry gives both (2.5 ms for 129 distributions, against 32 ms reading their
    METADATA, and every job checks). Any other name is read from its metadata headers.
    """
    found: dict[str, str] = {}
    for entry in sys.path:
        try:
            paths = sorted(Path(entry or ".").iterdir())
        except OSError:
            continue  # a zip file or a directory that does not exist
        for path in paths:
            if path.suffix == ".dist-info" and path.stem.count("-") == 1:
                project, version = path.stem.split("-")
            elif path.suffix in (".dist-info", ".egg-info"):
                import importlib.metadata  # 33 ms: only for what the name does not say

                project, version = _name_and_version(importlib.metadata.PathDistribution(path))
            else:
                continue
            if project and version:
                found.setdefault(normalize(project), version)
    return found


def packages_record_path(log_path: str) -> str:
    """Where a job records the packages it used: beside its log, kept and never covered."""
    return str(Path(log_path).with_suffix(".packages.json"))


def packages_used(also_loaded: Iterable[str] = ()) -> dict[str, str]:
    """PyPI name -> version of each distribution whose modules this process imported (and
    the job's process, ``also_loaded``, when a warm worker ran its step).

    What a job's outputs can depend on in its environment: a drifted package that none of
    an output's jobs imported cannot have changed it (reprotrain itself is code, digested
    on its own; the manifest keeps the packages of the rule environment alone).
    """
    installed = installed_versions()
    # Which distribution owns which module reads every distribution's file list (0.3 s in
    # a venv with the driver's tooling): remembered while the installed versions stay.
    remembered = memo.Memo(
        memo.STORE,
        salt={"python": sys.version, "code": _digest_of_modules(sys.modules[__name__], memo)},
    )
    owners = remembered(_module_owners, sys.path, installed)
    # Private top-level modules are left out: site's .pth hooks import them into every
    # process (setuptools' _distutils_hack), and a library a job computes with is imported
    # under its public name too.
    top_level = {name.partition(".")[0] for name in [*sys.modules, *also_loaded]}
    top_level = {name for name in top_level if not name.startswith("_")}
    names = {owner for module in top_level for owner in owners.get(module, ())}
    return {name: installed[name] for name in sorted(names - {"reprotrain"}) if name in installed}


def _module_owners(path: list[str], installed: dict[str, str]) -> dict[str, list[str]]:
    """Top-level module -> the distributions that install it (on ``path``, for ``installed``)."""
    import importlib.metadata

    del path, installed  # what the result depends on, for the memo's key
    return {
        module: sorted({normalize(owner) for owner in owners})
        for module, owners in importlib.metadata.packages_distributions().items()
    }


def _name_and_version(distribution: importlib.metadata.Distribution) -> tuple[str, str]:
    """Name and Version from the metadata headers, without the (slow) full email parse."""
    text = distribution.read_text("METADATA") or distribution.read_text("PKG-INFO") or ""
    fields: dict[str, str] = {}
    for line in text.splitlines():
        if not line.strip():
            break  # the headers end at the first blank line
        key, _, value = line.partition(":")
        if key in ("Name", "Version"):
            fields.setdefault(key, value.strip())
    return fields.get("Name", ""), fields.get("Version", "")


def find_drift(
    lock_path: str, locked: Mapping[str, str] | None = None, prefix: str | Path = sys.prefix
) -> list[Drift]:
    """Locked packages installed at another version or not at all.

    ``locked`` is ``locked_versions(lock_path)`` when the caller already has it. In a conda
    environment (``prefix`` has conda-meta/) checked against a pin file, every package the
    pin file lists is compared too, native ones (python, libopenblas, libgcc, ...) included.
    """
    installed = installed_versions()
    if locked is None:
        locked = locked_versions(lock_path)
    drift = [
        Drift(name, version, installed.get(name))
        for name, version in sorted(locked.items())
        if installed.get(name) != version
    ]
    if lock_path.endswith(".pin.txt") and (Path(prefix) / "conda-meta").is_dir():
        drift += find_conda_drift(lock_path, prefix)
    return drift


def pinned_conda_packages(pin_path: str | Path) -> dict[str, tuple[str, str]]:
    """conda name -> ("version=build", md5) of every package an @EXPLICIT pin file lists."""
    return {
        name: (f"{version}={build}", md5)
        for name, version, build, md5 in explicit_packages(pin_path)
    }


def conda_env_packages(prefix: str | Path) -> dict[str, tuple[str, str | None]]:
    """conda name -> ("version=build", md5) of every package conda installed in ``prefix``,
    from the records conda writes for each (conda-meta/<name>-<version>-<build>.json)."""

    found = {}
    for record_path in sorted((Path(prefix) / "conda-meta").glob("*.json")):
        record = fileio.read_json(record_path, what="conda package record")
        found[record["name"]] = (f"{record['version']}={record['build']}", record.get("md5"))
    return found


def find_conda_drift(pin_path: str | Path, prefix: str | Path) -> list[Drift]:
    """Every difference between a conda environment and its pin file: a package at another
    version or build (or other bytes: its md5), missing, or installed without being pinned
    (what Snakemake's fallback solve from environment.yaml would leave)."""
    pinned = pinned_conda_packages(pin_path)
    installed = conda_env_packages(prefix)
    drift = []
    for name in sorted(pinned.keys() | installed.keys()):
        want, have = pinned.get(name), installed.get(name)
        if want is None or have is None or want[0] != have[0]:
            drift.append(Drift(f"{name} (conda)", want and want[0], have and have[0]))
        elif have[1] and have[1] != want[1]:  # same name, version and build; other bytes
            drift.append(Drift(f"{name} (conda)", f"{want[0]} md5 {want[1]}", f"md5 {have[1]}"))
    return drift


def installed_digest(lock_path: str, locked: Mapping[str, str] | None = None) -> str:
    """Digest of the installed versions of the locked packages: changes when the env does."""
    installed = installed_versions()
    if locked is None:
        locked = locked_versions(lock_path)
    return digest_value({name: installed.get(name) for name in sorted(locked)})


def check(
    lock_path: str,
    mode: str,
    locked: Mapping[str, str] | None = None,
    prefix: str | Path = sys.prefix,
) -> list[Drift]:
    """Fail (mode "error") or warn (mode "warn") when the environment differs from its lock."""
    drift = find_drift(lock_path, locked, prefix)
    if not drift:
        return []
    listing = "; ".join(item.describe() for item in drift)
    if mode == "error":
        raise ReprotrainError(
            lock_path,
            ", ".join(item.package for item in drift),
            f"the environment running the rules has drifted from its lock: {listing}",
            "reinstall the locked environment (`make setup`, or remove the conda env under "
            ".snakemake/conda so Snakemake rebuilds it); to run anyway, set "
            "`environment_drift: warn` in the config (the drift is then recorded in the manifest)",
        )
    log.warning("environment drift (recorded in the manifest): %s", listing)
    return drift


def check_from_environment() -> list[Drift]:
    """The per-job check: uses the lock and mode the Snakefile exported, if any."""
    lock_path = os.environ.get(LOCK_VARIABLE)
    if not lock_path:
        return []
    mode = os.environ.get(MODE_VARIABLE, "error")
    return check(lock_path, mode, remembered_locked_versions(lock_path))
