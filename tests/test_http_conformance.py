"""End-to-end HTTP/1.1 conformance: raw bytes on a socket against a running `covetpy run`.

Every test names the part of RFC 9110 (semantics) or RFC 9112 (HTTP/1.1 messaging) it pins.
A refused request must get exactly one answer with the exact status code, and the connection
must then be closed by the server: once framing is in doubt nothing after it may be read as a
request (RFC 9112 §9.6, §11.2), so bytes smuggled after a rejected message are never answered.
After every test the server must still answer a plain GET on a new connection.

The server runs once per module with the limits of the `server` fixture in conftest: 1 s
header/body/keep-alive timeouts, 1024-byte bodies, a 256-byte request line, a 2048-byte head
and at most 20 header fields.
"""

from __future__ import annotations

import json
import re
import select
import socket
import subprocess
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

import pytest

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


@pytest.fixture(scope="module")
def server() -> Iterator[RunningServer]:
    """One basic-app server for the whole module (overrides conftest's per-test `server`)."""
    s = launch("tests.apps.basic:app", *LIMIT_ARGS)
    yield s
    stop(s)


@pytest.fixture(autouse=True)
def _server_still_alive(server: RunningServer) -> Iterator[None]:
    """Whatever a test sent, the server must still answer a normal request afterwards."""
    yield
    assert_alive(server)


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


def read_to_close(sock: socket.socket, timeout: float = 5.0) -> tuple[bytes, bool]:
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
    timeout: float = 5.0,
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

# ---------------------------------------------------------------------------------------------
# Message framing: Content-Length and Transfer-Encoding (RFC 9112 §6)
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "fields",
    [
        b"Content-Length: 5\r\nTransfer-Encoding: chunked\r\n",
        b"Transfer-Encoding: chunked\r\nContent-Length: 5\r\n",
        b"Content-Length: 0\r\nTransfer-Encoding: chunked\r\n",
        b"Content-Length: 41\r\nTransfer-Encoding: chunked\r\n",
    ],
    ids=["cl-first", "te-first", "cl-zero", "cl-covers-smuggled"],
)
def test_rfc9112_6_3_content_length_with_transfer_encoding_is_400(
    server: RunningServer, fields: bytes
) -> None:
    """RFC 9112 §6.3 item 3: both present may be smuggling; we reject it and close, so the
    request hidden after the chunked body is never answered."""
    data = b"POST /echo HTTP/1.1\r\nHost: x\r\n" + fields + b"\r\n0\r\n\r\n" + SMUGGLED
    assert_refused(server, data, 400)


@pytest.mark.parametrize(
    "fields",
    [
        b"Content-Length: 3\r\nContent-Length: 4\r\n",
        b"Content-Length: 3\r\nContent-Length: 3\r\n",
        b"Content-Length: 1,1\r\n",
        b"Content-Length: 3, 4\r\n",
        b"Content-Length: -1\r\n",
        b"Content-Length: +5\r\n",
        b"Content-Length: 0x10\r\n",
        b"Content-Length: 1 0\r\n",
        b"Content-Length: \r\n",
        b"Content-Length: 00000000000000000005\r\n",
        b"Content-Length: 99999999999999999999\r\n",
        b"Content-Length: 5a\r\n",
        b"Content-Length: 1.0\r\n",
    ],
    ids=[
        "differing-duplicates",
        "equal-duplicates",
        "list-1,1",
        "list-3,4",
        "negative",
        "plus-sign",
        "hex",
        "inner-space",
        "empty",
        "20-digits",
        "20-digits-overflow",
        "trailing-letter",
        "decimal-point",
    ],
)
def test_rfc9110_8_6_invalid_content_length_is_400(server: RunningServer, fields: bytes) -> None:
    """RFC 9110 §8.6 (Content-Length = 1*DIGIT) and RFC 9112 §6.3 item 5: an invalid or
    multiple-valued length is unrecoverable; 400 and close, the bytes after it unread."""
    data = b"POST /echo HTTP/1.1\r\nHost: x\r\n" + fields + b"\r\nabcde" + SMUGGLED
    assert_refused(server, data, 400)


@pytest.mark.parametrize("value", [b"005", b" 5 ", b"\t5"], ids=["leading-zeros", "ows", "htab"])
def test_rfc9110_8_6_content_length_digits_with_ows_are_valid(
    server: RunningServer, value: bytes
) -> None:
    """RFC 9110 §8.6: 1*DIGIT allows leading zeros; RFC 9110 §5.5: OWS around a value is not
    part of it."""
    r = assert_served(server, post_length(value, b"hello"))
    assert r.body == b"hello"


def test_rfc9112_6_3_body_of_a_get_is_consumed_not_parsed_as_a_request(
    server: RunningServer,
) -> None:
    """RFC 9112 §6.3 item 6: the Content-Length body of a GET is read and discarded; bytes
    inside it are never taken for the next request."""
    body = SMUGGLED
    data = (
        b"GET / HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n" % len(body)
        + body
        + get(b"/json")
    )
    ex = talk(server, data)
    assert ex.closed
    assert ex.count == 2, ex.data
    rs = ex.responses()
    assert [r.body for r in rs] == [HELLO, JSON_BODY]


@pytest.mark.parametrize(
    ("head", "status"),
    [(b"POST /nope", 404), (b"POST /", 405), (b"PUT /users/1", 405)],
    ids=["404", "405", "405-param-route"],
)
@pytest.mark.parametrize("chunked", [False, True], ids=["length", "chunked"])
def test_rfc9112_6_3_body_of_a_refused_route_is_consumed(
    server: RunningServer, head: bytes, status: int, chunked: bool
) -> None:
    """RFC 9112 §6.3: a 404/405 answer still reads the body its framing announces, so a request
    hidden inside the body is not answered and the next real request is (RFC 9112 §9.3)."""
    if chunked:
        framing = b"Transfer-Encoding: chunked\r\n\r\n"
        body = b"%x\r\n" % len(SMUGGLED) + SMUGGLED + b"\r\n0\r\n\r\n"
    else:
        framing = b"Content-Length: %d\r\n\r\n" % len(SMUGGLED)
        body = SMUGGLED
    data = head + b" HTTP/1.1\r\nHost: x\r\n" + framing + body + get()
    ex = talk(server, data)
    assert ex.closed
    assert ex.count == 2, ex.data
    first, second = ex.responses()
    assert first.status == status
    assert first.get("connection") is None
    assert second.status == 200
    assert second.body == HELLO


# ---------------------------------------------------------------------------------------------
# Chunked transfer coding (RFC 9112 §7.1)
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "chunks",
    [
        b"-1\r\nx\r\n0\r\n\r\n",
        b"+a\r\n0123456789\r\n0\r\n\r\n",
        b"0x5\r\nhello\r\n0\r\n\r\n",
        b"g\r\nhello\r\n0\r\n\r\n",
        b"5g\r\nhello\r\n0\r\n\r\n",
        b"00000000000000005\r\nhello\r\n0\r\n\r\n",
        b" 5\r\nhello\r\n0\r\n\r\n",
        b"\t5\r\nhello\r\n0\r\n\r\n",
        b"5 \r\nhello\r\n0\r\n\r\n",
        b"\r\nhello\r\n0\r\n\r\n",
        b"5;\r\nhello\r\n0\r\n\r\n",
        b"5;a=\r\nhello\r\n0\r\n\r\n",
        b'5;a="b\r\nhello\r\n0\r\n\r\n',
        b"5;a@b\r\nhello\r\n0\r\n\r\n",
    ],
    ids=[
        "negative",
        "plus-sign",
        "0x-prefix",
        "non-hex",
        "trailing-non-hex",
        "17-digits",
        "leading-space",
        "leading-htab",
        "trailing-space-without-ext",
        "empty-size",
        "empty-ext-name",
        "empty-ext-value",
        "unterminated-quoted-ext",
        "invalid-ext-char",
    ],
)
def test_rfc9112_7_1_invalid_chunk_size_line_is_400(server: RunningServer, chunks: bytes) -> None:
    """RFC 9112 §7.1: chunk-size = 1*HEXDIG, then [chunk-ext] CRLF; no sign, no prefix, no
    leading whitespace. More than 16 digits is refused (RFC 9112 §7.1: recipients must guard
    against overflow)."""
    assert_refused(server, post_chunked(chunks + SMUGGLED), 400)


@pytest.mark.parametrize(
    "chunks",
    [b"ffffffffffffffffff\r\nhello\r\n0\r\n\r\n", b"10000000000000000\r\nhello\r\n0\r\n\r\n"],
    ids=["18-digits", "2-pow-64"],
)
def test_rfc9112_7_1_chunk_size_that_would_overflow_is_413(
    server: RunningServer, chunks: bytes
) -> None:
    """RFC 9112 §7.1: a huge chunk size must not overflow. The server refuses as soon as the
    digits read so far exceed the 1024-byte body limit (RFC 9110 §15.5.14, 413), before the
    value could overflow a u64."""
    assert_refused(server, post_chunked(chunks + SMUGGLED), 413)


@pytest.mark.parametrize(
    "chunks",
    [
        b"5\r\nhelloX\r\n0\r\n\r\n",
        b"5\r\nhello0\r\n\r\n",
        b"5\r\nhello\n0\r\n\r\n",
        b"5\r\nhello\r0\r\n\r\n",
        b"3\r\nhello\r\n0\r\n\r\n",
    ],
    ids=["extra-byte", "no-crlf", "bare-lf", "bare-cr", "size-too-small"],
)
def test_rfc9112_7_1_chunk_data_not_followed_by_crlf_is_400(
    server: RunningServer, chunks: bytes
) -> None:
    """RFC 9112 §7.1: chunk = chunk-size [ chunk-ext ] CRLF chunk-data CRLF, exactly."""
    assert_refused(server, post_chunked(chunks + SMUGGLED), 400)


@pytest.mark.parametrize(
    "chunks",
    [
        b"5\nhello\r\n0\r\n\r\n",
        b"5;a=b\nhello\r\n0\r\n\r\n",
        b"5\r\nhello\r\n0\n\r\n",
        b"5\r\nhello\r\n0\r\n\n",
        b"5\r\nhello\r\n0\r\nX-T: 1\n\r\n",
        b"5\r\r\nhello\r\n0\r\n\r\n",
    ],
    ids=[
        "after-size",
        "after-ext",
        "after-last-chunk",
        "final-line",
        "after-trailer",
        "bare-cr-after-size",
    ],
)
def test_rfc9112_2_2_bare_lf_or_cr_in_chunked_framing_is_400(
    server: RunningServer, chunks: bytes
) -> None:
    """RFC 9112 §2.2, §7.1: chunked framing lines end in CRLF; a bare LF or CR is refused."""
    assert_refused(server, post_chunked(chunks + SMUGGLED), 400)


def test_rfc9112_7_1_valid_chunked_body_with_extensions_and_trailers(
    server: RunningServer,
) -> None:
    """RFC 9112 §7.1.1 (extensions ignored), §7.1.2 (trailers), §7.1.3 (decoding): the body is
    the concatenated chunk data, whatever the extensions and trailer fields."""
    chunks = (
        b'5;a=b;c="d\\"e";flag\r\nhello\r\n'
        b"1\r\n \r\n"
        b"A\r\nworld!!!!!\r\n"
        b"0;last=yes\r\n"
        b"X-Trailer: one\r\nX-Other:two\r\n\r\n"
    )
    r = assert_served(server, post_chunked(chunks))
    assert r.body == b"hello world!!!!!"


def test_rfc9112_7_1_empty_chunked_body(server: RunningServer) -> None:
    """RFC 9112 §7.1: a body of only the last-chunk is empty."""
    r = assert_served(server, post_chunked(b"0\r\n\r\n"))
    assert r.body == b""
    assert r.get("content-length") == "0"


@pytest.mark.parametrize(
    "chunks",
    [b"5 ;a=b\r\nhello\r\n0\r\n\r\n", b"5; a = b\r\nhello\r\n0\r\n\r\n"],
    ids=["bws-before-semicolon", "bws-around-equals"],
)
def test_rfc9112_7_1_1_bws_in_chunk_extension_is_accepted(
    server: RunningServer, chunks: bytes
) -> None:
    """RFC 9112 §7.1.1: chunk-ext = *( BWS ";" BWS chunk-ext-name [ BWS "=" BWS chunk-ext-val ] )
    and RFC 9110 §5.6.3: a recipient MUST parse BWS and remove it."""
    r = assert_served(server, post_chunked(chunks))
    assert r.body == b"hello"


@pytest.mark.parametrize(
    "trailers",
    [
        b"Bad Name: x\r\n",
        b"X-A : x\r\n",
        b"X-A: x\r\n folded\r\n",
        b": x\r\n",
        b"NoColon\r\n",
        b"X-A: a\x00b\r\n",
    ],
    ids=["space-in-name", "space-before-colon", "obs-fold", "empty-name", "no-colon", "nul"],
)
def test_rfc9112_7_1_2_invalid_trailer_field_is_400(server: RunningServer, trailers: bytes) -> None:
    """RFC 9112 §7.1.2: trailer fields have the syntax of header fields (RFC 9112 §5)."""
    assert_refused(server, post_chunked(b"5\r\nhello\r\n0\r\n" + trailers + b"\r\n"), 400)


def test_rfc6585_5_trailer_section_over_limit_is_431(server: RunningServer) -> None:
    """RFC 9112 §7.1.2 with RFC 6585 §5: trailers are bounded like the head (2048 bytes)."""
    trailers = b"X-A: " + b"a" * MAX_HEADER_BYTES + b"\r\n\r\n"
    assert_refused(server, post_chunked(b"0\r\n" + trailers), 431)


# ---------------------------------------------------------------------------------------------
# Transfer-Encoding values (RFC 9112 §6.1, §6.3)
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fields", "status"),
    [
        (b"Transfer-Encoding: gzip\r\n", 400),
        (b"Transfer-Encoding: identity\r\n", 400),
        (b"Transfer-Encoding: chunked, gzip\r\n", 400),
        (b"Transfer-Encoding: chunked\r\nTransfer-Encoding: gzip\r\n", 400),
        (b"Transfer-Encoding: chunked, chunked\r\n", 400),
        (b"Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n", 400),
        (b"Transfer-Encoding: chunked;a=b\r\n", 400),
        (b"Transfer-Encoding: xchunked\r\n", 400),
        (b"Transfer-Encoding: \x0bchunked\r\n", 400),
        (b"Transfer-Encoding: gzip, chunked\r\n", 501),
        (b"Transfer-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n", 501),
        (b"Transfer-Encoding: deflate, chunked\r\n", 501),
    ],
    ids=[
        "gzip",
        "identity",
        "chunked-gzip",
        "chunked-gzip-two-lines",
        "chunked-twice",
        "chunked-twice-two-lines",
        "chunked-with-parameter",
        "xchunked",
        "vertical-tab",
        "gzip-chunked",
        "gzip-chunked-two-lines",
        "deflate-chunked",
    ],
)
def test_rfc9112_6_1_transfer_encoding_values(
    server: RunningServer, fields: bytes, status: int
) -> None:
    """RFC 9112 §6.3 item 4: chunked not last in a request = length unknown: 400 and close.
    RFC 9112 §6.1: chunked MUST NOT be applied twice (400); a coding the server does not
    understand, with chunked last, gets 501."""
    data = b"POST /echo HTTP/1.1\r\nHost: x\r\n" + fields + b"\r\n0\r\n\r\n" + SMUGGLED
    assert_refused(server, data, status)


def test_rfc9112_7_transfer_coding_names_are_case_insensitive(server: RunningServer) -> None:
    """RFC 9112 §7: transfer-coding names are case-insensitive."""
    data = (
        b"POST /echo HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
        b"Transfer-Encoding: ChUnKeD\r\n\r\n3\r\nabc\r\n0\r\n\r\n"
    )
    assert assert_served(server, data).body == b"abc"


@pytest.mark.parametrize("value", [b", chunked", b"chunked,", b"chunked, ,"])
def test_rfc9110_5_6_1_empty_list_elements_in_transfer_encoding_are_ignored(
    server: RunningServer, value: bytes
) -> None:
    """RFC 9110 §5.6.1.2: a recipient MUST accept #list with empty elements and ignore them."""
    data = (
        b"POST /echo HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
        b"Transfer-Encoding: " + value + b"\r\n\r\n3\r\nabc\r\n0\r\n\r\n"
    )
    assert assert_served(server, data).body == b"abc"


def test_rfc9112_6_1_transfer_encoding_in_http10_is_400(server: RunningServer) -> None:
    """RFC 9112 §6.1: Transfer-Encoding in an HTTP/1.0 message means faulty framing: the server
    MUST treat it as such and close the connection after responding."""
    data = b"POST /echo HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n" + SMUGGLED
    assert_refused(server, data, 400)


# ---------------------------------------------------------------------------------------------
# Field syntax (RFC 9112 §2.2, §5; RFC 9110 §5.5)
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "data",
    [
        b"GET / HTTP/1.1\r\nHost: x\r\nX-A: b\r\n c\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: x\r\nX-A: b\r\n\tc\r\n\r\n",
        b"GET / HTTP/1.1\r\n Host: x\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: x\r\nX-A : b\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: x\r\nX-A\t: b\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost : x\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: x\r\nBad@Name: b\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: x\r\nNa me: b\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: x\r\nX(A): b\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: x\r\nX-\xe9: b\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: x\r\n: b\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: x\r\nNoColon\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: x\r\nX-A: a\rb\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: x\r\nX-A: ab\r\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: x\r\nX-A: a\x00b\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: x\r\nX-\x00: b\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: x\r\nX-A: a\x01b\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: x\r\nX-A: a\x7fb\r\n\r\n",
        b"GET / HTTP/1.1\nHost: x\n\n",
        b"GET / HTTP/1.1\r\nHost: x\nX-A: b\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: x\r\n\n",
        b"GET / HTTP/1.1\rHost: x\r\n\r\n",
        b"\nGET / HTTP/1.1\r\nHost: x\r\n\r\n",
    ],
    ids=[
        "obs-fold-sp",
        "obs-fold-htab",
        "space-before-first-field",
        "space-before-colon",
        "htab-before-colon",
        "space-before-colon-host",
        "at-in-name",
        "space-in-name",
        "parens-in-name",
        "non-ascii-in-name",
        "empty-name",
        "no-colon",
        "bare-cr-in-value",
        "cr-cr-lf",
        "nul-in-value",
        "nul-in-name",
        "ctl-in-value",
        "del-in-value",
        "bare-lf-everywhere",
        "bare-lf-one-line",
        "bare-lf-final-line",
        "bare-cr-request-line",
        "bare-lf-leading-empty-line",
    ],
)
def test_rfc9112_5_invalid_field_syntax_is_400(server: RunningServer, data: bytes) -> None:
    """RFC 9112 §5.1 (no whitespace between name and colon: MUST 400), §5.2 (obs-fold: MUST
    400 or replace), §2.2 (bare CR MUST be refused; we refuse bare LF as well), RFC 9110
    §5.1/§5.6.2 (names are tokens) and §5.5 (CR, LF, NUL and other CTLs are not field-vchar)."""
    assert_refused(server, data + SMUGGLED, 400)


def test_rfc9110_5_5_obs_text_in_a_field_value_is_accepted(server: RunningServer) -> None:
    """RFC 9110 §5.5: field-vchar includes obs-text (0x80-0xFF)."""
    assert assert_served(server, get(b"/", b"X-A: caf\xe9 \xff\r\n")).body == HELLO


# ---------------------------------------------------------------------------------------------
# Host (RFC 9112 §3.2)
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "data",
    [
        b"GET / HTTP/1.1\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: x\r\nHost: y\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: x\r\nHost: x\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: x\r\nhost: y\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: a b\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: user@x\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: x:99999\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: x:y\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: x/y\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: [::1\r\n\r\n",
        b"GET / HTTP/1.0\r\nHost: x\r\nHost: y\r\n\r\n",
        b"GET http://127.0.0.1/ HTTP/1.1\r\n\r\n",
    ],
    ids=[
        "missing",
        "two-differing",
        "two-equal",
        "two-case-differs",
        "space",
        "userinfo",
        "port-out-of-range",
        "port-not-digits",
        "slash",
        "unclosed-ipv6",
        "two-in-http10",
        "absolute-form-without-host",
    ],
)
def test_rfc9112_3_2_missing_duplicate_or_invalid_host_is_400(
    server: RunningServer, data: bytes
) -> None:
    """RFC 9112 §3.2: a server MUST respond 400 to an HTTP/1.1 request without Host (also when
    the target is in absolute-form), and to any request with more than one Host field line or
    an invalid Host value."""
    assert_refused(server, data + SMUGGLED, 400)


@pytest.mark.parametrize(
    "data",
    [
        b"GET / HTTP/1.0\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: \r\nConnection: close\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: [::1]:8080\r\nConnection: close\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: 127.0.0.1:80\r\nConnection: close\r\n\r\n",
        b"GET / HTTP/1.1\r\nHOST: example.com\r\nConnection: close\r\n\r\n",
    ],
    ids=["http10-without-host", "empty", "ipv6", "ipv4-port", "upper-case-name"],
)
def test_rfc9112_3_2_acceptable_host(server: RunningServer, data: bytes) -> None:
    """RFC 9112 §3.2: HTTP/1.0 requests need no Host; an empty Host is what a client sends for a
    target without authority; field names are case-insensitive (RFC 9110 §5.1)."""
    assert assert_served(server, data).body == HELLO


# ---------------------------------------------------------------------------------------------
# Request line (RFC 9112 §3, §2.3)
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("version", [b"HTTP/2.0", b"HTTP/1.2", b"HTTP/3.0", b"HTTP/0.9"])
def test_rfc9110_15_6_6_unsupported_version_is_505(server: RunningServer, version: bytes) -> None:
    """RFC 9112 §2.3 and RFC 9110 §15.6.6: a well-formed major/minor version the server does not
    speak gets 505."""
    assert_refused(server, b"GET / " + version + b"\r\nHost: x\r\n\r\n" + SMUGGLED, 505)


@pytest.mark.parametrize(
    "line",
    [
        b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03",
        b"garbage",
        b"GET /",
        b"GET / ",
        b"GET HTTP/1.1",
        b"GET  / HTTP/1.1",
        b"GET /  HTTP/1.1",
        b" GET / HTTP/1.1",
        b"GET / HTTP/1.1 ",
        b"GET\t/\tHTTP/1.1",
        b"GET / http/1.1",
        b"GET / HTTP/1.x",
        b"GET / HTTP/11",
        b"GET / FTP/1.1",
        b"G@T / HTTP/1.1",
        b"GET foo HTTP/1.1",
        b"GET * HTTP/1.1",
        b"GET ftp://x/ HTTP/1.1",
        b"GET http://user@x/ HTTP/1.1",
        b"GET http:/// HTTP/1.1",
        b"CONNECT /x HTTP/1.1",
        b"CONNECT x HTTP/1.1",
        b"GET /a b HTTP/1.1",
    ],
    ids=[
        "tls-client-hello",
        "one-word",
        "http09",
        "missing-version",
        "missing-target",
        "double-space-after-method",
        "double-space-after-target",
        "leading-space",
        "trailing-space",
        "htab-separators",
        "lower-case-version",
        "non-digit-minor",
        "no-dot",
        "other-protocol",
        "invalid-method-char",
        "relative-target",
        "asterisk-with-get",
        "ftp-scheme",
        "userinfo",
        "empty-authority",
        "connect-origin-form",
        "connect-without-port",
        "space-in-target",
    ],
)
def test_rfc9112_3_malformed_request_line_is_400(server: RunningServer, line: bytes) -> None:
    """RFC 9112 §3: request-line = method SP request-target SP HTTP-version, single SPs; §3.2:
    each target form only where it belongs (asterisk for OPTIONS, authority for CONNECT);
    RFC 9110 §4.2.4: userinfo in an http(s) URI is an error. Invalid: 400 (RFC 9112 §3)."""
    assert_refused(server, line + b"\r\nHost: x\r\n\r\n" + SMUGGLED, 400)


@pytest.mark.parametrize(
    ("target", "body"),
    [
        (b"http://127.0.0.1/", HELLO),
        (b"http://127.0.0.1", HELLO),
        (b"http://127.0.0.1:8080/json", JSON_BODY),
        (b"HTTP://EXAMPLE.com/json", JSON_BODY),
        (b"https://example.com/users/7?x=1", b'{"id":7}'),
        (b"http://127.0.0.1?q=1", HELLO),
    ],
    ids=["root", "no-path", "port", "upper-case-scheme", "https-with-query", "query-no-path"],
)
def test_rfc9112_3_2_2_absolute_form_is_accepted(
    server: RunningServer, target: bytes, body: bytes
) -> None:
    """RFC 9112 §3.2.2: a server MUST accept the absolute-form; an empty path means "/"."""
    assert assert_served(server, get(target)).body == body


def test_rfc9112_3_2_4_options_asterisk_is_not_400(server: RunningServer) -> None:
    """RFC 9112 §3.2.4: `OPTIONS *` is valid. The basic app has no server-wide OPTIONS
    handler, so it is pinned as a 404 that keeps the connection open (not a protocol error)."""
    with server.connect() as s:
        s.sendall(b"OPTIONS * HTTP/1.1\r\nHost: x\r\n\r\n")
        reader = Reader(s)
        r = reader.response()
        assert r.status == 404
        assert r.get("connection") is None
        s.sendall(get())
        assert reader.response().body == HELLO
        assert reader.at_close()


@pytest.mark.parametrize("target", [b"/#frag", b"/users/1#x", b"http://127.0.0.1/#"])
def test_rfc9110_4_2_5_fragment_in_target_is_400(server: RunningServer, target: bytes) -> None:
    """RFC 9110 §4.2.5 / RFC 9112 §3.2: the fragment is never part of a request-target."""
    assert_refused(server, b"GET " + target + b" HTTP/1.1\r\nHost: x\r\n\r\n", 400)


@pytest.mark.parametrize(
    "target",
    [b"/\xff", b"/names/\xc3", b"/names/\x80", b"/names/\xc3\x28", b"/names/\x7f"],
    ids=["ff", "truncated-sequence", "lone-continuation", "bad-continuation", "del"],
)
def test_rfc9112_3_2_non_utf8_target_byte_is_400(server: RunningServer, target: bytes) -> None:
    """RFC 9112 §3.2 / RFC 3986: a request-target is ASCII, and RFC 9112 §3 says an invalid
    request-line SHOULD get 400. Raw bytes that are not UTF-8 (and DEL) are refused that way
    (pinned: 400; raw but valid UTF-8 is currently accepted leniently and not pinned here)."""
    assert_refused(server, b"GET " + target + b" HTTP/1.1\r\nHost: x\r\n\r\n", 400)


def test_percent_encoded_non_utf8_path_segment_is_404(server: RunningServer) -> None:
    """A well-formed target whose percent-decoded segment is not UTF-8 matches no route: 404,
    and the connection stays usable (pinned behaviour)."""
    with server.connect() as s:
        s.sendall(b"GET /names/%ff HTTP/1.1\r\nHost: x\r\n\r\n")
        reader = Reader(s)
        r = reader.response()
        assert r.status == 404
        assert r.get("connection") is None
        s.sendall(b"GET /names/%C3%A9 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        r = reader.response()
        assert (r.status, r.body) == (200, "é".encode())
        assert reader.at_close()


@pytest.mark.parametrize("empty_lines", [1, 2])
def test_rfc9112_2_2_empty_lines_before_request_line_are_ignored(
    server: RunningServer, empty_lines: int
) -> None:
    """RFC 9112 §2.2: a server SHOULD ignore at least one empty line (CRLF) before the
    request-line."""
    assert assert_served(server, b"\r\n" * empty_lines + get()).body == HELLO


# ---------------------------------------------------------------------------------------------
# Limits (RFC 9112 §3 414, RFC 6585 §5 431, RFC 9110 §15.5.14 413)
# ---------------------------------------------------------------------------------------------


def request_line_of(length: int) -> bytes:
    """A GET for /files/aaa... whose request line (without CRLF) is `length` bytes."""
    fixed = len(b"GET /files/ HTTP/1.1")
    return b"GET /files/" + b"a" * (length - fixed) + b" HTTP/1.1"


def test_rfc9112_3_request_line_at_limit_is_served(server: RunningServer) -> None:
    """A request line of exactly the 256-byte limit is fine."""
    line = request_line_of(MAX_REQUEST_LINE)
    assert len(line) == MAX_REQUEST_LINE
    r = assert_served(server, line + b"\r\nHost: x\r\nConnection: close\r\n\r\n")
    assert r.body == b"a" * (MAX_REQUEST_LINE - len(b"GET /files/ HTTP/1.1"))


@pytest.mark.parametrize("terminated", [True, False], ids=["complete", "unterminated"])
def test_rfc9112_3_request_line_over_limit_is_414(server: RunningServer, terminated: bool) -> None:
    """RFC 9112 §3: a request-target longer than the server will parse gets 414 (RFC 9110
    §15.5.15) - also while the line is still arriving, without waiting for its end."""
    line = request_line_of(MAX_REQUEST_LINE + 1)
    data = line + b"\r\nHost: x\r\n\r\n" if terminated else line + b"a" * 100
    r = assert_refused(server, data, 414)
    assert r.body.startswith(b"414")


def head_of(size: int) -> bytes:
    """A GET / head of exactly `size` bytes, request line through the final CRLF."""
    base = b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\nX-Pad: \r\n\r\n"
    return base.replace(b"X-Pad: ", b"X-Pad: " + b"p" * (size - len(base)))


def test_rfc6585_5_header_section_at_limit_is_served(server: RunningServer) -> None:
    """A head of exactly the 2048-byte limit is fine."""
    data = head_of(MAX_HEADER_BYTES)
    assert len(data) == MAX_HEADER_BYTES
    assert assert_served(server, data).body == HELLO


@pytest.mark.parametrize("terminated", [True, False], ids=["complete", "unterminated"])
def test_rfc6585_5_header_section_over_limit_is_431(
    server: RunningServer, terminated: bool
) -> None:
    """RFC 6585 §5: 431 when the header section is too large - also while it is still
    arriving."""
    data = head_of(MAX_HEADER_BYTES + 1)
    if not terminated:
        data = data[: -len(b"\r\n\r\n")] + b"p" * 200
    assert_refused(server, data, 431)


def test_rfc6585_5_header_count_at_limit_is_served(server: RunningServer) -> None:
    """Exactly 20 header fields (Host and Connection included) are fine."""
    fields = b"".join(b"X-%d: v\r\n" % i for i in range(MAX_HEADERS - 2))
    assert assert_served(server, get(b"/", fields)).body == HELLO


def test_rfc6585_5_too_many_header_fields_is_431(server: RunningServer) -> None:
    """RFC 6585 §5: 431 for more header fields than the server accepts (20)."""
    fields = b"".join(b"X-%d: v\r\n" % i for i in range(MAX_HEADERS - 1))
    assert_refused(server, get(b"/", fields), 431)


def test_rfc9110_15_5_14_content_length_at_limit_is_served(server: RunningServer) -> None:
    body = bytes(range(256)) * (MAX_BODY // 256)
    r = assert_served(server, post_length(b"%d" % MAX_BODY, body))
    assert r.body == body


def test_rfc9110_15_5_14_content_length_over_limit_is_413_before_the_body(
    server: RunningServer,
) -> None:
    """RFC 9110 §15.5.14: a declared body over the 1024-byte limit gets 413 at once, without
    the server waiting for (or the client sending) the body."""
    with server.connect() as s:
        start = time.monotonic()
        s.sendall(b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 1025\r\n\r\n")
        data, closed = read_to_close(s, 5)
        elapsed = time.monotonic() - start
    assert closed
    assert elapsed < 0.5, "the 413 must not wait for the body or a timeout"
    assert data.count(b"HTTP/1.1 ") == 1
    (r,) = Exchange(data, closed, elapsed).responses()
    assert r.status == 413
    assert r.get("connection") == "close"


def test_rfc9110_15_5_14_chunked_body_at_limit_is_served(server: RunningServer) -> None:
    chunks = b"200\r\n" + b"a" * 512 + b"\r\n200\r\n" + b"b" * 512 + b"\r\n0\r\n\r\n"
    assert assert_served(server, post_chunked(chunks)).body == b"a" * 512 + b"b" * 512


@pytest.mark.parametrize(
    "chunks",
    [
        b"200\r\n" + b"a" * 512 + b"\r\n200\r\n" + b"b" * 512 + b"\r\n1\r\nc\r\n0\r\n\r\n",
        b"400\r\n" + b"a" * 1024 + b"\r\n1\r\n",
        b"401\r\n",
        b"100\r\n" + b"a" * 256 + b"\r\n301\r\n",
    ],
    ids=["third-chunk-crosses", "second-size-crosses", "first-size-over", "sum-of-sizes"],
)
def test_rfc9110_15_5_14_chunked_body_growing_over_limit_is_413(
    server: RunningServer, chunks: bytes
) -> None:
    """RFC 9110 §15.5.14: a chunked body is refused with 413 as soon as its chunk sizes add up
    to more than the limit, before that chunk's data is read."""
    assert_refused(server, post_chunked(chunks), 413)


# ---------------------------------------------------------------------------------------------
# Timeouts (RFC 9110 §15.5.9 408, RFC 9112 §9.5)
# ---------------------------------------------------------------------------------------------


def assert_timed_out(ex: Exchange) -> Response:
    assert ex.closed, f"not closed within the read timeout; got {ex.data!r}"
    assert 0.8 <= ex.elapsed <= 3.0, ex.elapsed
    assert ex.count == 1, ex.data
    (r,) = ex.responses()
    assert r.status == 408
    assert r.get("connection") == "close"
    return r


@pytest.mark.parametrize(
    "partial",
    [b"GET / HTTP/1.1\r\nHost: x\r\n", b"GET / HTTP/1.1", b"G", b"\r\n"],
    ids=["fields-unterminated", "request-line-only", "one-byte", "empty-line-only"],
)
def test_rfc9110_15_5_9_partial_head_then_silence_is_408(
    server: RunningServer, partial: bytes
) -> None:
    """RFC 9110 §15.5.9: the head did not arrive within the 1 s header timeout: 408 with
    `connection: close`, then the server closes."""
    assert_timed_out(talk(server, partial))


@pytest.mark.parametrize(
    "data",
    [
        b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nabc",
        b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\n",
        b"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhel",
        b"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n",
    ],
    ids=["length-short", "length-none", "chunk-data-short", "no-last-chunk"],
)
def test_rfc9110_15_5_9_incomplete_body_then_silence_is_408(
    server: RunningServer, data: bytes
) -> None:
    """RFC 9110 §15.5.9: the body did not arrive within the 1 s body timeout: 408 and close."""
    assert_timed_out(talk(server, data))


def trickle(sock: socket.socket, byte: bytes) -> bool:
    """Sends `byte` and pauses 50 ms; False once the server has answered or hung up."""
    readable, _, _ = select.select([sock], [], [], 0)
    if readable:
        return False
    try:
        sock.send(byte)
    except (BrokenPipeError, ConnectionResetError):
        return False
    time.sleep(0.05)
    return True


def test_rfc9110_15_5_9_trickled_head_still_times_out(server: RunningServer) -> None:
    """A head that keeps trickling in (slowloris) is bounded by the header timeout as a whole,
    not per byte: 408 after about 1 s although bytes keep arriving."""
    with server.connect() as s:
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        start = time.monotonic()
        line = b"GET / HTTP/1.1\r\nHost: x\r\nX-Slow: " + b"a" * 100
        for byte in line:
            if not trickle(s, bytes([byte])) or time.monotonic() - start > 3.5:
                break
        data, closed = read_to_close(s, 5)
        elapsed = time.monotonic() - start
    assert_timed_out(Exchange(data, closed, elapsed))


def test_rfc9110_15_5_9_trickled_body_still_times_out(server: RunningServer) -> None:
    """The body timeout bounds the whole body, not the gap between bytes."""
    with server.connect() as s:
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        start = time.monotonic()
        s.sendall(b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n")
        for _ in range(70):
            if not trickle(s, b"a"):
                break
        data, closed = read_to_close(s, 5)
        elapsed = time.monotonic() - start
    assert_timed_out(Exchange(data, closed, elapsed))


def test_rfc9112_9_5_idle_keep_alive_connection_is_closed_silently(
    server: RunningServer,
) -> None:
    """RFC 9112 §9.5: a server may close an idle persistent connection at any time; between
    requests it does so after the 1 s keep-alive timeout and sends nothing (no 408)."""
    with server.connect() as s:
        s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        reader = Reader(s)
        r = reader.response()
        assert (r.status, r.body, r.get("connection")) == (200, HELLO, None)
        start = time.monotonic()
        data, closed = read_to_close(s, 5)
        elapsed = time.monotonic() - start
    assert closed
    assert data == b""
    assert 0.8 <= elapsed <= 3.0, elapsed


def test_rfc9112_9_5_connection_that_sends_nothing_is_closed(server: RunningServer) -> None:
    """RFC 9112 §9.5: a connection that never sends a request is closed within ~3 s, with at
    most one 408 (RFC 9110 §15.5.9) and nothing else."""
    with server.connect() as s:
        start = time.monotonic()
        data, closed = read_to_close(s, 5)
        elapsed = time.monotonic() - start
    assert closed
    assert elapsed <= 3.0
    if data:
        assert_timed_out(Exchange(data, closed, elapsed))


def test_rfc9110_15_5_9_partial_second_request_on_keep_alive_connection_is_408(
    server: RunningServer,
) -> None:
    """After a complete exchange, a second head that stops halfway gets 408 about 1 s after its
    first byte arrived (the header timeout, not the keep-alive timeout)."""
    with server.connect() as s:
        s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        reader = Reader(s)
        assert reader.response().status == 200
        time.sleep(0.5)
        start = time.monotonic()
        s.sendall(b"GET / HTTP/1.1\r\nHost:")
        data, closed = read_to_close(s, 5)
        elapsed = time.monotonic() - start
    assert_timed_out(Exchange(data, closed, elapsed))


def test_rfc9112_9_3_2_pipelined_head_completed_while_handler_runs_is_not_timed_out(
    server: RunningServer,
) -> None:
    """RFC 9112 §9.3.2: pipelined requests are answered in order. Here the second head arrives
    in two parts 50 ms apart while the first request's handler (/slow) takes 1 s - longer than
    the 1 s header timeout. The head was complete long before any timeout, so both requests
    must be answered 200. Twelve connections run in parallel: the bug this pins (header timer
    running during the wait, unbiased select) lost the race about half the time."""
    socks = [server.connect() for _ in range(12)]
    try:
        for s in socks:
            s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            s.sendall(b"GET /slow HTTP/1.1\r\nHost: x\r\n\r\nGET / HTTP/1.1\r\n")
        time.sleep(0.05)
        for s in socks:
            s.sendall(b"Host: x\r\nConnection: close\r\n\r\n")
        results = [read_to_close(s, 5) for s in socks]
    finally:
        for s in socks:
            s.close()
    got = [statuses(Exchange(data, closed, 0)) for data, closed in results]
    assert got == [[200, 200]] * len(socks)


# ---------------------------------------------------------------------------------------------
# Persistence (RFC 9112 §9.3)
# ---------------------------------------------------------------------------------------------


def test_rfc9112_9_3_several_requests_on_one_connection(server: RunningServer) -> None:
    """RFC 9112 §9.3: HTTP/1.1 connections persist by default; each request gets its answer."""
    with server.connect() as s:
        reader = Reader(s)
        for target, body in [
            (b"/", HELLO),
            (b"/json", JSON_BODY),
            (b"/users/3", b'{"id":3}'),
            (b"/sleep", b"slept"),
            (b"/", HELLO),
        ]:
            s.sendall(b"GET " + target + b" HTTP/1.1\r\nHost: x\r\n\r\n")
            r = reader.response()
            assert (r.status, r.body, r.get("connection")) == (200, body, None)
        s.sendall(b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc")
        assert reader.response().body == b"abc"
        s.sendall(post_chunked(b"2\r\nde\r\n0\r\n\r\n"))
        r = reader.response()
        assert (r.body, r.get("connection")) == (b"de", "close")
        assert reader.at_close()


def test_rfc9112_9_3_http10_closes_after_the_response(server: RunningServer) -> None:
    """RFC 9112 §9.3: HTTP/1.0 without `keep-alive` is not persistent: the response says
    `connection: close`, the server closes, and a pipelined second request is not answered."""
    ex = talk(server, b"GET / HTTP/1.0\r\n\r\nGET /json HTTP/1.0\r\n\r\n")
    assert ex.closed
    assert ex.count == 1, ex.data
    (r,) = ex.responses()
    assert (r.status, r.body, r.get("connection")) == (200, HELLO, "close")


def test_rfc9112_9_3_http10_keep_alive_keeps_the_connection(server: RunningServer) -> None:
    """RFC 9112 §9.3 / Appendix C.2.2: an HTTP/1.0 request with `Connection: keep-alive` gets a
    response with `connection: keep-alive` and the connection stays usable."""
    with server.connect() as s:
        reader = Reader(s)
        for target, body in [(b"/", HELLO), (b"/json", JSON_BODY)]:
            s.sendall(b"GET " + target + b" HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
            r = reader.response()
            assert (r.status, r.body, r.get("connection")) == (200, body, "keep-alive")
        s.sendall(b"GET / HTTP/1.0\r\n\r\n")
        r = reader.response()
        assert (r.body, r.get("connection")) == (HELLO, "close")
        assert reader.at_close()


@pytest.mark.parametrize(
    "value", [b"close", b"Close", b"CLOSE", b"keep-alive, close", b"foo,close"]
)
def test_rfc9112_9_6_connection_close(server: RunningServer, value: bytes) -> None:
    """RFC 9112 §9.6: after a request with the `close` option (case-insensitive, RFC 9110 §7.6.1)
    the server answers with `connection: close`, closes, and reads no further requests."""
    data = b"GET / HTTP/1.1\r\nHost: x\r\nConnection: " + value + b"\r\n\r\n" + get(b"/json")
    ex = talk(server, data)
    assert ex.closed
    assert ex.count == 1, ex.data
    (r,) = ex.responses()
    assert (r.status, r.body, r.get("connection")) == (200, HELLO, "close")


def test_rfc9110_15_5_status_answers_keep_the_connection(server: RunningServer) -> None:
    """RFC 9110 §15.5.5 (404), §15.5.6 (405 MUST carry Allow): routing answers are ordinary
    responses and do not close a persistent connection."""
    with server.connect() as s:
        reader = Reader(s)
        s.sendall(b"GET /no/such/path HTTP/1.1\r\nHost: x\r\n\r\n")
        r = reader.response()
        assert (r.status, r.get("connection")) == (404, None)
        assert r.get("content-type") == "application/problem+json"
        assert json.loads(r.body)["status"] == 404
        s.sendall(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n")
        r = reader.response()
        assert (r.status, r.get("connection")) == (405, None)
        assert r.get("allow") == "GET, HEAD"
        for target in [b"/users/abc", b"/users/1.5", b"/users/+5", b"/users/"]:
            s.sendall(b"GET " + target + b" HTTP/1.1\r\nHost: x\r\n\r\n")
            r = reader.response()
            assert (r.status, r.get("connection")) == (404, None), target
        s.sendall(get(b"/users/-12"))
        r = reader.response()
        assert (r.status, r.body) == (200, b'{"id":-12}')
        assert reader.at_close()


# ---------------------------------------------------------------------------------------------
# Pipelining (RFC 9112 §9.3.2)
# ---------------------------------------------------------------------------------------------


def test_rfc9112_9_3_2_sixteen_pipelined_requests_answered_in_order(
    server: RunningServer,
) -> None:
    """RFC 9112 §9.3.2: a server MUST send responses in the order the requests were received,
    even when a slower handler (/sleep awaits 10 ms) comes before faster ones."""
    plan: list[tuple[bytes, bytes]] = []
    for i in range(16):
        kind = i % 4
        if kind == 0:
            plan.append((b"/sleep", b"slept"))
        elif kind == 1:
            plan.append((b"/users/%d" % (i * 7 - 20), b'{"id":%d}' % (i * 7 - 20)))
        elif kind == 2:
            plan.append((b"/", HELLO))
        else:
            plan.append((b"/json", JSON_BODY))
    data = b"".join(b"GET " + t + b" HTTP/1.1\r\nHost: x\r\n\r\n" for t, _ in plan[:-1])
    data += get(plan[-1][0])
    ex = talk(server, data)
    assert ex.closed
    assert ex.count == 16, ex.data
    rs = ex.responses()
    assert [r.status for r in rs] == [200] * 16
    assert [r.body for r in rs] == [body for _, body in plan]
    assert [r.get("connection") for r in rs] == [None] * 15 + ["close"]


def test_rfc9112_9_3_2_pipelined_requests_with_bodies(server: RunningServer) -> None:
    """RFC 9112 §9.3.2 with §6.3: bodies of both framings are delimited exactly, so the next
    pipelined request starts right after them."""
    data = (
        b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\none"
        b"GET /sleep HTTP/1.1\r\nHost: x\r\n\r\n"
        b"PUT /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"3\r\ntwo\r\n0\r\nX-T: 1\r\n\r\n"
        b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n" + get(b"/users/9")
    )
    ex = talk(server, data)
    assert ex.closed
    assert [r.body for r in ex.responses()] == [b"one", b"slept", b"two", b"", b'{"id":9}']


def test_rfc9112_9_6_malformed_pipelined_request_after_valid_ones(server: RunningServer) -> None:
    """RFC 9112 §9.3.2 and §9.6: earlier requests are answered in order, then the malformed one
    gets 400 and the connection closes; what follows it is not answered."""
    data = (
        b"GET /sleep HTTP/1.1\r\nHost: x\r\n\r\n"
        b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"
        b"GET / HTTP/1.1\r\nHost: x\r\nBad Name: x\r\n\r\n" + SMUGGLED
    )
    ex = talk(server, data)
    assert ex.closed
    assert ex.count == 3, ex.data
    assert statuses(ex) == [200, 200, 400]


def test_rfc9112_9_6_half_closed_client_still_gets_pipelined_answers(
    server: RunningServer,
) -> None:
    """RFC 9112 §9.6: a client that half-closes after its requests still reads every answer."""
    with server.connect() as s:
        s.sendall(b"GET /sleep HTTP/1.1\r\nHost: x\r\n\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\n")
        s.shutdown(socket.SHUT_WR)
        data, closed = read_to_close(s, 5)
    assert closed
    assert [r.body for r in Exchange(data, closed, 0).responses()] == [b"slept", HELLO]


# ---------------------------------------------------------------------------------------------
# HEAD (RFC 9110 §9.3.2)
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("target", "status", "length"),
    [(b"/", 200, "13"), (b"/json", 200, "28"), (b"/no/such", 404, "93")],
)
def test_rfc9110_9_3_2_head_has_the_get_headers_and_no_body(
    server: RunningServer, target: bytes, status: int, length: str
) -> None:
    """RFC 9110 §9.3.2: HEAD is GET without content; Content-Length is the one GET would send
    (RFC 9110 §8.6). The next pipelined response must follow the HEAD head immediately."""
    data = b"HEAD " + target + b" HTTP/1.1\r\nHost: x\r\n\r\n" + get()
    ex = talk(server, data, head_only=(True, False))
    assert ex.closed
    assert ex.count == 2, ex.data
    head_end = ex.data.index(b"\r\n\r\n") + 4
    assert ex.data[head_end:].startswith(b"HTTP/1.1 200 OK\r\n"), "bytes after the HEAD head"
    head, after = ex.responses()
    assert (head.status, head.get("content-length"), head.body) == (status, length, b"")
    assert (after.status, after.body) == (200, HELLO)


def test_rfc9110_9_3_2_head_of_a_streamed_response_has_no_body(server: RunningServer) -> None:
    """RFC 9110 §9.3.2: also a chunked GET response sends no chunks to HEAD."""
    data = b"HEAD /stream HTTP/1.1\r\nHost: x\r\n\r\n" + get()
    ex = talk(server, data, head_only=(True, False))
    assert ex.closed
    head_end = ex.data.index(b"\r\n\r\n") + 4
    assert ex.data[head_end:].startswith(b"HTTP/1.1 200 OK\r\n"), ex.data
    head, after = ex.responses()
    assert head.status == 200
    assert after.body == HELLO


# ---------------------------------------------------------------------------------------------
# Expect (RFC 9110 §10.1.1)
# ---------------------------------------------------------------------------------------------

CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"


def recv_exactly(sock: socket.socket, n: int, timeout: float = 3.0) -> bytes:
    sock.settimeout(timeout)
    data = b""
    while len(data) < n:
        chunk = sock.recv(n - len(data))
        if not chunk:
            break
        data += chunk
    return data


@pytest.mark.parametrize("value", [b"100-continue", b"100-Continue"])
def test_rfc9110_10_1_1_expect_100_continue(server: RunningServer, value: bytes) -> None:
    """RFC 9110 §10.1.1: the server sends 100 (Continue) before reading the body the client
    holds back, then the final response; the connection stays usable."""
    with server.connect() as s:
        s.sendall(
            b"POST /echo HTTP/1.1\r\nHost: x\r\nExpect: " + value + b"\r\nContent-Length: 5\r\n\r\n"
        )
        assert recv_exactly(s, len(CONTINUE)) == CONTINUE
        s.sendall(b"hello")
        reader = Reader(s)
        r = reader.response()
        assert (r.status, r.body, r.get("connection")) == (200, b"hello", None)
        s.sendall(get())
        assert reader.response().body == HELLO
        assert reader.at_close()


def test_rfc9110_10_1_1_expect_100_continue_with_chunked_body(server: RunningServer) -> None:
    with server.connect() as s:
        s.sendall(
            b"POST /echo HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nConnection: close\r\n"
            b"Transfer-Encoding: chunked\r\n\r\n"
        )
        assert recv_exactly(s, len(CONTINUE)) == CONTINUE
        s.sendall(b"3\r\nabc\r\n0\r\n\r\n")
        data, closed = read_to_close(s)
    assert closed
    (r,) = Exchange(data, closed, 0).responses()
    assert (r.status, r.body) == (200, b"abc")


def test_rfc9110_10_1_1_100_continue_follows_earlier_pipelined_answers(
    server: RunningServer,
) -> None:
    """RFC 9112 §9.3.2: the 100 (Continue) belongs to the request that asked for it, so the
    answer to an earlier pipelined request (/sleep) comes first."""
    with server.connect() as s:
        s.sendall(
            b"GET /sleep HTTP/1.1\r\nHost: x\r\n\r\n"
            b"POST /echo HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nConnection: close\r\n"
            b"Content-Length: 3\r\n\r\n"
        )
        reader = Reader(s)
        first = reader.response()
        assert (first.status, first.body) == (200, b"slept")
        assert reader.response().status == 100
        s.sendall(b"abc")
        r = reader.response()
        assert (r.status, r.body) == (200, b"abc")
        assert reader.at_close()


@pytest.mark.parametrize(
    ("head", "status"),
    [(b"POST /nope", 404), (b"PUT /", 405)],
    ids=["no-route", "wrong-method"],
)
def test_rfc9110_10_1_1_expect_to_a_refused_route_gets_final_answer_without_100(
    server: RunningServer, head: bytes, status: int
) -> None:
    """RFC 9110 §10.1.1: a server that will not use the content MAY answer finally instead of
    100; it then closes because the client may still send the body (RFC 9112 §9.6)."""
    data = head + b" HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n"
    ex = talk(server, data)
    assert ex.closed
    assert b"100 Continue" not in ex.data
    assert ex.count == 1, ex.data
    (r,) = ex.responses()
    assert (r.status, r.get("connection")) == (status, "close")


def test_rfc9110_10_1_1_expect_with_body_over_limit_gets_413_without_100(
    server: RunningServer,
) -> None:
    data = b"POST /echo HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 5000\r\n\r\n"
    r = assert_refused(server, data, 413)
    assert r.status == 413


@pytest.mark.parametrize("value", [b"foo", b"100-continue, foo", b"200-ok", b"100-continue=1"])
def test_rfc9110_10_1_1_unknown_expectation_is_417(server: RunningServer, value: bytes) -> None:
    """RFC 9110 §10.1.1: a server that receives an Expect value other than 100-continue MAY
    respond 417 (Expectation Failed); this one does, then closes."""
    data = b"POST /echo HTTP/1.1\r\nHost: x\r\nExpect: " + value + b"\r\nContent-Length: 1\r\n\r\na"
    assert_refused(server, data, 417)


def test_rfc9110_10_1_1_expect_without_content_sends_no_100(server: RunningServer) -> None:
    """RFC 9110 §10.1.1: the server MAY omit 100 when the framing says there is no content."""
    data = (
        b"POST /echo HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nConnection: close\r\n"
        b"Content-Length: 0\r\n\r\n"
    )
    ex = talk(server, data)
    assert ex.closed
    assert ex.count == 1, ex.data
    assert statuses(ex) == [200]


def test_rfc9110_10_1_1_expect_in_http10_is_ignored(server: RunningServer) -> None:
    """RFC 9110 §10.1.1: a server MUST ignore a 100-continue expectation in an HTTP/1.0
    request: no 100 is sent, the body is read normally."""
    with server.connect() as s:
        s.sendall(b"POST /echo HTTP/1.0\r\nExpect: 100-continue\r\nContent-Length: 3\r\n\r\n")
        s.settimeout(0.3)
        with pytest.raises(TimeoutError):
            s.recv(1)
        s.sendall(b"abc")
        data, closed = read_to_close(s)
    assert closed
    assert data.count(b"HTTP/1.1 ") == 1, data
    (r,) = Exchange(data, closed, 0).responses()
    assert (r.status, r.body) == (200, b"abc")


# ---------------------------------------------------------------------------------------------
# Date and response framing (RFC 9110 §6.6.1, §5.6.7, §8.6; RFC 9112 §6.1)
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "data",
    [
        get(),
        get(b"/json"),
        get(b"/none"),
        get(b"/stream"),
        get(b"/no/such"),
        b"POST / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        b"GET /teapot HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        b"GET / HTTP/1.1\r\n\r\n",
        b"GET / HTTP/2.0\r\nHost: x\r\n\r\n",
        request_line_of(MAX_REQUEST_LINE + 1) + b"\r\nHost: x\r\n\r\n",
        post_length(b"2000"),
    ],
    ids=["200", "200-json", "204", "200-chunked", "404", "405", "418", "400", "505", "414", "413"],
)
def test_rfc9110_6_6_1_every_response_has_an_imf_fixdate_date(
    server: RunningServer, data: bytes
) -> None:
    """RFC 9110 §6.6.1: an origin server with a clock MUST send Date in 2xx-4xx responses (and
    this one does in 5xx too), formatted as IMF-fixdate (RFC 9110 §5.6.7) and current."""
    before = datetime.now(UTC).replace(microsecond=0)
    ex = talk(server, data)
    after = datetime.now(UTC)
    assert ex.count == 1, ex.data
    (r,) = ex.responses()
    dates = r.all("date")
    assert len(dates) == 1, r.headers
    assert IMF_FIXDATE.fullmatch(dates[0]), dates[0]
    when = datetime.strptime(dates[0], "%a, %d %b %Y %H:%M:%S GMT").replace(tzinfo=UTC)
    assert when.strftime("%a") == dates[0][:3], "day name does not match the date"
    assert before.timestamp() - 1 <= when.timestamp() <= after.timestamp() + 1


def test_rfc9112_6_1_no_transfer_encoding_to_http10_client(server: RunningServer) -> None:
    """RFC 9112 §6.1: a server MUST NOT send Transfer-Encoding to an HTTP/1.0 request; a
    streamed body is delimited by closing the connection instead (RFC 9112 §6.3 item 8)."""
    ex = talk(server, b"GET /stream HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
    assert ex.closed
    (r,) = ex.responses()
    assert r.get("transfer-encoding") is None
    assert r.get("content-length") is None
    assert r.get("connection") == "close"
    assert r.body == b"chunk0;chunk1;chunk2;chunk3;chunk4;"


def test_rfc9112_7_1_streamed_response_is_chunked_for_http11(server: RunningServer) -> None:
    ex = talk(server, get(b"/stream"))
    assert ex.closed
    (r,) = ex.responses()
    assert r.get("transfer-encoding") == "chunked"
    assert r.body == b"chunk0;chunk1;chunk2;chunk3;chunk4;"


def test_rfc9110_15_3_5_204_has_no_content_length_and_no_body(server: RunningServer) -> None:
    """RFC 9110 §8.6 and §15.3.5: 204 carries no content and no Content-Length; the next
    pipelined response follows its head directly."""
    ex = talk(server, b"GET /none HTTP/1.1\r\nHost: x\r\n\r\n" + get())
    assert ex.closed
    no_content, after = ex.responses()
    assert no_content.status == 204
    assert no_content.get("content-length") is None
    assert after.body == HELLO


def test_rfc9112_9_3_2_pipelined_request_after_a_streamed_response(server: RunningServer) -> None:
    """RFC 9112 §7.1, §9.3.2: a chunked response ends with its last-chunk and the next
    pipelined response follows it."""
    ex = talk(server, b"GET /stream HTTP/1.1\r\nHost: x\r\n\r\n" + get())
    assert ex.closed
    streamed, after = ex.responses()
    assert streamed.body == b"chunk0;chunk1;chunk2;chunk3;chunk4;"
    assert after.body == HELLO


def test_rfc9112_8_failed_stream_is_left_incomplete(server: RunningServer) -> None:
    """RFC 9112 §8: when the producer of a chunked body fails, the server closes without the
    last-chunk, so the client sees an incomplete message instead of a short complete one; the
    pipelined request behind it is not answered."""
    ex = talk(server, b"GET /stream-fails HTTP/1.1\r\nHost: x\r\n\r\n" + get())
    assert ex.closed
    assert ex.count == 1, ex.data
    head, _, body = ex.data.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200 OK\r\n")
    assert b"transfer-encoding: chunked" in head.lower()
    assert body == b"7\r\npartial\r\n"


def test_rfc9110_5_5_crlf_in_a_response_header_value_is_never_sent(
    server: RunningServer,
) -> None:
    """RFC 9110 §5.5: CR and LF are not allowed in a field value; a handler that puts them in
    one must not be able to inject a header (the app gets a 500 and the connection lives)."""
    ex = talk(server, b"GET /bad-header HTTP/1.1\r\nHost: x\r\n\r\n" + get())
    assert ex.closed
    assert b"pwned" not in ex.data
    bad, after = ex.responses()
    assert bad.status == 500
    assert after.body == HELLO


# =============================================================================================
# Cases added for issue 5 (reliability): gaps in the sections above, same style
# =============================================================================================

# ---------------------------------------------------------------------------------------------
# Framing (RFC 9112 §6, §7.1)
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "fields",
    [
        b"Content-Length: 3\r\ncontent-length: 3\r\n",
        b"Content-Length: 3\r\nCONTENT-LENGTH: 4\r\n",
        b"Content-Length: 3\r\nTransfer-Encoding: gzip\r\n",
        b"transfer-encoding: chunked\r\nCONTENT-LENGTH: 3\r\n",
    ],
    ids=["duplicate-case-differs", "differing-case-differs", "cl-with-te-gzip", "lower-upper"],
)
def test_rfc9112_6_3_duplicate_length_fields_in_any_letter_case_are_400(
    server: RunningServer, fields: bytes
) -> None:
    """RFC 9110 §5.1: field names are case-insensitive, so `content-length` twice in different
    case is still two Content-Length lines (RFC 9112 §6.3 item 5) and Content-Length with any
    Transfer-Encoding is still both (item 3): 400 and close."""
    data = b"POST /echo HTTP/1.1\r\nHost: x\r\n" + fields + b"\r\nabc" + SMUGGLED
    assert_refused(server, data, 400)


@pytest.mark.parametrize("value", [b"abc", b"3;x", b"0x3"])
def test_rfc9110_8_6_invalid_content_length_on_a_get_is_400(
    server: RunningServer, value: bytes
) -> None:
    """RFC 9112 §6.3 item 5: the length is checked whatever the method and route."""
    data = b"GET / HTTP/1.1\r\nHost: x\r\nContent-Length: " + value + b"\r\n\r\nabc" + SMUGGLED
    assert_refused(server, data, 400)


def test_rfc9112_6_3_chunked_body_of_a_get_is_consumed_not_parsed_as_a_request(
    server: RunningServer,
) -> None:
    """RFC 9112 §6.3 item 4: a chunked body on a GET is decoded and dropped, so a request inside
    its chunk data is never answered; the next real request is."""
    chunked = b"%x\r\n" % len(SMUGGLED) + SMUGGLED + b"\r\n0\r\n\r\n"
    data = b"GET / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n" + chunked
    ex = talk(server, data + get(b"/json"))
    assert ex.closed
    assert ex.count == 2, ex.data
    assert [r.body for r in ex.responses()] == [HELLO, JSON_BODY]


def test_rfc9112_7_1_chunk_data_holding_a_last_chunk_and_a_request_is_data(
    server: RunningServer,
) -> None:
    """RFC 9112 §7.1: chunk-data is exactly chunk-size octets, whatever they contain: a
    last-chunk and a request inside it are body bytes, echoed back, and only the request after
    the real last-chunk is answered."""
    inner = b"0\r\n\r\n" + SMUGGLED
    data = (
        b"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
        + b"%x\r\n" % len(inner)
        + inner
        + b"\r\n0\r\n\r\n"
        + get()
    )
    ex = talk(server, data)
    assert ex.closed
    assert ex.count == 2, ex.data
    echoed, after = ex.responses()
    assert echoed.body == inner
    assert after.body == HELLO


def test_rfc9112_7_1_2_framing_fields_in_the_trailer_change_nothing(
    server: RunningServer,
) -> None:
    """RFC 9110 §6.5.1 and RFC 9112 §7.1.2: message framing never comes from a trailer; a
    Content-Length or Transfer-Encoding there neither extends the body nor swallows the next
    request."""
    data = post_chunked(
        b"5\r\nhello\r\n0\r\nContent-Length: 100\r\nTransfer-Encoding: chunked\r\n\r\n"
    )
    data = data.replace(b"Connection: close\r\n", b"") + get()
    ex = talk(server, data)
    assert ex.closed
    assert ex.count == 2, ex.data
    assert [r.body for r in ex.responses()] == [b"hello", HELLO]


def test_rfc9112_2_2_crlf_after_a_body_before_the_next_request_is_ignored(
    server: RunningServer,
) -> None:
    """RFC 9112 §2.2: old clients send an extra CRLF after a POST body; the server SHOULD
    ignore an empty line before the next request-line."""
    data = b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\nhi\r\n" + get()
    ex = talk(server, data)
    assert ex.closed
    assert [r.body for r in ex.responses()] == [b"hi", HELLO]


# ---------------------------------------------------------------------------------------------
# Chunked syntax (RFC 9112 §7.1)
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("chunks", "body"),
    [
        (b"0000000000000005\r\nhello\r\n0\r\n\r\n", b"hello"),
        (b"5\r\nhello\r\n000\r\n\r\n", b"hello"),
        (b"a\r\n0123456789\r\nA\r\nabcdefghij\r\n0\r\n\r\n", b"0123456789abcdefghij"),
        (b"5\t;a=b\r\nhello\r\n0\r\n\r\n", b"hello"),
        (b"5\r\nhello\r\n0;a=b;c\r\n\r\n", b"hello"),
    ],
    ids=["16-digits", "last-chunk-zeros", "hex-either-case", "htab-bws", "last-chunk-ext"],
)
def test_rfc9112_7_1_valid_chunk_size_lines(
    server: RunningServer, chunks: bytes, body: bytes
) -> None:
    """RFC 9112 §7.1: chunk-size = 1*HEXDIG (leading zeros and either letter case allowed; 16
    digits still fit a u64), last-chunk = 1*("0") [chunk-ext] CRLF; BWS may be SP or HTAB
    (RFC 9110 §5.6.3)."""
    assert assert_served(server, post_chunked(chunks)).body == body


def test_rfc9112_7_1_1_endless_chunk_extension_is_400(server: RunningServer) -> None:
    """RFC 9112 §7.1.1: a server ought to limit the total length of chunk extensions; a
    chunk-size line longer than 4096 bytes is refused before its end arrives."""
    chunks = b"5;a=" + b"x" * 4200 + b"\r\nhello\r\n0\r\n\r\n"
    assert_refused(server, post_chunked(chunks + SMUGGLED), 400)


# ---------------------------------------------------------------------------------------------
# Field syntax (RFC 9110 §5; RFC 9112 §5)
# ---------------------------------------------------------------------------------------------


def inspect(server: RunningServer, fields: bytes) -> dict[str, object]:
    r = assert_served(server, b"GET /inspect HTTP/1.1\r\n" + fields + b"Connection: close\r\n\r\n")
    result: dict[str, object] = json.loads(r.body)
    return result


def test_rfc9110_5_5_whitespace_around_a_field_value_is_not_part_of_it(
    server: RunningServer,
) -> None:
    """RFC 9112 §5.1: OWS before and after a field value is excluded from it (SP and HTAB)."""
    got = inspect(server, b"Host:   x  \r\nAccept:\t a/b \t\r\n")
    assert (got["host"], got["accept"]) == ("x", ["a/b"])


def test_rfc9110_5_5_empty_field_value_is_valid(server: RunningServer) -> None:
    """RFC 9110 §5.5: field-value = *field-content, so an empty value is a valid field."""
    assert inspect(server, b"Host: x\r\nAccept:\r\n")["accept"] == [""]


def test_rfc9110_5_3_repeated_field_lines_keep_their_order(server: RunningServer) -> None:
    """RFC 9110 §5.3: field lines with the same name (in any case) are kept in the order they
    were received, also when other fields come between them."""
    got = inspect(server, b"Host: x\r\nAccept: a\r\nX-Between: z\r\naccept: b, c\r\nACCEPT: d\r\n")
    assert got["accept"] == ["a", "b, c", "d"]


def test_rfc9110_5_6_2_every_tchar_is_valid_in_a_field_name(server: RunningServer) -> None:
    """RFC 9110 §5.6.2: token = 1*tchar, and all of !#$%&'*+-.^_`|~ DIGIT ALPHA are tchars."""
    fields = b"!#$%&'*+-.^_`|~09azAZ: v\r\n"
    assert assert_served(server, get(b"/", fields)).body == HELLO


@pytest.mark.parametrize(
    "fields",
    [b"content-LENGTH: 3\r\n", b"CONTENT-LENGTH:3\r\n", b"Content-Length:\t3\t\r\n"],
    ids=["mixed-case", "upper-case-no-ows", "htab-ows"],
)
def test_rfc9110_5_1_length_field_name_is_case_insensitive(
    server: RunningServer, fields: bytes
) -> None:
    """RFC 9110 §5.1: a framing field is recognised in any letter case and with any OWS."""
    data = b"POST /echo HTTP/1.1\r\nHost: x\r\nConnection: close\r\n" + fields + b"\r\nabc"
    assert assert_served(server, data).body == b"abc"


@pytest.mark.parametrize(
    "fields",
    [b"TRANSFER-ENCODING: chunked\r\n", b"Transfer-Encoding:\tchunked\t\r\n"],
    ids=["upper-case", "htab-ows"],
)
def test_rfc9110_5_1_transfer_encoding_name_is_case_insensitive(
    server: RunningServer, fields: bytes
) -> None:
    data = post_chunked(b"3\r\nabc\r\n0\r\n\r\n").replace(b"Transfer-Encoding: chunked\r\n", fields)
    assert assert_served(server, data).body == b"abc"


def test_rfc9112_6_1_quoted_transfer_coding_is_400(server: RunningServer) -> None:
    """RFC 9112 §6.1: transfer-coding is a token; `"chunked"` is not chunked, so the final coding
    is not chunked and the length is unknown (RFC 9112 §6.3 item 4): 400 and close."""
    data = b'POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: "chunked"\r\n\r\n0\r\n\r\n'
    assert_refused(server, data + SMUGGLED, 400)


# ---------------------------------------------------------------------------------------------
# Request line (RFC 9112 §3, §2.3; RFC 9110 §9.1)
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("method", [b"get", b"Get", b"gET"])
def test_rfc9110_9_1_method_names_are_case_sensitive(server: RunningServer, method: bytes) -> None:
    """RFC 9110 §9.1: the method token is case-sensitive, so `get` is not GET. It is a valid
    token, so not a 400; the route has no such method: 405 with Allow (pinned; 501 would be the
    other answer RFC 9110 §9.1 allows), and the connection stays usable."""
    with server.connect() as s:
        s.sendall(method + b" / HTTP/1.1\r\nHost: x\r\n\r\n")
        reader = Reader(s)
        r = reader.response()
        assert (r.status, r.get("allow"), r.get("connection")) == (405, "GET, HEAD", None)
        s.sendall(get())
        assert reader.response().body == HELLO
        assert reader.at_close()


@pytest.mark.parametrize("version", [b"HTTP/10.1", b"HTTP/1.10", b"HTTP/1.", b"HTTP/.1"])
def test_rfc9112_2_3_malformed_version_is_400_not_505(
    server: RunningServer, version: bytes
) -> None:
    """RFC 9112 §2.3: HTTP-version = HTTP-name "/" DIGIT "." DIGIT - one digit each. Anything
    else is not a version the server does not support (505) but no version at all: 400."""
    assert_refused(server, b"GET / " + version + b"\r\nHost: x\r\n\r\n" + SMUGGLED, 400)


def test_rfc9112_3_nul_in_the_request_target_is_400(server: RunningServer) -> None:
    assert_refused(server, b"GET /a\x00b HTTP/1.1\r\nHost: x\r\n\r\n" + SMUGGLED, 400)


def test_rfc9112_3_2_4_options_asterisk_body_is_consumed(server: RunningServer) -> None:
    """RFC 9112 §6.3: `OPTIONS *` with a body: the body is read, not taken for a request."""
    data = b"OPTIONS * HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n" % len(SMUGGLED)
    ex = talk(server, data + SMUGGLED + get())
    assert ex.closed
    assert ex.count == 2, ex.data
    assert statuses(ex) == [404, 200]


def test_rfc9112_2_2_endless_empty_lines_before_the_request_line_are_bounded(
    server: RunningServer,
) -> None:
    """RFC 9112 §2.2 asks to ignore at least one empty line before the request-line, not any
    number: they count against the request-line limit (256 bytes), so 1,000 of them get 414
    (pinned) and the connection closes."""
    assert_refused(server, b"\r\n" * 1000 + get(), 414)


# ---------------------------------------------------------------------------------------------
# Host (RFC 9112 §3.2)
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "data",
    [
        b"GET / HTTP/1.0\r\nHost: a b\r\n\r\n",
        b"GET / HTTP/1.0\r\nHost: x/y\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: ::1\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: x:8080:80\r\n\r\n",
    ],
    ids=["http10-space", "http10-slash", "ipv6-without-brackets", "two-ports"],
)
def test_rfc9112_3_2_invalid_host_is_400(server: RunningServer, data: bytes) -> None:
    """RFC 9112 §3.2: a server MUST respond 400 to any request - HTTP/1.0 included - with an
    invalid Host value; RFC 3986 §3.2.2: an IPv6 literal is enclosed in brackets."""
    assert_refused(server, data + SMUGGLED, 400)


@pytest.mark.parametrize(
    "data",
    [
        b"GET / HTTP/1.1\r\nHost: x:\r\nConnection: close\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: EXAMPLE.com.\r\nConnection: close\r\n\r\n",
        b"GET http://127.0.0.1/ HTTP/1.0\r\n\r\n",
        b"GET http://a.example/ HTTP/1.1\r\nHost: b.example\r\nConnection: close\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost:\t x \t\r\nConnection: close\r\n\r\n",
    ],
    ids=["empty-port", "trailing-dot", "http10-absolute-form", "differs-from-target", "ows"],
)
def test_rfc9112_3_2_more_acceptable_hosts(server: RunningServer, data: bytes) -> None:
    """RFC 3986 §3.2.3: port = *DIGIT (may be empty); a fully qualified name may end in a dot;
    an HTTP/1.0 absolute-form request needs no Host; RFC 9112 §3.2.2: with an absolute-form
    target the Host field is ignored, so a different one is no error."""
    assert assert_served(server, data).body == HELLO


@pytest.mark.parametrize(
    "target",
    [b"http://127.0.0.1:99999/", b"http://[::1/", b"http://x:abc/", b"http://x:80:80/"],
    ids=["port-out-of-range", "unclosed-ipv6", "port-not-digits", "two-ports"],
)
def test_rfc9112_3_2_2_invalid_authority_in_absolute_form_is_400(
    server: RunningServer, target: bytes
) -> None:
    """RFC 9112 §3.2.2 with RFC 3986 §3.2: the authority of an absolute-form target is the
    request's host, so an invalid one is refused like an invalid Host (RFC 9112 §3.2): 400."""
    assert_refused(server, b"GET " + target + b" HTTP/1.1\r\nHost: x\r\n\r\n" + SMUGGLED, 400)


# ---------------------------------------------------------------------------------------------
# Expect (RFC 9110 §10.1.1)
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "request_",
    [
        b"GET / HTTP/1.1\r\nHost: x\r\nExpect: foo\r\n\r\n",
        b"POST /echo HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nExpect: foo\r\n"
        b"Content-Length: 1\r\n\r\na",
        b"POST /echo HTTP/1.1\r\nHost: x\r\nExpect: 100-continue;x=1\r\nContent-Length: 1\r\n\r\na",
    ],
    ids=["without-content", "second-field-line", "with-parameter"],
)
def test_rfc9110_10_1_1_more_unknown_expectations_are_417(
    server: RunningServer, request_: bytes
) -> None:
    """RFC 9110 §10.1.1: any expectation other than 100-continue - also on a request without
    content, or in a second Expect line - gets 417, and the connection closes."""
    assert_refused(server, request_ + SMUGGLED, 417)


def test_rfc9110_10_1_1_expectation_is_case_insensitive_with_ows(server: RunningServer) -> None:
    """RFC 9110 §10.1.1: "100-continue" is matched case-insensitively; OWS is not part of the
    value (RFC 9110 §5.5)."""
    with server.connect() as s:
        s.sendall(
            b"POST /echo HTTP/1.1\r\nHost: x\r\nExpect: \t100-CONTINUE \r\nConnection: close\r\n"
            b"Content-Length: 2\r\n\r\n"
        )
        assert recv_exactly(s, len(CONTINUE)) == CONTINUE
        s.sendall(b"hi")
        data, closed = read_to_close(s)
    assert closed
    (r,) = Exchange(data, closed, 0).responses()
    assert (r.status, r.body) == (200, b"hi")


def test_rfc9110_10_1_1_empty_expect_is_no_expectation(server: RunningServer) -> None:
    """RFC 9110 §5.6.1.2: an empty list has no elements: no expectation, no 417."""
    data = post_length(b"1", b"a", extra=b"Expect:\r\n")
    assert assert_served(server, data).body == b"a"


def test_rfc9110_10_1_1_body_sent_without_waiting_is_answered_once(server: RunningServer) -> None:
    """RFC 9110 §10.1.1: a client may send the content without waiting for 100, and a server
    MAY omit the 100 once content has arrived; either way there is exactly one final answer,
    and a 100, if any, comes before it."""
    data = (
        b"POST /echo HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 3\r\n\r\nabc"
        + get()
    )
    ex = talk(server, data)
    assert ex.closed
    rs = ex.responses()
    assert [r.status for r in rs] in ([200, 200], [100, 200, 200]), ex.data
    assert [r.body for r in rs if r.status == 200] == [b"abc", HELLO]


def test_rfc9110_10_1_1_continue_then_no_body_is_408(server: RunningServer) -> None:
    """RFC 9110 §15.5.9: after inviting the body with 100, the server still bounds the wait by
    the 1 s body timeout: 408 and close."""
    with server.connect() as s:
        start = time.monotonic()
        s.sendall(b"POST /echo HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\n")
        s.sendall(b"Content-Length: 5\r\n\r\n")
        assert recv_exactly(s, len(CONTINUE)) == CONTINUE
        data, closed = read_to_close(s, 5)
        elapsed = time.monotonic() - start
    assert_timed_out(Exchange(data, closed, elapsed))


# ---------------------------------------------------------------------------------------------
# HEAD (RFC 9110 §9.3.2)
# ---------------------------------------------------------------------------------------------


def without_date(r: Response) -> list[tuple[str, str]]:
    return [h for h in r.headers if h[0] != "date"]


@pytest.mark.parametrize(
    "target",
    [
        b"/",
        b"/json",
        b"/bytes",
        b"/none",
        b"/users/5",
        b"/custom",
        b"/teapot",
        b"/static",
        b"/stream",
        b"/no/such",
        b"/error",
        b"/echo",
    ],
    ids=lambda t: t.decode(),
)
def test_rfc9110_9_3_2_head_sends_the_same_fields_as_get(
    server: RunningServer, target: bytes
) -> None:
    """RFC 9110 §9.3.2: the server SHOULD send the same header fields for HEAD as for GET
    (including Content-Length and Transfer-Encoding, RFC 9110 §8.6, RFC 9112 §6.1), for every
    kind of answer: plain, JSON, bytes, 204, path parameter, custom status and fields,
    HTTPException, fixed response, streamed, 404, 500 and 405 (with Allow)."""
    request = b" " + target + b" HTTP/1.1\r\nHost: x\r\n\r\n"
    ex = talk(server, b"HEAD" + request + b"GET" + request + get(), head_only=(True,))
    assert ex.closed
    head, got, _ = ex.responses()
    assert head.status == got.status
    assert without_date(head) == without_date(got)


def test_rfc9110_9_3_2_head_with_content_length_body_is_consumed(server: RunningServer) -> None:
    data = b"HEAD / HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n" % len(SMUGGLED)
    ex = talk(server, data + SMUGGLED + get(), head_only=(True,))
    assert ex.closed
    assert ex.count == 2, ex.data
    head, after = ex.responses()
    assert (head.status, head.body, after.body) == (200, b"", HELLO)


def test_rfc9110_9_3_2_head_with_chunked_body_is_consumed(server: RunningServer) -> None:
    chunked = b"%x\r\n" % len(SMUGGLED) + SMUGGLED + b"\r\n0\r\n\r\n"
    data = b"HEAD / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n" + chunked
    ex = talk(server, data + get(), head_only=(True,))
    assert ex.closed
    assert ex.count == 2, ex.data
    head, after = ex.responses()
    assert (head.status, head.body, after.body) == (200, b"", HELLO)


def test_rfc9112_9_3_http10_head_with_keep_alive_keeps_the_connection(
    server: RunningServer,
) -> None:
    ex = talk(
        server,
        b"HEAD / HTTP/1.0\r\nConnection: keep-alive\r\n\r\nGET / HTTP/1.0\r\n\r\n",
        head_only=(True,),
    )
    assert ex.closed
    head, after = ex.responses()
    assert (head.status, head.get("content-length"), head.get("connection")) == (
        200,
        "13",
        "keep-alive",
    )
    assert (after.body, after.get("connection")) == (HELLO, "close")


def test_rfc9112_9_6_http10_head_of_a_stream_closes_when_it_says_so(
    server: RunningServer,
) -> None:
    """RFC 9112 §9.6: a server that sends `connection: close` MUST close after that response
    and MUST NOT process further requests. For HEAD of a streamed response to an HTTP/1.0
    keep-alive request either answer is fine - keep-alive (no body needs delimiting) or close -
    as long as the server does what it says."""
    data = b"HEAD /stream HTTP/1.0\r\nConnection: keep-alive\r\n\r\nGET / HTTP/1.0\r\n\r\n"
    ex = talk(server, data, head_only=(True,))
    assert ex.closed
    head, *rest = ex.responses()
    assert head.status == 200
    if head.get("connection") == "close":
        assert rest == [], ex.data
    else:
        assert head.get("connection") == "keep-alive"
        assert [r.body for r in rest] == [HELLO]


# ---------------------------------------------------------------------------------------------
# HTTP/1.0 persistence (RFC 9112 §9.3, Appendix C.2.2)
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("value", [b"KEEP-ALIVE", b"Keep-Alive", b"foo, keep-alive"])
def test_rfc9112_c_2_2_http10_keep_alive_token_in_any_case(
    server: RunningServer, value: bytes
) -> None:
    """RFC 9110 §7.6.1: connection options are case-insensitive and a list."""
    data = b"GET / HTTP/1.0\r\nConnection: " + value + b"\r\n\r\nGET /json HTTP/1.0\r\n\r\n"
    ex = talk(server, data)
    assert ex.closed
    first, second = ex.responses()
    assert (first.body, first.get("connection")) == (HELLO, "keep-alive")
    assert (second.body, second.get("connection")) == (JSON_BODY, "close")


@pytest.mark.parametrize(
    "fields",
    [
        b"Connection: keep-alive, close\r\n",
        b"Connection: keep-alive\r\nConnection: close\r\n",
        b"Connection: close\r\nConnection: keep-alive\r\n",
    ],
    ids=["one-line", "two-lines", "close-first"],
)
@pytest.mark.parametrize("version", [b"HTTP/1.0", b"HTTP/1.1"])
def test_rfc9112_9_6_close_wins_over_keep_alive(
    server: RunningServer, fields: bytes, version: bytes
) -> None:
    """RFC 9112 §9.6: a `close` option means the connection will close after this response,
    whatever else the Connection field lists."""
    data = b"GET / " + version + b"\r\nHost: x\r\n" + fields + b"\r\n" + get(b"/json")
    ex = talk(server, data)
    assert ex.closed
    assert ex.count == 1, ex.data
    (r,) = ex.responses()
    assert (r.body, r.get("connection")) == (HELLO, "close")


@pytest.mark.parametrize(
    ("version", "fields"),
    [
        (b"HTTP/1.1", b"Connection: closed\r\n"),
        (b"HTTP/1.1", b'Connection: "close"\r\n'),
        (b"HTTP/1.1", b"Proxy-Connection: close\r\n"),
        (b"HTTP/1.1", b"Connection: keep-alive, Upgrade\r\n"),
    ],
    ids=["closed", "quoted-close", "proxy-connection", "other-options"],
)
def test_rfc9110_7_6_1_only_the_close_token_closes(
    server: RunningServer, version: bytes, fields: bytes
) -> None:
    """RFC 9110 §7.6.1: connection options are tokens compared whole: `closed` or a quoted
    "close" are other options, Proxy-Connection is not Connection; the connection persists."""
    data = b"GET / " + version + b"\r\nHost: x\r\n" + fields + b"\r\n" + get(b"/json")
    ex = talk(server, data)
    assert ex.closed
    first, second = ex.responses()
    assert (first.body, first.get("connection")) == (HELLO, None)
    assert (second.body, second.get("connection")) == (JSON_BODY, "close")


@pytest.mark.parametrize(
    "fields",
    [b"Connection: keep-alivex\r\n", b"Connection: keep-alive;q=1\r\n", b"Keep-Alive: 5\r\n"],
    ids=["longer-token", "with-parameter", "keep-alive-field-only"],
)
def test_rfc9112_c_2_2_http10_without_the_keep_alive_token_closes(
    server: RunningServer, fields: bytes
) -> None:
    """RFC 9112 Appendix C.2.2: an HTTP/1.0 connection persists only with the `keep-alive`
    connection option itself; a longer token, a parameterised one or a Keep-Alive field alone
    leave it at the HTTP/1.0 default: close after the response."""
    data = b"GET / HTTP/1.0\r\n" + fields + b"\r\nGET /json HTTP/1.0\r\n\r\n"
    ex = talk(server, data)
    assert ex.closed
    assert ex.count == 1, ex.data
    (r,) = ex.responses()
    assert (r.body, r.get("connection")) == (HELLO, "close")


def test_rfc9112_9_3_http10_keep_alive_with_bodies_and_routing_answers(
    server: RunningServer,
) -> None:
    """RFC 9112 §9.3: an HTTP/1.0 keep-alive connection persists across bodies, 404 and 204
    answers; each response says `connection: keep-alive` until the one that closes."""
    keep = b"Connection: keep-alive\r\n"
    data = (
        b"POST /echo HTTP/1.0\r\n" + keep + b"Content-Length: 2\r\n\r\nhi"
        b"GET /no/such HTTP/1.0\r\n" + keep + b"\r\n"
        b"GET /none HTTP/1.0\r\n" + keep + b"\r\n"
        b"POST /echo HTTP/1.0\r\nContent-Length: 2\r\n\r\nyo"
    )
    ex = talk(server, data)
    assert ex.closed
    rs = ex.responses()
    assert [(r.status, r.get("connection")) for r in rs] == [
        (200, "keep-alive"),
        (404, "keep-alive"),
        (204, "keep-alive"),
        (200, "close"),
    ]
    assert [rs[0].body, rs[3].body] == [b"hi", b"yo"]


def test_rfc9112_9_5_idle_http10_keep_alive_connection_is_closed_silently(
    server: RunningServer,
) -> None:
    """RFC 9112 §9.5: the keep-alive timeout (1 s) applies to HTTP/1.0 persistent connections
    too, and nothing is sent when it closes one."""
    with server.connect() as s:
        s.sendall(b"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
        r = Reader(s).response()
        assert (r.body, r.get("connection")) == (HELLO, "keep-alive")
        start = time.monotonic()
        data, closed = read_to_close(s, 5)
        elapsed = time.monotonic() - start
    assert closed
    assert data == b""
    assert 0.8 <= elapsed <= 3.0, elapsed


def test_rfc9110_6_2_http10_request_gets_an_http11_response(server: RunningServer) -> None:
    """RFC 9110 §6.2 / RFC 9112 §2.3: a server sends its own version (HTTP/1.1) in responses
    to HTTP/1.0 requests, also in error answers."""
    for data in [b"GET / HTTP/1.0\r\n\r\n", b"GET / HTTP/1.0\r\nBad Name: x\r\n\r\n"]:
        ex = talk(server, data)
        assert ex.data.startswith(b"HTTP/1.1 "), ex.data


# ---------------------------------------------------------------------------------------------
# Pipelining (RFC 9112 §9.3.2, §9.6)
# ---------------------------------------------------------------------------------------------

BAD_IN_PIPELINE = {
    "cl-and-te": (b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n"
                  b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400),
    "two-lengths": (b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\n"
                    b"Content-Length: 2\r\n\r\nab", 400),
    "bad-chunk-size": (b"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
                       b"zz\r\n", 400),
    "bad-chunk-data": (b"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
                       b"3\r\nabcd\r\n0\r\n\r\n", 400),
    "bad-field": (b"GET / HTTP/1.1\r\nHost: x\r\nBad Name: x\r\n\r\n", 400),
    "obs-fold": (b"GET / HTTP/1.1\r\nHost: x\r\nX-A: b\r\n c\r\n\r\n", 400),
    "bare-lf": (b"GET / HTTP/1.1\nHost: x\n\n", 400),
    "missing-host": (b"GET / HTTP/1.1\r\n\r\n", 400),
    "bad-request-line": (b"GET  / HTTP/1.1\r\nHost: x\r\n\r\n", 400),
    "body-too-large": (b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 2000\r\n\r\n", 413),
    "line-too-long": (request_line_of(MAX_REQUEST_LINE + 1) + b"\r\nHost: x\r\n\r\n", 414),
    "too-many-fields": (get(b"/", b"".join(b"X-%d: v\r\n" % i for i in range(30))), 431),
    "unknown-coding": (b"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip, chunked\r\n"
                       b"\r\n0\r\n\r\n", 501),
    "version": (b"GET / HTTP/2.0\r\nHost: x\r\n\r\n", 505),
    "expectation": (b"POST /echo HTTP/1.1\r\nHost: x\r\nExpect: foo\r\nContent-Length: 1\r\n"
                    b"\r\na", 417),
}  # fmt: skip


@pytest.mark.parametrize(("bad", "status"), BAD_IN_PIPELINE.values(), ids=BAD_IN_PIPELINE)
def test_rfc9112_9_6_bad_request_in_a_pipeline_is_answered_after_the_earlier_ones(
    server: RunningServer, bad: bytes, status: int
) -> None:
    """RFC 9112 §9.3.2 and §9.6: requests before the bad one - a slow one (/sleep), a POST with
    a body, a plain GET - are answered in order first, then the refusal, then the server
    closes; the requests sent after the bad one are never answered."""
    data = (
        b"GET /sleep HTTP/1.1\r\nHost: x\r\n\r\n"
        b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\none"
        b"GET / HTTP/1.1\r\nHost: x\r\n\r\n" + bad + SMUGGLED + get(b"/json")
    )
    ex = talk(server, data)
    assert ex.closed
    assert ex.count == 4, ex.data
    rs = ex.responses()
    assert [r.status for r in rs] == [200, 200, 200, status]
    assert [r.body for r in rs[:3]] == [b"slept", b"one", HELLO]
    assert rs[3].get("connection") == "close"


def test_rfc9112_9_6_close_in_the_middle_of_a_pipeline_ends_it(server: RunningServer) -> None:
    """RFC 9112 §9.6: the answer to the request with `Connection: close` is the last one; the
    requests pipelined after it are not processed."""
    data = (
        b"GET /sleep HTTP/1.1\r\nHost: x\r\n\r\n"
        + get(b"/users/1")
        + b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nnot"
        + SMUGGLED
    )
    ex = talk(server, data)
    assert ex.closed
    assert [(r.body, r.get("connection")) for r in ex.responses()] == [
        (b"slept", None),
        (b'{"id":1}', "close"),
    ]


def test_rfc9112_9_3_2_a_hundred_pipelined_requests_in_one_write(server: RunningServer) -> None:
    """RFC 9112 §9.3.2: more pipelined requests than the server reads ahead (32) are all
    answered, in order."""
    n = 100
    data = b"".join(b"GET /users/%d HTTP/1.1\r\nHost: x\r\n\r\n" % i for i in range(n - 1))
    ex = talk(server, data + get(b"/users/%d" % (n - 1)))
    assert ex.closed
    assert [r.body for r in ex.responses()] == [b'{"id":%d}' % i for i in range(n)]


def test_rfc9112_9_3_2_pipelined_bodies_larger_than_a_read(server: RunningServer) -> None:
    """RFC 9112 §6.3, §9.3.2: 60 pipelined 1000-byte bodies (60 kB, more than one read buffer)
    are delimited exactly and echoed in order."""
    bodies = [bytes([65 + i % 26]) * 1000 for i in range(60)]
    data = b"".join(
        b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n" + b for b in bodies
    )
    ex = talk(server, data + get())
    assert ex.closed
    assert [r.body for r in ex.responses()] == [*bodies, HELLO]


@pytest.mark.parametrize(
    ("target", "body"),
    [
        (b"/error", b"internal server error"),
        (b"/async-error", b"internal server error"),
        (b"/unencodable", b"internal server error"),
        (b"/teapot", b"short and stout"),
    ],
)
def test_rfc9112_9_3_2_handler_failure_in_a_pipeline_keeps_the_connection(
    server: RunningServer, target: bytes, body: bytes
) -> None:
    """RFC 9110 §15.6.1: a 500 (or an HTTPException's status) is an ordinary response - the
    message framing is intact - so the connection persists and the next pipelined request is
    answered (pinned)."""
    data = b"GET " + target + b" HTTP/1.1\r\nHost: x\r\n\r\n" + get()
    ex = talk(server, data)
    assert ex.closed
    failed, after = ex.responses()
    assert failed.get("connection") is None
    assert json.loads(failed.body)["detail"] == body.decode()
    assert (after.status, after.body) == (200, HELLO)


def test_rfc9112_9_6_half_closed_client_waiting_on_a_slow_handler_gets_its_answers(
    server: RunningServer,
) -> None:
    """RFC 9112 §9.6: half-closing is how a client says it sends nothing more, not that it
    stopped reading. The same as the half-close test above, but deterministic: /slow takes 1 s,
    long past the server's 50 ms check for clients that went away."""
    with server.connect() as s:
        s.sendall(b"GET /slow HTTP/1.1\r\nHost: x\r\n\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\n")
        s.shutdown(socket.SHUT_WR)
        data, closed = read_to_close(s, 5)
    assert closed
    responses = Exchange(data, closed, 0).responses()
    # The server tells a half-closed client from a gone one with one interim 103 (RFC 9110
    # §15.2: clients skip 1xx they do not expect); a gone client would answer it with RST.
    assert [r.status for r in responses if r.status < 200] == [103]
    assert [r.body for r in responses if r.status >= 200] == [b"slow done", HELLO]
