"""The record-keeping steps: environment fingerprint, model card, manifest, checksum.

They only read and write JSON and bytes (no pandas or scikit-learn import), so they
start fast.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

from reprotrain import manifest, provenance
from reprotrain.fileio import atomic_write_bytes, write_json
from reprotrain.hashing import sha256_bytes, sha256_file
from reprotrain.locks import conda_python_packages, load_conda_lock, load_pip_lock, shared_packages

log = logging.getLogger(__name__)

CARD_SCHEMA_VERSION = 1


def _read_json(path: str) -> Any:
    return json.loads(Path(path).read_text(encoding="utf-8"))


def environment(lock: str, conda_lock: str, pip_lock: str, out: str) -> None:
    names = shared_packages(
        conda_python_packages(load_conda_lock(conda_lock)), load_pip_lock(pip_lock)
    )
    write_json(out, provenance.environment_fingerprint(lock, names))


def _read_json(path: str) -> Any:
    return json.loads(Path(path).read_text(encoding="utf-8"))


def save(
    estimator: str,
    summary: str,
    data_record: str,
    environment_record: str,
    seed: int,
    params_digest: str,
    code_digest: str,
    metrics_path: str,
    model_out: str,
    card_out: str,
) -> None:
    """Publish model.pkl and its card; validate checks the card's sha256 before unpickling."""
    blob = Path(estimator).read_bytes()
    trained = _read_json(summary)
    if sha256_bytes(blob) != trained["sha256"]:
        raise RuntimeError(f"{estimator} changed after training; rerun the train rule")
    card = {
        "schema_version": CARD_SCHEMA_VERSION,
        "model": {
            "file": model_out,
            "sha256": trained["sha256"],
            "type": trained["type"],
            "estimator": trained["estimator"],
            "hyperparameters": trained["hyperparameters"],
            "random_state": seed,
        },
        "data": _read_json(data_record),
        "params_digest": params_digest,
        "code": {"digest": code_digest},
        "environment": _read_json(environment_record),
        "metrics": metrics_path,
    }
    atomic_write_bytes(model_out, blob)
    write_json(card_out, card)
    log.info("published %s (sha256 %s) and %s", model_out, trained["sha256"], card_out)


def write_manifest(
    covered: list[str],
    data_record: str,
    environment_record: str,
    code_digest: str,
    params_digest: str,
    root: str,
    out: str,
) -> None:
    record = {
        "data": _read_json(data_record),
        "code": {
            "digest": code_digest,
            **{f"git_{k}": v for k, v in provenance.git_state(root).items()},
        },
        "params_digest": params_digest,
        "environment": _read_json(environment_record),
    }
    manifest.write(out, manifest.build(covered, record))


def checksum(run_manifest: str, expected: str, out: str) -> None:
    manifest.check(run_manifest, expected)
    write_json(out, {"matches": expected, "run_manifest_sha256": sha256_file(run_manifest)})
