"""Named environments: a library a model needs, in a locked environment of its own.

The rule environment (envs/environment.yaml, its conda lock, envs/requirements.lock) runs
every job. A model may name another (`models.<name>.environment: boosting`), defined
under envs/<name>/ by its own spec and locks: requirements.in and requirements.lock (pip,
with hashes, the base lock's versions for every package they share), environment.yaml and,
where conda-forge was reachable, conda-lock.yml with its pin files. Adding one changes no
base lock and no record of a run that does not use it.

Without conda, `make setup` installs each into a venv of its own beside the base one
(``venv_of``: .venv-boosting next to .venv); a model's jobs (train, save, validate) start
as Snakemake starts every job and then replace themselves with that venv's interpreter
(``enter``), so their warm workers, drift, numerics and hermetic checks are that
environment's. Under --use-conda the rules' `conda:` directive names the environment's
spec, and Snakemake builds it from its pin file.

Standard library only: the driver, the jobs and the CLI read it.
"""

from __future__ import annotations

import json
import os
import re
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from reprotrain.errors import ReprotrainError

BASE = "base"
NAME = re.compile(r"[a-z][a-z0-9_-]{0,31}")
# The lock a job checks its environment against (reprotrain.environment.drift).
LOCK_VARIABLE = "REPROTRAIN_LOCK"
# Set in a job that entered its model's environment: it must not enter it again.
ENTERED_VARIABLE = "REPROTRAIN_ENVIRONMENT"


@dataclass(frozen=True)
class Environment:
    """A named environment's files, by their repository paths."""

    name: str

    @property
    def directory(self) -> str:
        return f"envs/{self.name}"

    @property
    def requirements(self) -> str:
        return f"{self.directory}/requirements.in"

    @property
    def pip_lock(self) -> str:
        return f"{self.directory}/requirements.lock"

    @property
    def conda_spec(self) -> str:
        return f"{self.directory}/environment.yaml"

    @property
    def conda_lock(self) -> str:
        return f"{self.directory}/conda-lock.yml"

    def pin_file(self, subdir: str) -> str:
        return f"{self.directory}/environment.{subdir}.pin.txt"


def venv_of(base_prefix: str | Path, name: str) -> Path:
    """Where `make setup` installs a named environment: beside the base venv."""
    return Path(f"{Path(base_prefix)}-{name}")


def defined(repo: Path) -> list[str]:
    """The named environments the source tree defines (each with a pip lock)."""
    return sorted(
        path.parent.name
        for path in (repo / "envs").glob("*/requirements.lock")
        if NAME.fullmatch(path.parent.name)
    )


def of_model(entry: Mapping[str, Any] | None) -> str:
    """The environment a `models` entry runs in."""
    return str((entry or {}).get("environment") or BASE)


def check_defined(name: str, repo: Path, file: str, field: str) -> Environment:
    """A named environment the source tree defines, or one message with the command that
    makes it."""
    environment = Environment(name)
    if not (repo / environment.pip_lock).is_file():
        known = ", ".join(defined(repo)) or "none yet"
        raise ReprotrainError(
            file,
            field,
            f"names the environment {name}, which envs/ does not define "
            f"(no {environment.pip_lock}; defined: {known})",
            f"make it with `reprotrain env add {name} <package>==<version> ...` "
            "(docs/environment.md), or name a defined environment",
        )
    return environment


def check_conda_lock(
    environment: Environment, repo: Path, subdir: str, file: str, field: str
) -> str:
    """Under --use-conda: the environment's pin file for this platform, or one message
    naming the command that makes it where conda-forge is reachable."""
    pin_file = environment.pin_file(subdir)
    if not (repo / pin_file).is_file():
        raise ReprotrainError(
            file,
            field,
            f"the environment {environment.name} has no conda lock for {subdir} "
            f"({pin_file}): it could not be made where it was added (conda-forge "
            "unreachable), so --use-conda cannot build it",
            f"on a machine that reaches conda-forge, run `reprotrain env lock "
            f"{environment.name}` and commit {environment.directory}/; or run without "
            "--use-conda (its pip-locked venv, `make setup`)",
        )
    return pin_file


@dataclass(frozen=True)
class JobEnvironment:
    """What a model's job needs to run in its environment: the name, the interpreter to
    become (None: the job already runs in it, as under --use-conda) and the lock in force
    there (its path as the job reads it)."""

    name: str
    python: str | None
    lock: str

    def to_json(self) -> str:
        return json.dumps({"name": self.name, "python": self.python, "lock": self.lock})

    @classmethod
    def from_json(cls, text: str) -> JobEnvironment:
        data = json.loads(text)
        return cls(data["name"], data["python"], data["lock"])


def enter(job_environment: str | None) -> None:
    """At the start of a model's job: become its environment's interpreter (the same
    process, the same script and arguments), with that environment's lock in force.
    Nothing to do for the base environment, or once entered."""
    if not job_environment:
        return
    wanted = JobEnvironment.from_json(job_environment)
    if wanted.name == BASE:
        return
    os.environ[LOCK_VARIABLE] = wanted.lock
    if wanted.python is None or os.environ.get(ENTERED_VARIABLE) == wanted.name:
        forget_other_environments()
        return
    if not os.access(wanted.python, os.X_OK):
        raise ReprotrainError(
            wanted.python,
            None,
            f"the interpreter of the environment {wanted.name} is missing",
            "run `make setup`, which installs every environment of envs/, and rerun",
        )
    os.environ[ENTERED_VARIABLE] = wanted.name
    sys.stdout.flush()
    sys.stderr.flush()
    os.execv(wanted.python, [wanted.python, *sys.argv])


def forget_other_environments() -> None:
    """Take the site-packages of other environments off the module path.

    Snakemake's script preamble appends the driver's site-packages (to unpickle its job
    object), so a job in a named environment would import what that environment lacks
    from the driver's venv: LightGBM probes for optional libraries (dask, pyarrow) and
    would find the driver's. The preamble's own imports are done by now; what the step
    imports comes from this environment alone, as in its warm worker, which never had
    them on its path (the hermetic check still stands behind this)."""
    own = Path(sys.prefix).resolve()
    sys.path[:] = [entry for entry in sys.path if not _foreign_site(entry, own)]


def _foreign_site(entry: str, own: Path) -> bool:
    path = Path(entry)
    if path.name not in {"site-packages", "dist-packages"}:
        return False
    return not path.resolve().is_relative_to(own)


def fingerprint(lock_path: str, lock_name: str, python: str | None) -> dict[str, Any]:
    """A named environment's part of the environment fingerprint: its lock, what it holds
    of what the lock pins (asked of its own interpreter; under conda, whose env Snakemake
    built from the pin file, the pin file's versions), and what reprotrain sets in the
    libraries it may hold (reprotrain.ml.model_types.LIBRARY_PINS)."""
    import subprocess

    from reprotrain.environment import drift
    from reprotrain.hashing import sha256_file
    from reprotrain.ml.model_types import LIBRARY_PINS

    locked = drift.locked_versions(lock_path)  # what the lock pins on this machine
    if lock_path.endswith(".pin.txt"):
        packages: dict[str, str | None] = dict(locked)
    else:
        names = sorted(locked)
        asked = subprocess.run(
            [python or sys.executable, "-m", "reprotrain.environment.named", json.dumps(names)],
            capture_output=True,
            text=True,
            check=False,
            timeout=120,
        )
        if asked.returncode != 0:
            raise ReprotrainError(
                python or sys.executable,
                None,
                f"cannot say what it holds: {asked.stderr.strip().splitlines()[-1:]}",
                "run `make setup`, which installs every environment of envs/, and rerun",
            )
        packages = json.loads(asked.stdout)
    return {
        "lock": {"path": lock_name, "sha256": sha256_file(lock_path)},
        "packages": packages,
        "library_pins": LIBRARY_PINS,
    }


def _installed(names: list[str]) -> dict[str, str | None]:
    import importlib.metadata

    found: dict[str, str | None] = {}
    for name in names:
        try:
            found[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            found[name] = None
    return found


if __name__ == "__main__":
    print(json.dumps(_installed(json.loads(sys.argv[1]))))
