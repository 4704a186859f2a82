"""The record-keeping steps: environment fingerprint, model card, run manifest.

They only read and write JSON and bytes (no pandas or scikit-learn import), so they
start fast.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

from reprotrain import fileio
from reprotrain.environment import drift, numerics
from reprotrain.environment.lockfiles import (
    conda_python_packages,
    load_conda_lock,
    load_pip_lock,
    shared_packages,
)
from reprotrain.errors import ReprotrainError
from reprotrain.fileio import atomic_write_bytes, write_json
from reprotrain.hashing import digest_value, sha256_bytes
from reprotrain.records import manifest, provenance, signing
from reprotrain.records.types import Provenance

log = logging.getLogger(__name__)

# 3: data.schema, the table schema the model was trained on (predict checks rows by it).
CARD_SCHEMA_VERSION = 3


def _read_json(path: str) -> Any:
    return fileio.read_json(path, fix="delete it and rerun: the job that makes it runs again")


def environment(
    lock: str,
    lock_name: str,
    conda_lock: str,
    pip_lock: str,
    out: str,
    environments: dict[str, dict[str, Any]] | None = None,
) -> None:
    """Fingerprint the rule environment from inside it; tolerated drift is recorded too.
    `lock_name` is the lock's repository path, which the record gives wherever it was read.
    ``environments``: each named environment the run's models use (its interpreter, its
    lock as read and by name), fingerprinted by its own interpreter."""
    names = shared_packages(
        conda_python_packages(load_conda_lock(conda_lock)), load_pip_lock(pip_lock)
    )
    fingerprint = provenance.environment_fingerprint(lock, names, lock_name)
    fingerprint["hardware"] = numerics.fingerprint(numerics.pin_from_environment())
    # The mode comes from the config through the job's environment (drift.MODE_VARIABLE);
    # in "error" mode a drifted job never gets here.
    found = drift.check_from_environment()
    if found:
        fingerprint["drift"] = [
            {"package": d.package, "locked": d.locked, "found": d.found} for d in found
        ]
    if environments:
        from reprotrain.environment import named

        fingerprint["environments"] = {
            name: named.fingerprint(spec["lock"], spec["lock_name"], spec["python"])
            for name, spec in sorted(environments.items())
        }
    write_json(out, fingerprint)


def save(
    estimator: str,
    estimator_seal: str,
    summary: str,
    data_record: str,
    environment_path: str,
    seed: int,
    params_digest: str,
    code_digests: dict[str, str],
    metrics_path: str,
    model_out: str,
    card_out: str,
    seal_out: str,
) -> None:
    """Publish model.pkl and its card, and seal the model (validate checks the seal, or the
    recorded manifest, and the card's sha256 before unpickling). Only bytes this
    directory's train job sealed are published: a pickle planted in results/ with a
    summary naming its sha256 is refused.

    The card describes the model and what it was made from; the environment is described
    once per run, by environment.json, which the card names: another interpreter patch or
    lock changes that record, not every card."""
    blob = fileio.read_bytes(estimator, limit=fileio.LARGE_FILE_LIMIT, what="trained estimator")
    signing.check_seal(blob, estimator, estimator_seal, job="train", refused="refused to publish")
    trained = _read_json(summary)
    if sha256_bytes(blob) != trained["sha256"]:
        raise ReprotrainError(
            estimator,
            "sha256",
            f"does not match the sha256 its training summary {summary} records",
            "delete both and rerun: train makes them again",
        )
    card = {
        "schema_version": CARD_SCHEMA_VERSION,
        "model": {
            # Paths relative to the card: the same run in another results directory
            # (a sweep's) gives the same bytes.
            "file": Path(model_out).name,
            "sha256": trained["sha256"],
            "type": trained["type"],
            "estimator": trained["estimator"],
            "hyperparameters": trained["hyperparameters"],
            "random_state": seed,
        },
        "data": _read_json(data_record),
        "params_digest": params_digest,
        "code": code_digests,
        "environment": os.path.relpath(environment_path, Path(card_out).parent),
        "metrics": os.path.relpath(metrics_path, Path(card_out).parent),
    }
    signing.seal(blob, seal_out)
    atomic_write_bytes(model_out, blob)
    write_json(card_out, card)
    log.info("published %s (sha256 %s) and %s", model_out, trained["sha256"], card_out)


def write_manifest(
    recipes: dict[str, dict[str, Any]],
    uncovered: list[str],
    data: dict[str, Any],
    environment_record: str,
    code_digest: str,
    params_digest: str,
    config_digest: str,
    code_version: dict[str, Any],
    out: str,
) -> None:
    environment_fingerprint = _read_json(environment_record)
    # Every job ran on the interpreter, and every job that computed floats with the
    # numerics, that the environment job recorded.
    digests = {part: digest_value(environment_fingerprint[part]) for part in ("python", "hardware")}
    # Of what a job imported, the packages of the rule environment: Snakemake's own, which
    # the script preamble imports from the driver, are not part of it.
    rule_environment = set(environment_fingerprint["packages"])
    for path, recipe in recipes.items():
        for item in recipe["inputs"].values():
            if part := item.pop("fingerprint", None):
                item["sha256"] = digests[part]
            if "record" in item:
                used = _packages_used(item.pop("record"), path)
                item["sha256"] = digest_value(
                    {name: version for name, version in used.items() if name in rule_environment}
                )
    record: Provenance = {
        "data": data,
        "code": {
            "digest": code_digest,
            "git_commit": code_version["commit"],
            "git_dirty": code_version["dirty"],
        },
        "params_digest": params_digest,
        "config_digest": config_digest,
        "environment": environment_fingerprint,
    }
    manifest.write(out, manifest.build(sorted(recipes), recipes, record, uncovered))


def _packages_used(record: str, output: str) -> dict[str, str]:
    return fileio.read_json(
        record,
        what=f"record of the packages the job that made {output} used",
        fix=f"make it again: snakemake --forcerun {output}",
    )
