"""Environment drift: is the software that runs the rules the software the lock pins?

Snakemake reads a conda pin file only when it creates the environment, and nothing
watches a venv after `pip install`, so an environment can silently drift from its
lock. This compares what is importable now with the lock in force.
"""

from __future__ import annotations

import importlib.metadata
import logging
import os
from dataclasses import dataclass

from reprotrain.errors import ReprotrainError
from reprotrain.hashing import digest_value
from reprotrain.locks import explicit_python_packages, load_pip_lock, normalize

log = logging.getLogger(__name__)

MODES = ("error", "warn")
# Set by the Snakefile for every job: the lock the rules must match, and what to do if not.
LOCK_VARIABLE = "REPROTRAIN_LOCK"
MODE_VARIABLE = "REPROTRAIN_DRIFT"


@dataclass(frozen=True)
class Drift:
    package: str
    locked: str
    found: str | None  # None: not installed

    def describe(self) -> str:
        return f"{self.package}: locked {self.locked}, found {self.found or 'not installed'}"


def locked_versions(lock_path: str) -> dict[str, str]:
    """PyPI name -> version for every Python package the lock pins on this machine."""
    if lock_path.endswith(".pin.txt"):
        return explicit_python_packages(lock_path)
    return {
        name: pin.version for name, pin in load_pip_lock(lock_path).items() if pin.applies_here()
    }


def installed_versions() -> dict[str, str]:
    """PyPI name -> version of every distribution importable by this interpreter (first wins)."""
    found: dict[str, str] = {}
    for distribution in importlib.metadata.distributions():
        name, version = _name_and_version(distribution)
        if name and version:
            found.setdefault(normalize(name), version)
    return found


def _name_and_version(distribution: importlib.metadata.Distribution) -> tuple[str, str]:
    """Name and Version from the metadata headers, without the (slow) full email parse."""
    text = distribution.read_text("METADATA") or distribution.read_text("PKG-INFO") or ""
    fields = {}
    for line in text.splitlines():
        if not line.strip():
            break  # the headers end at the first blank line
        key, _, value = line.partition(":")
        if key in ("Name", "Version"):
            fields.setdefault(key, value.strip())
    return fields.get("Name", ""), fields.get("Version", "")


def find_drift(lock_path: str) -> list[Drift]:
    installed = installed_versions()
    return [
        Drift(name, version, installed.get(name))
        for name, version in sorted(locked_versions(lock_path).items())
        if installed.get(name) != version
    ]


def installed_digest(lock_path: str) -> str:
    """Digest of the installed versions of the locked packages: changes when the env does."""
    installed = installed_versions()
    return digest_value({name: installed.get(name) for name in sorted(locked_versions(lock_path))})


def check(lock_path: str, mode: str) -> list[Drift]:
    """Fail (mode "error") or warn (mode "warn") when the environment differs from its lock."""
    drift = find_drift(lock_path)
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
    return check(lock_path, os.environ.get(MODE_VARIABLE, "error"))
