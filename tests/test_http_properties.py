"""Property tests against a running server: how bytes are cut up on the wire must not matter
(RFC 9112 §2.1: a message is a byte stream, not a sequence of packets), garbage is refused
without a server error, and the `int` path converter round-trips every i64.

Kept small (30 examples each, no example database) so the module runs in a few seconds.
"""

from __future__ import annotations

import itertools
import json
import re
import socket
import string
import time
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.conformance.helpers import (
    LIMIT_ARGS,
    Exchange,
    Response,
    assert_alive,
    launch,
    read_to_close,
    stop,
    talk,
)
from tests.conftest import RunningServer

BOUNDED = settings(
    max_examples=30,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)

I64_MIN, I64_MAX = -(2**63), 2**63 - 1


@pytest.fixture(scope="module")
def server() -> Iterator[RunningServer]:
    """One basic-app server for the module, with conftest's short timeouts and small limits."""
    s = launch("tests.apps.basic:app", *LIMIT_ARGS)
    yield s
    stop(s)


def normalized(responses: list[Response]) -> list[tuple[int, list[tuple[str, str]], bytes]]:
    """Responses without their Date, which may tick between two runs."""
    return [(r.status, [h for h in r.headers if h[0] != "date"], r.body) for r in responses]


# ---------------------------------------------------------------------------------------------
# (a) Splitting a request into pieces does not change its answer
# ---------------------------------------------------------------------------------------------

# Valid requests; each ends with a `Connection: close` request so that reading to close is
# deterministic. The bool tuple marks responses to HEAD.
VALID: list[tuple[bytes, tuple[bool, ...]]] = [
    (b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", ()),
    (b"GET /users/42?x=1&y=2 HTTP/1.1\r\nHost: example.com:8080\r\nAccept: */*\r\n"
     b"User-Agent: split-test/1.0\r\nConnection: close\r\n\r\n", ()),
    (b"HEAD /json HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", (True,)),
    (b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Type: text/plain\r\nContent-Length: 26\r\n"
     b"Connection: close\r\n\r\nabcdefghijklmnopqrstuvwxyz", ()),
    (b"PUT /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
     b'4;ext="q\\"x";n\r\nWiki\r\n5\r\npedia\r\nE\r\n in\r\n\r\nchunks.\r\n0\r\n'
     b"X-Checksum: 1\r\n\r\n", ()),
    (b"GET http://127.0.0.1/json HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n", ()),
    (b"\r\nGET /users/-7 HTTP/1.0\r\n\r\n", ()),
    (b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"
     b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc"
     b"GET /json HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", ()),
]  # fmt: skip


@st.composite
def split_requests(draw: st.DrawFn) -> tuple[int, list[bytes], list[float]]:
    index = draw(st.integers(0, len(VALID) - 1))
    data = VALID[index][0]
    cuts = draw(st.lists(st.integers(1, len(data) - 1), max_size=8, unique=True))
    bounds = [0, *sorted(cuts), len(data)]
    pieces = [data[a:b] for a, b in itertools.pairwise(bounds)]
    pauses = draw(st.lists(st.floats(0, 0.01), min_size=len(pieces), max_size=len(pieces)))
    return index, pieces, pauses


_whole: dict[int, list[tuple[int, list[tuple[str, str]], bytes]]] = {}


def answer_to_whole(
    server: RunningServer, index: int
) -> list[tuple[int, list[tuple[str, str]], bytes]]:
    if index not in _whole:
        data, head_only = VALID[index]
        ex = talk(server, data, head_only=head_only)
        assert ex.closed
        _whole[index] = normalized(ex.responses())
    return _whole[index]


@BOUNDED
@given(case=split_requests())
def test_rfc9112_2_1_request_split_into_pieces_is_answered_like_the_whole(
    server: RunningServer, case: tuple[int, list[bytes], list[float]]
) -> None:
    """RFC 9112 §2.1/§2.2: where TCP segments start and end means nothing to HTTP; a request
    arriving in pieces with pauses between them gets the same answer as one sent at once."""
    index, pieces, pauses = case
    expected = answer_to_whole(server, index)
    with server.connect() as s:
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        start = time.monotonic()
        for piece, pause in zip(pieces, pauses, strict=True):
            s.sendall(piece)
            time.sleep(pause)
        data, closed = read_to_close(s, 5)
        elapsed = time.monotonic() - start
    assert closed
    got = normalized(Exchange(data, closed, elapsed, VALID[index][1]).responses())
    assert got == expected


# ---------------------------------------------------------------------------------------------
# (b) Garbage never gets a server error, and the server survives it
# ---------------------------------------------------------------------------------------------

RESPONSE_START = re.compile(rb"HTTP/1\.1 (\d{3}) ")


def send_then_close(server: RunningServer, data: bytes) -> Exchange:
    """Sends `data`, half-closes, and reads until the server closes."""
    with server.connect() as s:
        start = time.monotonic()
        try:
            s.sendall(data)
            s.shutdown(socket.SHUT_WR)
        except (BrokenPipeError, ConnectionResetError):
            pass  # refused before everything was sent
        got, closed = read_to_close(s, 5)
        return Exchange(got, closed, time.monotonic() - start)


@BOUNDED
@given(garbage=st.binary(min_size=1, max_size=400))
def test_random_bytes_never_get_a_5xx(server: RunningServer, garbage: bytes) -> None:
    """Random bytes then EOF: the server answers with at most a 4xx (usually 400) or just
    closes, never a 5xx, and keeps serving other connections."""
    ex = send_then_close(server, garbage)
    assert ex.closed
    codes = [int(c) for c in RESPONSE_START.findall(ex.data)]
    assert all(400 <= c < 500 for c in codes), ex.data
    assert_alive(server)


# Byte-level mutations of valid requests reach deeper into the parser than pure noise.
SEEDS = [data for data, _ in VALID]
TRICKY = [b"\r", b"\n", b"\r\n", b" ", b"\t", b"\x00", b":", b";", b",", b"0", b"f", b"\xff"]


@st.composite
def mutated_requests(draw: st.DrawFn) -> bytes:
    data = bytearray(draw(st.sampled_from(SEEDS)))
    for _ in range(draw(st.integers(1, 4))):
        pos = draw(st.integers(0, len(data)))
        op = draw(st.sampled_from(["insert", "delete", "replace"]))
        piece = draw(st.one_of(st.sampled_from(TRICKY), st.binary(min_size=1, max_size=3)))
        if op == "insert":
            data[pos:pos] = piece
        elif op == "delete":
            del data[pos : pos + len(piece)]
        else:
            data[pos : pos + len(piece)] = piece
    return bytes(data)


@BOUNDED
@given(data=mutated_requests())
def test_mutated_requests_never_get_a_server_error(server: RunningServer, data: bytes) -> None:
    """Mutated valid requests get ordinary answers: 2xx-4xx, or the two 5xx codes that are
    protocol answers (501 unknown transfer coding, RFC 9112 §6.1; 505 unsupported version,
    RFC 9110 §15.6.6) - never 500 or another server error - and the server survives."""
    ex = send_then_close(server, data)
    assert ex.closed
    for code in (int(c) for c in RESPONSE_START.findall(ex.data)):
        assert 100 <= code < 500 or code in (501, 505), ex.data
    assert_alive(server)


# ---------------------------------------------------------------------------------------------
# (c) The int converter: every i64 round-trips, anything outside is no match
# ---------------------------------------------------------------------------------------------


def get_user(server: RunningServer, n: str) -> Response:
    ex = talk(
        server, b"GET /users/%s HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n" % n.encode()
    )
    assert ex.closed
    assert ex.count == 1, ex.data
    (r,) = ex.responses()
    return r


@BOUNDED
@given(n=st.one_of(st.integers(I64_MIN, I64_MAX), st.sampled_from([I64_MIN, I64_MAX, 0, -1])))
def test_int_path_parameter_round_trips_every_i64(server: RunningServer, n: int) -> None:
    r = get_user(server, str(n))
    assert r.status == 200, r
    assert json.loads(r.body) == {"id": n}


@BOUNDED
@given(
    n=st.one_of(
        st.integers(-(10**60), I64_MIN - 1),
        st.integers(I64_MAX + 1, 10**60),
        st.sampled_from([I64_MIN - 1, I64_MAX + 1, 10**19, -(10**19), 10**40]),
    )
)
def test_int_path_parameter_out_of_i64_range_is_404(server: RunningServer, n: int) -> None:
    r = get_user(server, str(n))
    assert r.status == 404, r
    assert json.loads(r.body)["status"] == 404


# ---------------------------------------------------------------------------------------------
# (d) Pipelined requests are answered in order, however they are cut up
# ---------------------------------------------------------------------------------------------

NAME_CHARS = string.ascii_letters + string.digits + "-._~"


@dataclass(frozen=True)
class Planned:
    """One request of a pipeline and the answer that proves it was this request's."""

    method: str
    target: str
    body: bytes | None  # request content, if any
    chunks: tuple[int, ...] | None  # chunk sizes when chunked, None for Content-Length
    content_type: str | None
    status: int
    expect: bytes  # the response body GET would get (HEAD: its length only)

    def render(self, close: bool) -> bytes:
        fields = [b"Host: x"]
        if self.content_type is not None:
            fields.append(b"Content-Type: " + self.content_type.encode())
        payload = b""
        if self.body is not None and self.chunks is None:
            fields.append(b"Content-Length: %d" % len(self.body))
            payload = self.body
        elif self.body is not None and self.chunks is not None:
            fields.append(b"Transfer-Encoding: chunked")
            rest = self.body
            for size in self.chunks:
                payload += b"%x\r\n" % size + rest[:size] + b"\r\n"
                rest = rest[size:]
            payload += b"0\r\n\r\n"
        if close:
            fields.append(b"Connection: close")
        head = f"{self.method} {self.target} HTTP/1.1\r\n".encode()
        return head + b"".join(f + b"\r\n" for f in fields) + b"\r\n" + payload


@st.composite
def chunk_sizes(draw: st.DrawFn, total: int) -> tuple[int, ...]:
    """Sizes of at least one non-empty chunk that add up to `total` (an empty body: none)."""
    cuts = draw(st.lists(st.integers(1, max(total - 1, 1)), max_size=6, unique=True))
    bounds = [0, *sorted(c for c in cuts if c < total), total]
    return tuple(b - a for a, b in itertools.pairwise(bounds) if b > a)


@st.composite
def planned_request(draw: st.DrawFn, index: int) -> Planned:
    """A random request whose answer names it: the index is in the path or the body."""
    method = draw(st.sampled_from(["GET", "HEAD", "POST"]))
    tag = f"r{index}"
    if method == "POST":
        body = tag.encode() + b":" + draw(st.binary(max_size=300))
        chunked = draw(st.booleans())
        chunks = draw(chunk_sizes(len(body))) if chunked else None
        content_type = f"application/x-{tag}"
        return Planned(method, "/echo", body, chunks, content_type, 200, body)
    route = draw(st.sampled_from(["names", "files", "users"]))
    if route == "names":
        name = tag + "-" + draw(st.text(NAME_CHARS, max_size=20))
        target, expect = f"/names/{name}", name.encode()
    elif route == "files":
        parts = draw(st.lists(st.text(NAME_CHARS, min_size=1, max_size=8), max_size=3))
        rest = "/".join([tag, *parts])
        target, expect = f"/files/{rest}", rest.encode()
    else:
        n = index * 1000 + draw(st.integers(0, 999))
        target, expect = f"/users/{n}", b'{"id":%d}' % n
    # Some GETs and HEADs carry a body too: it is read and dropped (RFC 9112 §6.3), never
    # taken for the next request.
    body = draw(st.none() | st.binary(max_size=50))
    return Planned(method, target, body, None, None, 200, expect)


@st.composite
def pipelines(draw: st.DrawFn) -> tuple[list[Planned], list[bytes], list[float]]:
    n = draw(st.integers(1, 40))
    plan = [draw(planned_request(i)) for i in range(n)]
    data = b"".join(p.render(close=i == n - 1) for i, p in enumerate(plan))
    if draw(st.booleans()):
        pieces, pauses = [data], [0.0]
    else:
        cuts = draw(st.lists(st.integers(1, len(data) - 1), min_size=1, max_size=12, unique=True))
        bounds = [0, *sorted(cuts), len(data)]
        pieces = [data[a:b] for a, b in itertools.pairwise(bounds)]
        pauses = draw(st.lists(st.floats(0, 0.005), min_size=len(pieces), max_size=len(pieces)))
    return plan, pieces, pauses


@BOUNDED
@given(case=pipelines())
def test_rfc9112_9_3_2_pipelined_requests_are_answered_in_order(
    server: RunningServer, case: tuple[list[Planned], list[bytes], list[float]]
) -> None:
    """RFC 9112 §9.3.2: up to 40 pipelined GET/HEAD/POST requests (Content-Length or chunked
    bodies, bodies on GETs) sent at once or cut at random bytes with pauses between the
    pieces, more than the 32 the server reads ahead: each gets its own answer, in order."""
    plan, pieces, pauses = case
    with server.connect() as s:
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        for piece, pause in zip(pieces, pauses, strict=True):
            s.sendall(piece)
            time.sleep(pause)
        data, closed = read_to_close(s, 10)
    assert closed
    head_only = [p.method == "HEAD" for p in plan]
    responses = Exchange(data, closed, 0, head_only).responses()
    assert len(responses) == len(plan), data
    for p, r in zip(plan, responses, strict=True):
        assert r.status == p.status, (p, r)
        if p.method == "HEAD":
            assert r.body == b""
            assert r.get("content-length") == str(len(p.expect)), (p, r)
        else:
            assert r.body == p.expect, (p, r)
        if p.content_type is not None:
            assert r.get("content-type") == p.content_type
    assert [r.get("connection") for r in responses] == [None] * (len(plan) - 1) + ["close"]
