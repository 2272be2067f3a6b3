"""Connection management: persistence (RFC 9112 §9.3), pipelining (RFC 9112 §9.3.2) and closing
(RFC 9112 §9.6, RFC 9110 §7.6.1), for HTTP/1.1 and HTTP/1.0 keep-alive (RFC 9112 Appendix C.2.2).
"""

from __future__ import annotations

import json
import socket

import pytest

from tests.conformance.helpers import (
    HELLO,
    JSON_BODY,
    MAX_REQUEST_LINE,
    SMUGGLED,
    Exchange,
    Reader,
    get,
    post_chunked,
    read_to_close,
    request_line_of,
    talk,
)
from tests.conftest import RunningServer

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
# HTTP/1.0 persistence (RFC 9112 §9.3, Appendix C.2.2)
# ---------------------------------------------------------------------------------------------


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


def test_rfc9112_9_3_http10_head_with_keep_alive_keeps_the_connection(
    server: RunningServer,
) -> None:
    """RFC 9112 §9.3, Appendix C.2.2: a HEAD keeps an HTTP/1.0 keep-alive connection."""
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
# Connection: close (RFC 9112 §9.6; RFC 9110 §7.6.1)
# ---------------------------------------------------------------------------------------------


def _answered_once_then_closed(server: RunningServer, data: bytes) -> None:
    """The first request of `data` is answered with `connection: close`, then the connection
    closes and the request after it is never read."""
    ex = talk(server, data)
    assert ex.closed
    assert ex.count == 1, ex.data
    (r,) = ex.responses()
    assert (r.status, r.body, r.get("connection")) == (200, HELLO, "close")


@pytest.mark.parametrize("value", [b"close", b"Close", b"CLOSE", b"foo,close"])
def test_rfc9112_9_6_connection_close(server: RunningServer, value: bytes) -> None:
    """RFC 9112 §9.6: after a request with the `close` option (case-insensitive, RFC 9110 §7.6.1)
    the server answers with `connection: close`, closes, and reads no further requests. With
    `keep-alive` in the list as well: `test_rfc9112_9_6_close_wins_over_keep_alive`."""
    data = b"GET / HTTP/1.1\r\nHost: x\r\nConnection: " + value + b"\r\n\r\n" + get(b"/json")
    _answered_once_then_closed(server, data)


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
    _answered_once_then_closed(server, data)


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


# ---------------------------------------------------------------------------------------------
# Pipelining (RFC 9112 §9.3.2, §9.6)
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


def test_rfc9112_9_3_2_a_hundred_pipelined_requests_in_one_write(server: RunningServer) -> None:
    """RFC 9112 §9.3.2: more pipelined requests than the server reads ahead (32) are all
    answered, in order."""
    n = 100
    data = b"".join(b"GET /users/%d HTTP/1.1\r\nHost: x\r\n\r\n" % i for i in range(n - 1))
    ex = talk(server, data + get(b"/users/%d" % (n - 1)))
    assert ex.closed
    assert [r.body for r in ex.responses()] == [b'{"id":%d}' % i for i in range(n)]


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


def test_rfc9112_9_3_2_pipelined_request_after_a_streamed_response(server: RunningServer) -> None:
    """RFC 9112 §7.1, §9.3.2: a chunked response ends with its last-chunk and the next
    pipelined response follows it."""
    ex = talk(server, b"GET /stream HTTP/1.1\r\nHost: x\r\n\r\n" + get())
    assert ex.closed
    streamed, after = ex.responses()
    assert streamed.body == b"chunk0;chunk1;chunk2;chunk3;chunk4;"
    assert after.body == HELLO


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


# ---------------------------------------------------------------------------------------------
# Half-closed clients (RFC 9112 §9.6)
# ---------------------------------------------------------------------------------------------


def test_rfc9112_9_6_half_closed_client_still_gets_pipelined_answers(
    server: RunningServer,
) -> None:
    """RFC 9112 §9.6: a client that half-closes after its requests still reads every answer."""
    with server.connect() as s:
        s.sendall(b"GET /sleep HTTP/1.1\r\nHost: x\r\n\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\n")
        s.shutdown(socket.SHUT_WR)
        data, closed = read_to_close(s)
    assert closed
    assert [r.body for r in Exchange(data, closed, 0).responses()] == [b"slept", HELLO]


def test_rfc9112_9_6_half_closed_client_waiting_on_a_slow_handler_gets_its_answers(
    server: RunningServer,
) -> None:
    """RFC 9112 §9.6: half-closing is how a client says it sends nothing more, not that it
    stopped reading. The same as the half-close test above, but deterministic: /slow takes 1 s,
    long past the server's 50 ms check for clients that went away."""
    with server.connect() as s:
        s.sendall(b"GET /slow HTTP/1.1\r\nHost: x\r\n\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\n")
        s.shutdown(socket.SHUT_WR)
        data, closed = read_to_close(s)
    assert closed
    responses = Exchange(data, closed, 0).responses()
    # The server tells a half-closed client from a gone one with one interim 103 (RFC 9110
    # §15.2: clients skip 1xx they do not expect); a gone client would answer it with RST.
    assert [r.status for r in responses if r.status < 200] == [103]
    assert [r.body for r in responses if r.status >= 200] == [b"slow done", HELLO]
