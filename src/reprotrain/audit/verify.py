"""Whether files match a manifest, and a run its record: `reprotrain verify`, the
reconciliation before a run, the checksum rule."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from reprotrain import fileio
from reprotrain.audit.comparison import (
    Judgement,
    classify,
    environment_change,
    format_report,
    hardware_change,
    hardware_of,
    judge,
)
from reprotrain.errors import ReprotrainError
from reprotrain.fileio import write_json
from reprotrain.hashing import sha256_file
from reprotrain.records import manifest
from reprotrain.records.types import Manifest


@dataclass
class VerifyReport:
    problems: list[str]
    checked: int

    @property
    def ok(self) -> bool:
        return not self.problems


def verify(
    manifest_path: str | Path, root: str | Path, public_key: str | Path | None = None
) -> VerifyReport:
    """Check a results directory against a manifest by hashing only (nothing is rerun);
    with ``public_key``, the manifest must be signed for it."""
    document = manifest.load(manifest_path, "manifest", public_key=public_key)
    problems = [f"inconsistent  {p}" for p in manifest.inconsistencies(document)]
    base = Path(root)
    inside = base.resolve()
    files = document["files"]
    problems += manifest.compare_with_disk(files, base).lines()
    expected = set(files) | set(document["uncovered"])
    own_path = Path(manifest_path).resolve()
    for top in sorted({Path(path).parts[0] for path in files}):
        if not (base / top).resolve().is_relative_to(inside):
            continue
        for candidate in sorted((base / top).rglob("*")):
            relative = candidate.relative_to(base).as_posix()
            if candidate.is_symlink() and not candidate.resolve().is_relative_to(inside):
                continue  # not followed, and named above when the manifest lists it
            if candidate.is_file() and relative not in expected and candidate.resolve() != own_path:
                problems.append(f"extra         {relative}")
    return VerifyReport(problems, len(files))


@dataclass(frozen=True)
class Vouched:
    """A run judged to reproduce its record, with the record's bytes it was judged by."""

    run: Manifest
    record: Manifest
    judgement: Judgement


def against_record(
    run_path: str | Path,
    expected_path: str | Path,
    tool: str,
    public_key: str | Path | None = None,
    strict: bool = False,
) -> Vouched:
    """The run manifest, once its files are hashed on disk and the run is judged against
    the record the repository holds (signed for ``public_key`` when given), in this very
    call: ``tool`` (a crate, an export) vouches for nothing else. A verdict file in the
    results directory is not trusted: whoever can write results/ can rewrite it. The
    record comes back as it was read and judged: a caller never reads it again."""
    run = manifest.load(run_path, "run manifest")
    manifest.verify_on_disk(run, run_path)
    recorded = manifest.load(expected_path, "recorded manifest", public_key=public_key)
    differences = classify(recorded, run)
    judgement = judge(differences, recorded, run, strict)
    if not judgement.reproduced:
        shown = "\n  ".join(
            format_report(differences, str(expected_path), str(run_path)).splitlines()[:12]
        )
        raise ReprotrainError(
            run_path,
            None,
            f"does not reproduce the record {expected_path}, and {tool} vouches only for a "
            f"run that does:\n  {shown}",
            "see why with `reprotrain check`; if this run is the new reference, record it "
            "first (`make record`), or name its record with --expected",
        )
    return Vouched(run, recorded, judgement)


@dataclass
class Reconciliation:
    """What a new run must redo because the last run's claims no longer hold on disk."""

    remove: list[str]  # files to delete so that Snakemake makes them again
    notes: list[str]  # one line per problem found, for the run's log


def reconcile(
    run_path: str,
    verdict_path: str,
    recorded: Manifest | None,
    recorded_path: str,
    strict: bool = False,
    remember: Callable[..., Any] | None = None,
) -> Reconciliation:
    """Check the last run's outputs by their bytes, not their mtimes, before Snakemake
    decides what is up to date.

    Every covered file the run manifest lists is hashed. One that is missing or holds
    other bytes is removed together with the run manifest and the verdict, so the jobs
    that make them run again (Snakemake reruns the producer of a missing file only when
    something downstream needs to run). A verdict that no longer describes this run
    manifest against this record is removed, so that checksum compares again."""
    run_file, verdict_file = Path(run_path), Path(verdict_path)
    if not run_file.exists():
        remove = [verdict_path] if verdict_file.exists() else []
        return Reconciliation(remove, [f"{verdict_path}: no run manifest beside it"] * len(remove))
    try:
        run = manifest.load(run_file, "run manifest", remember=remember)
    except ReprotrainError as error:
        notes = [f"{run_path}: {error.problem}"]
        return Reconciliation([p for p in (run_path, verdict_path) if Path(p).exists()], notes)
    state = manifest.compare_with_disk(run["files"])
    notes = state.lines()
    if not state.matches:
        # A symlink leading out is never deleted through: only the manifest goes.
        remove = [*state.altered, run_path, verdict_path]
        return Reconciliation([p for p in remove if Path(p).exists()], notes)
    if verdict_file.exists() and not _verdict_holds(
        verdict_file, run_file, run, recorded, recorded_path, strict
    ):
        return Reconciliation([verdict_path], [f"{verdict_path}: no longer holds"])
    return Reconciliation([], [])


def _verdict_holds(
    verdict_file: Path,
    run_file: Path,
    run: Manifest,
    recorded: Manifest | None,
    recorded_path: str,
    strict: bool,
) -> bool:
    try:
        verdict = fileio.read_json(verdict_file, what="checksum verdict")
    except ReprotrainError:
        return False
    return (
        isinstance(verdict, dict)
        and verdict.get("matches") == recorded_path
        and verdict.get("strict") == strict
        and verdict.get("run_manifest_sha256") == sha256_file(run_file)
        and recorded is not None
        and judge(classify(recorded, run), recorded, run, strict).reproduced
    )


def record_command(run_manifest: str | Path, expected: str | Path) -> str:
    """The command that records one run's manifest as the given record."""
    return f"reprotrain record --run {run_manifest} --to {expected}"


def checksum(
    run_manifest: str,
    expected: str,
    out: str,
    recorded_integrity: str | None = None,
    strict: bool = False,
) -> Judgement:
    """The checksum rule: fail with a per-file table when the run does not reproduce the
    record (``judge``; with ``strict``, when any covered output differs).

    ``recorded_integrity``: the record as the driver read it (and checked its signature)."""
    record = record_command(run_manifest, expected)
    if not Path(expected).is_file():
        raise ReprotrainError(
            expected,
            None,
            "no record exists for this run's config yet (manifest.expected names it)",
            f"look at the outputs, then record them: `{record}`",
        )
    recorded = manifest.load(expected, "recorded manifest", integrity_checked=recorded_integrity)
    run = manifest.load(run_manifest, "run manifest")
    # A match is claimed for the bytes on disk, not for what the manifest job once hashed.
    manifest.verify_on_disk(run, run_manifest)
    differences = classify(recorded, run)
    judgement = judge(differences, recorded, run, strict)
    if not judgement.reproduced:
        machines = [hardware_of(document).get("machine") for document in (recorded, run)]
        fix = (
            "a changed input is expected to change outputs: if these are right, record them "
            f"with `{record}`; `reprotrain diff {expected} {run_manifest} --explain` shows more"
        )
        if recorded["provenance"].get("config_digest") != run["provenance"].get("config_digest"):
            fix = (
                f"this run's config is not the one {expected} was recorded for: record a new "
                f"config's run in a file of its own (`{record_command(run_manifest, '<file>')}`) "
                "and set manifest.expected to that file in the config file that makes the "
                "change; if the change is meant for this record, check the outputs and "
                f"`{record}`"
            )
        if judgement.refused_as_strict:
            fix = (
                "manifest.strict is true, so the environment must be the recorded one too: "
                f"run in it (docs/environment.md: the exact interpreter), or, if this "
                f"environment is the one to keep, record this run with `{record}`"
            )
        if machines[0] != machines[1]:
            fix = (
                f"{expected} was recorded on {machines[0]} and this run is {machines[1]}: "
                "floats differ between architectures, so keep one record per architecture "
                "(record this run with `reprotrain record --to <file>` and point "
                "manifest.expected at it on these machines)"
            )
        raise ReprotrainError(
            run_manifest,
            "files",
            f"{len(differences)} output(s) differ from the recorded manifest {expected}:\n"
            + format_report(
                differences,
                expected,
                run_manifest,
                digest_width=64,
                hardware=hardware_change(recorded, run),
                environment=environment_change(recorded, run),
            ),
            fix,
        )
    write_json(
        out,
        {
            "matches": expected,
            "run_manifest_sha256": sha256_file(run_manifest),
            "strict": strict,
            "environment_differs": None if judgement.identical else judgement.environment,
            "records_differing": list(judgement.records),
        },
    )
    return judgement
