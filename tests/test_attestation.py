"""Signed in-toto/SLSA attestations of a record: made from the manifest alone, verified
against the record's public key and the bytes on disk; a forged statement, another key or
changed outputs are refused."""

from __future__ import annotations

import base64
import json
import shutil
import subprocess
from pathlib import Path

import pytest
from helpers import BIN

from reprotrain.errors import ReprotrainError
from reprotrain.hashing import sha256_bytes
from reprotrain.records import attestation, manifest, signing

RECORD = "config/manifest.json"


@pytest.fixture
def project(tmp_path, monkeypatch) -> Path:
    """A project whose two outputs and record agree, with the shipped record's provenance."""
    root = tmp_path / "project"
    shipped = json.loads(Path(RECORD).read_text())
    files = {}
    for name, content in (("results/a/model.pkl", b"model"), ("results/metrics.json", b"{}")):
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(content)
        files[name] = {"sha256": sha256_bytes(content), "size": len(content)}
    document = {"files": files, "provenance": shipped["provenance"]}
    manifest.write(root / RECORD, document)
    monkeypatch.chdir(root)
    return root


def attest(keys) -> Path:
    return attestation.attest(json.loads(Path(RECORD).read_text()), RECORD, keys[0])


def payload_of(path: Path) -> dict:
    return json.loads(base64.b64decode(json.loads(path.read_text())["payload"]))


def test_an_attestation_verifies_and_names_every_output(project, keys):
    path = attest(keys)
    assert path == Path("config/manifest.intoto.jsonl")
    assert attestation.verify(path, keys[1], ".", RECORD) == []
    statement = payload_of(path)
    assert statement["_type"] == "https://in-toto.io/Statement/v1"
    assert statement["predicateType"] == "https://slsa.dev/provenance/v1"
    assert {s["name"]: s["digest"]["sha256"] for s in statement["subject"]} == {
        name: entry["sha256"]
        for name, entry in json.loads(Path(RECORD).read_text())["files"].items()
    }
    byproduct = statement["predicate"]["runDetails"]["byproducts"][0]
    assert byproduct == {
        "name": RECORD,
        "digest": {"sha256": sha256_bytes(Path(RECORD).read_bytes())},
    }
    dependencies = statement["predicate"]["buildDefinition"]["resolvedDependencies"]
    assert "data/breast_cancer/v1.0/breast_cancer.csv" in [d["name"] for d in dependencies]


def test_the_same_record_gives_the_same_bytes(project, keys):
    first = attest(keys).read_bytes()
    assert attest(keys).read_bytes() == first  # ed25519 signatures are deterministic


def test_the_signature_is_standard_dsse_over_the_statement(project, keys):
    """Any DSSE verifier can check it: the signature is over the PAE of the payload."""
    from cryptography.hazmat.primitives import serialization

    envelope = json.loads(attest(keys).read_text())
    payload = base64.b64decode(envelope["payload"])
    public = serialization.load_pem_public_key(keys[1].read_bytes())
    kind = envelope["payloadType"].encode()
    public.verify(
        base64.b64decode(envelope["signatures"][0]["sig"]),
        b"DSSEv1 %d %s %d %s" % (len(kind), kind, len(payload), payload),
    )


def test_a_tampered_subject_is_refused(project, keys):
    path = attest(keys)
    envelope = json.loads(path.read_text())
    statement = payload_of(path)
    statement["subject"][0]["digest"]["sha256"] = "0" * 64
    envelope["payload"] = base64.b64encode(json.dumps(statement).encode()).decode()
    path.write_text(json.dumps(envelope) + "\n")
    with pytest.raises(ReprotrainError) as error:
        attestation.verify(path, keys[1], ".", RECORD)
    assert error.value.field == "signatures"
    assert "does not verify with" in error.value.problem


def test_another_key_is_refused(project, keys, tmp_path):
    path = attest(keys)
    other = tmp_path / "other.pub"
    signing.generate(tmp_path / "other.key", other)
    with pytest.raises(ReprotrainError, match=r"is signed by key .*, not by"):
        attestation.verify(path, other, ".", RECORD)


def test_changed_outputs_and_another_manifest_are_named(project, keys):
    path = attest(keys)
    Path("results/metrics.json").write_text('{"accuracy": 1}')
    Path("results/a/model.pkl").unlink()
    record = json.loads(Path(RECORD).read_text())
    manifest.write(RECORD, record | {"extra": 1})
    problems = attestation.verify(path, keys[1], ".", RECORD)
    assert any(p.startswith("tampered      results/metrics.json") for p in problems)
    assert "missing       results/a/model.pkl" in problems
    assert any(
        p.startswith(f"{RECORD}: not the manifest this attestation was made from") for p in problems
    )


@pytest.mark.parametrize(
    "content, problem",
    [
        ("", "holds 0 lines"),
        ("{}\n", "is not a DSSE envelope"),
        ('{"payload": "e30=", "payloadType": "text/plain", "signatures": []}\n', "not an in-toto"),
    ],
    ids=["empty", "not-an-envelope", "other-payload-type"],
)
def test_a_malformed_attestation_is_refused_by_name(project, keys, content, problem):
    path = Path("config/manifest.intoto.jsonl")
    path.write_text(content)
    with pytest.raises(ReprotrainError, match=problem) as error:
        attestation.verify(path, keys[1], ".", RECORD)
    assert error.value.file == str(path)


def cli(repo: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(BIN / "reprotrain"), *args], cwd=repo, capture_output=True, text=True
    )


def test_record_attests_only_with_a_key(project):
    done = cli(project, "record", "--run", RECORD, "--to", "config/other.json", "--attest")
    assert done.returncode == 2
    assert (
        "config/other.json: --attest: an attestation is signed with the record's key" in done.stderr
    )
    assert not Path("config/other.json").exists()


@pytest.mark.pipeline
def test_record_attest_and_verify_end_to_end(default_run, tmp_path):
    """record --sign --attest on a real run; verify accepts it, then refuses a forged
    attestation, and a later unsigned record removes the attestation it made stale."""
    repo = shutil.copytree(default_run, tmp_path / "repo", symlinks=True)
    private = tmp_path / "offline/record.key"
    assert cli(repo, "keygen", "--private", str(private)).returncode == 0
    recorded = cli(repo, "record", "--sign", str(private), "--attest")
    assert recorded.returncode == 0, recorded.stderr
    assert "attested: config/manifest.intoto.jsonl" in recorded.stdout
    verify = ["verify", RECORD, "--public-key", "config/record-signing.pub"]
    attested = [*verify, "--attestation", "config/manifest.intoto.jsonl"]
    done = cli(repo, *attested)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "is signed for config/record-signing.pub and attests them" in done.stdout
    assert (
        cli(repo, "verify", RECORD, "--attestation", "config/manifest.intoto.jsonl").returncode == 2
    )

    bundle = repo / "config/manifest.intoto.jsonl"
    envelope = json.loads(bundle.read_text())
    statement = json.loads(base64.b64decode(envelope["payload"]))
    statement["subject"][0]["digest"]["sha256"] = "f" * 64
    envelope["payload"] = base64.b64encode(json.dumps(statement).encode()).decode()
    bundle.write_text(json.dumps(envelope) + "\n")
    forged = cli(repo, *attested)
    assert forged.returncode == 2
    assert "signatures: does not verify with config/record-signing.pub" in forged.stderr

    assert cli(repo, "record").returncode == 0
    assert not bundle.exists() and not (repo / f"{RECORD}.sig").exists()
