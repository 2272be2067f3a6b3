"""HTTP semantics over HTTP/1.1: methods (RFC 9110 §9), HEAD (§9.3.2), Expect: 100-continue
(§10.1.1), Date (§6.6.1) and what a response may carry (§5.5, §15.3.5).
"""

from __future__ import annotations

import socket
import time
from datetime import UTC, datetime

import pytest

from tests.conformance.helpers import (
    HELLO,
    IMF_FIXDATE,
    MAX_REQUEST_LINE,
    SMUGGLED,
    Exchange,
    Reader,
    Response,
    assert_refused,
    assert_served,
    assert_timed_out,
    get,
    post_length,
    read_to_close,
    request_line_of,
    statuses,
    talk,
)
from tests.conftest import RunningServer

# ---------------------------------------------------------------------------------------------
# Methods (RFC 9110 §9.1)
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


def test_rfc9110_9_3_2_head_with_content_length_body_is_consumed(server: RunningServer) -> None:
    """RFC 9110 §9.3.2, RFC 9112 §6.3: the Content-Length body of a HEAD is read, not parsed."""
    data = b"HEAD / HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n" % len(SMUGGLED)
    ex = talk(server, data + SMUGGLED + get(), head_only=(True,))
    assert ex.closed
    assert ex.count == 2, ex.data
    head, after = ex.responses()
    assert (head.status, head.body, after.body) == (200, b"", HELLO)


def test_rfc9110_9_3_2_head_with_chunked_body_is_consumed(server: RunningServer) -> None:
    """RFC 9110 §9.3.2, RFC 9112 §6.3: the chunked body of a HEAD is read, not parsed."""
    chunked = b"%x\r\n" % len(SMUGGLED) + SMUGGLED + b"\r\n0\r\n\r\n"
    data = b"HEAD / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n" + chunked
    ex = talk(server, data + get(), head_only=(True,))
    assert ex.closed
    assert ex.count == 2, ex.data
    head, after = ex.responses()
    assert (head.status, head.body, after.body) == (200, b"", HELLO)


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


def test_rfc9110_10_1_1_expect_100_continue_with_chunked_body(server: RunningServer) -> None:
    """RFC 9110 §10.1.1: 100 (Continue) also invites a chunked body."""
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
    """RFC 9110 §10.1.1, §15.5.14: a declared body over the limit gets 413 and no 100."""
    data = b"POST /echo HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 5000\r\n\r\n"
    r = assert_refused(server, data, 413)
    assert r.status == 413


def expect(value: bytes) -> bytes:
    return b"POST /echo HTTP/1.1\r\nHost: x\r\nExpect: " + value + b"\r\nContent-Length: 1\r\n\r\na"


@pytest.mark.parametrize(
    "request_",
    [
        expect(b"foo"),
        expect(b"100-continue, foo"),
        expect(b"200-ok"),
        expect(b"100-continue=1"),
        expect(b"100-continue;x=1"),
        b"GET / HTTP/1.1\r\nHost: x\r\nExpect: foo\r\n\r\n",
        b"POST /echo HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nExpect: foo\r\n"
        b"Content-Length: 1\r\n\r\na",
    ],
    ids=[
        "foo",
        "100-continue-and-foo",
        "200-ok",
        "with-value",
        "with-parameter",
        "without-content",
        "second-field-line",
    ],
)
def test_rfc9110_10_1_1_unknown_expectation_is_417(server: RunningServer, request_: bytes) -> None:
    """RFC 9110 §10.1.1: a server that receives an Expect value other than 100-continue MAY
    respond 417 (Expectation Failed); this one does - also on a request without content, or in
    a second Expect line - then closes."""
    assert_refused(server, request_ + SMUGGLED, 417)


def test_rfc9110_10_1_1_empty_expect_is_no_expectation(server: RunningServer) -> None:
    """RFC 9110 §5.6.1.2: an empty list has no elements: no expectation, no 417."""
    data = post_length(b"1", b"a", extra=b"Expect:\r\n")
    assert assert_served(server, data).body == b"a"


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


def test_rfc9110_10_1_1_continue_then_no_body_is_408(server: RunningServer) -> None:
    """RFC 9110 §15.5.9: after inviting the body with 100, the server still bounds the wait by
    the 1 s body timeout: 408 and close."""
    with server.connect() as s:
        start = time.monotonic()
        s.sendall(b"POST /echo HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\n")
        s.sendall(b"Content-Length: 5\r\n\r\n")
        assert recv_exactly(s, len(CONTINUE)) == CONTINUE
        data, closed = read_to_close(s)
        elapsed = time.monotonic() - start
    assert_timed_out(Exchange(data, closed, elapsed))


# ---------------------------------------------------------------------------------------------
# Date and response fields (RFC 9110 §6.6.1, §5.5, §15.3.5)
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


def test_rfc9110_15_3_5_204_has_no_content_length_and_no_body(server: RunningServer) -> None:
    """RFC 9110 §8.6 and §15.3.5: 204 carries no content and no Content-Length; the next
    pipelined response follows its head directly."""
    ex = talk(server, b"GET /none HTTP/1.1\r\nHost: x\r\n\r\n" + get())
    assert ex.closed
    no_content, after = ex.responses()
    assert no_content.status == 204
    assert no_content.get("content-length") is None
    assert after.body == HELLO


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
