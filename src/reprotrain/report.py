"""The report's HTML pages (for `snakemake --report`) and the provenance page itself.

Every page is plain, self-contained HTML with no timestamps. This module imports no
pandas or matplotlib, so the checksum job that writes the provenance page starts fast.
"""

from __future__ import annotations

import html
import json
import logging
import re
import sys
from pathlib import Path
from typing import Any

from reprotrain import audit, drift
from reprotrain.fileio import atomic_write_bytes

log = logging.getLogger(__name__)

_DIGEST = re.compile(r"[0-9a-f]{64}")

_PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>{title}</title>
<style>
body {{ font-family: system-ui, sans-serif; margin: 1.5em; color: #222; }}
table {{ border-collapse: collapse; margin: 0.5em 0 1.5em; font-size: 0.92em; }}
th, td {{ border: 1px solid #ccc; padding: 0.3em 0.7em; text-align: left; }}
th {{ background: #f3f3f3; }}
td.num {{ text-align: right; font-variant-numeric: tabular-nums; }}
code {{ font-size: 0.9em; word-break: break-all; }}
h2 {{ font-size: 1.1em; margin-top: 1.2em; }}
</style>
</head>
<body>
<h1>{title}</h1>
{body}
</body>
</html>
"""


def page(title: str, body: str) -> bytes:
    return _PAGE.format(title=html.escape(title), body=body).encode("utf-8")


def table(header: list[str], rows: list[list[Any]]) -> str:
    def cell(value: Any) -> str:
        if isinstance(value, float):
            return f'<td class="num">{value:.4f}</td>'
        if isinstance(value, int) and not isinstance(value, bool):
            return f'<td class="num">{value}</td>'
        if isinstance(value, str) and _DIGEST.fullmatch(value):
            return f"<td>{_code(value)}</td>"
        return f"<td>{html.escape('' if value is None else str(value))}</td>"

    head = "".join(f"<th>{html.escape(name)}</th>" for name in header)
    body = "".join("<tr>" + "".join(cell(value) for value in row) + "</tr>" for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _code(value: Any) -> str:
    return f"<code>{html.escape(str(value))}</code>"


def provenance_page(run_manifest: str, checksum: str, lock: str, out: str) -> None:
    """Data versions and checksums, code version, locked software, checksum verdict."""
    document = json.loads(Path(run_manifest).read_text(encoding="utf-8"))
    verdict = json.loads(Path(checksum).read_text(encoding="utf-8"))
    record = document["provenance"]
    data_rows = [
        [key, entry["kind"], entry.get("source") or "generated", entry.get("rows"), entry["sha256"]]
        for key, entry in sorted(record["data"].items())
    ]
    code = record["code"]
    environment = record["environment"]
    code_rows = [
        ["code digest (workflow + package)", code["digest"]],
        ["git commit", code["git_commit"] or "not a git checkout"],
        ["uncommitted changes", {True: "yes", False: "no"}.get(code["git_dirty"], "unknown")],
        ["parameters digest", record["params_digest"]],
    ]
    environment_rows = [
        ["lock in force", environment["lock"]["path"]],
        ["lock sha256", environment["lock"]["sha256"]],
        ["python", f"{environment['python']['implementation']} {environment['python']['version']}"],
        ["python build", environment["python"]["build"]],
        ["platform", environment["platform"]],
    ]
    locked = drift.remembered_locked_versions(lock)
    lock_name = environment["lock"]["path"]
    installed = environment["packages"]
    software_rows = [
        [name, version, installed.get(name, "")] for name, version in sorted(locked.items())
    ]
    outputs = [[path, entry["rule"], entry["sha256"]] for path, entry in document["files"].items()]
    if verdict.get("environment_differs"):
        claim = (
            f"<p>The run reproduces the recorded manifest {_code(verdict['matches'])}: every "
            "artifact is identical; the environment differs "
            f"({html.escape(verdict['environment_differs'])}), as "
            f"{html.escape(', '.join(verdict['records_differing']))} record"
        )
    else:
        claim = f"<p>The run's outputs match the recorded manifest {_code(verdict['matches'])}"
    body = (
        f"{claim}; run manifest sha256 {_code(verdict['run_manifest_sha256'])}.</p>"
        "<h2>Data versions</h2>"
        + table(["dataset/version", "kind", "source", "rows", "sha256"], data_rows)
        + "<h2>Code version</h2>"
        + table(["", "value"], code_rows)
        + "<h2>Environment</h2>"
        + table(["", "value"], environment_rows)
        + f"<h2>Locked software ({len(locked)} packages in {html.escape(lock_name)})</h2>"
        + table(["package", "locked version", "in the environment fingerprint"], software_rows)
        + "<h2>Covered outputs</h2>"
        + table(["output", "rule", "sha256"], outputs)
    )
    atomic_write_bytes(out, page("Provenance: data, code and software versions", body))


def checksum_and_provenance(
    run_manifest: str,
    expected: str,
    recorded_integrity: str | None,
    strict: bool,
    lock: str,
    verdict_out: str,
    page_out: str,
) -> None:
    """The checksum rule: compare with the recorded manifest, then write the report's page.
    A run reproduced in another environment says so, in its log and on the terminal."""
    judgement = audit.checksum(run_manifest, expected, verdict_out, recorded_integrity, strict)
    if not judgement.identical:
        log.info("%s", judgement.line())
        print(f"reprotrain: {judgement.line()}", file=sys.stderr)
    provenance_page(run_manifest, verdict_out, lock, page_out)
