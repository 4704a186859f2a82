"""Run manifests: every covered output's sha256 and what it was made from, in one JSON file.

Schema version 6 (documented in docs/auditing.md, "Recording and checking the manifest";
its types are reprotrain.records.types.Manifest, which load checks every manifest against):

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

import functools
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

from reprotrain import fileio
from reprotrain.errors import ReprotrainError
from reprotrain.fileio import write_json
from reprotrain.hashing import digest_value, sha256_files
from reprotrain.records.types import (
    SCHEMA_VERSION,
    FileEntry,
    InputRecord,
    Listed,
    Manifest,
    Provenance,
    stays_inside,
)


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


def integrity(document: Mapping[str, Any]) -> str:
    return digest_value({key: value for key, value in document.items() if key != "integrity"})


def build(
    covered: list[str],
    recipes: Mapping[str, Mapping[str, Any]],
    provenance: Provenance,
    uncovered: list[str],
) -> Manifest:
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
    files: dict[str, FileEntry] = {}
    for path in covered:
        recipe = recipes[path]
        inputs: dict[str, InputRecord] = {
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
    unsealed = {
        "schema_version": SCHEMA_VERSION,
        "files": files,
        "uncovered": sorted(uncovered),
        "provenance": provenance,
    }
    return cast(Manifest, unsealed | {"integrity": integrity(unsealed)})


def write(path: str | Path, manifest: Manifest) -> None:
    write_json(path, manifest)


OUTSIDE = "is not a relative path inside the run's directory (empty, absolute or with ..)"
# What a failed check of the manifest's types says, by pydantic's error type.
_PROBLEMS = {
    "missing": "is missing",
    "dict_type": "is not an object",
    "typed_dict_type": "is not an object",
    "model_type": "is not an object",
    "list_type": "is not a list",
    "string_type": "is not a string",
    "int_type": "is not an integer",
    "bool_type": "is not true or false",
    "none_required": "is not null",
    "too_short": "lists nothing",
}
_PREDICATES = {"is_digest": "is not a sha256 digest", "is_confined": OUTSIDE}


@functools.cache
def _validator() -> Any:
    """The manifest's types as a validator (pydantic, imported only when a manifest's
    bytes have not been checked before)."""
    from pydantic import TypeAdapter

    return TypeAdapter(Manifest)


def type_problem(document: Any) -> tuple[str, str] | None:
    """The first place ``document`` is not a Manifest (reprotrain.records.types), as
    (field, problem); None when it is one."""
    from pydantic import ValidationError

    try:
        _validator().validate_python(document, strict=True)
    except ValidationError as error:
        first = error.errors(include_url=False)[0]
        where = [str(part) for part in first["loc"] if part != "[key]"]
        field = ".".join(where) or "(top level)"
        kind = first["type"]
        if kind == "predicate_failed":
            name = next((n for n in _PREDICATES if n in first["msg"]), "")
            problem = _PREDICATES.get(name, first["msg"])
        elif kind == "literal_error":
            problem = f"is not one of {first.get('ctx', {}).get('expected', '')}"
        elif kind == "too_short" and where == ["files"]:
            problem = "lists no files"
        else:
            problem = _PROBLEMS.get(kind, first["msg"])
        return field, problem
    return None


def _problem_in_text(text: str) -> list[str] | None:
    """``type_problem`` of a manifest's text, which parses. Remembered by the text itself,
    not by its file: the bytes checked are the bytes parsed, read once."""
    found = type_problem(fileio.parse_json(text, "manifest", "manifest", "rerun"))
    return None if found is None else list(found)


def load(
    path: str | Path,
    role: str,
    *,
    public_key: str | Path | None = None,
    integrity_checked: str | None = None,
    remember: Callable[..., Any] | None = None,
) -> Manifest:
    """Read a manifest, refusing anything that is not a well-formed, untouched current one.

    The file is read once; with ``public_key``, its signature (reprotrain.records.signing)
    is checked on the very bytes parsed; its structure is checked against the types of
    reprotrain.records.types (``remember``, a reprotrain.memo.Memo, keeps that verdict
    per version of the text). ``integrity_checked``: the integrity digest of the
    manifest as another process checked it (its content then is the same)."""
    file = Path(path)
    fix = (
        "restore it (git checkout), or delete it and record a new one with `make record`"
        if role == "recorded manifest"
        else "rerun the pipeline"
    )
    data = fileio.read_bytes(file, what=role, fix=fix)
    if public_key is not None:
        from reprotrain.records import signing

        signing.verify(file, data, public_key)
    document = fileio.parse_json(data, file, role, fix)
    text = data.decode("utf-8")
    if not isinstance(document, dict):
        raise ReprotrainError(file, "(top level)", f"the {role} is not a JSON object", fix)
    version = document.get("schema_version")
    if version != SCHEMA_VERSION:
        raise ReprotrainError(
            file,
            "schema_version",
            f"the {role} has schema version {version!r}; "
            f"this reprotrain reads version {SCHEMA_VERSION}",
            "a record of another reprotrain: delete it, then run the pipeline and record the "
            f"run anew (`make record`, or `reprotrain record --run <run manifest> --to {file}`)"
            if isinstance(version, int) and role == "recorded manifest"
            else fix,
        )
    found = remember(_problem_in_text, text) if remember is not None else type_problem(document)
    if found is not None:
        field, problem = found
        raise ReprotrainError(file, field, problem, fix)
    manifest = cast(Manifest, document)
    if manifest["integrity"] != integrity(manifest):
        raise ReprotrainError(
            file,
            "integrity",
            f"the {role} was modified after it was written (its integrity digest does not match)",
            fix,
        )
    if integrity_checked not in (None, manifest["integrity"]):
        raise ReprotrainError(
            file,
            "integrity",
            f"the {role} changed during the run, after the driver checked it",
            "rerun the pipeline",
        )
    return manifest


def inconsistencies(manifest: Manifest) -> list[str]:
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


def compare_with_disk(files: Mapping[str, Listed], root: str | Path = ".") -> DiskState:
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


def verify_on_disk(manifest: Manifest, manifest_path: str | Path, root: str | Path = ".") -> None:
    """Refuse a manifest whose files (under ``root``) no longer hold the bytes it lists."""
    state = compare_with_disk(manifest["files"], root)
    if not state.matches:
        raise ReprotrainError(
            manifest_path,
            "files",
            "the files on disk no longer match this manifest:\n  " + "\n  ".join(state.lines()),
            "rerun the pipeline so that the manifest describes the outputs on disk",
        )


def record(run_path: str | Path, expected_path: str | Path) -> Manifest:
    """Make a run's manifest the recorded one, after checking it still describes the disk."""
    manifest = load(run_path, "run manifest")
    verify_on_disk(manifest, run_path)
    write(expected_path, manifest)
    return manifest
