"""Run manifests: the sha256 of every covered output plus the provenance of the run.

A manifest is one JSON file with sorted keys (see docs in README, "Manifests"):

    {"schema_version": 1,
     "files": {"<path relative to the repository>": {"sha256": "...", "size": 123}},
     "provenance": {"data": {...}, "code": {...}, "params_digest": "...",
                    "environment": {...}}}

`checksum` compares the `files` of a run with a recorded manifest; provenance explains
a difference but is not itself compared (a new commit alone must not fail a run).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from reprotrain.errors import ReprotrainError
from reprotrain.fileio import write_json
from reprotrain.hashing import sha256_files

SCHEMA_VERSION = 1
PROVENANCE_PARTS = ("data", "code", "params_digest", "environment")


@dataclass(frozen=True)
class FileDifference:
    path: str
    expected: str | None  # None: the file is not in the expected manifest
    actual: str | None  # None: the file is missing from the run


def build(paths: list[str], provenance: dict[str, Any]) -> dict[str, Any]:
    digests = sha256_files(paths)
    files = {
        path: {"sha256": digest, "size": Path(path).stat().st_size}
        for path, digest in digests.items()
    }
    return {"schema_version": SCHEMA_VERSION, "files": files, "provenance": provenance}


def write(path: str | Path, manifest: dict[str, Any]) -> None:
    write_json(path, manifest)


def load(path: str | Path, role: str) -> dict[str, Any]:
    """Read a manifest, refusing anything that is not a well-formed version-1 manifest."""
    file = Path(path)
    fix = (
        "record it again with `make record`"
        if role == "recorded manifest"
        else "rerun the pipeline"
    )
    try:
        manifest = json.loads(file.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ReprotrainError(file, None, f"the {role} does not exist", fix) from None
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise ReprotrainError(file, None, f"the {role} is not valid JSON: {error}", fix) from None
    if not isinstance(manifest, dict):
        raise ReprotrainError(file, None, f"the {role} is not a JSON object", fix)
    if manifest.get("schema_version") != SCHEMA_VERSION:
        raise ReprotrainError(
            file,
            "schema_version",
            f"the {role} has schema version {manifest.get('schema_version')!r}, "
            f"this reprotrain reads version {SCHEMA_VERSION}",
            fix,
        )
    files = manifest.get("files")
    if not isinstance(files, dict) or not files:
        raise ReprotrainError(file, "files", f"the {role} lists no files", fix)
    for name, entry in files.items():
        digest = entry.get("sha256") if isinstance(entry, dict) else None
        if not (
            isinstance(digest, str) and len(digest) == 64 and set(digest) <= set("0123456789abcdef")
        ):
            raise ReprotrainError(file, f"files.{name}.sha256", "is not a sha256 hex digest", fix)
    if not isinstance(manifest.get("provenance"), dict):
        raise ReprotrainError(file, "provenance", f"the {role} has no provenance", fix)
    return manifest


def compare_files(expected: dict[str, Any], actual: dict[str, Any]) -> list[FileDifference]:
    differences = []
    for path in sorted(set(expected["files"]) | set(actual["files"])):
        want = expected["files"].get(path, {}).get("sha256")
        have = actual["files"].get(path, {}).get("sha256")
        if want != have:
            differences.append(FileDifference(path, want, have))
    return differences


def changed_provenance(expected: dict[str, Any], actual: dict[str, Any]) -> list[str]:
    """Which inputs of the run differ between two manifests: data, code, params, environment."""
    before, after = expected["provenance"], actual["provenance"]
    return [part for part in PROVENANCE_PARTS if before.get(part) != after.get(part)]


def format_table(differences: list[FileDifference]) -> str:
    rows = [("path", "expected", "actual")] + [
        (d.path, d.expected or "(not recorded)", d.actual or "(missing)") for d in differences
    ]
    widths = [max(len(row[i]) for row in rows) for i in range(3)]
    lines = [
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True))
        for row in rows
    ]
    lines.insert(1, "  ".join("-" * width for width in widths))
    return "\n".join(line.rstrip() for line in lines)


def check(run_path: str | Path, expected_path: str | Path) -> None:
    """Fail with a per-file table when the run's outputs differ from the recorded manifest."""
    expected = load(expected_path, "recorded manifest")
    actual = load(run_path, "run manifest")
    differences = compare_files(expected, actual)
    if not differences:
        return
    causes = changed_provenance(expected, actual)
    hint = (
        f"changed since the recorded run: {', '.join(causes)}"
        if causes
        else "nothing the outputs depend on changed: this is nondeterminism"
    )
    raise ReprotrainError(
        run_path,
        "files",
        f"{len(differences)} output(s) differ from the recorded manifest {expected_path} "
        f"({hint}):\n{format_table(differences)}",
        "find out why (a changed input is expected to change outputs); if the new outputs are "
        "right, record them with `make record`",
    )


def verify_on_disk(manifest: dict[str, Any], manifest_path: str | Path) -> None:
    """Refuse a manifest whose files no longer hold the bytes it lists."""
    on_disk = {path: None for path in manifest["files"] if not Path(path).is_file()}
    present = [path for path in manifest["files"] if path not in on_disk]
    on_disk.update(sha256_files(present))
    stale = [
        FileDifference(path, entry["sha256"], on_disk[path])
        for path, entry in sorted(manifest["files"].items())
        if on_disk[path] != entry["sha256"]
    ]
    if stale:
        raise ReprotrainError(
            manifest_path,
            "files",
            f"the files on disk no longer match this manifest:\n{format_table(stale)}",
            "rerun the pipeline so that the manifest describes the outputs on disk",
        )


def record(run_path: str | Path, expected_path: str | Path) -> dict[str, Any]:
    """Make a run's manifest the recorded one, after checking it still describes the disk."""
    manifest = load(run_path, "run manifest")
    verify_on_disk(manifest, run_path)
    write(expected_path, manifest)
    return manifest
