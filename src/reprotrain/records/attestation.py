"""Signed provenance attestations: an in-toto Statement v1 with the SLSA provenance v1
predicate over a recorded manifest's covered outputs, in a DSSE envelope signed by the
same offline ed25519 key as the manifest (reprotrain.records.signing).

Supply-chain tools (in-toto, SLSA verifiers, sigstore's policy engines) read this format;
reprotrain's own manifest stays the richer record. The statement is made only from the
manifest, so the same record gives the same statement bytes on every machine. The
envelope is a one-line JSON bundle, ``<manifest stem>.intoto.jsonl`` beside the manifest.

Verification checks the signature on the envelope's exact bytes before anything in the
payload is read, then hashes every subject on disk.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from reprotrain import fileio
from reprotrain.errors import ReprotrainError
from reprotrain.fileio import atomic_write_bytes
from reprotrain.hashing import sha256_bytes
from reprotrain.records import signing
from reprotrain.records.manifest import compare_with_disk, stays_inside
from reprotrain.records.types import Listed, Manifest, Provenance

PAYLOAD_TYPE = "application/vnd.in-toto+json"
PREDICATE_TYPE = "https://slsa.dev/provenance/v1"
# What a reprotrain build is: documented in docs/interop.md, as SLSA asks of a build type.
BUILD_TYPE = "https://github.com/reprotrain/reprotrain/blob/main/docs/interop.md#build-type-v1"
BUILDER_ID = "https://github.com/reprotrain/reprotrain#snakemake"
_REATTEST = (
    "restore the attestation (git checkout), or have the holder of the private key "
    "record again: `reprotrain record --sign <private key> --attest`"
)


def attestation_path(manifest_path: str | Path) -> Path:
    """Where the attestation of a recorded manifest lives: beside it."""
    path = Path(manifest_path)
    return path.with_name(f"{path.stem}.intoto.jsonl")


def _resolved_dependencies(provenance: Provenance) -> list[dict[str, Any]]:
    dependencies = []
    for name, data in sorted(provenance["data"].items()):
        descriptor: dict[str, Any] = {
            "name": data.get("source") or name,
            "annotations": {"dataset": name, "kind": str(data.get("kind"))},
        }
        if data.get("sha256"):
            descriptor["digest"] = {"sha256": data["sha256"]}
        if str(data.get("source") or "").startswith(("http://", "https://")):
            descriptor["uri"] = data["source"]
        dependencies.append(descriptor)
    lock = provenance["environment"]["lock"]
    if lock.get("path"):
        dependencies.append({"name": lock["path"], "digest": {"sha256": lock["sha256"]}})
    code = provenance["code"]
    source: dict[str, Any] = {
        "name": "reprotrain workflow source",
        # The digest of every workflow and package file; the commit only names it when
        # the tree was clean.
        "digest": {"sha256": code["digest"]},
        "annotations": {"dirty": json.dumps(code.get("git_dirty"))},
    }
    if code.get("git_commit") and code.get("git_dirty") is False:
        source["digest"]["gitCommit"] = code["git_commit"]
    dependencies.append(source)
    return dependencies


def statement(document: Manifest, manifest_bytes: bytes, manifest_name: str) -> bytes:
    """The statement's bytes for a manifest: one subject per covered output."""
    from google.protobuf import json_format
    from in_toto_attestation.predicates.provenance.v1 import provenance_pb2
    from in_toto_attestation.v1.resource_descriptor import ResourceDescriptor
    from in_toto_attestation.v1.statement import Statement

    provenance = document["provenance"]
    environment = provenance["environment"]
    predicate = {
        "buildDefinition": {
            "buildType": BUILD_TYPE,
            "externalParameters": {
                "config_digest": provenance["config_digest"],
                "params_digest": provenance["params_digest"],
            },
            "internalParameters": {
                "platform": str(environment.get("platform")),
                "python": {key: str(value) for key, value in environment["python"].items()},
                "numerics": {
                    key: str(value)
                    for key, value in ((environment.get("hardware") or {}).get("pin") or {}).items()
                },
                "packages": dict(environment.get("packages") or {}),
            },
            "resolvedDependencies": _resolved_dependencies(provenance),
        },
        "runDetails": {
            "builder": {"id": BUILDER_ID},
            "byproducts": [
                {"name": manifest_name, "digest": {"sha256": sha256_bytes(manifest_bytes)}}
            ],
        },
    }
    # The SLSA predicate's own schema refuses a misspelt or mistyped field.
    json_format.ParseDict(predicate, provenance_pb2.Provenance())
    subjects = [
        ResourceDescriptor(name=path, digest={"sha256": entry["sha256"]}).pb
        for path, entry in sorted(document["files"].items())
    ]
    made = Statement(subjects, PREDICATE_TYPE, predicate)
    made.validate()
    as_dict = json_format.MessageToDict(made.pb)
    return json.dumps(as_dict, sort_keys=True, separators=(",", ":")).encode("utf-8")


def _public_sslib_key(public_key: Any) -> Any:
    from securesystemslib.signer import SSlibKey

    # Named as reprotrain names keys (sha256 of the raw key), so one key id serves both
    # the manifest's signature and the attestation's.
    return SSlibKey.from_crypto(public_key, keyid=signing.key_id(public_key))


def attest(document: Manifest, manifest_path: str | Path, private_key_path: str | Path) -> Path:
    """Sign the statement of a recorded manifest and write it beside the manifest."""
    from securesystemslib.dsse import Envelope
    from securesystemslib.signer import CryptoSigner

    private_key = signing.load_key(private_key_path, private=True)
    manifest_bytes = fileio.read_bytes(manifest_path, what="manifest")
    payload = statement(document, manifest_bytes, Path(manifest_path).as_posix())
    envelope = Envelope(payload, PAYLOAD_TYPE, {})
    envelope.sign(CryptoSigner(private_key, _public_sslib_key(private_key.public_key())))
    path = attestation_path(manifest_path)
    line = json.dumps(envelope.to_dict(), sort_keys=True, separators=(",", ":"))
    atomic_write_bytes(path, f"{line}\n".encode())
    return path


def _envelope(path: Path) -> Any:
    from securesystemslib.dsse import Envelope

    lines = fileio.read_text(path, what="attestation", fix=_REATTEST).splitlines()
    if len(lines) != 1:
        raise ReprotrainError(
            path, None, f"holds {len(lines)} lines, not one DSSE envelope", _REATTEST
        )
    try:
        envelope = Envelope.from_dict(fileio.parse_json(lines[0], path, "attestation", _REATTEST))
    except (ValueError, KeyError, TypeError, AttributeError) as error:
        raise ReprotrainError(
            path, None, f"is not a DSSE envelope: {type(error).__name__}: {error}", _REATTEST
        ) from None
    if envelope.payload_type != PAYLOAD_TYPE:
        raise ReprotrainError(
            path,
            "payloadType",
            f"is {envelope.payload_type!r}, not an in-toto statement ({PAYLOAD_TYPE})",
            _REATTEST,
        )
    return envelope


def verify(
    path: str | Path,
    public_key_path: str | Path,
    root: str | Path = ".",
    manifest_path: str | Path | None = None,
) -> list[str]:
    """Check an attestation: refuse it unless its signature verifies with the public key;
    then return what on disk does not match it (each subject's bytes under ``root``, and
    the manifest it was made from, when given)."""
    from securesystemslib.exceptions import VerificationError

    file = Path(path)
    envelope = _envelope(file)
    public_key = signing.load_key(public_key_path, private=False)
    key = _public_sslib_key(public_key)
    if key.keyid not in envelope.signatures:
        found = ", ".join(keyid[:12] for keyid in envelope.signatures) or "none"
        raise ReprotrainError(
            file,
            "signatures",
            f"is signed by key {found}, not by {public_key_path} ({key.keyid[:12]})",
            _REATTEST,
        )
    try:
        envelope.verify([key], 1)
    except VerificationError:
        raise ReprotrainError(
            file,
            "signatures",
            f"does not verify with {public_key_path}: the statement was changed after it "
            "was signed, by someone without the private key",
            _REATTEST,
        ) from None
    document = _statement(file, envelope.payload)
    problems = []
    subjects: dict[str, Listed] = {
        item["name"]: {"sha256": item["digest"]["sha256"]} for item in document["subject"]
    }
    escaping = sorted(name for name in subjects if not stays_inside(name))
    if escaping:
        raise ReprotrainError(
            file,
            "subject",
            f"names files outside {root}: {', '.join(escaping)}",
            "an attestation names files relative to the project; make a new one",
        )
    problems += compare_with_disk(subjects, root).lines()
    if manifest_path is not None:
        wanted = {
            item["name"]: item["digest"].get("sha256")
            for item in document["predicate"]["runDetails"].get("byproducts", [])
        }
        name = Path(manifest_path).as_posix()
        actual = sha256_bytes(fileio.read_bytes(manifest_path, what="manifest"))
        if wanted.get(name) != actual:
            problems.append(
                f"{name}: not the manifest this attestation was made from "
                f"(attested {str(wanted.get(name))[:12]}, found {actual[:12]})"
            )
    return problems


def _statement(file: Path, payload: bytes) -> dict[str, Any]:
    """The signed payload, checked to be an in-toto statement with SLSA provenance."""
    from google.protobuf import json_format
    from in_toto_attestation.v1 import statement_pb2
    from in_toto_attestation.v1.statement import Statement

    document = fileio.parse_json(payload, file, "attestation's payload", _REATTEST)
    try:
        parsed = Statement.copy_from_pb(json_format.ParseDict(document, statement_pb2.Statement()))
        parsed.validate()
    except (ValueError, json_format.ParseError) as error:
        raise ReprotrainError(
            file, "payload", f"is not an in-toto statement: {error}", _REATTEST
        ) from None
    if document.get("predicateType") != PREDICATE_TYPE:
        raise ReprotrainError(
            file,
            "payload.predicateType",
            f"is {document.get('predicateType')!r}, not {PREDICATE_TYPE}",
            _REATTEST,
        )
    return document
