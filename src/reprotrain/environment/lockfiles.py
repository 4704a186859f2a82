"""The two locks of the rule environment and how they must agree.

envs/conda-lock.yml (conda-lock's unified format) pins the conda environment;
envs/requirements.lock (pip, with --hash) pins the same versions for machines
without conda, plus the driver's tooling.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from reprotrain import fileio
from reprotrain.errors import ReprotrainError

CONDA_PLATFORMS = ("linux-64", "osx-64", "osx-arm64", "win-64")

# conda-forge names whose PyPI distribution is called differently. conda's own
# `tzdata` is the system time-zone database, not the Python package.
CONDA_TO_PYPI = {
    "matplotlib-base": "matplotlib",
    "pandera-base": "pandera",
    "python-tzdata": "tzdata",
}

_REQUIREMENT = re.compile(
    r"^(?P<name>[A-Za-z0-9][A-Za-z0-9._-]*)==(?P<version>[^\s;\\]+)\s*(;(?P<marker>[^\\]*?))?\s*(\\|--hash|$)"
)
_HASH = re.compile(r"--hash=sha256:(?P<digest>[0-9a-f]{64})")


def normalize(name: str) -> str:
    """PEP 503 name normalisation."""
    return re.sub(r"[-_.]+", "-", name).lower()


@dataclass(frozen=True)
class PipPin:
    version: str
    hashes: tuple[str, ...]
    marker: str | None = None  # PEP 508 environment marker: where the pin applies

    def applies_here(self) -> bool:
        if self.marker is None:
            return True
        from packaging.markers import Marker  # in both the venv and the conda solve

        return Marker(self.marker).evaluate()


def load_conda_lock(path: str | Path) -> dict:
    import yaml  # here, not above: every job imports this module for its drift check

    text = fileio.read_text(path, what="conda lock", fix="run `make lock`")
    try:
        lock = yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    except yaml.YAMLError as error:
        raise ReprotrainError(
            path, None, f"the conda lock is not valid YAML: {error}", "run `make lock`"
        ) from None
    if not isinstance(lock, dict) or lock.get("version") != 1 or "package" not in lock:
        raise ReprotrainError(
            path, "version", "is not a conda-lock unified lockfile (version 1)", "run `make lock`"
        )
    return lock


def conda_python_packages(lock: dict, platform: str = "linux-64") -> dict[str, str]:
    """PyPI name -> version of every Python package the conda lock pins for ``platform``.

    A conda package is a Python package when its build string starts with "py"
    (pyhd8ed1ab_0, py312h...); metapackages such as `pandera` are skipped in favour of
    the package that holds the code (`pandera-base`).
    """
    packages = {}
    for entry in lock["package"]:
        if entry["platform"] == platform and entry["manager"] == "conda":
            python_name = _python_package(*split_conda_url(entry["url"]))
            if python_name is not None:
                packages[python_name] = entry["version"]
    return packages


@dataclass(frozen=True)
class Unmet:
    """A dependency of a locked package that no package locked for its platform satisfies."""

    platform: str
    package: str  # name=version=build of the package that depends
    dependency: str  # its MatchSpec, as the lock states it
    locked: str | None  # version=build locked under that name, or None when none is

    def __str__(self) -> str:
        found = f"the lock has {self.locked}" if self.locked else "the lock has no such package"
        return f"{self.platform}: {self.package} needs {self.dependency}, {found}"


def closure_problems(lock: dict) -> list[Unmet]:
    """Every dependency of every locked conda package that the packages locked for the same
    platform do not satisfy, checked with conda's own MatchSpec (py-rattler). Virtual
    packages (__glibc, __osx, ...) are the machine's, not the lock's, and are skipped."""
    from rattler import MatchSpec, PackageRecord  # driver tooling only, not in the conda env
    from rattler.package.build_string import BuildString

    by_platform: dict[str, dict[str, tuple[dict, PackageRecord]]] = {}
    for entry in lock["package"]:
        if entry["manager"] != "conda":
            continue
        name, version, build = split_conda_url(entry["url"])
        number = build.rsplit("_", 1)[-1]
        record = PackageRecord(
            name,
            version,
            BuildString(build),
            int(number) if number.isdigit() else 0,
            entry["platform"],
        )
        by_platform.setdefault(entry["platform"], {})[name] = (entry, record)
    problems = []
    for platform, packages in sorted(by_platform.items()):
        for name, (entry, record) in sorted(packages.items()):
            for dependency, constraint in sorted(entry["dependencies"].items()):
                if dependency.startswith("__"):
                    continue
                spec = f"{dependency} {constraint}".strip()
                locked = packages.get(dependency)
                if locked is None or not MatchSpec(spec).matches(locked[1]):
                    problems.append(
                        Unmet(
                            platform,
                            f"{name}={record.version}={record.build}",
                            spec,
                            locked and f"{locked[1].version}={locked[1].build}",
                        )
                    )
    return problems


def explicit_packages(pin_path: str | Path) -> list[tuple[str, str, str, str]]:
    """name, version, build and md5 of every package an @EXPLICIT pin file lists."""
    packages = []
    for line in fileio.read_text(pin_path, what="pin file", fix="run `make lock`").splitlines():
        if line.startswith(("http://", "https://", "file://")):
            url, _, md5 = line.partition("#")
            packages.append((*split_conda_url(url), md5))
    return packages


def explicit_python_packages(pin_path: str | Path) -> dict[str, str]:
    """PyPI name -> version of the Python packages in an @EXPLICIT pin file."""
    packages = {}
    for name, version, build, _ in explicit_packages(pin_path):
        python_name = _python_package(name, version, build)
        if python_name is not None:
            packages[python_name] = version
    return packages


def split_conda_url(url: str) -> tuple[str, str, str]:
    """name, version, build of a conda package URL (…/numpy-2.3.5-py312h33ff503_0.conda)."""
    filename = url.rsplit("/", 1)[-1].removesuffix(".conda").removesuffix(".tar.bz2")
    name, version, build = filename.rsplit("-", 2)
    return name, version, build


def _python_package(name: str, version: str, build: str) -> str | None:
    """The PyPI name of a conda package that holds Python code (build string "py…"), else None."""
    del version
    return normalize(CONDA_TO_PYPI.get(name, name)) if build.startswith("py") else None


def load_pip_lock(path: str | Path) -> dict[str, PipPin]:
    """Parse a requirements-style lock: ``name==version`` lines followed by ``--hash`` lines."""
    text = fileio.read_text(path, what="pip lock", fix="run `make lock`")
    pins: dict[str, PipPin] = {}
    current: str | None = None
    for number, raw in enumerate(text.replace("\\\n", " ").splitlines(), start=1):
        line = raw.split("#", 1)[0].strip() if not raw.lstrip().startswith("--hash") else raw
        if not line.strip():
            continue
        match = _REQUIREMENT.match(line.strip())
        if match is None:
            raise ReprotrainError(
                path,
                f"line {number}",
                f"is not a pinned requirement: {raw.strip()!r}",
                "run `make lock`",
            )
        current = normalize(match["name"])
        hashes = tuple(m["digest"] for m in _HASH.finditer(line))
        marker = match["marker"].strip() if match["marker"] else None
        pins[current] = PipPin(match["version"], hashes, marker)
    return pins


def shared_packages(conda: dict[str, str], pip: dict[str, PipPin]) -> list[str]:
    return sorted(set(conda) & set(pip))


def version_mismatches(conda: dict[str, str], pip: dict[str, PipPin]) -> list[tuple[str, str, str]]:
    """(package, conda version, pip version) for every shared package whose versions differ."""
    return [
        (name, conda[name], pip[name].version)
        for name in shared_packages(conda, pip)
        if conda[name] != pip[name].version
    ]


def pip_constraints(conda: dict[str, str]) -> str:
    """A pip constraints file that holds every Python package at its conda-locked version."""
    header = "# Generated by `reprotrain lock-constraints` from envs/conda-lock.yml; do not edit.\n"
    return header + "".join(f"{name}=={conda[name]}\n" for name in sorted(conda))


def conda_subdir() -> str:
    """conda's name for this platform (linux-64, osx-arm64, ...), as in the pin file names."""
    import platform

    system, machine = platform.system(), platform.machine().lower()
    arch = {"x86_64": "64", "amd64": "64", "arm64": "arm64", "aarch64": "aarch64"}.get(
        machine, machine
    )
    prefix = {"Linux": "linux", "Darwin": "osx", "Windows": "win"}.get(system, system.lower())
    return f"{prefix}-{arch}"


def check_spec_is_locked(spec_path: str | Path, lock: dict, lock_path: str | Path) -> None:
    """Refuse a conda spec edited after locking: every pin, channel and platform must match.

    conda-lock's own content hash needs conda-lock; this needs nothing, and catches the
    edits that matter here (a version, a package, a channel or a platform).
    """
    import yaml

    fix = f"relock: `make lock` regenerates {lock_path} and the pin files from {spec_path}"
    if not Path(spec_path).is_file():
        raise ReprotrainError(spec_path, None, "the conda spec does not exist", "restore it")
    spec = yaml.safe_load(fileio.read_text(spec_path, what="conda spec", fix=fix))
    metadata = lock["metadata"]
    spec_platforms = sorted(spec.get("platforms", []))
    if spec_platforms != sorted(metadata["platforms"]):
        raise ReprotrainError(
            spec_path,
            "platforms",
            f"{spec_platforms} differ from the locked {sorted(metadata['platforms'])}",
            fix,
        )
    spec_channels = [c for c in spec.get("channels", []) if c != "nodefaults"]
    locked_channels = [channel["url"] for channel in metadata["channels"]]
    if spec_channels != locked_channels:
        raise ReprotrainError(
            spec_path, "channels", f"{spec_channels} differ from the locked {locked_channels}", fix
        )
    for dependency in spec.get("dependencies", []):
        name, _, version = str(dependency).partition("=")
        for platform in spec_platforms:
            locked = [
                entry["version"]
                for entry in lock["package"]
                if entry["name"] == name and entry["platform"] == platform
            ]
            if version.lstrip("=") not in locked:
                found = locked[0] if locked else "nothing"
                raise ReprotrainError(
                    spec_path,
                    f"dependencies: {dependency}",
                    f"the lock pins {found} for {platform}: the spec changed without relocking",
                    fix,
                )


def check_pin_files(lock: dict, lock_path: str | Path, envs_dir: str | Path) -> None:
    """Each platform's @EXPLICIT pin file must list exactly the lock's packages (url + md5)."""
    for platform, content_hash in sorted(lock["metadata"]["content_hash"].items()):
        pin = Path(envs_dir) / f"environment.{platform}.pin.txt"
        fix = f"re-render it from {lock_path}: `make lock` (conda-lock render --kind explicit)"
        if not pin.is_file():
            raise ReprotrainError(pin, None, f"the pin file for {platform} does not exist", fix)
        lines = fileio.read_text(pin, what="pin file", fix=fix).splitlines()
        header = f"# input_hash: {content_hash}"
        if header not in lines:
            raise ReprotrainError(pin, "input_hash", f"does not match {lock_path}", fix)
        pinned = {line for line in lines if line.startswith("https://")}
        locked = {
            f"{entry['url']}#{entry['hash']['md5']}"
            for entry in lock["package"]
            if entry["platform"] == platform and entry["manager"] == "conda"
        }
        if pinned != locked:
            differing = sorted(pinned ^ locked)[0].rsplit("/", 1)[-1]
            raise ReprotrainError(
                pin,
                differing,
                f"is out of sync with {lock_path} ({len(pinned ^ locked)} differing lines)",
                fix,
            )


def check_locks(
    conda_spec_path: str | Path,
    conda_lock_path: str | Path,
    envs_dir: str | Path,
    pip_lock_path: str | Path,
) -> None:
    """The conda spec, its lock and pin files agree, and the pip lock parses."""
    lock = load_conda_lock(conda_lock_path)
    check_spec_is_locked(conda_spec_path, lock, conda_lock_path)
    check_pin_files(lock, conda_lock_path, envs_dir)
    load_pip_lock(pip_lock_path)


def check_installed_from(pip_lock_path: str | Path, stamp_path: str | Path) -> None:
    """The venv records the sha256 of the lock it was installed from; the lock must not move."""
    from reprotrain.hashing import sha256_file

    stamp = Path(stamp_path)
    if not stamp.is_file():
        return  # not a venv made by tools/setup-venv.sh: the drift check still applies
    installed_from = fileio.read_text(stamp, limit=1024, what="install stamp").strip()
    current = sha256_file(pip_lock_path)
    if installed_from != current:
        raise ReprotrainError(
            pip_lock_path,
            "sha256",
            f"changed since {stamp.parent} was installed from it (installed from "
            f"{installed_from}, now {current}): the venv may not hold what the lock pins",
            "run `make setup` to reinstall the venv from the lock (pip --require-hashes)",
        )


def check_deployment(
    spec_path: str, use_conda: bool, containerize: bool, conda: str | None, min_conda: str
) -> None:
    """Refuse, before any job, a way of running the rules that cannot give the locked
    environment: --use-conda without conda, and Snakemake's --containerize (its Dockerfile
    solves environment.yaml afresh instead of installing the pin file, and leaves Snakemake
    and reprotrain out of the image)."""
    if containerize:
        raise ReprotrainError(
            spec_path,
            None,
            "--containerize would write a Dockerfile that solves this spec afresh instead of "
            "installing its pin file, with neither Snakemake nor reprotrain in the image",
            "build the image from envs/environment.<platform>.pin.txt (`conda create --file`) "
            "with this repository in it, or run here with --use-conda or `make run`",
        )
    if use_conda and conda is None:
        raise ReprotrainError(
            spec_path,
            None,
            f"--use-conda builds the rules' environment from its pin file with conda "
            f"{min_conda} or later, and there is no `conda` on PATH",
            f"install conda >= {min_conda} (Miniforge), or run without --use-conda: `make run` "
            "installs the same versions from envs/requirements.lock into .venv",
        )
