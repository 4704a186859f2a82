"""The records a run writes, as types: the manifest, the environment fingerprint, the
checksum verdict. A type checker holds the code to them (a misspelt key is an error), and
reprotrain.records.manifest validates a manifest read from disk against the very same
definitions (with pydantic, which both locked environments hold), so what is checked is
what the code reads.

Standard library and annotated-types only at import.
"""

from __future__ import annotations

import re
from pathlib import PurePosixPath
from typing import Annotated, Literal, NotRequired, Required, TypedDict

import annotated_types as at

from reprotrain.layout import Role

SCHEMA_VERSION = 6
_SHA256 = re.compile(r"[0-9a-f]{64}")


def is_digest(value: str) -> bool:
    return _SHA256.fullmatch(value) is not None


def stays_inside(path: str | PurePosixPath) -> bool:
    """Whether a path, joined to a directory, stays inside it (symlinks aside): relative,
    with no ``..``."""
    pure = PurePosixPath(path)
    return not pure.is_absolute() and ".." not in pure.parts


def is_confined(name: str) -> bool:
    """A path of a run's manifest: one that stays inside the run's directory, not empty,
    not starting at ``.``, with no NUL or backslash."""
    if not name or "\0" in name or "\\" in name:
        return False
    return stays_inside(name) and name.split("/")[0] != "."


# A sha256 digest in lower-case hex; a path inside the run's directory.
Digest = Annotated[str, at.Predicate(is_digest)]
RelativePath = Annotated[str, at.Predicate(is_confined)]
InputKind = Literal["output", "data", "environment", "hardware", "file"]
INPUT_KINDS: tuple[InputKind, ...] = ("output", "data", "environment", "hardware", "file")


class Listed(TypedDict):
    """What a list of files to check holds of each: its sha256 (a FileEntry is one)."""

    sha256: str


class InputRecord(TypedDict):
    """One input of an output: another covered output, the dataset version, a lock, the
    installed or used packages, the interpreter, the numerics, or another file."""

    kind: InputKind
    sha256: Digest


class FileEntry(TypedDict):
    """One covered output: its bytes, the rule and recipe that made it."""

    sha256: Digest
    size: int
    rule: str
    role: Role
    pattern: str
    inputs: dict[str, InputRecord]
    params_digest: Digest
    code_digest: Digest


class LockRecord(TypedDict):
    path: str
    sha256: str


class PythonRecord(TypedDict):
    implementation: str
    version: str
    build: str


class BlasRecord(TypedDict, total=False):
    library: Required[str]
    kernel: Required[str | None]
    api: str
    version: str | None
    threading_layer: str | None


class HardwareRecord(TypedDict, total=False):
    """What of the hardware can change an output's bytes (reprotrain.environment.numerics)."""

    machine: str
    pin: dict[str, str] | None
    isa_level: str | None
    blas: list[BlasRecord]
    numpy_simd: list[str]


class DriftRecord(TypedDict):
    package: str
    locked: str | None
    found: str | None


class NamedEnvironmentRecord(TypedDict):
    """A named environment a run's models use (reprotrain.environment.named): its lock,
    what it holds of what the lock pins, what reprotrain sets in the libraries."""

    lock: LockRecord
    packages: dict[str, str | None]
    library_pins: dict[str, dict[str, bool | str | int | float]]


class EnvironmentRecord(TypedDict):
    """The environment fingerprint: environment.json, and the manifest's provenance."""

    lock: LockRecord
    platform: str
    python: PythonRecord
    packages: dict[str, str | None]
    hardware: NotRequired[HardwareRecord]
    drift: NotRequired[list[DriftRecord]]
    environments: NotRequired[dict[str, NamedEnvironmentRecord]]


class DataRecord(TypedDict):
    kind: str
    source: str | None
    rows: int | None
    sha256: Digest


class CodeRecord(TypedDict):
    digest: Digest
    git_commit: str | None
    git_dirty: bool | None


class Provenance(TypedDict):
    """The whole run: data versions, code, params, config, environment."""

    data: dict[str, DataRecord]
    code: CodeRecord
    params_digest: Digest
    config_digest: NotRequired[Digest]
    environment: EnvironmentRecord


class Manifest(TypedDict):
    """A run manifest (schema version 6; docs/auditing.md)."""

    schema_version: int
    files: Annotated[dict[RelativePath, FileEntry], at.MinLen(1)]
    uncovered: list[RelativePath]
    provenance: Provenance
    integrity: Digest


class Verdict(TypedDict):
    """checksum.json: what the checksum rule found, for the reconciliation and the report."""

    matches: str
    run_manifest_sha256: Digest
    strict: bool
    environment_differs: str | None
    records_differing: list[str]
