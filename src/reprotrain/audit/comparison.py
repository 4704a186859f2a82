"""Audits: why two runs' outputs differ, and whether a results directory matches its manifest."""

from __future__ import annotations

import json
import posixpath
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from reprotrain import fileio
from reprotrain.errors import ReprotrainError
from reprotrain.hashing import sha256_bytes
from reprotrain.records.types import (
    EnvironmentRecord,
    FileEntry,
    HardwareRecord,
    Manifest,
    Provenance,
)

# Causes, in the order they are reported.
DATA, PARAMS, CODE, ENVIRONMENT, HARDWARE, UPSTREAM = (
    "data",
    "params",
    "code",
    "environment",
    "hardware",
    "upstream",
)
NONDETERMINISM = "nondeterminism"
ROOT_CAUSES = (DATA, PARAMS, CODE, ENVIRONMENT, HARDWARE)
INPUT_CAUSES = {"data": DATA, "environment": ENVIRONMENT, "hardware": HARDWARE, "file": DATA}

# Names of the inputs every recipe gives the environment (reprotrain.records.provenance).
INTERPRETER, INSTALLED, HARDWARE_INPUT, USED_BY = (
    "interpreter",
    "installed packages",
    "hardware",
    "packages used by ",
)

DRIVER_PARAMS = (
    "its params differ with the same config, registry and code: the Snakemake process "
    "computed them nondeterministically, e.g. from a set's order under its PYTHONHASHSEED"
)

# Exit statuses of `reprotrain diff` (2 is left to usage errors and unreadable manifests).
IDENTICAL, EXPLAINED, UNEXPLAINED = 0, 1, 3


@dataclass
class Difference:
    path: str  # B's path (A's for an output only A has)
    change: str  # "changed", "only in A", "only in B"
    causes: list[str]
    upstream: list[str] = field(default_factory=list)  # differing outputs it was made from
    root_causes: list[str] = field(default_factory=list)  # causes found walking upstream
    expected: str | None = None
    actual: str | None = None
    path_in_a: str | None = None  # when A made the same output under another path
    note: str | None = None  # what the causes alone do not say
    # A's own path, when A's results directory is another one than B's (the paths above
    # are then B's names for A's outputs).
    file_in_a: str | None = None
    params_changed: list[str] = field(default_factory=list)  # "key: old -> new"
    role: str = "artifact"  # what B's manifest says the output is (layout.Role)
    # What changed of the environment or hardware among its own inputs, in a few words.
    environment_detail: str | None = None

    @property
    def path_a(self) -> str:
        return self.file_in_a or self.path_in_a or self.path

    @property
    def unexplained(self) -> bool:
        return self.causes == [NONDETERMINISM]


def differing_keys(old: Mapping[str, Any], new: Mapping[str, Any]) -> list[str]:
    """The keys whose values differ between two mappings (one that only one has too), sorted."""
    return sorted(key for key in old.keys() | new.keys() if old.get(key) != new.get(key))


def _software(environment: EnvironmentRecord) -> dict[str, Any]:
    """The environment fingerprint without its hardware, which is a cause of its own."""
    return {key: value for key, value in environment.items() if key != "hardware"}


def hardware_of(document: Manifest) -> HardwareRecord:
    """The hardware fingerprint a manifest records (empty when it records none)."""
    return document["provenance"]["environment"].get("hardware") or {}


def _global_causes(before: Manifest, after: Manifest) -> list[str]:
    old, new = before["provenance"], after["provenance"]
    compared: tuple[tuple[str, Callable[[Manifest, Provenance], object]], ...] = (
        (DATA, lambda _, p: p["data"]),
        (PARAMS, lambda _, p: p["params_digest"]),
        # The commit alone changes nothing; the digest of the code does.
        (CODE, lambda _, p: p["code"]["digest"]),
        (ENVIRONMENT, lambda _, p: _software(p["environment"])),
        (HARDWARE, lambda document, _: hardware_of(document)),
    )
    return [cause for cause, value in compared if value(before, old) != value(after, new)]


def hardware_change(before: Manifest, after: Manifest) -> str | None:
    """What changed in the numerics between two runs, in a few words (None: nothing)."""
    old, new = hardware_of(before), hardware_of(after)
    parts = []
    kernels = [
        {item["library"]: item["kernel"] for item in side.get("blas", [])} for side in (old, new)
    ]
    for library in differing_keys(*kernels):
        a, b = kernels[0].get(library), kernels[1].get(library)
        parts.append(f"BLAS kernel {a} vs {b} ({library})")
    labels = (("machine", "architecture"), ("isa_level", "ISA level"), ("pin", "pin"))
    for key, label in labels:
        if old.get(key) != new.get(key):
            parts.append(f"{label} {old.get(key)} vs {new.get(key)}")
    if old.get("numpy_simd") != new.get("numpy_simd"):
        parts.append(
            f"numpy SIMD up to {(old.get('numpy_simd') or ['baseline'])[-1]} vs "
            f"{(new.get('numpy_simd') or ['baseline'])[-1]}"
        )
    if not parts and old != new:
        parts.append("BLAS library or threading layer")
    return "; ".join(parts) or None


def python_change(before: Manifest, after: Manifest) -> str | None:
    """What changed of the interpreter between two runs (None: nothing)."""
    old = before["provenance"]["environment"]["python"]
    new = after["provenance"]["environment"]["python"]
    if old == new:
        return None
    if old["implementation"] != new["implementation"]:
        return (
            f"python {old['implementation']} {old['version']} -> "
            f"{new['implementation']} {new['version']}"
        )
    if old["version"] != new["version"]:
        return f"python {old['version']} -> {new['version']}"
    return f"python build {old['build']!r} -> {new['build']!r}"


_PACKAGES_SHOWN = 4


def packages_change(before: Manifest, after: Manifest) -> str | None:
    """The installed packages whose versions differ between two runs (None: none)."""
    old = before["provenance"]["environment"]["packages"]
    new = after["provenance"]["environment"]["packages"]
    changed = [
        f"{name} {old.get(name) or 'absent'} -> {new.get(name) or 'absent'}"
        for name in differing_keys(old, new)
    ]
    if len(changed) > _PACKAGES_SHOWN:
        changed[_PACKAGES_SHOWN:] = [f"and {len(changed) - _PACKAGES_SHOWN} more packages"]
    return ", ".join(changed) or None


def lock_change(before: Manifest, after: Manifest) -> str | None:
    old = before["provenance"]["environment"]["lock"]
    new = after["provenance"]["environment"]["lock"]
    if old == new:
        return None
    if old["path"] != new["path"]:
        return f"lock {old['path']} -> {new['path']}"
    return f"lock {new['path']} changed"


def environment_change(before: Manifest, after: Manifest) -> str | None:
    """What changed in the software between two runs, in a few words (None: nothing):
    the interpreter, the lock, the packages, the platform, drift."""
    old = before["provenance"]["environment"]
    new = after["provenance"]["environment"]
    parts = [
        change
        for change in (
            python_change(before, after),
            lock_change(before, after),
            packages_change(before, after),
        )
        if change
    ]
    if old["platform"] != new["platform"]:
        parts.append(f"platform {old['platform']} -> {new['platform']}")
    if old.get("drift") != new.get("drift"):
        parts.append("drift from the lock")
    if not parts and _software(old) != _software(new):
        parts.append("the environment record")
    return "; ".join(parts) or None


def _environment_detail(changed_inputs: list[str], before: Manifest, after: Manifest) -> str | None:
    """What of the environment and hardware changed among one output's own inputs."""
    parts = []
    if INTERPRETER in changed_inputs:
        parts.append(python_change(before, after) or "the interpreter")
    if any(name == INSTALLED or name.startswith(USED_BY) for name in changed_inputs):
        parts.append(packages_change(before, after) or "packages")
    locks = [
        name
        for name in changed_inputs
        if name not in (INTERPRETER, INSTALLED, HARDWARE_INPUT) and not name.startswith(USED_BY)
    ]
    parts += [f"{name} changed" for name in locks]
    if HARDWARE_INPUT in changed_inputs:
        parts.append(hardware_change(before, after) or "the hardware fingerprint")
    return "; ".join(dict.fromkeys(parts)) or None


def _pair_moved(before: Manifest, after: Manifest) -> dict[str, str]:
    """A's path -> B's path for outputs each run made once under another path.

    Paths carry the data version, seed and model, so changing one of them moves the
    outputs; an output is paired when its pattern is made exactly once in each run.
    """

    def unmatched(
        files: Mapping[str, FileEntry], others: Mapping[str, FileEntry]
    ) -> dict[str, list[str]]:
        by_pattern: dict[str, list[str]] = {}
        for path, entry in files.items():
            if path not in others:
                by_pattern.setdefault(entry["pattern"], []).append(path)
        return by_pattern

    only_a = unmatched(before["files"], after["files"])
    only_b = unmatched(after["files"], before["files"])
    return {
        paths[0]: only_b[pattern][0]
        for pattern, paths in only_a.items()
        if len(paths) == 1 and len(only_b.get(pattern, ())) == 1
    }


def _params_can_change(before: Manifest, after: Manifest) -> bool:
    """Whether what the driver computes params from changed: the config and registry, the code
    or the data. When none did, a changed param was computed nondeterministically."""
    old, new = before["provenance"], after["provenance"]
    if "config_digest" not in old or "config_digest" not in new:
        return True  # a manifest that does not say
    return (
        old.get("config_digest") != new.get("config_digest")
        or old["code"]["digest"] != new["code"]["digest"]
        or old["data"] != new["data"]
    )


def _causes_of(
    old: FileEntry, new: FileEntry, params_can_change: bool, moved: dict[str, str]
) -> tuple[list[str], list[str], str | None, list[str]]:
    """The causes found in one output's own provenance (nondeterminism when none is), the
    outputs upstream that changed, a note, and the environment and hardware inputs that
    changed."""
    causes: set[str] = set()
    upstream: list[str] = []
    changed_inputs: list[str] = []
    old_inputs = {moved.get(name, name): item for name, item in old["inputs"].items()}
    if old["rule"] != new["rule"]:
        causes.add(CODE)  # the recipe itself changed
    for name in sorted(set(old_inputs) ^ set(new["inputs"])):
        # An input one side has and the other lacks: a lock of another way of running
        # (conda's pin file, pip's lock) is the environment; anything else, the recipe.
        kind = (new["inputs"].get(name) or old_inputs[name])["kind"]
        if kind in ("environment", "hardware"):
            causes.add(INPUT_CAUSES[kind])
            changed_inputs.append(name)
        else:
            causes.add(CODE)
    for name in sorted(set(old_inputs) & set(new["inputs"])):
        before, after = old_inputs[name], new["inputs"][name]
        if before["sha256"] == after["sha256"]:
            continue
        if after["kind"] == "output":
            upstream.append(name)
        else:
            causes.add(INPUT_CAUSES[after["kind"]])
            if after["kind"] in ("environment", "hardware"):
                changed_inputs.append(name)
    note = None
    if old["params_digest"] != new["params_digest"]:
        if params_can_change:
            causes.add(PARAMS)
        else:
            note = DRIVER_PARAMS
    if old["code_digest"] != new["code_digest"]:
        causes.add(CODE)
    if upstream:
        causes.add(UPSTREAM)
    ordered = [c for c in (*ROOT_CAUSES, UPSTREAM) if c in causes]
    return ordered or [NONDETERMINISM], upstream, note, sorted(changed_inputs)


def results_directory(document: Manifest) -> str | None:
    """The results directory a run manifest's paths start with (None: it does not say)."""
    for name in document.get("uncovered", []):
        if PurePosixPath(name).name == "manifest.json":
            return PurePosixPath(name).parent.as_posix()
    return None


def run_root(manifest_path: str | Path, document: Manifest) -> Path:
    """The directory a run manifest's paths start from: above its results directory."""
    results = results_directory(document)
    depth = len(Path(results).parts) if results else 1
    return Path(manifest_path).resolve().parents[depth]


def logs_directory(document: Manifest) -> str:
    """Where the run of a manifest keeps its logs and job records (reprotrain.layout)."""
    from reprotrain.layout import Layout

    return Layout(results_directory(document) or "results", ()).logs


def _rebased(document: Manifest, old: str, new: str) -> Manifest:
    """The manifest with its results directory ``old`` renamed ``new``: two runs written to
    different directories are compared output by output."""

    def rename(path: str) -> str:
        return f"{new}/{path[len(old) + 1 :]}" if path.startswith(f"{old}/") else path

    files: dict[str, FileEntry] = {}
    for path, entry in document["files"].items():
        inputs = {
            (rename(name) if item["kind"] == "output" else name): item
            for name, item in entry["inputs"].items()
        }
        files[rename(path)] = entry | {"inputs": inputs, "pattern": rename(entry["pattern"])}
    uncovered = [rename(name) for name in document["uncovered"]]
    return document | {"files": files, "uncovered": uncovered}


def classify(before: Manifest, after: Manifest) -> list[Difference]:
    """Every output whose bytes differ between two manifests, with the cause of the change.

    Outputs are paired relative to each run's results directory."""
    results_a, results_b = results_directory(before), results_directory(after)
    if results_a and results_b and results_a != results_b:
        paired = classify(_rebased(before, results_a, results_b), after)
        for difference in paired:
            if difference.change != "only in B":
                difference.file_in_a = f"{results_a}/{difference.path_a[len(results_b) + 1 :]}"
        return paired
    params_can_change = _params_can_change(before, after)
    moved = _pair_moved(before, after)
    moved_to = {b: a for a, b in moved.items()}
    differences: dict[str, Difference] = {}
    for path in sorted((set(before["files"]) - set(moved)) | set(after["files"])):
        path_in_a = moved_to.get(path, path)
        old, new = before["files"].get(path_in_a), after["files"].get(path)
        if old is not None and new is not None:
            if old["sha256"] == new["sha256"]:
                continue
            causes, upstream, note, changed_inputs = _causes_of(old, new, params_can_change, moved)
            differences[path] = Difference(
                path,
                "changed",
                causes,
                upstream,
                expected=old["sha256"],
                actual=new["sha256"],
                path_in_a=None if path_in_a == path else path_in_a,
                note=note,
                role=new["role"],
                environment_detail=_environment_detail(changed_inputs, before, after),
            )
        else:
            # A file made by one run only: the run's inputs decide the set of outputs.
            causes = _global_causes(before, after) or [CODE]
            only = new or old
            assert only is not None  # a path of one of the two manifests
            differences[path] = Difference(
                path,
                "only in A" if new is None else "only in B",
                causes,
                expected=old and old["sha256"],
                actual=new and new["sha256"],
                role=only["role"],
            )
    for difference in differences.values():
        difference.root_causes = _root_causes(difference, differences, set())
    return list(differences.values())


def _root_causes(
    difference: Difference, all_differences: Mapping[str, Difference], seen: set[str]
) -> list[str]:
    found = {cause for cause in difference.causes if cause != UPSTREAM}
    for name in difference.upstream:
        if name not in seen and name in all_differences:
            seen.add(name)
            found.update(_root_causes(all_differences[name], all_differences, seen))
    return [c for c in (*ROOT_CAUSES, NONDETERMINISM) if c in found]


_PARAMS_SHOWN = 3
# The covered records that hold a run's parameters, relative to an output's directory.
_RECORDS = ("model_card.json", "data/data.json", "../data/data.json")


def _parameters_in(record: dict[str, Any]) -> dict[str, Any]:
    """The parameter values a model card or a split's data record states, flat."""
    values: dict[str, Any] = {}
    split = (record.get("data") or record).get("split") or {}
    for key in ("seed", "test_fraction"):
        if key in split:
            values[key] = split[key]
    model = record.get("model")
    if isinstance(model, dict):
        values["model"] = model.get("type")
        for key, value in (model.get("hyperparameters") or {}).items():
            values[f"model.{key}"] = value
    return values


def checked_record(document: Manifest, name: str, root: Path) -> dict[str, Any] | None:
    """A covered JSON record of a run, read once and confined to ``root``, only when its
    bytes are the ones the manifest covers (None: gone, other bytes, or not a record)."""
    entry = document["files"].get(name)
    if entry is None:
        return None
    try:  # the bytes hashed are the bytes parsed
        content = fileio.read_bytes(root / name, root=root)
        if sha256_bytes(content) != entry["sha256"]:
            return None
        record = fileio.parse_json(content, name, "record", "")
    except ReprotrainError:
        return None
    return record if isinstance(record, dict) else None


def _renamed(name: str, rename: tuple[str, str] | None) -> str:
    """B's name for an output, in A's results directory when the two differ."""
    if rename and name.startswith(f"{rename[0]}/"):
        return f"{rename[1]}/{name[len(rename[0]) + 1 :]}"
    return name


def _checked_parameters(
    document: Manifest, path: str, root: Path, rename: tuple[str, str] | None
) -> tuple[dict[str, Any], list[str]]:
    """The parameters the records beside ``path`` state, read only when their bytes are
    the ones the manifest covers; and the records it covers that are not at hand (gone,
    or other bytes: the run was made again since)."""
    values: dict[str, Any] = {}
    not_at_hand = []
    directory = PurePosixPath(path).parent
    for relative in _RECORDS:
        name = _renamed(posixpath.normpath(f"{directory}/{relative}"), rename)
        if name not in document["files"]:
            continue
        record = checked_record(document, name, root)
        try:
            values = _parameters_in(record) | values if record is not None else values
        except AttributeError:  # a record of another shape: nothing it says is trusted
            record = None
        if record is None:
            not_at_hand.append(name)
    return values, not_at_hand


def name_changed_params(
    differences: list[Difference],
    before: Manifest,
    after: Manifest,
    root_a: Path,
    root_b: Path,
) -> None:
    """Name the parameters behind each difference caused by params (``key: old -> new``),
    from the model cards and data records both run directories hold."""
    rename = _rename_of(before, after)
    for difference in differences:
        if PARAMS not in difference.causes or difference.change != "changed":
            continue
        old, old_missing = _checked_parameters(before, difference.path, root_a, rename)
        new, new_missing = _checked_parameters(after, difference.path, root_b, None)
        if not (old and new):
            difference.params_changed = []  # a side without records it can trust
            continue
        # Only what both sides' trusted records state is compared: a key one side's
        # missing record would have held is no change.
        shared = old.keys() & new.keys()
        difference.params_changed = [
            f"{key}: {json.dumps(old[key])} -> {json.dumps(new[key])}"
            for key in differing_keys({k: old[k] for k in shared}, {k: new[k] for k in shared})
        ]
        missing = [("A", name) for name in old_missing] + [("B", name) for name in new_missing]
        if missing and old.keys() != new.keys():
            side, name = missing[0]
            difference.params_changed.insert(
                0,
                f"{side}'s {name} is not at hand (gone, or made again since): its values "
                "are not named",
            )


def _rename_of(before: Manifest, after: Manifest) -> tuple[str, str] | None:
    results_a, results_b = results_directory(before), results_directory(after)
    if results_a and results_b and results_a != results_b:
        return (results_b, results_a)
    return None


_METRICS_FILE = "metrics.json"


def metric_deltas(
    differences: list[Difference], before: Manifest, after: Manifest, root_a: Path, root_b: Path
) -> list[str]:
    """``run: metric old -> new (delta)`` for each changed metrics record both runs hold
    with their covered bytes; a side whose record is not at hand is said once."""
    from reprotrain.ml.evaluate import METRICS

    known = [name for names in METRICS.values() for name in names]
    rename = _rename_of(before, after)
    lines, missing = [], 0
    for difference in differences:
        if PurePosixPath(difference.path).name != _METRICS_FILE or difference.change != "changed":
            continue
        old = checked_record(before, _renamed(difference.path, rename), root_a)
        new = checked_record(after, difference.path, root_b)
        if old is None or new is None:
            missing += 1
            continue
        changes = [
            f"{name} {old[name]:.4f} -> {new[name]:.4f} ({new[name] - old[name]:+.4f})"
            for name in known
            if isinstance(old.get(name), int | float)
            and isinstance(new.get(name), int | float)
            and old[name] != new[name]
        ]
        if changes:
            run = PurePosixPath(difference.path).parent.as_posix()
            lines.append(f"{run}: {', '.join(changes)}")
    if missing:
        lines.append(
            f"{missing} metrics file(s) not at hand on both sides (gone, or made again "
            "since): their deltas are not shown"
        )
    return lines


_SUMMARY_SHOWN = 5


def summary(differences: list[Difference], deltas: list[str] | None = None) -> str:
    """The short answer before the per-file table: which outputs differ, why, which
    parameters changed and, when both runs' metrics are at hand, by how much."""
    if not differences:
        return "summary: no covered output differs"
    unexplained = sum(1 for d in differences if d.unexplained)
    lines = [
        f"summary: {len(differences)} output(s) differ: "
        f"{len(differences) - unexplained} explained by a changed input, "
        f"{unexplained} unexplained"
    ]

    def counted(items: list[str]) -> str:
        tally: dict[str, int] = {}
        for item in items:
            tally[item] = tally.get(item, 0) + 1
        ranked = sorted(tally.items(), key=lambda pair: (-pair[1], pair[0]))
        return ", ".join(f"{name} ({count})" for name, count in ranked)

    lines.append("  outputs: " + counted([PurePosixPath(d.path).name for d in differences]))
    lines.append("  causes:  " + counted([cause for d in differences for cause in d.causes]))
    keys = sorted({change for d in differences for change in d.params_changed})
    if keys:
        more = len(keys) - _SUMMARY_SHOWN
        lines.append(
            "  params:  "
            + "; ".join(keys[:_SUMMARY_SHOWN])
            + (f" (and {more} more)" if more > 0 else "")
        )
    for index, delta in enumerate(deltas or []):
        lines.append(("  metrics: " if index == 0 else "           ") + delta)
    return "\n".join(lines)


def status(differences: list[Difference]) -> int:
    if not differences:
        return IDENTICAL
    return UNEXPLAINED if any(d.unexplained for d in differences) else EXPLAINED


# More upstream outputs than this are summarised by their names (a sweep's summary is made
# from every run's metrics); `diff --json` lists them all.
_UPSTREAM_LISTED = 3


def _upstream(difference: Difference) -> str:
    """The changed outputs a row was made from, relative to its own directory."""
    here = posixpath.dirname(difference.path)
    if len(difference.upstream) > _UPSTREAM_LISTED:
        names = sorted({posixpath.basename(path) for path in difference.upstream})
        return f"{len(difference.upstream)} outputs ({', '.join(names)})"
    return ", ".join(_near(path, here) for path in difference.upstream)


def _near(path: str, here: str) -> str:
    """A path relative to ``here`` when that is shorter to read: in it, or one level up."""
    relative = posixpath.relpath(path, here)
    return path if relative.startswith("../..") else relative


def _detail(difference: Difference) -> str:
    if difference.unexplained:
        verdict = "NOTHING IT DEPENDS ON CHANGED: NONDETERMINISM"
        return f"{verdict} ({difference.note})" if difference.note else verdict
    parts = [cause for cause in difference.causes if cause != UPSTREAM]
    if difference.environment_detail:
        named = [p for p in parts if p in (ENVIRONMENT, HARDWARE)]
        if named:
            detail = difference.environment_detail
            parts[parts.index(named[0])] = f"{' and '.join(named)} ({detail})"
            parts = [p for p in parts if p not in named[1:]]
    if difference.params_changed and PARAMS in parts:
        shown = difference.params_changed[:_PARAMS_SHOWN]
        more = len(difference.params_changed) - len(shown)
        keys = ", ".join(shown) + (f", and {more} more" if more else "")
        parts[parts.index(PARAMS)] = f"params ({keys})"
    if difference.upstream:
        roots = ", ".join(difference.root_causes) or "?"
        parts.append(f"upstream: {_upstream(difference)} (root cause: {roots})")
    if difference.change != "changed":
        parts.insert(0, difference.change)
    if difference.path_in_a:
        parts.insert(0, f"A made it as {difference.path_in_a}")
    return "; ".join(parts)


def format_report(
    differences: list[Difference],
    before: str,
    after: str,
    digest_width: int = 12,
    hardware: str | None = None,
    environment: str | None = None,
) -> str:
    """The per-file table; ``environment`` and ``hardware`` say what changed in the
    software and the numerics, if anything."""
    if not differences:
        return f"identical: every covered output of {before} and {after} has the same sha256"
    rows = [("path", "cause", "expected (A)", "actual (B)")]
    rows += [
        (d.path, _detail(d), (d.expected or "-")[:digest_width], (d.actual or "-")[:digest_width])
        for d in differences
    ]
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    lines = [f"A: {before}", f"B: {after}"]
    if environment:
        lines.append(f"environment: {environment}")
    if hardware:
        lines.append(f"hardware: {hardware}")
    lines.append("")
    for index, row in enumerate(rows):
        lines.append("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())
        if index == 0:
            lines.append("  ".join("-" * w for w in widths))
    unexplained = [d.path for d in differences if d.unexplained]
    explained = len(differences) - len(unexplained)
    lines.append("")
    lines.append(f"{len(differences)} output(s) differ: {explained} explained by a changed input")
    if unexplained:
        lines.append(
            f"!! NONDETERMINISM: {len(unexplained)} output(s) changed although nothing they depend "
            f"on changed: {', '.join(unexplained)}"
        )
    return "\n".join(lines)


@dataclass(frozen=True)
class Judgement:
    """What a run's comparison with its record amounts to.

    Reproduced: every artifact is byte-identical, and each record that differs does so
    only because the recorded environment or hardware differs (another interpreter patch,
    another lock, conda instead of pip). Strict judging calls any difference a failure.
    """

    identical: bool
    # Every difference is a record that differs only through the environment or hardware.
    environment_only: bool
    strict: bool
    environment: str | None  # what differs in the environment and hardware
    records: tuple[str, ...]  # the records that differ

    @property
    def reproduced(self) -> bool:
        return self.identical or (self.environment_only and not self.strict)

    @property
    def refused_as_strict(self) -> bool:
        """Only strictness fails the run: it would be reproduced otherwise."""
        return self.strict and not self.identical and self.environment_only

    def line(self) -> str:
        if self.identical:
            return "reproduced: every covered output is identical"
        return (
            f"reproduced: every artifact identical; environment differs: {self.environment} "
            f"({len(self.records)} record(s) describe it: {', '.join(self.records)})"
        )


_ENVIRONMENT_CAUSES = frozenset({ENVIRONMENT, HARDWARE})


def judge(
    differences: list[Difference], before: Manifest, after: Manifest, strict: bool
) -> Judgement:
    """Whether ``after`` reproduces ``before`` (see Judgement)."""
    changes = [
        change
        for change in (environment_change(before, after), hardware_change(before, after))
        if change
    ]
    environment_only = all(
        d.role == "record"
        and d.change == "changed"
        and bool(d.root_causes)
        and set(d.root_causes) <= _ENVIRONMENT_CAUSES
        for d in differences
    )
    return Judgement(
        identical=not differences,
        environment_only=environment_only,
        strict=strict,
        environment="; ".join(changes) or None,
        records=tuple(d.path for d in differences if d.role == "record"),
    )


def to_json(differences: list[Difference], before: Manifest, after: Manifest) -> dict[str, Any]:
    outcome = {IDENTICAL: "identical", EXPLAINED: "explained", UNEXPLAINED: "unexplained"}
    judgement = judge(differences, before, after, strict=False)
    return {
        "status": outcome[status(differences)],
        "reproduced": judgement.reproduced,
        "provenance_changes": _global_causes(before, after),
        "environment_change": environment_change(before, after),
        "hardware_change": hardware_change(before, after),
        "differences": [asdict(d) for d in differences],
    }
