"""Signed records: only the holder of the private key can make a record that a configured
public key accepts; a manifest forged and resealed without it is refused everywhere."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml
from helpers import (
    BIN,
    MODEL,
    config_override,
    copy_repo,
    rewrite_model_and_card,
    snakemake,
)

from reprotrain.errors import ReprotrainError
from reprotrain.records import manifest, signing

RECORD = "config/manifest.json"


@pytest.fixture
def signed_record(tmp_path, keys) -> Path:
    """A copy of the shipped record, signed."""
    record = tmp_path / "manifest.json"
    shutil.copy(RECORD, record)
    signing.sign(record, keys[0])
    return record


def forge(record: Path) -> None:
    """What someone without the key does: change an entry, recompute the integrity."""
    document = json.loads(record.read_text())
    document["files"][f"{MODEL}/metrics.json"]["sha256"] = "0" * 64
    del document["integrity"]
    manifest.write(record, document | {"integrity": manifest.integrity(document)})


def refusal(record: Path, public: Path) -> ReprotrainError:
    with pytest.raises(ReprotrainError) as error:
        manifest.load(record, "recorded manifest", public_key=public)
    return error.value


def test_a_signed_record_loads(signed_record, keys):
    loaded = manifest.load(signed_record, "recorded manifest", public_key=keys[1])
    assert loaded == json.loads(Path(RECORD).read_text())


def test_the_private_key_is_private_and_never_overwritten(keys):
    private, public = keys
    assert private.stat().st_mode & 0o077 == 0
    assert b"BEGIN PUBLIC KEY" in public.read_bytes()
    with pytest.raises(ReprotrainError, match="already exists"):
        signing.generate(private, public.with_suffix(".other"))


def test_a_forged_and_resealed_record_is_refused(signed_record, keys):
    forge(signed_record)
    manifest.load(signed_record, "recorded manifest")  # the integrity digest alone accepts it
    error = refusal(signed_record, keys[1])
    assert error.field == "signature"
    assert "does not verify with" in error.problem
    assert "record --sign" in error.fix


def test_a_record_signed_by_another_key_is_refused(signed_record, tmp_path):
    other = tmp_path / "other.pub"
    signing.generate(tmp_path / "other.key", other)
    error = refusal(signed_record, other)
    assert "is signed by key" in error.problem and str(other) in error.problem


def test_an_unsigned_record_is_refused_when_a_key_is_configured(tmp_path, keys):
    record = tmp_path / "manifest.json"
    shutil.copy(RECORD, record)
    error = refusal(record, keys[1])
    assert "is not signed" in error.problem


@pytest.mark.parametrize(
    "content",
    ["{", "[]", '{"payloadType": "x", "signatures": []}', '{"signatures": [1]}'],
    ids=["not-json", "not-an-envelope", "other-type", "bad-entries"],
)
def test_a_malformed_signature_file_is_refused_by_name(signed_record, keys, content):
    signing.signature_path(signed_record).write_text(content)
    error = refusal(signed_record, keys[1])
    assert error.file == f"{signed_record}.sig"


def test_a_signature_that_is_not_base64_is_refused(signed_record, keys):
    sig = signing.signature_path(signed_record)
    envelope = json.loads(sig.read_text())
    envelope["signatures"][0]["sig"] = "not base64!"
    sig.write_text(json.dumps(envelope))
    assert "does not verify" in refusal(signed_record, keys[1]).problem


def test_a_key_that_is_not_an_ed25519_public_key_is_refused(signed_record, keys, tmp_path):
    error = refusal(signed_record, keys[0])  # the private key given as the public one
    assert error.file == str(keys[0]) and "not a PEM public key" in error.problem
    missing = refusal(signed_record, tmp_path / "absent.pub")
    assert "does not exist" in missing.problem


def test_the_signature_is_over_the_dsse_encoding_of_the_exact_bytes(signed_record, keys):
    from cryptography.hazmat.primitives import serialization

    envelope = json.loads(signing.signature_path(signed_record).read_text())
    assert envelope["payloadType"] == signing.PAYLOAD_TYPE
    public = serialization.load_pem_public_key(keys[1].read_bytes())
    import base64

    public.verify(
        base64.b64decode(envelope["signatures"][0]["sig"]),
        b"DSSEv1 %d %s %d %s"
        % (
            len(signing.PAYLOAD_TYPE),
            signing.PAYLOAD_TYPE.encode(),
            len(signed_record.read_bytes()),
            signed_record.read_bytes(),
        ),
    )


@pytest.mark.pipeline
def test_signed_records_end_to_end(default_run, tmp_path):
    """keygen, record --sign and a configured key: the run, check and verify accept the
    signed record and refuse it once forged and resealed; record insists on --sign."""
    repo = shutil.copytree(default_run, tmp_path / "repo", symlinks=True)
    private = tmp_path / "offline/record.key"

    def cli(*args):
        return subprocess.run(
            [str(BIN / "reprotrain"), *args], cwd=repo, capture_output=True, text=True
        )

    assert cli("keygen", "--private", str(private)).returncode == 0
    config = repo / "config/config.yaml"
    settings = yaml.safe_load(config.read_text())
    settings["manifest"]["public_key"] = "config/record-signing.pub"
    config.write_text(yaml.safe_dump(settings))
    unsigned = cli("record")
    assert unsigned.returncode == 2
    assert "manifest.public_key: records in config/manifest.json must be signed" in unsigned.stderr
    assert cli("record", "--sign", str(private)).returncode == 0
    assert snakemake(repo).returncode == 0
    assert cli("check").returncode == 0
    assert cli("verify", RECORD).returncode == 0

    forge(repo / RECORD)
    run = snakemake(repo, check=False)
    assert run.returncode != 0
    assert f"{RECORD}: signature: does not verify with config/record-signing.pub" in run.output
    assert "Traceback" not in run.output
    for args in (["check"], ["verify", RECORD]):
        done = cli(*args)
        assert done.returncode == 2
        assert "signature: does not verify" in done.stderr


def test_a_seal_holds_only_for_the_bytes_sealed_with_this_directory_key(tmp_path):
    key, sealed = tmp_path / ".snakemake/seal.key", tmp_path / "model.seal"
    signing.make_seal_key(key)
    assert key.stat().st_mode & 0o077 == 0 and len(key.read_bytes()) == 32
    signing.make_seal_key(key)  # kept, not replaced
    signing.seal(b"model bytes", sealed, key)
    signing.check_seal(b"model bytes", "model.pkl", sealed, key)
    with pytest.raises(ReprotrainError, match="not the ones this directory's save job sealed"):
        signing.check_seal(b"other bytes", "model.pkl", sealed, key)
    with pytest.raises(ReprotrainError, match="no seal from this directory's save job"):
        signing.check_seal(b"model bytes", "model.pkl", tmp_path / "absent.seal", key)
    other = tmp_path / "other.key"
    signing.make_seal_key(other)
    with pytest.raises(ReprotrainError, match="not the ones"):
        signing.check_seal(b"model bytes", "model.pkl", sealed, other)


@pytest.mark.pipeline
def test_without_a_record_only_the_sealed_model_is_unpickled(tmp_path):
    """A recipe no manifest records (other hyperparameters): validate trusts the card only
    with save's seal, so a model and card rewritten together are refused unloaded."""
    repo = copy_repo(tmp_path / "repo")
    args = config_override(repo, "new", {"models": {"hist_gradient_boosting": {"max_iter": 40}}})
    metrics = f"{MODEL}/metrics.json"
    snakemake(repo, *args, "--", metrics)  # the sealed model validates
    rewrite_model_and_card(repo)
    run = snakemake(repo, *args, "--", metrics, check=False)
    assert run.returncode != 0
    assert f"{MODEL}/model.pkl: seal: refused to unpickle: its bytes are not the ones" in (
        run.output
    )
    assert "Traceback" not in run.output
    assert not (repo / "results/UNPICKLED").exists()
    assert not (repo / metrics).exists()
