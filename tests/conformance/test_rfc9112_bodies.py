"""Message bodies: framing by Content-Length and Transfer-Encoding (RFC 9112 §6, RFC 9110 §8.6),
the chunked coding (RFC 9112 §7.1), and how responses are delimited.
"""

from __future__ import annotations

import pytest

from tests.conformance.helpers import (
    HELLO,
    JSON_BODY,
    SMUGGLED,
    assert_refused,
    assert_served,
    get,
    post_chunked,
    post_length,
    statuses,
    talk,
)
from tests.conftest import RunningServer

# ---------------------------------------------------------------------------------------------
# Content-Length (RFC 9110 §8.6; RFC 9112 §6.3)
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


@pytest.mark.parametrize("value", [b"abc", b"3;x", b"0x3"])
def test_rfc9110_8_6_invalid_content_length_on_a_get_is_400(
    server: RunningServer, value: bytes
) -> None:
    """RFC 9112 §6.3 item 5: the length is checked whatever the method and route."""
    data = b"GET / HTTP/1.1\r\nHost: x\r\nContent-Length: " + value + b"\r\n\r\nabc" + SMUGGLED
    assert_refused(server, data, 400)


@pytest.mark.parametrize("value", [b"005", b" 5 ", b"\t5"], ids=["leading-zeros", "ows", "htab"])
def test_rfc9110_8_6_content_length_digits_with_ows_are_valid(
    server: RunningServer, value: bytes
) -> None:
    """RFC 9110 §8.6: 1*DIGIT allows leading zeros; RFC 9110 §5.5: OWS around a value is not
    part of it."""
    r = assert_served(server, post_length(value, b"hello"))
    assert r.body == b"hello"


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


# ---------------------------------------------------------------------------------------------
# Transfer-Encoding (RFC 9112 §6.1, §6.3)
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


@pytest.mark.parametrize(
    "fields",
    [b"TRANSFER-ENCODING: chunked\r\n", b"Transfer-Encoding:\tchunked\t\r\n"],
    ids=["upper-case", "htab-ows"],
)
def test_rfc9110_5_1_transfer_encoding_name_is_case_insensitive(
    server: RunningServer, fields: bytes
) -> None:
    """RFC 9110 §5.1: Transfer-Encoding is recognised in any letter case and with any OWS."""
    data = post_chunked(b"3\r\nabc\r\n0\r\n\r\n").replace(b"Transfer-Encoding: chunked\r\n", fields)
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


def test_rfc9112_6_1_quoted_transfer_coding_is_400(server: RunningServer) -> None:
    """RFC 9112 §6.1: transfer-coding is a token; `"chunked"` is not chunked, so the final coding
    is not chunked and the length is unknown (RFC 9112 §6.3 item 4): 400 and close."""
    data = b'POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: "chunked"\r\n\r\n0\r\n\r\n'
    assert_refused(server, data + SMUGGLED, 400)


def test_rfc9112_6_1_transfer_encoding_in_http10_is_400(server: RunningServer) -> None:
    """RFC 9112 §6.1: Transfer-Encoding in an HTTP/1.0 message means faulty framing: the server
    MUST treat it as such and close the connection after responding."""
    data = b"POST /echo HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n" + SMUGGLED
    assert_refused(server, data, 400)


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


def test_rfc9112_7_1_1_endless_chunk_extension_is_400(server: RunningServer) -> None:
    """RFC 9112 §7.1.1: a server ought to limit the total length of chunk extensions; a
    chunk-size line longer than 4096 bytes is refused before its end arrives."""
    chunks = b"5;a=" + b"x" * 4200 + b"\r\nhello\r\n0\r\n\r\n"
    assert_refused(server, post_chunked(chunks + SMUGGLED), 400)


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


# ---------------------------------------------------------------------------------------------
# A body is read, never parsed as a request (RFC 9112 §6.3)
# ---------------------------------------------------------------------------------------------


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


def test_rfc9112_3_2_4_options_asterisk_body_is_consumed(server: RunningServer) -> None:
    """RFC 9112 §6.3: `OPTIONS *` with a body: the body is read, not taken for a request."""
    data = b"OPTIONS * HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n" % len(SMUGGLED)
    ex = talk(server, data + SMUGGLED + get())
    assert ex.closed
    assert ex.count == 2, ex.data
    assert statuses(ex) == [404, 200]


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
# Response framing (RFC 9112 §6.1, §7.1, §8)
# ---------------------------------------------------------------------------------------------


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
    """RFC 9112 §7.1: a streamed response of unknown length goes chunked to HTTP/1.1."""
    ex = talk(server, get(b"/stream"))
    assert ex.closed
    (r,) = ex.responses()
    assert r.get("transfer-encoding") == "chunked"
    assert r.body == b"chunk0;chunk1;chunk2;chunk3;chunk4;"


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
