"""Size limits: request line (414, RFC 9110 §15.5.15 via RFC 9112 §3), header section and
trailers (431, RFC 6585 §5), body (413, RFC 9110 §15.5.14). Exactly at a limit is served.
"""

from __future__ import annotations

import time

import pytest

from tests.conformance.helpers import (
    HELLO,
    MAX_BODY,
    MAX_HEADER_BYTES,
    MAX_HEADERS,
    MAX_REQUEST_LINE,
    Exchange,
    assert_refused,
    assert_served,
    get,
    launch,
    post_chunked,
    post_length,
    read_to_close,
    request_line_of,
    stop,
)
from tests.conftest import RunningServer

# ---------------------------------------------------------------------------------------------
# Request line (RFC 9112 §3, RFC 9110 §15.5.15)
# ---------------------------------------------------------------------------------------------


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


# ---------------------------------------------------------------------------------------------
# Header and trailer sections (RFC 6585 §5)
# ---------------------------------------------------------------------------------------------


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


def test_rfc6585_5_trailer_section_over_limit_is_431(server: RunningServer) -> None:
    """RFC 9112 §7.1.2 with RFC 6585 §5: trailers are bounded like the head (2048 bytes)."""
    trailers = b"X-A: " + b"a" * MAX_HEADER_BYTES + b"\r\n\r\n"
    assert_refused(server, post_chunked(b"0\r\n" + trailers), 431)


# ---------------------------------------------------------------------------------------------
# Body (RFC 9110 §15.5.14)
# ---------------------------------------------------------------------------------------------


def test_rfc9110_15_5_14_content_length_at_limit_is_served(server: RunningServer) -> None:
    """RFC 9110 §15.5.14: a Content-Length body of exactly the 1024-byte limit is served."""
    body = bytes(range(256)) * (MAX_BODY // 256)
    r = assert_served(server, post_length(b"%d" % MAX_BODY, body))
    assert r.body == body


def test_rfc9110_15_5_14_content_length_over_limit_is_413_before_the_body() -> None:
    """RFC 9110 §15.5.14: a declared body over the 1024-byte limit gets 413 at once, without
    the server waiting for (or the client sending) the body."""
    # "At once" can only be told from "after the body timeout" by a clock: this server waits
    # 30 s for a body, so a generous bound (10 s) still tells them apart on a busy machine.
    server = launch("tests.apps.basic:app", "--body-timeout", "30", "--max-body-size", "1024")
    try:
        with server.connect() as s:
            start = time.monotonic()
            s.sendall(b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 1025\r\n\r\n")
            data, closed = read_to_close(s)
            elapsed = time.monotonic() - start
    finally:
        stop(server)
    assert closed
    assert elapsed < 10, "the 413 must not wait for the body or a timeout"
    assert data.count(b"HTTP/1.1 ") == 1
    (r,) = Exchange(data, closed, elapsed).responses()
    assert r.status == 413
    assert r.get("connection") == "close"


def test_rfc9110_15_5_14_chunked_body_at_limit_is_served(server: RunningServer) -> None:
    """RFC 9110 §15.5.14: chunks adding up to exactly the 1024-byte limit are served."""
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
