"""The checksum rule's step: compare the run with its record, then write the report's
provenance page (no pandas or matplotlib: the job starts fast)."""

from __future__ import annotations

import html
import logging
import sys

from reprotrain import fileio
from reprotrain.audit import verify
from reprotrain.environment import drift
from reprotrain.fileio import atomic_write_bytes
from reprotrain.ml.html import monospace, page, table

log = logging.getLogger(__name__)


def provenance_page(run_manifest: str, checksum: str, lock: str, out: str) -> None:
    """Data versions and checksums, code version, locked software, checksum verdict."""
    document = fileio.read_json(run_manifest, what="run manifest", fix="rerun the pipeline")
    verdict = fileio.read_json(checksum, what="checksum verdict", fix="rerun the pipeline")
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
            f"<p>The run reproduces the recorded manifest {monospace(verdict['matches'])}: every "
            "artifact is identical; the environment differs "
            f"({html.escape(verdict['environment_differs'])}), as "
            f"{html.escape(', '.join(verdict['records_differing']))} record"
        )
    else:
        claim = f"<p>The run's outputs match the recorded manifest {monospace(verdict['matches'])}"
    body = (
        f"{claim}; run manifest sha256 {monospace(verdict['run_manifest_sha256'])}.</p>"
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
    judgement = verify.checksum(run_manifest, expected, verdict_out, recorded_integrity, strict)
    if not judgement.identical:
        log.info("%s", judgement.line())
        print(f"reprotrain: {judgement.line()}", file=sys.stderr)
    provenance_page(run_manifest, verdict_out, lock, page_out)
