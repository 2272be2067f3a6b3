"""Talking raw HTTP/1.1 to a running `covetpy run`: a response parser and assertions.

A refused request must get exactly one answer with the exact status code, and the connection
must then be closed by the server: once framing is in doubt nothing after it may be read as a
request (RFC 9112 §9.6, §11.2), so bytes smuggled after a rejected message are never answered.
"""

from __future__ import annotations

import re
import socket
import subprocess
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

from tests.conftest import RunningServer, spawn

# ---------------------------------------------------------------------------------------------
# The server under test
# ---------------------------------------------------------------------------------------------


LIMIT_ARGS = (
    "--header-timeout", "1",
    "--body-timeout", "1",
    "--keep-alive-timeout", "1",
    "--max-body-size", "1024",
    "--max-request-line", "256",
    "--max-header-bytes", "2048",
    "--max-headers", "20",
)  # fmt: skip


MAX_BODY = 1024
MAX_REQUEST_LINE = 256
MAX_HEADER_BYTES = 2048
MAX_HEADERS = 20


def launch(app: str = "tests.apps.basic:app", *args: str) -> RunningServer:
    """Starts `covetpy run APP ARGS...` with one worker and waits until it serves."""
    server = spawn(app, "--workers", "1", *args)
    if not server.ready.wait(30) or server.proc.poll() is not None:
        stop(server)
        raise AssertionError(f"server did not start; log:\n{server.log}")
    return server


def stop(server: RunningServer) -> None:
    """SIGTERM, then SIGKILL if it does not exit; waits for the log to be read."""
    try:
        server.stop(timeout=15)
    except subprocess.TimeoutExpired:
        server.proc.kill()
        server.wait()


# ---------------------------------------------------------------------------------------------
# Talking to it
# ---------------------------------------------------------------------------------------------


TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
STATUS_LINE = re.compile(r"HTTP/1\.1 (\d{3}) ([\t !-~\x80-\xff]*)")
IMF_FIXDATE = re.compile(
    r"(Mon|Tue|Wed|Thu|Fri|Sat|Sun), \d{2} "
    r"(Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) \d{4} \d{2}:\d{2}:\d{2} GMT"
)
HELLO = b"Hello, World!"
JSON_BODY = b'{"message":"hi","n":[1,2,3]}'


@dataclass
class Response:
    """One parsed response."""

    status: int
    headers: list[tuple[str, str]]
    body: bytes

    def get(self, name: str) -> str | None:
        """First value of the field `name` (case-insensitive), or None."""
        values = self.all(name)
        return values[0] if values else None

    def all(self, name: str) -> list[str]:
        return [v for n, v in self.headers if n == name.lower()]


class Reader:
    """Parses responses one by one from a socket (or from bytes already read)."""

    def __init__(self, sock: socket.socket | None = None, data: bytes = b"", timeout: float = 5):
        self.sock = sock
        self.buf = data
        if sock is not None:
            sock.settimeout(timeout)

    def _fill(self) -> bool:
        if self.sock is None:
            return False
        chunk = self.sock.recv(65536)
        self.buf += chunk
        return bool(chunk)

    def _take(self, n: int) -> bytes:
        while len(self.buf) < n:
            if not self._fill():
                raise ConnectionError(f"closed after {len(self.buf)} of {n} bytes: {self.buf!r}")
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def _until(self, sep: bytes) -> bytes:
        while sep not in self.buf:
            if not self._fill():
                raise ConnectionError(f"closed before {sep!r}; got {self.buf!r}")
        out, _, self.buf = self.buf.partition(sep)
        return out

    def response(self, head_only: bool = False) -> Response:
        """Reads exactly one response; `head_only` for the answer to a HEAD request."""
        head = self._until(b"\r\n\r\n").decode("latin-1")
        status_line, *lines = head.split("\r\n")
        m = STATUS_LINE.fullmatch(status_line)
        assert m, f"bad status line {status_line!r}"
        headers = []
        for line in lines:
            name, colon, value = line.partition(":")
            assert colon and TOKEN.fullmatch(name), f"bad field line {line!r}"
            headers.append((name.lower(), value.strip(" \t")))
        r = Response(int(m.group(1)), headers, b"")
        te, cl = r.all("transfer-encoding"), r.all("content-length")
        # RFC 9112 §6.2: a sender MUST NOT send Content-Length with Transfer-Encoding.
        assert not (te and cl), f"both Content-Length and Transfer-Encoding: {head!r}"
        assert len(cl) <= 1, head
        if r.status < 200 or r.status in (204, 304):
            # RFC 9110 §8.6: no Content-Length in 1xx and 204 responses.
            assert not cl or r.status == 304, head
            return r
        if head_only:
            return r
        if te:
            assert te == ["chunked"], head
            r.body = self._chunked()
        elif cl:
            r.body = self._take(int(cl[0]))
        else:
            while self._fill():
                pass
            r.body, self.buf = self.buf, b""
        return r

    def _chunked(self) -> bytes:
        body = b""
        while True:
            size = int(self._until(b"\r\n").split(b";")[0], 16)
            if size == 0:
                while self._until(b"\r\n"):
                    pass
                return body
            body += self._take(size)
            assert self._take(2) == b"\r\n"

    def at_close(self) -> bool:
        """Whether the peer closed with nothing more to read (times out if it stays open)."""
        if self.buf:
            return False
        try:
            return not self._fill()
        except ConnectionResetError:
            return True


@dataclass
class Exchange:
    """What came back for bytes sent on a fresh connection."""

    data: bytes
    closed: bool
    elapsed: float
    head_only: Sequence[bool] = field(default_factory=tuple)

    @property
    def count(self) -> int:
        """How many responses started in what was read."""
        return self.data.count(b"HTTP/1.1 ")

    def responses(self) -> list[Response]:
        reader = Reader(data=self.data)
        out = []
        while reader.buf:
            head_only = len(out) < len(self.head_only) and self.head_only[len(out)]
            out.append(reader.response(head_only))
        return out


# How long a test waits for the server to close a connection. Generous: it only keeps a broken
# server from hanging the suite (30 times the 1 s timeouts); a close that comes sooner ends it.
CLOSE_WAIT = 30.0


def read_to_close(sock: socket.socket, timeout: float = CLOSE_WAIT) -> tuple[bytes, bool]:
    """Reads until the server closes (True) or `timeout` passes without that (False)."""
    sock.settimeout(timeout)
    chunks = []
    deadline = time.monotonic() + timeout
    try:
        while True:
            sock.settimeout(max(deadline - time.monotonic(), 0.001))
            chunk = sock.recv(65536)
            if not chunk:
                return b"".join(chunks), True
            chunks.append(chunk)
    except TimeoutError:
        return b"".join(chunks), False
    except ConnectionResetError:
        return b"".join(chunks), True


def talk(
    server: RunningServer,
    data: bytes,
    timeout: float = CLOSE_WAIT,
    head_only: Sequence[bool] = (),
) -> Exchange:
    """Sends `data` on a new connection and reads until the server closes it."""
    with server.connect() as s:
        start = time.monotonic()
        s.sendall(data)
        got, closed = read_to_close(s, timeout)
        return Exchange(got, closed, time.monotonic() - start, head_only)


def assert_refused(server: RunningServer, data: bytes, status: int) -> Response:
    """`data` gets exactly one response with `status`, after which the server closes."""
    ex = talk(server, data)
    assert ex.closed, f"connection left open after {ex.data!r}"
    assert ex.count == 1, f"expected one response, got {ex.data!r}"
    (r,) = ex.responses()
    assert r.status == status, ex.data
    assert r.get("connection") == "close", ex.data
    return r


def assert_served(server: RunningServer, data: bytes, status: int = 200) -> Response:
    """`data` (ending with a `Connection: close` request) gets one response with `status`."""
    ex = talk(server, data)
    assert ex.closed, ex.data
    assert ex.count == 1, ex.data
    (r,) = ex.responses()
    assert r.status == status, ex.data
    return r


def assert_alive(server: RunningServer) -> None:
    """The server process runs and answers a plain GET on a new connection."""
    assert server.proc.poll() is None, f"server exited; log:\n{server.log}"
    r = assert_served(server, b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    assert r.body == HELLO


def statuses(ex: Exchange) -> list[int]:
    return [r.status for r in ex.responses()]


def post_chunked(chunks: bytes, target: bytes = b"/echo") -> bytes:
    return (
        b"POST " + target + b" HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
        b"Transfer-Encoding: chunked\r\n\r\n" + chunks
    )


def post_length(length: bytes, body: bytes = b"", extra: bytes = b"") -> bytes:
    return (
        b"POST /echo HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
        + extra
        + b"Content-Length: "
        + length
        + b"\r\n\r\n"
        + body
    )


def get(target: bytes = b"/", extra: bytes = b"", version: bytes = b"HTTP/1.1") -> bytes:
    return (
        b"GET "
        + target
        + b" "
        + version
        + b"\r\nHost: x\r\nConnection: close\r\n"
        + extra
        + b"\r\n"
    )


SMUGGLED = b"GET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n"


def request_line_of(length: int) -> bytes:
    """A GET for /files/aaa... whose request line (without CRLF) is `length` bytes."""
    fixed = len(b"GET /files/ HTTP/1.1")
    return b"GET /files/" + b"a" * (length - fixed) + b" HTTP/1.1"


def assert_timed_out(ex: Exchange) -> Response:
    assert ex.closed, f"not closed within the read timeout; got {ex.data!r}"
    # Not before the 1 s timeout; that it fired at all is `closed` (within CLOSE_WAIT).
    assert ex.elapsed >= 0.8, ex.elapsed
    assert ex.count == 1, ex.data
    (r,) = ex.responses()
    assert r.status == 408
    assert r.get("connection") == "close"
    return r
