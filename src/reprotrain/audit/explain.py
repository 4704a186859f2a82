"""What differs inside two runs' files: the conditions their jobs recorded differently,
the changed keys of JSON records, the changed columns of split tables, then diffoscope's
byte-level view (`reprotrain diff --explain`)."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

from reprotrain import fileio
from reprotrain.audit.comparison import Difference, differing_keys
from reprotrain.errors import ReprotrainError

# What --explain prints of one file's byte-level differences, at most.
EXPLAIN_BYTES = 8000


def flatten(value: Any, prefix: str = "") -> dict[str, Any]:
    """A nested record as dotted keys (`model.max_iter`) and their values."""
    if isinstance(value, dict):
        flat: dict[str, Any] = {}
        for key, item in value.items():
            flat |= flatten(item, f"{prefix}.{key}" if prefix else str(key))
        return flat
    return {prefix: value}


def semantic_changes(a: Path, b: Path) -> list[str]:
    """What differs between two JSON records, key by key, or two split tables, column by
    column (an empty list for other files)."""
    if a.suffix == ".npy" and b.suffix == ".npy":
        return table_changes(a, b)
    if a.suffix != ".json" or b.suffix != ".json":
        return []
    try:
        old, new = (flatten(fileio.read_json(p)) for p in (a, b))
    except ReprotrainError:
        return []
    changed = [
        f"  {key}: {_shown(old.get(key))} -> {_shown(new.get(key))}"
        for key in differing_keys(old, new)
    ]
    if len(changed) > _KEYS_SHOWN:
        changed[_KEYS_SHOWN:] = [f"  … and {len(changed) - _KEYS_SHOWN} more keys"]
    return changed


_KEYS_SHOWN = 40


def table_changes(a: Path, b: Path) -> list[str]:
    """What differs between two split tables (.npy structured arrays, loaded without
    unpickling): rows, columns added or removed, column types, and how many values of
    each shared column differ."""
    import numpy as np  # the driver's tooling has it; only --explain of a table needs it

    def load(path: Path) -> Any:
        with fileio.open_file(path, what="split table") as handle:
            # A split table's header names its columns: a few MiB for any real width.
            return np.load(handle, allow_pickle=False, max_header_size=1 << 22)

    try:
        old, new = load(a), load(b)
    except (ValueError, OSError, ReprotrainError):
        return []
    if old.dtype.names is None or new.dtype.names is None:
        return []
    changes = []
    if len(old) != len(new):
        changes.append(f"  rows: {len(old)} -> {len(new)}")
    for name in old.dtype.names:
        if name not in new.dtype.names:
            changes.append(f"  column {name}: removed")
        elif old.dtype[name] != new.dtype[name]:
            changes.append(f"  column {name}: {old.dtype[name]} -> {new.dtype[name]}")
        elif len(old) == len(new):
            same = old[name] == new[name]
            if old.dtype[name].kind == "f":  # a gap (NaN) in both is the same value
                same |= np.isnan(old[name]) & np.isnan(new[name])
            if differing := int(np.count_nonzero(~same)):
                changes.append(f"  column {name}: {differing} of {len(old)} values differ")
    changes += [
        f"  column {name}: added" for name in new.dtype.names if name not in old.dtype.names
    ]
    return changes


def _shown(value: Any, width: int = 100) -> str:
    text = json.dumps(value)
    return text if len(text) <= width else f"{text[:width]}… ({len(text)} characters)"


def explain(
    differences: list[Difference],
    root_a: Path,
    root_b: Path,
    logs: tuple[str, str] = ("logs", "logs"),
) -> str:
    """What differs inside each changed file both run directories hold: the conditions the
    runs' jobs recorded differently (under ``logs`` of each directory), the changed keys of
    JSON records and the changed columns of split tables, then diffoscope's byte-level view
    of every file, each bounded."""
    from reprotrain.records import conditions

    executable = shutil.which("diffoscope")
    if executable is None:
        raise ReprotrainError(
            "diffoscope",
            None,
            "is not installed, so --explain cannot show what differs inside the files",
            "install it (Debian/Ubuntu: `apt-get install diffoscope-minimal`; or "
            "`pip install diffoscope`) or run without --explain",
        )
    pairs = [
        (difference, root_a / difference.path_a, root_b / difference.path)
        for difference in differences
        if difference.change == "changed"
    ]
    pairs = [(d, a, b) for d, a, b in pairs if a.is_file() and b.is_file()]
    recorded = [
        conditions.read_run(root, name) for root, name in zip((root_a, root_b), logs, strict=True)
    ]
    changed_conditions = conditions.changes(*recorded)
    sections = [
        "Conditions the runs' jobs recorded differently (no output may depend on them):\n"
        + "\n".join(f"  {line}" for line in changed_conditions or ["(none)"])
    ]
    sections.append("What changed (JSON records key by key, split tables column by column):")
    for difference, a, b in pairs:
        if changes := semantic_changes(a, b):
            sections.append(f"{difference.path}:\n" + "\n".join(changes))
    if len(sections) == 2:
        sections.append("  (no JSON record or split table differs)")
    sections.append(f"Byte by byte (diffoscope, at most {EXPLAIN_BYTES} bytes per file):")
    for _, a, b in pairs:
        done = subprocess.run(
            [
                executable,
                "--no-progress",
                "--text",
                "-",
                str(a),
                str(b),
            ],
            capture_output=True,
            text=True,
            check=False,
        )
        text = done.stdout.rstrip() or done.stderr.rstrip()
        if len(text) > EXPLAIN_BYTES:
            # diffoscope bounds its report by whole lines, and one line can be huge.
            text = (
                f"{text[:EXPLAIN_BYTES]}\n… {len(text) - EXPLAIN_BYTES} more characters: "
                f"`diffoscope {a} {b}` shows them all"
            )
        sections.append(text)
    return "\n\n".join(sections)
