"""HTTP/1.1 message syntax: the request line (RFC 9112 §2-§3), field lines (RFC 9112 §5,
RFC 9110 §5) and Host (RFC 9112 §3.2).
"""

from __future__ import annotations

import json

import pytest

from tests.conformance.helpers import (
    HELLO,
    JSON_BODY,
    SMUGGLED,
    Reader,
    assert_refused,
    assert_served,
    get,
    talk,
)
from tests.conftest import RunningServer

# ---------------------------------------------------------------------------------------------
# Request line (RFC 9112 §3, §2.3)
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("version", [b"HTTP/2.0", b"HTTP/1.2", b"HTTP/3.0", b"HTTP/0.9"])
def test_rfc9110_15_6_6_unsupported_version_is_505(server: RunningServer, version: bytes) -> None:
    """RFC 9112 §2.3 and RFC 9110 §15.6.6: a well-formed major/minor version the server does not
    speak gets 505."""
    assert_refused(server, b"GET / " + version + b"\r\nHost: x\r\n\r\n" + SMUGGLED, 505)


@pytest.mark.parametrize("version", [b"HTTP/10.1", b"HTTP/1.10", b"HTTP/1.", b"HTTP/.1"])
def test_rfc9112_2_3_malformed_version_is_400_not_505(
    server: RunningServer, version: bytes
) -> None:
    """RFC 9112 §2.3: HTTP-version = HTTP-name "/" DIGIT "." DIGIT - one digit each. Anything
    else is not a version the server does not support (505) but no version at all: 400."""
    assert_refused(server, b"GET / " + version + b"\r\nHost: x\r\n\r\n" + SMUGGLED, 400)


def test_rfc9110_6_2_http10_request_gets_an_http11_response(server: RunningServer) -> None:
    """RFC 9110 §6.2 / RFC 9112 §2.3: a server sends its own version (HTTP/1.1) in responses
    to HTTP/1.0 requests, also in error answers."""
    for data in [b"GET / HTTP/1.0\r\n\r\n", b"GET / HTTP/1.0\r\nBad Name: x\r\n\r\n"]:
        ex = talk(server, data)
        assert ex.data.startswith(b"HTTP/1.1 "), ex.data


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


def test_rfc9112_3_nul_in_the_request_target_is_400(server: RunningServer) -> None:
    """RFC 9112 §3: NUL is no request-target character; 400 and close."""
    assert_refused(server, b"GET /a\x00b HTTP/1.1\r\nHost: x\r\n\r\n" + SMUGGLED, 400)


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


def test_rfc3986_2_1_percent_encoded_non_utf8_path_segment_is_404(server: RunningServer) -> None:
    """RFC 3986 §2.1: `%ff` is a well-formed percent-encoding, so the target is valid (no 400);
    its decoded segment is not UTF-8 and matches no route: 404 (RFC 9110 §15.5.5), and the
    connection stays usable (pinned behaviour)."""
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


def test_rfc9112_2_2_endless_empty_lines_before_the_request_line_are_bounded(
    server: RunningServer,
) -> None:
    """RFC 9112 §2.2 asks to ignore at least one empty line before the request-line, not any
    number: they count against the request-line limit (256 bytes), so 1,000 of them get 414
    (pinned) and the connection closes."""
    assert_refused(server, b"\r\n" * 1000 + get(), 414)


# ---------------------------------------------------------------------------------------------
# Field syntax (RFC 9112 §2.2, §5; RFC 9110 §5)
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
        b"GET / HTTP/1.0\r\nHost: a b\r\n\r\n",
        b"GET / HTTP/1.0\r\nHost: x/y\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: ::1\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: x:8080:80\r\n\r\n",
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
        "http10-space",
        "http10-slash",
        "ipv6-without-brackets",
        "two-ports",
    ],
)
def test_rfc9112_3_2_missing_duplicate_or_invalid_host_is_400(
    server: RunningServer, data: bytes
) -> None:
    """RFC 9112 §3.2: a server MUST respond 400 to an HTTP/1.1 request without Host (also when
    the target is in absolute-form), and to any request - HTTP/1.0 included - with more than one
    Host field line or an invalid Host value; RFC 3986 §3.2.2: an IPv6 literal is enclosed in
    brackets."""
    assert_refused(server, data + SMUGGLED, 400)


@pytest.mark.parametrize(
    "data",
    [
        b"GET / HTTP/1.0\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: \r\nConnection: close\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: [::1]:8080\r\nConnection: close\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: 127.0.0.1:80\r\nConnection: close\r\n\r\n",
        b"GET / HTTP/1.1\r\nHOST: example.com\r\nConnection: close\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: x:\r\nConnection: close\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: EXAMPLE.com.\r\nConnection: close\r\n\r\n",
        b"GET http://127.0.0.1/ HTTP/1.0\r\n\r\n",
        b"GET http://a.example/ HTTP/1.1\r\nHost: b.example\r\nConnection: close\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost:\t x \t\r\nConnection: close\r\n\r\n",
    ],
    ids=[
        "http10-without-host",
        "empty",
        "ipv6",
        "ipv4-port",
        "upper-case-name",
        "empty-port",
        "trailing-dot",
        "http10-absolute-form",
        "differs-from-target",
        "ows",
    ],
)
def test_rfc9112_3_2_acceptable_host(server: RunningServer, data: bytes) -> None:
    """RFC 9112 §3.2: HTTP/1.0 requests need no Host; an empty Host is what a client sends for a
    target without authority; field names are case-insensitive (RFC 9110 §5.1) and OWS is not
    part of the value (RFC 9110 §5.5). RFC 3986 §3.2.3: port = *DIGIT (may be empty); a fully
    qualified name may end in a dot. An HTTP/1.0 absolute-form request needs no Host, and with
    an absolute-form target the Host field is ignored, so a different one is no error
    (RFC 9112 §3.2.2)."""
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
