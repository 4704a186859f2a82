"""Every parser of user-controlled bytes, as a fuzz target: bytes in, and either success
or one ReprotrainError out. Any other exception, or an input that runs past the fuzzer's
timeout, is a defect. Run by atheris (tools/fuzz.py, `make fuzz`) and, briefly, by the
tests (tests/test_fuzz.py)."""

from __future__ import annotations

import atexit
import dataclasses
import hashlib
import io
import json
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

from reprotrain import datasets, fileio, netio, yamlfile
from reprotrain.driver import config_schema
from reprotrain.errors import ReprotrainError

REPO = Path(__file__).resolve().parents[2]
SCHEMAS = REPO / "workflow/schemas"
# One scratch folder per process: each input is written to the same few files. It goes
# when the process ends through Python (libFuzzer ends the fuzzer's own with C's exit, so
# tests/test_fuzz.py gives it a TMPDIR of its own).
SCRATCH = Path(tempfile.mkdtemp(prefix="reprotrain-fuzz-"))
atexit.register(shutil.rmtree, SCRATCH, ignore_errors=True)


def _file(name: str, data: bytes) -> Path:
    path = SCRATCH / name
    path.write_bytes(data)
    return path


def config(data: bytes) -> None:
    """A config file or overlay: strict YAML, then the config schema."""
    path = _file("config.yaml", data)
    document = yamlfile.load(path, "config file")
    from reprotrain.driver.plan import SCHEMA_COMPLETIONS

    config_schema.check(
        document,
        SCHEMAS / "config.schema.yaml",
        str(path),
        complete=SCHEMA_COMPLETIONS["config.schema.yaml"],
    )


def registry(data: bytes) -> None:
    """A dataset registry: strict YAML, its schema, then every entry resolved."""
    path = _file("datasets.yaml", data)
    document = datasets.load_yaml(path, "dataset registry")
    config_schema.check(document, SCHEMAS / "datasets.schema.yaml", str(path))
    datasets.check_schemas(document, str(path))
    for name, versions in document["datasets"].items():
        for version in versions:
            datasets.resolve(document, name, version, str(path))


_TABLE = datasets.Dataset(
    name="fuzz",
    version="v1",
    kind="file",
    schema=datasets.TableSchema.from_dict(
        {
            "columns": [
                {"name": "a", "type": "numeric", "categories": []},
                {"name": "b", "type": "categorical", "categories": ["x", "y"]},
            ],
            "target": "t",
            "classes": ["0", "1"],
            "task": "classification",
        }
    ),
    source="raw.csv",
)


def csv(data: bytes) -> None:
    """A raw table whose bytes are the registered ones (an attacker's registry and data
    together): verified copy, parse, schema check, encoding."""
    from reprotrain.ml import data as tables

    entry = dataclasses.replace(_TABLE, sha256=hashlib.sha256(data).hexdigest())
    copy = tables.verified_copy(io.BytesIO(data), "raw.csv", entry, "registry")
    tables.read_raw_table("raw.csv", entry, "registry", copy)


def manifest(data: bytes) -> None:
    from reprotrain.records import manifest as manifests

    document = manifests.load(_file("manifest.json", data), "run manifest")
    manifests.inconsistencies(document)


def card(data: bytes) -> None:
    from reprotrain.steps import learning

    learning._read_card(str(_file("model_card.json", data)))


def verdict(data: bytes) -> None:
    """A checksum verdict, as the crate reads it beside a run manifest."""
    from reprotrain.interop import crate

    run = _file("run-manifest.json", b"{}")
    crate._verdict_of_this_run(_file("checksum.json", data), run)


_KEYS: dict[str, Path] = {}


def _public_key() -> Path:
    if not _KEYS:
        from reprotrain.records import signing

        signing.generate(SCRATCH / "record.key", SCRATCH / "record.pub")
        _KEYS["public"] = SCRATCH / "record.pub"
    return _KEYS["public"]


def signature(data: bytes) -> None:
    """A detached signature beside a manifest."""
    from reprotrain.records import signing

    manifest_path = _file("signed.json", b"{}\n")
    _file("signed.json.sig", data)
    signing.verify(manifest_path, b"{}\n", _public_key())


def attestation(data: bytes) -> None:
    from reprotrain.records import attestation as attestations

    attestations.verify(_file("attestation.intoto.jsonl", data), _public_key(), SCRATCH)


def json_record(data: bytes) -> None:
    fileio.parse_json(data, "record.json", "record", "fix it")


def url(data: bytes) -> None:
    netio.check_url(data.decode("utf-8", errors="replace"))


TARGETS: dict[str, Callable[[bytes], None]] = {
    "config": config,
    "registry": registry,
    "csv": csv,
    "manifest": manifest,
    "card": card,
    "verdict": verdict,
    "signature": signature,
    "attestation": attestation,
    "json": json_record,
    "url": url,
}


def run(name: str, data: bytes) -> None:
    """One input: success or one ReprotrainError, which is how a bad input ends."""
    try:
        TARGETS[name](data)
    except ReprotrainError as error:
        assert error.problem, error  # one message: what is wrong ...
        assert error.fix, error  # ... and the fix


def seeds(name: str) -> list[bytes]:
    """Real inputs to start from, so that the fuzzer mutates well-formed documents."""

    def read(path: str) -> bytes:
        return (REPO / path).read_bytes()

    card_seed = {
        "model": {"sha256": "0" * 64, "type": "t", "random_state": 1},
        "data": {"name": "d", "version": "v"},
    }
    return {
        "config": [read("config/config.yaml"), read("config/sweep.yaml")],
        "registry": [read("config/datasets.yaml")],
        "csv": [
            b"a,b,t\n1.5,x,0\n2,y,1\n,x,1\n",
            read("data/breast_cancer/v1.0/breast_cancer.csv")[:2000],
        ],
        "manifest": [read("config/manifest.json")],
        "card": [json.dumps(card_seed).encode()],
        "verdict": [b'{"matches": "config/manifest.json", "run_manifest_sha256": "00"}'],
        "signature": [b'{"payloadType": "x", "signatures": [{"keyid": "k", "sig": "AAAA"}]}'],
        "attestation": [
            b'{"payload": "e30=", "signatures": [], '
            b'"payloadType": "application/vnd.in-toto+json"}\n'
        ],
        "json": [read("config/manifest.json")[:4000], b'{"a": [1, 2.5, "x", null, true]}'],
        "url": [b"https://example.org/data/raw.csv", b"http://127.0.0.1:8080/a%2F..%2Fb.csv"],
    }[name]
