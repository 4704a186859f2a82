"""Raw data fetched over HTTP by preprocess (reprotrain.netio), from a loopback server."""

from __future__ import annotations

import functools
import threading
import time
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import yaml
from helpers import DATA, config_override, read_json, snakemake

# Where the split of the HTTP-fetched version goes.
HTTP_DATA = DATA.replace("/v1.0/", "/v1.0-http/")


RAW = "data/breast_cancer/v1.0/breast_cancer.csv"


class QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format, *args):
        pass


@pytest.fixture
def http_server(tmp_path):
    """Serve a directory on 127.0.0.1 for one test; yields (base URL, served directory)."""
    served = tmp_path / "served"
    served.mkdir()
    handler = functools.partial(QuietHandler, directory=str(served))
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}", served
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


def register_http_version(repo: Path, url: str) -> list[str]:
    """Register breast_cancer v1.0-http with the same sha256 as v1.0, fetched from ``url``."""
    registry = yaml.safe_load((repo / "config/datasets.yaml").read_text())
    entry = dict(registry["datasets"]["breast_cancer"]["v1.0"], source=url)
    registry["datasets"]["breast_cancer"]["v1.0-http"] = entry
    (repo / "config/datasets-http.yaml").write_text(yaml.safe_dump(registry))
    return config_override(
        repo,
        "http",
        {
            "registry": "config/datasets-http.yaml",
            "dataset": {"name": "breast_cancer", "version": "v1.0-http"},
        },
    )


def test_http_source_is_fetched_verified_and_split_like_the_local_file(
    scratch_repo, http_server, default_run
):
    base, served = http_server
    (served / "breast_cancer.csv").write_bytes((scratch_repo / RAW).read_bytes())
    # `..` segments in the URL name no place on disk: nothing is stored by the URL's path.
    url = f"{base}/a/../breast_cancer.csv"
    config = register_http_version(scratch_repo, url)
    snakemake(scratch_repo, f"{HTTP_DATA}/data.json", *config)
    assert not (scratch_repo / ".snakemake/storage").exists()
    record = read_json(scratch_repo / f"{HTTP_DATA}/data.json")
    assert record["source"] == url
    assert record["sha256"] == read_json(default_run / DATA / "data.json")["sha256"]
    for table in ("train.npy", "test.npy"):
        fetched = (scratch_repo / HTTP_DATA / table).read_bytes()
        assert fetched == (default_run / DATA / table).read_bytes()


def test_corrupt_http_download_is_refused_and_not_kept_as_good(
    scratch_repo, http_server, default_run
):
    base, served = http_server
    good = (scratch_repo / RAW).read_bytes()
    (served / "breast_cancer.csv").write_bytes(good.replace(b"17.99", b"71.99", 1))
    config = register_http_version(scratch_repo, f"{base}/breast_cancer.csv")
    run = snakemake(scratch_repo, f"{HTTP_DATA}/data.json", *config, check=False)
    assert run.returncode != 0
    assert "sha256: content does not match the registry" in run.output
    assert not (scratch_repo / f"{HTTP_DATA}/train.npy").exists()
    assert not (scratch_repo / f"{HTTP_DATA}/data.json").exists()
    # The server is repaired: the next run fetches again and succeeds.
    (served / "breast_cancer.csv").write_bytes(good)
    snakemake(scratch_repo, f"{HTTP_DATA}/data.json", *config)
    train = (scratch_repo / HTTP_DATA / "train.npy").read_bytes()
    assert train == (default_run / DATA / "train.npy").read_bytes()


@pytest.mark.pipeline
def test_unreachable_http_source_fails_clearly(scratch_repo, http_server):
    base, _ = http_server
    config = register_http_version(scratch_repo, f"{base}/missing.csv")
    run = snakemake(scratch_repo, f"{HTTP_DATA}/data.json", *config, check=False)
    assert run.returncode != 0
    assert f"{base}/missing.csv: answered HTTP 404" in run.output
    assert "Traceback" not in run.output
    assert not (scratch_repo / f"{HTTP_DATA}/train.npy").exists()


@pytest.mark.pipeline
def test_a_silent_server_neither_hangs_a_dry_run_nor_a_run(scratch_repo):
    """A server that accepts and never answers: the dry run does not contact it (the
    download is preprocess's), and the run ends after network.connect_timeout."""
    import socket

    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        url = f"http://127.0.0.1:{silent.getsockname()[1]}/breast_cancer.csv"
        config = register_http_version(scratch_repo, url)
        (scratch_repo / "config/http.yaml").write_text(
            (scratch_repo / "config/http.yaml").read_text()
            + "network: {connect_timeout: 1, read_timeout: 1}\n"
        )
        started = time.monotonic()
        snakemake(scratch_repo, f"{HTTP_DATA}/data.json", *config, "--dry-run")
        run = snakemake(scratch_repo, f"{HTTP_DATA}/data.json", *config, check=False)
        assert time.monotonic() - started < 60
    assert run.returncode != 0
    assert f"{url}: did not answer within 1 s (network.connect_timeout)" in run.output
    assert not (scratch_repo / f"{HTTP_DATA}/train.npy").exists()
