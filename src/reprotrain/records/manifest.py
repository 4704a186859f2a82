"""Run manifests: every covered output's sha256 and what it was made from, in one JSON file.

Schema version 6 (documented in docs/auditing.md, "Recording and checking the manifest"):

    {"schema_version": 6,
     "files": {"<path relative to the workdir>": {
         "sha256": "...", "size": 123,
         "rule": "<producing rule>",
         "role": "artifact" (a result) or "record" (it describes how results were made),
         "pattern": "<the output's path with its wildcards, e.g. results/runs/{dataset}/...>",
         "inputs": {"<covered output, lock file, 'dataset', 'installed packages',
                     'packages used by <rule>', 'interpreter' or 'hardware'>":
                    {"kind": "...", "sha256": "..."}},
         "params_digest": "...", "code_digest": "..."}},
     "uncovered": ["<outputs of the run that are deliberately not covered>"],
     "provenance": {"data": {...}, "code": {...}, "params_digest": "...", "config_digest": "...",
                    "environment": {..., "hardware": {...}}},
     "integrity": "<sha256 of this document without this field>"}

Keys are sorted and nothing in it depends on time, host or absolute paths.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from reprotrain.errors import ReprotrainError
from reprotrain.fileio import write_json
from reprotrain.hashing import digest_value, sha256_files
from reprotrain.layout import ROLES

SCHEMA_VERSION = 6
# What an input of an output can be: another covered output, the dataset version,
# a lock file of the environment, the numerics it was computed with, or any other file.
INPUT_KINDS = ("output", "data", "environment", "hardware", "file")
_SHA256 = re.compile(r"[0-9a-f]{64}")


def check_recorded_path(expected: str, results: str, file: str) -> None:
    """The recorded manifest is a file the repository holds: a path inside it, and not
    among a run's own outputs (then every run would be compared with itself and pass)."""
    check_repository_path(
        expected,
        "manifest.expected",
        results,
        file,
        "point manifest.expected at a recorded manifest in the repository, such as "
        "config/manifest.json (`make record` makes it)",
    )


def check_results_directory(results: str, file: str) -> None:
    """The results directory is a directory of the project, or does not exist yet."""
    path = Path(results)
    if path.is_symlink() or (path.exists() and not path.is_dir()):
        raise ReprotrainError(
            file,
            "results",
            f"{results} is {'a symbolic link' if path.is_symlink() else 'a file'}, not a "
            "directory of the project",
            "name a directory for the outputs (it is created), such as results",
        )


def stays_inside(path: str | PurePosixPath) -> bool:
    """Whether a path, joined to a directory, stays inside it (symlinks aside): relative,
    with no ``..``."""
    pure = PurePosixPath(path)
    return not pure.is_absolute() and ".." not in pure.parts


def check_repository_path(value: str, field: str, results: str, file: str, fix: str) -> None:
    """A record the repository holds (a manifest, a public key): a path inside it, not
    among the files runs write, where whoever can write results/ could replace it."""
    path = Path(value)
    if not stays_inside(value):
        raise ReprotrainError(file, field, f"{value} is outside the repository", fix)
    if path.parts and path.parts[0] in {results, "logs", ".snakemake"}:
        raise ReprotrainError(
            file,
            field,
            f"{value} is where runs write their own files ({path.parts[0]}/): every run "
            "would be checked against what it wrote itself",
            fix,
        )


def integrity(document: dict[str, Any]) -> str:
    return digest_value({key: value for key, value in document.items() if key != "integrity"})


def build(
    covered: list[str],
    recipes: dict[str, dict[str, Any]],
    provenance: dict[str, Any],
    uncovered: list[str],
) -> dict[str, Any]:
    """Hash the covered outputs (and the files they were made from) into a manifest."""
    # An input is hashed where it is (`file`: a lock of the workflow's own tree when it runs
    # as a module) and named as recorded; the dataset, installed packages and hardware come
    # with their digests.
    hashed_inputs = [
        item.get("file", name)
        for recipe in recipes.values()
        for name, item in recipe["inputs"].items()
        if "sha256" not in item
    ]
    digests = sha256_files([*covered, *hashed_inputs])
    files = {}
    for path in covered:
        recipe = recipes[path]
        inputs = {
            name: {
                "kind": item["kind"],
                "sha256": item.get("sha256") or digests[item.get("file", name)],
            }
            for name, item in recipe["inputs"].items()
        }
        files[path] = {
            "sha256": digests[path],
            "size": Path(path).stat().st_size,
            "rule": recipe["rule"],
            "role": recipe["role"],
            "pattern": recipe["pattern"],
            "inputs": inputs,
            "params_digest": recipe["params_digest"],
            "code_digest": recipe["code_digest"],
        }
    document = {
        "schema_version": SCHEMA_VERSION,
        "files": files,
        "uncovered": sorted(uncovered),
        "provenance": provenance,
    }
    return document | {"integrity": integrity(document)}


def write(path: str | Path, manifest: dict[str, Any]) -> None:
    write_json(path, manifest)


def _require(condition: bool, file: Path, field: str, problem: str, fix: str) -> None:
    if not condition:
        raise ReprotrainError(file, field, problem, fix)


OUTSIDE = "is not a relative path inside the run's directory (empty, absolute or with ..)"


def _is_confined(name: Any) -> bool:
    """A path that, joined to the run's directory, cannot leave it (symlinks aside)."""
    if not isinstance(name, str) or not name or "\0" in name or "\\" in name:
        return False
    return stays_inside(name) and PurePosixPath(name).parts[0] != "."


def _is_digest(value: Any) -> bool:
    return isinstance(value, str) and _SHA256.fullmatch(value) is not None


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def load(
    path: str | Path,
    role: str,
    *,
    public_key: str | Path | None = None,
    integrity_checked: str | None = None,
) -> dict[str, Any]:
    """Read a manifest, refusing anything that is not a well-formed, untouched current one.

    The file is read once; with ``public_key``, its signature (reprotrain.records.signing) is
    checked on the very bytes parsed. ``integrity_checked``: the integrity digest of the
    manifest as another process checked it (its content then is the same)."""
    file = Path(path)
    fix = (
        "restore it (git checkout), or delete it and record a new one with `make record`"
        if role == "recorded manifest"
        else "rerun the pipeline"
    )
    try:
        data = file.read_bytes()
    except FileNotFoundError:
        raise ReprotrainError(file, None, f"the {role} does not exist", fix) from None
    except OSError as error:
        raise ReprotrainError(file, None, f"the {role} cannot be read: {error}", fix) from None
    if public_key is not None:
        from reprotrain.records import signing

        signing.verify(file, data, public_key)
    try:
        manifest = json.loads(data.decode("utf-8"), parse_constant=_refuse_constant)
    except (ValueError, UnicodeDecodeError) as error:
        raise ReprotrainError(file, None, f"the {role} is not valid JSON: {error}", fix) from None
    except RecursionError:
        raise ReprotrainError(
            file, None, f"the {role} is not valid JSON: nested too deeply", fix
        ) from None
    _require(
        isinstance(manifest, dict), file, "(top level)", f"the {role} is not a JSON object", fix
    )
    version = manifest.get("schema_version")
    _require(
        version == SCHEMA_VERSION,
        file,
        "schema_version",
        f"the {role} has schema version {version!r}; "
        f"this reprotrain reads version {SCHEMA_VERSION}",
        "a record of another reprotrain: delete it, then run the pipeline and record the "
        f"run anew (`make record`, or `reprotrain record --run <run manifest> --to {file}`)"
        if isinstance(version, int) and role == "recorded manifest"
        else fix,
    )
    files = manifest.get("files")
    _require(
        isinstance(files, dict) and bool(files), file, "files", f"the {role} lists no files", fix
    )
    for name, entry in files.items():
        where = f"files.{name}"
        _require(_is_confined(name), file, where, OUTSIDE, fix)
        _require(isinstance(entry, dict), file, where, "is not an object", fix)
        for key in ("sha256", "params_digest", "code_digest"):
            _require(
                _is_digest(entry.get(key)), file, f"{where}.{key}", "is not a sha256 digest", fix
            )
        _require(
            isinstance(entry.get("size"), int), file, f"{where}.size", "is not an integer", fix
        )
        _require(
            isinstance(entry.get("rule"), str), file, f"{where}.rule", "is not a rule name", fix
        )
        _require(
            entry.get("role") in ROLES,
            file,
            f"{where}.role",
            f"is not one of {', '.join(ROLES)}",
            fix,
        )
        _require(
            isinstance(entry.get("pattern"), str),
            file,
            f"{where}.pattern",
            "is not a path pattern",
            fix,
        )
        inputs = entry.get("inputs")
        _require(isinstance(inputs, dict), file, f"{where}.inputs", "is not an object", fix)
        for input_name, item in inputs.items():
            field = f"{where}.inputs.{input_name}"
            _require(
                isinstance(item, dict) and item.get("kind") in INPUT_KINDS,
                file,
                f"{field}.kind",
                f"is not one of {', '.join(INPUT_KINDS)}",
                fix,
            )
            _require(
                _is_digest(item.get("sha256")), file, f"{field}.sha256", "is not a sha256", fix
            )
    provenance = manifest.get("provenance")
    _require(isinstance(provenance, dict), file, "provenance", f"the {role} has no provenance", fix)
    _check_provenance(provenance, file, fix)
    _require(
        isinstance(manifest.get("uncovered"), list),
        file,
        "uncovered",
        "is not a list of paths",
        fix,
    )
    for index, name in enumerate(manifest["uncovered"]):
        _require(_is_confined(name), file, f"uncovered.{index}", OUTSIDE, fix)
    _require(
        manifest.get("integrity") == integrity(manifest),
        file,
        "integrity",
        f"the {role} was modified after it was written (its integrity digest does not match)",
        fix,
    )
    _require(
        integrity_checked in (None, manifest["integrity"]),
        file,
        "integrity",
        f"the {role} changed during the run, after the driver checked it",
        "rerun the pipeline",
    )
    return manifest


def _check_provenance(provenance: dict[str, Any], file: Path, fix: str) -> None:
    """The parts of the provenance that audits read have the types they read them as."""
    data = provenance.get("data")
    _require(isinstance(data, dict), file, "provenance.data", "is not an object", fix)
    for key, entry in data.items():
        _require(
            isinstance(entry, dict) and _is_digest(entry.get("sha256")),
            file,
            f"provenance.data.{key}",
            "is not an object with a sha256",
            fix,
        )
    _require(
        isinstance(provenance.get("code"), dict), file, "provenance.code", "is not an object", fix
    )
    _require(
        _is_digest(provenance.get("params_digest")),
        file,
        "provenance.params_digest",
        "is not a sha256 digest",
        fix,
    )
    environment = provenance.get("environment")
    _require(isinstance(environment, dict), file, "provenance.environment", "is not an object", fix)
    python = environment.get("python")
    _require(
        isinstance(python, dict)
        and all(isinstance(python.get(key), str) for key in ("implementation", "version", "build")),
        file,
        "provenance.environment.python",
        "is not an interpreter's implementation, version and build",
        fix,
    )
    hardware = environment.get("hardware", {})
    _require(
        isinstance(hardware, dict), file, "provenance.environment.hardware", "is not an object", fix
    )
    blas = hardware.get("blas", [])
    _require(
        isinstance(blas, list)
        and all(
            isinstance(item, dict)
            and isinstance(item.get("library"), str)
            and isinstance(item.get("kernel"), (str, type(None)))
            for item in blas
        ),
        file,
        "provenance.environment.hardware.blas",
        "is not a list of libraries with their kernels",
        fix,
    )


def inconsistencies(manifest: dict[str, Any]) -> list[str]:
    """Where a manifest contradicts itself: an input recorded with other bytes than its output."""
    problems = []
    files = manifest["files"]
    for path, entry in sorted(files.items()):
        for name, item in sorted(entry["inputs"].items()):
            if item["kind"] != "output":
                continue
            if name not in files:
                problems.append(f"{path}: input {name} is not a covered output of this manifest")
            elif files[name]["sha256"] != item["sha256"]:
                problems.append(
                    f"{path}: made from {name} with sha256 {item['sha256']}, but the manifest "
                    f"lists {files[name]['sha256']}"
                )
    return problems


@dataclass
class DiskState:
    """How the files a manifest lists stand on disk under a root."""

    missing: list[str]
    altered: dict[str, tuple[str, str]]  # path -> (listed sha256, sha256 on disk)
    escaping: list[str]  # a symlink in the tree leads outside the root: never opened

    @property
    def matches(self) -> bool:
        return not (self.missing or self.altered or self.escaping)

    def lines(self) -> list[str]:
        return [
            *(f"outside       {path}: leads outside the directory" for path in self.escaping),
            *(f"missing       {path}" for path in self.missing),
            *(
                f"tampered      {path}: expected {listed}, actual {actual}"
                for path, (listed, actual) in self.altered.items()
            ),
        ]


def compare_with_disk(files: dict[str, Any], root: str | Path = ".") -> DiskState:
    """Hash every listed file under ``root`` (all cores) against its listed sha256.

    The paths are confined (``load``); a symlink that leads out of ``root`` is reported,
    not followed, so nothing outside it is opened."""
    base = Path(root)
    inside = base.resolve()
    escaping = sorted(path for path in files if not (base / path).resolve().is_relative_to(inside))
    present = {
        path: base / path for path in files if path not in escaping and (base / path).is_file()
    }
    digests = sha256_files(present.values())
    missing, altered = [], {}
    for path, entry in sorted(files.items()):
        if path in escaping:
            continue
        if path not in present:
            missing.append(path)
        elif (actual := digests[str(present[path])]) != entry["sha256"]:
            altered[path] = (entry["sha256"], actual)
    return DiskState(missing, altered, escaping)


def verify_on_disk(manifest: dict[str, Any], manifest_path: str | Path) -> None:
    """Refuse a manifest whose files no longer hold the bytes it lists."""
    state = compare_with_disk(manifest["files"])
    if not state.matches:
        raise ReprotrainError(
            manifest_path,
            "files",
            "the files on disk no longer match this manifest:\n  " + "\n  ".join(state.lines()),
            "rerun the pipeline so that the manifest describes the outputs on disk",
        )


def record(run_path: str | Path, expected_path: str | Path) -> dict[str, Any]:
    """Make a run's manifest the recorded one, after checking it still describes the disk."""
    manifest = load(run_path, "run manifest")
    verify_on_disk(manifest, run_path)
    write(expected_path, manifest)
    return manifest
