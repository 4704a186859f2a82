"""The network layer against a real HTTP server on loopback that misbehaves in generated
ways: silent, dripping, redirecting in chains and loops, cut short, erring, or not there.
Whatever it does, a download ends within its bounds with the body or one ReprotrainError
that names the URL, and never writes anywhere."""

from __future__ import annotations

import re
import socket
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from reprotrain import netio
from reprotrain.errors import ReprotrainError

BODY = b"a,b,target\n" + b"1,2,0\n" * 2000
LIMITS = netio.Limits(connect_timeout=0.5, read_timeout=0.5, min_rate=4096, max_redirects=3)
# The most any one download may take with LIMITS: connecting, then reading until the
# least rate must hold, plus one read timeout and slack for a loaded machine.
BOUND = 4.0


class Misbehaving(BaseHTTPRequestHandler):
    """/ok, /silent, /drip, /short, /status/<code>, /redirect/<n> (n hops to /ok),
    /loop, /elsewhere (to a non-http scheme)."""

    def log_message(self, format: str, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        parts = self.path.strip("/").split("/")
        match parts:
            case ["ok"]:
                self._body(BODY)
            case ["silent"]:
                time.sleep(3)
            case ["drip"]:
                self.send_response(200)
                self.send_header("Content-Length", str(len(BODY)))
                self.end_headers()
                for byte in BODY[:40]:
                    self.wfile.write(bytes([byte]))
                    self.wfile.flush()
                    time.sleep(0.1)
            case ["short"]:
                self.send_response(200)
                self.send_header("Content-Length", str(len(BODY)))
                self.end_headers()
                self.wfile.write(BODY[:100])
            case ["status", code]:
                self.send_response(int(code))
                self.end_headers()
            case ["redirect", hops]:
                self._redirect("/ok" if int(hops) <= 1 else f"/redirect/{int(hops) - 1}")
            case ["loop"]:
                self._redirect("/loop")
            case ["elsewhere"]:
                self._redirect("file:///etc/passwd")
            case _:
                self.send_response(404)
                self.end_headers()

    def _body(self, body: bytes) -> None:
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _redirect(self, location: str) -> None:
        self.send_response(302)
        self.send_header("Location", location)
        self.send_header("Content-Length", "0")
        self.end_headers()


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Misbehaving)
    httpd.daemon_threads = True
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_port}"
    finally:
        httpd.shutdown()
        httpd.server_close()


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


behaviour = st.one_of(
    st.sampled_from(["ok", "silent", "drip", "short", "loop", "elsewhere", "nowhere"]),
    st.integers(min_value=1, max_value=6).map(lambda hops: f"redirect/{hops}"),
    st.sampled_from([204, 301, 403, 404, 500, 503]).map(lambda code: f"status/{code}"),
)


@settings(max_examples=25, deadline=None)
@given(path=behaviour)
def test_a_download_ends_within_its_bounds_with_the_body_or_one_message(server, path):
    url = f"{server}/{path}" if path != "nowhere" else f"http://127.0.0.1:{_closed_port()}/x"
    started = time.monotonic()
    try:
        with netio.open_url(url, LIMITS) as stream:
            received = b"".join(iter(lambda: stream.read(1 << 16), b""))
    except ReprotrainError as error:
        assert error.file == url
        assert error.problem and error.fix
        assert path != "ok" and not (path.startswith("redirect/") and int(path[9:]) <= 3)
    else:
        assert received == BODY
        assert path == "ok" or path.startswith("redirect/")
    assert time.monotonic() - started < BOUND


@pytest.mark.parametrize(
    ("path", "problem"),
    [
        ("silent", "did not answer within 0.5 s (network.connect_timeout)"),
        ("drip", "below network.min_rate"),
        ("loop", "redirects more than 3 times, or in a loop"),
        ("redirect/4", "redirects more than 3 times, or in a loop"),
        ("elsewhere", "which is not http(s)"),
        ("status/404", "answered HTTP 404"),
        ("short", "the download broke off"),
    ],
)
def test_each_way_a_server_fails_is_named(server, path, problem):
    def download() -> None:
        with netio.open_url(f"{server}/{path}", LIMITS) as stream:
            while stream.read(1 << 16):
                pass

    with pytest.raises(ReprotrainError, match=re.escape(problem)):
        download()


def test_a_refused_connection_names_the_url_without_a_traceback():
    url = f"http://127.0.0.1:{_closed_port()}/data.csv"
    with pytest.raises(ReprotrainError) as refused:
        netio.open_url(url, LIMITS)
    assert refused.value.message.startswith(f"{url}: refused the connection")
