"""The one network layer: a raw table served over http(s), read as a bounded stream.

Every read has a deadline: connecting, each read, and a least rate once the first read
timeout has passed (a server that drips a byte a second never finishes a table, and is
stopped). Redirects are followed up to a bound, to http(s) only. Nothing is written
anywhere: the stream goes straight into preprocess's verified copy
(reprotrain.ml.data.verified_copy), so no URL, however its path is spelled (``..``
segments, encoded slashes), names a place on disk. Every failure is one ReprotrainError
naming the URL and the fix. Only the standard library: it runs in the rules' locked
environment.
"""

from __future__ import annotations

import http.client
import socket
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import IO, Any
from urllib.parse import urlsplit

from reprotrain.errors import ReprotrainError


@dataclass(frozen=True)
class Limits:
    """How long a download may wait; the config's `network` (a test shortens them)."""

    connect_timeout: float = 10.0  # seconds to connect (and for the response head)
    read_timeout: float = 30.0  # seconds any one read may wait
    min_rate: float = 1024.0  # bytes per second, on average, once read_timeout has passed
    max_redirects: int = 5

    @classmethod
    def from_dict(cls, fields: dict[str, Any] | None) -> Limits:
        return cls(**(fields or {}))


def _refusal(url: str, problem: str, fix: str) -> ReprotrainError:
    return ReprotrainError(url, None, problem, fix)


_SILENT = "did not answer within {:g} s (network.connect_timeout)"
_FIX = "check the URL and that the server serves it (or register a copy under data/)"


def check_url(url: str) -> None:
    try:
        parts = urlsplit(url)
        port = parts.port  # a port that is not a number raises here
    except ValueError as error:
        raise _refusal(url, f"is not a valid URL ({error})", _FIX) from None
    if parts.scheme not in {"http", "https"} or not parts.hostname or port == 0:
        raise _refusal(url, "is not an http(s) URL with a host", _FIX)
    if any(ord(character) < 33 for character in url):
        raise _refusal(url, "holds a space or a control character", "percent-encode it")


def _redirects(limit: int) -> urllib.request.HTTPRedirectHandler:
    """Redirects followed up to ``limit``, to http(s) only; the same URL twice is a loop."""
    return type("Redirects", (_Redirects,), {"max_redirections": limit, "max_repeats": 1})()


def _scheme(url: str) -> str:
    try:
        return urlsplit(url).scheme
    except ValueError:
        return "unparsable"


class _Redirects(urllib.request.HTTPRedirectHandler):
    def redirect_request(
        self, req: Any, fp: Any, code: int, msg: str, headers: Any, newurl: str
    ) -> Any:
        if _scheme(newurl) not in {"http", "https"}:
            raise _refusal(req.full_url, f"redirects to {newurl}, which is not http(s)", _FIX)
        return super().redirect_request(req, fp, code, msg, headers, newurl)


class _Paced:
    """A response read with a least rate: past ``read_timeout`` seconds, a body arriving
    slower than ``min_rate`` bytes per second on average is stopped."""

    def __init__(self, response: Any, url: str, limits: Limits) -> None:
        self.response, self.url, self.limits = response, url, limits
        self.started = time.monotonic()
        self.received = 0
        length = response.getheader("Content-Length")
        self.length = int(length) if length and length.isdigit() else None

    def read(self, size: int = -1) -> bytes:
        try:
            # read1: what one receive brings, so that the pace is checked as bytes come
            # (read(n) would wait for n bytes however slowly they drip).
            chunk = self.response.read1(size if size > 0 else 1 << 16)
        except TimeoutError:
            raise _refusal(
                self.url,
                f"sent nothing for {self.limits.read_timeout:g} s (network.read_timeout)",
                _FIX,
            ) from None
        except (OSError, http.client.HTTPException) as error:
            raise _refusal(self.url, f"the download broke off: {error}", _FIX) from None
        self.received += len(chunk)
        if not chunk and self.length is not None and self.received < self.length:
            raise _refusal(
                self.url,
                f"the download broke off after {self.received} of {self.length} bytes",
                _FIX,
            )
        elapsed = time.monotonic() - self.started
        if elapsed > self.limits.read_timeout and self.received / elapsed < self.limits.min_rate:
            raise _refusal(
                self.url,
                f"sends {self.received / elapsed:.0f} bytes/s after {elapsed:.0f} s, below "
                f"network.min_rate ({self.limits.min_rate:g} bytes/s): the download stalls",
                _FIX,
            )
        return bytes(chunk)

    def close(self) -> None:
        self.response.close()

    def __enter__(self) -> _Paced:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def open_url(url: str, limits: Limits = Limits()) -> IO[bytes]:
    """A readable stream of the body at ``url`` (status 200), within ``limits``."""
    check_url(url)
    opener = urllib.request.build_opener(_redirects(limits.max_redirects))
    # The bytes as registered: no transfer compression to undo (and no bomb to bound).
    request = urllib.request.Request(
        url, headers={"User-Agent": "reprotrain", "Accept-Encoding": "identity"}
    )
    try:
        response = opener.open(request, timeout=limits.connect_timeout)
    except urllib.error.HTTPError as error:
        error.close()
        location = str(error.headers.get("Location") or "") if error.headers else ""
        if 300 <= error.code < 400 and _scheme(location) not in {"", "http", "https"}:
            problem = f"redirects to {location}, which is not http(s)"
        elif 300 <= error.code < 400:
            problem = f"redirects more than {limits.max_redirects} times, or in a loop"
        else:
            problem = f"answered HTTP {error.code} {error.reason}"
        raise _refusal(url, problem, _FIX) from None
    except urllib.error.URLError as error:
        reason = error.reason
        if isinstance(reason, TimeoutError | socket.timeout):
            problem = _SILENT.format(limits.connect_timeout)
        elif isinstance(reason, ConnectionRefusedError):
            problem = "refused the connection (nothing listens there)"
        elif isinstance(reason, socket.gaierror):
            problem = f"names a host that does not resolve ({reason.strerror})"
        else:
            problem = f"could not be reached: {reason}"
        raise _refusal(url, problem, _FIX) from None
    except TimeoutError:
        raise _refusal(url, _SILENT.format(limits.connect_timeout), _FIX) from None
    except (OSError, http.client.HTTPException, ValueError) as error:
        raise _refusal(url, f"could not be fetched: {error}", _FIX) from None
    if response.status != 200:
        response.close()
        raise _refusal(url, f"answered HTTP {response.status}, not 200 with the table", _FIX)
    # From here on each read waits at most read_timeout.
    sock = getattr(getattr(getattr(response, "fp", None), "raw", None), "_sock", None)
    if sock is not None:
        sock.settimeout(limits.read_timeout)
    return _Paced(response, url, limits)  # type: ignore[return-value]
