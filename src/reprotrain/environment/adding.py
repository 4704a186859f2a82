"""`reprotrain env add` and `reprotrain env lock`: a library enters a locked environment of
its own (reprotrain.environment.named) in one command.

``add`` writes envs/<name>/requirements.in (the rule environment's roots and the pinned
packages asked for) and environment.yaml (the same for conda-forge), compiles the pip
lock with hashes held at the base lock's versions (uv), makes the conda lock where
conda-forge is reachable and says so plainly where it is not, then checks what it wrote:
every pin hashed, every package the base lock also pins at the base lock's version, and,
with a conda lock, its closure and its agreement with the pip lock. The base locks are
never written.

Driver tooling: it runs uv and conda-lock, which the rule environments do not hold.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from reprotrain import fileio, yamlfile
from reprotrain.environment import lockfiles, named
from reprotrain.errors import ReprotrainError

BASE_SPEC = "envs/environment.yaml"
BASE_PIP_LOCK = "envs/requirements.lock"
# PyPI names whose conda-forge package is called differently.
PYPI_TO_CONDA = {"xgboost-cpu": "py-xgboost-cpu", "xgboost": "py-xgboost"}
CONDA_FORGE = "https://conda.anaconda.org/conda-forge/noarch/repodata.json"
_PINNED = re.compile(r"^(?P<name>[A-Za-z0-9][A-Za-z0-9._-]*)==(?P<version>[A-Za-z0-9.+!_-]+)$")


@dataclass(frozen=True)
class Added:
    """What `env add` made: the files written, and whether the conda lock is among them."""

    environment: named.Environment
    written: tuple[str, ...]
    conda_locked: bool
    conda_note: str


@dataclass(frozen=True)
class Pin:
    """One `package==version` asked for, where it applies (a PEP 508 marker, or None)."""

    package: str
    version: str
    marker: str | None = None

    def __str__(self) -> str:
        return f"{self.package}=={self.version}" + (f"; {self.marker}" if self.marker else "")


def parse_requirements(requirements: list[str]) -> list[Pin]:
    """Each `package==version` asked for, with an optional marker (`xgboost-cpu==3.4.1;
    sys_platform != 'darwin'`). Exact pins only: a lock of a range would pin whatever the
    index held that day."""
    from packaging.markers import InvalidMarker, Marker

    pins = []
    for text in requirements:
        requirement, _, marker = text.partition(";")
        match = _PINNED.match(requirement.strip())
        try:
            checked = str(Marker(marker.strip())) if marker.strip() else None
        except InvalidMarker:
            match = None
        if match is None:
            raise ReprotrainError(
                "reprotrain env add",
                "PACKAGE",
                f"{text!r} is not an exact pin",
                "give each package as name==version, with a PEP 508 marker where it applies "
                'only on some platforms (lightgbm==4.7.0 "xgboost-cpu==3.4.1; sys_platform '
                "!= 'darwin'\")",
            )
        pins.append(Pin(lockfiles.normalize(match["name"]), match["version"], checked))
    return pins


def _on_conda_platforms(pin: Pin) -> bool:
    """Whether a pin belongs in the conda spec: conda-forge builds each package for every
    platform, so a pin that applies only elsewhere (macOS's xgboost where Linux takes
    xgboost-cpu) is left to pip."""
    if pin.marker is None:
        return True
    from packaging.markers import Marker

    linux = {"sys_platform": "linux", "platform_system": "Linux", "platform_machine": "x86_64"}
    return Marker(pin.marker).evaluate(linux)


def rule_roots(repo: Path) -> list[str]:
    """The rule environment's root packages by PyPI name, from its conda spec."""
    spec = yamlfile.load(repo / BASE_SPEC, "conda spec")
    roots = []
    for dependency in spec.get("dependencies") or []:
        name = re.split(r"[=<>!\s]", str(dependency), maxsplit=1)[0]
        if name and name != "python":
            roots.append(lockfiles.CONDA_TO_PYPI.get(name, name))
    return roots


def add(
    repo: Path,
    name: str,
    requirements: list[str],
    conda_names: dict[str, str] | None = None,
    conda_reachable: bool | None = None,
) -> Added:
    """Make (or remake) the environment ``name`` with ``requirements``."""
    check_name(name)
    pins = parse_requirements(requirements)
    environment = named.Environment(name)
    directory = repo / environment.directory
    base_pins = lockfiles.load_pip_lock(repo / BASE_PIP_LOCK)
    for pin in pins:
        package, version = pin.package, pin.version
        if package in base_pins and base_pins[package].version != version:
            raise ReprotrainError(
                "reprotrain env add",
                package,
                f"the base lock pins {package}=={base_pins[package].version}, not {version}: "
                "an environment holds the base lock's versions of what they share",
                f"ask for {package}=={base_pins[package].version}, or change the base lock "
                "itself (`make lock`, which re-records every run)",
            )
    roots = rule_roots(repo)
    directory.mkdir(parents=True, exist_ok=True)
    command = f"reprotrain env add {name} " + " ".join(
        f"'{pin}'" if pin.marker else str(pin) for pin in pins
    )
    requirements_text = (
        f"# The environment {name}: the rule environment's roots (envs/environment.yaml),\n"
        "# held at the versions of envs/requirements.lock, and what was added. Made by\n"
        f"#   {command}\n"
        "# which also compiles requirements.lock (with hashes) from it; do not edit by hand.\n"
        + "".join(f"{root}\n" for root in roots)
        + "# added\n"
        + "".join(f"{pin}\n" for pin in pins)
    )
    fileio.atomic_write_bytes(
        repo / environment.requirements, requirements_text.encode(), root=repo
    )
    _compile_pip_lock(repo, environment, base_pins, command)
    conda_pins = {
        (conda_names or {}).get(pin.package)
        or PYPI_TO_CONDA.get(pin.package, pin.package): pin.version
        for pin in pins
        if _on_conda_platforms(pin)
    }
    spec_text = _conda_spec(repo, name, conda_pins, command)
    fileio.atomic_write_bytes(repo / environment.conda_spec, spec_text.encode(), root=repo)
    written = [environment.requirements, environment.pip_lock, environment.conda_spec]
    reachable = _conda_forge_reachable() if conda_reachable is None else conda_reachable
    if reachable:
        written += lock_conda(repo, environment)
        note = f"conda lock made: {environment.conda_lock} and its pin files"
    else:
        note = (
            f"conda lock not made: conda-forge ({CONDA_FORGE.split('/conda-forge')[0]}) is "
            f"not reachable from here. On a machine that reaches it, run `reprotrain env "
            f"lock {name}` and commit {environment.directory}/; until then --use-conda "
            f"refuses runs that use {name}, and its pip-locked venv (`make setup`) runs them"
        )
    check(repo, environment)
    return Added(environment, tuple(written), reachable, note)


def check_name(name: str) -> None:
    if not named.NAME.fullmatch(name) or name == named.BASE:
        raise ReprotrainError(
            "reprotrain env add",
            "NAME",
            f"{name!r} is not a name for an environment",
            "use lower-case letters, digits, - and _ (starting with a letter), not base",
        )


def _compile_pip_lock(
    repo: Path,
    environment: named.Environment,
    base_pins: dict[str, lockfiles.PipPin],
    command: str,
) -> None:
    """uv pip compile of requirements.in, constrained to the base lock's versions."""
    uv = _tool("uv")
    constraints = "".join(
        f"{package}=={pin.version}" + (f" ; {pin.marker}" if pin.marker else "") + "\n"
        for package, pin in sorted(base_pins.items())
    )
    with tempfile.TemporaryDirectory() as scratch:
        constraints_path = Path(scratch) / "base-constraints.txt"
        fileio.atomic_write_bytes(constraints_path, constraints.encode(), root=scratch)
        output = Path(scratch) / "requirements.lock"
        done = subprocess.run(
            [
                uv, "pip", "compile", environment.requirements,
                "--constraint", str(constraints_path),
                "--python", sys.executable, "--python-version", "3.12", "--universal",
                "--generate-hashes", "--custom-compile-command", command,
                "--output-file", str(output), "--quiet", "--no-progress",
            ],
            cwd=repo,
            capture_output=True,
            text=True,
            env={**_environment_without_uv_settings(), "UV_PYTHON_DOWNLOADS": "never"},
            check=False,
        )  # fmt: skip
        if done.returncode != 0:
            said = "\n".join(done.stderr.strip().splitlines()[-6:]) or "it said nothing"
            raise ReprotrainError(
                environment.requirements,
                None,
                f"cannot be locked at the base lock's versions (uv pip compile):\n{said}",
                "choose versions that work with the base lock's numpy, scipy and "
                "scikit-learn (the package's release notes say which), and rerun",
            )
        locked = fileio.read_bytes(output, what="compiled lock")
        fileio.atomic_write_bytes(repo / environment.pip_lock, locked, root=repo)


def _environment_without_uv_settings() -> dict[str, str]:
    import os

    # A user's UV_* settings (an index, a resolution strategy) must not change the lock.
    return {k: v for k, v in os.environ.items() if not k.startswith("UV_")}


def _conda_spec(repo: Path, name: str, added: dict[str, str], command: str) -> str:
    base = fileio.read_text(repo / BASE_SPEC, what="conda spec")
    dependencies = base.split("dependencies:", 1)[1].split("platforms:", 1)[0]
    platforms = "platforms:" + base.split("platforms:", 1)[1]
    return (
        f"# The environment {name} for --use-conda: the rule environment's packages\n"
        f"# (envs/environment.yaml) and what was added. Made by\n#   {command}\n"
        "channels:\n  - conda-forge\n  - nodefaults\ndependencies:"
        + dependencies.rstrip("\n")
        + "\n"
        + "".join(f"  - {package}={version}\n" for package, version in sorted(added.items()))
        + platforms
    )


def _conda_forge_reachable(timeout: float = 5.0) -> bool:
    """Whether conda-forge answers (through the one network layer, reprotrain.netio)."""
    from reprotrain import netio

    try:
        with netio.open_url(CONDA_FORGE, netio.Limits(connect_timeout=timeout)):
            return True
    except (ReprotrainError, OSError):
        return False


def lock_conda(repo: Path, environment: named.Environment) -> list[str]:
    """conda-lock of the environment's spec for every platform, and its pin files."""
    conda_lock = _tool("conda-lock")
    platforms = [argument for p in lockfiles.CONDA_PLATFORMS for argument in ("-p", p)]
    for arguments, cwd in (
        (
            ["lock", "-f", environment.conda_spec, "--lockfile", environment.conda_lock],
            repo,
        ),
        (
            [
                "render", "--kind", "explicit", "--filename-template",
                "environment.{platform}.pin.txt", "conda-lock.yml",
            ],
            repo / environment.directory,
        ),
    ):  # fmt: skip
        done = subprocess.run(
            [conda_lock, *arguments, *platforms],
            cwd=cwd,
            capture_output=True,
            text=True,
            check=False,
        )
        if done.returncode != 0:
            said = "\n".join(done.stderr.strip().splitlines()[-6:])
            raise ReprotrainError(
                environment.conda_spec,
                None,
                f"conda-lock failed:\n{said}",
                "check that conda-forge is reachable and that each added package exists "
                "there (a different conda name: --conda PYPI=CONDA)",
            )
    return [environment.conda_lock] + [
        environment.pin_file(platform) for platform in lockfiles.CONDA_PLATFORMS
    ]


def check(repo: Path, environment: named.Environment) -> None:
    """What the environment's locks promise: every pip pin hashed; the base lock's version
    of every package both pin; with a conda lock, its closure and the same versions as
    the pip lock."""
    pins = lockfiles.load_pip_lock(repo / environment.pip_lock)
    unhashed = sorted(package for package, pin in pins.items() if not pin.hashes)
    if unhashed:
        raise ReprotrainError(
            environment.pip_lock,
            unhashed[0],
            f"{len(unhashed)} pins have no hash ({', '.join(unhashed)})",
            f"make it again with `reprotrain env add {environment.name} ...`",
        )
    base = lockfiles.load_pip_lock(repo / BASE_PIP_LOCK)
    differing = sorted(
        f"{package} {base[package].version} -> {pin.version}"
        for package, pin in pins.items()
        if package in base and base[package].version != pin.version
    )
    if differing:
        raise ReprotrainError(
            environment.pip_lock,
            None,
            f"pins other versions than the base lock: {', '.join(differing)}",
            f"make it again with `reprotrain env add {environment.name} ...`",
        )
    if (repo / environment.conda_lock).is_file():
        conda_lock = lockfiles.load_conda_lock(repo / environment.conda_lock)
        unmet = lockfiles.closure_problems(conda_lock)
        if unmet:
            raise ReprotrainError(
                environment.conda_lock,
                "package",
                f"{len(unmet)} dependencies are not satisfied by the lock ({unmet[0]})",
                f"make it again with `reprotrain env lock {environment.name}`",
            )
        conda = lockfiles.conda_python_packages(conda_lock)
        mismatches = lockfiles.version_mismatches(conda, pins)
        if mismatches:
            package, conda_version, pip_version = mismatches[0]
            raise ReprotrainError(
                environment.pip_lock,
                package,
                f"pins {pip_version} where the conda lock pins {conda_version}",
                f"make both again with `reprotrain env add {environment.name} ...`",
            )


def _tool(name: str) -> str:
    """A tool of the driver's venv (or on PATH)."""
    beside = Path(sys.executable).parent / name
    found = str(beside) if beside.is_file() else shutil.which(name)
    if found is None:
        raise ReprotrainError(
            name,
            None,
            "is not installed in the driver's environment",
            "run `make setup`, which installs it from envs/requirements.lock",
        )
    return found
