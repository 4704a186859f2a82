"""Signed records: an offline ed25519 key signs a recorded manifest, the repository holds
the public key, and every reader checks the signature before it trusts the record.

The integrity digest inside a manifest only shows accidental damage: anyone can recompute
it. A signature can only be made with the private key, which never enters the repository
or a run. It is detached, beside the manifest (``<manifest>.sig``), in the shape of a DSSE
envelope without its payload: the signature is over DSSE's pre-authentication encoding of
the manifest's exact bytes with ``PAYLOAD_TYPE``, so a manifest cannot be re-read as any
other kind of signed document. Keys are PEM files (PKCS#8 private, SubjectPublicKeyInfo
public), readable by OpenSSL and every common library.

cryptography is imported only here and only when a key is in use: the rule environment
(the conda solve) does not hold it, so signatures are checked by the driver.

Seals cover what no record covers yet: a model whose recipe has no recorded manifest. save
writes an HMAC of model.pkl under a key private to the working directory
(``SEAL_KEY``, 32 random bytes, mode 0600, made by the driver) into its log directory, and
validate unpickles only bytes whose HMAC matches. Whoever can write results/ and logs/ but
cannot read that key cannot make a model validate will load. The seal is random per
working directory, so it lives with the logs, never in a covered output.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
import secrets
from pathlib import Path
from typing import Any

from reprotrain import fileio
from reprotrain.errors import ReprotrainError
from reprotrain.fileio import atomic_write_bytes, canonical_json
from reprotrain.hashing import sha256_bytes

PAYLOAD_TYPE = "application/vnd.reprotrain.manifest+json"
_RESIGN = (
    "restore the manifest and its signature (git checkout), or have the holder of the "
    "private key record and sign it again: `reprotrain record --sign <private key>`"
)


SEAL_KEY = ".snakemake/reprotrain-seal.key"
_RESEAL = "delete the model and its card and rerun: save makes and seals them again"


def _create_private(file: Path, data: bytes) -> None:
    """Write a secret to a new file only its owner can read (never over an existing one)."""
    file.parent.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(data)
    except OSError:
        file.unlink(missing_ok=True)
        raise


def make_seal_key(path: str | Path = SEAL_KEY) -> None:
    """Create the working directory's sealing key once (the driver does, before any job)."""
    file = Path(path)
    if file.exists():
        return
    try:
        _create_private(file, secrets.token_bytes(32))
    except FileExistsError:
        return  # another driver made it first
    except OSError as error:
        raise ReprotrainError(
            file, None, f"cannot be written: {error.strerror}", "free space and rerun"
        ) from None


def _seal_key(path: str | Path) -> bytes:
    key = fileio.read_bytes(path, limit=1024, what="sealing key", fix=_RESEAL)
    if len(key) != 32:
        raise ReprotrainError(path, None, "is not a sealing key (32 bytes)", _RESEAL)
    return key


def _seal_of(data: bytes, key_path: str | Path) -> str:
    return hmac.new(_seal_key(key_path), data, hashlib.sha256).hexdigest()


def seal(data: bytes, seal_out: str | Path, key_path: str | Path = SEAL_KEY) -> None:
    """Write the HMAC-SHA256 of ``data`` under the working directory's key."""
    atomic_write_bytes(seal_out, f"{_seal_of(data, key_path)}\n".encode("ascii"))


def _recorded_seal(seal_path: str | Path) -> str | None:
    try:
        return fileio.read_text(seal_path, limit=1024, what="seal").strip()
    except ReprotrainError:
        return None


def sealed(data: bytes, seal_path: str | Path, key_path: str | Path = SEAL_KEY) -> bool:
    """Whether ``data`` carries the seal at ``seal_path`` (False when there is none)."""
    recorded = _recorded_seal(seal_path)
    return recorded is not None and hmac.compare_digest(_seal_of(data, key_path), recorded)


def check_seal(
    data: bytes,
    subject: str | Path,
    seal_path: str | Path,
    key_path: str | Path = SEAL_KEY,
    job: str = "save",
    refused: str = "refused to unpickle",
) -> None:
    """Refuse ``data`` (read once by the caller) unless its seal is the one ``job`` wrote."""
    if _recorded_seal(seal_path) is None:
        raise ReprotrainError(
            subject,
            "seal",
            f"{refused}: no seal from this directory's {job} job ({seal_path}), "
            "and no recorded manifest records it",
            _RESEAL,
        )
    if not sealed(data, seal_path, key_path):
        raise ReprotrainError(
            subject,
            "seal",
            f"{refused}: its bytes are not the ones this directory's {job} job "
            f"sealed ({seal_path}), and no recorded manifest records them",
            _RESEAL,
        )


def signature_path(manifest_path: str | Path) -> Path:
    return Path(f"{manifest_path}.sig")


def pae(payload_type: str, payload: bytes) -> bytes:
    """DSSE v1 pre-authentication encoding: what is signed, type and length bound in."""
    kind = payload_type.encode("utf-8")
    return b"DSSEv1 %d %s %d %s" % (len(kind), kind, len(payload), payload)


def _raw_public_bytes(public_key: Any) -> bytes:
    from cryptography.hazmat.primitives import serialization

    return public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def key_id(public_key: Any) -> str:
    """sha256 of the raw 32-byte public key: names the key in a signature."""
    return sha256_bytes(_raw_public_bytes(public_key))


def generate(private_path: str | Path, public_path: str | Path) -> str:
    """A new key pair; the private file is created 0600 and never overwritten."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    private_file = Path(private_path)
    for path in (private_file, Path(public_path)):
        if path.exists():
            raise ReprotrainError(
                path, None, "already exists", "choose another path, or remove it on purpose"
            )
    key = Ed25519PrivateKey.generate()
    private_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    _create_private(private_file, private_pem)
    public_pem = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    atomic_write_bytes(public_path, public_pem)
    return key_id(key.public_key())


def load_key(path: str | Path, private: bool) -> Any:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ed25519

    file = Path(path)
    what = "private" if private else "public"
    fix = (
        "give the ed25519 key `reprotrain keygen` wrote"
        if private
        else "point manifest.public_key at the ed25519 public key (PEM) the records are signed for"
    )
    data = fileio.read_bytes(file, limit=1 << 16, what=f"{what} key", fix=fix)
    try:
        key: Any = (
            serialization.load_pem_private_key(data, password=None)
            if private
            else serialization.load_pem_public_key(data)
        )
        wanted: type = ed25519.Ed25519PrivateKey if private else ed25519.Ed25519PublicKey
    except (ValueError, TypeError) as error:
        raise ReprotrainError(file, None, f"is not a PEM {what} key: {error}", fix) from None
    if not isinstance(key, wanted):
        raise ReprotrainError(file, None, f"is not an ed25519 {what} key", fix)
    return key


def check_private_key(private_key_path: str | Path) -> None:
    """Refuse an unusable private key before anything is recorded with it."""
    load_key(private_key_path, private=True)


def sign(manifest_path: str | Path, private_key_path: str | Path) -> Path:
    """Write the detached signature of the manifest's bytes beside it."""
    key = load_key(private_key_path, private=True)
    payload = fileio.read_bytes(manifest_path, what="manifest")
    envelope = {
        "payloadType": PAYLOAD_TYPE,
        "payloadSha256": sha256_bytes(payload),
        "signatures": [
            {
                "keyid": key_id(key.public_key()),
                "sig": base64.b64encode(key.sign(pae(PAYLOAD_TYPE, payload))).decode("ascii"),
            }
        ],
    }
    path = signature_path(manifest_path)
    atomic_write_bytes(path, canonical_json(envelope).encode("utf-8"))
    return path


def verify(manifest_path: str | Path, payload: bytes, public_key_path: str | Path) -> None:
    """Refuse ``payload`` (the manifest's bytes, as read once by the caller) unless the
    signature beside the manifest verifies with the configured public key."""
    from cryptography.exceptions import InvalidSignature

    key = load_key(public_key_path, private=False)
    wanted = key_id(key)
    sig_file = signature_path(manifest_path)
    if not sig_file.exists() and not sig_file.is_symlink():
        raise ReprotrainError(
            manifest_path,
            "signature",
            f"is not signed ({sig_file} does not exist), and records must be signed for "
            f"{public_key_path}",
            _RESIGN,
        )
    envelope = fileio.read_json(sig_file, limit=1 << 20, what="signature file", fix=_RESIGN)
    signatures = envelope.get("signatures") if isinstance(envelope, dict) else None
    if (
        not isinstance(signatures, list)
        or envelope.get("payloadType") != PAYLOAD_TYPE
        or not all(isinstance(item, dict) for item in signatures)
    ):
        raise ReprotrainError(
            sig_file, "signatures", f"is not a {PAYLOAD_TYPE} signature envelope", _RESIGN
        )
    ours = [item for item in signatures if item.get("keyid") == wanted]
    if not ours:
        found = ", ".join(str(item.get("keyid"))[:12] for item in signatures) or "none"
        raise ReprotrainError(
            manifest_path,
            "signature",
            f"is signed by key {found}, not by {public_key_path} ({wanted[:12]})",
            _RESIGN,
        )
    for item in ours:
        try:
            key.verify(
                base64.b64decode(str(item.get("sig")), validate=True), pae(PAYLOAD_TYPE, payload)
            )
            return
        except (InvalidSignature, binascii.Error, ValueError):
            continue
    raise ReprotrainError(
        manifest_path,
        "signature",
        f"does not verify with {public_key_path}: the manifest was changed after it was "
        "signed, by someone without the private key",
        _RESIGN,
    )
