"""Attacks on HTTP/2 servers, each actually sent, and after each one a fresh connection must
still be served: the attack costs the attacker its connection, never the server its service.

- rapid reset (CVE-2023-44487): streams opened and cancelled at once, beyond h2_max_resets;
- CONTINUATION flood (CVE-2024-27316): a field block that never ends;
- HPACK bomb (RFC 7541 §7.3, CVE-2016-6581 class): a large dynamic-table entry referenced
  over and over, so a few bytes decode to megabytes;
- SETTINGS, PING and empty-DATA floods (CVE-2019-9515, CVE-2019-9512, CVE-2019-9518);
- zero-window slow read (CVE-2019-9511/9517 class): the client never opens its window;
- request smuggling through framing (RFC 9113 §8.1.1, §8.2.2, §8.3.1).

Expected reactions are issue 17's spec (RFC 9113 §5.4.1: a connection error is a GOAWAY with
its code, then the close): floods and rapid reset get GOAWAY ENHANCE_YOUR_CALM (0xb).
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator

import httpx
import pytest

from tests.conftest import RunningServer, StartServer, running_server
from tests.http2.frames import (
    CANCEL,
    COMPRESSION_ERROR,
    ENHANCE_YOUR_CALM,
    HPACK_AUTHORITY,
    HPACK_GET,
    HPACK_HTTP,
    HPACK_POST,
    HPACK_ROOT,
    INITIAL_WINDOW_SIZE,
    PROTOCOL_ERROR,
    ConnectionEnded,
    Peer,
    assert_served,
    continuation_frame,
    data_frame,
    error_name,
    expect_goaway,
    expect_rst,
    headers_frame,
    hpack_indexed,
    hpack_literal_indexed,
    hpack_literal_not_indexed,
    hpack_str,
    outcome,
    ping_frame,
    request_fields,
    rst_stream_frame,
    settings_frame,
)

APP = "tests.http2.app:app"
MAX_RESETS = 50
# A flood that got this far without the server ending the connection was buffered or ignored.
FLOOD_LIMIT = 10 << 20
# GET / (RFC 7541 static-table entries, :authority not indexed): leaves the dynamic table empty.
GET_ROOT = HPACK_GET + HPACK_HTTP + HPACK_ROOT + HPACK_AUTHORITY


@pytest.fixture(scope="module")
def server() -> Iterator[RunningServer]:
    """The HTTP/2 app with a small rapid-reset budget (`--h2-max-resets 50`)."""
    with running_server(APP, "--workers", "1", "--h2-max-resets", str(MAX_RESETS)) as s:
        yield s


def flood(peer: Peer, unit: bytes, *, batch: int = 256) -> int:
    """Sends `unit` again and again (`batch` at a time), reading whatever the server sends in
    between (so its answers never back up), until the server sends GOAWAY or closes the
    connection, or FLOOD_LIMIT bytes went out. Returns the bytes sent."""
    chunk = unit * batch
    sent = 0
    while sent < FLOOD_LIMIT and peer.goaway is None and not peer.eof:
        try:
            peer.sock.sendall(chunk)
        except (BrokenPipeError, ConnectionResetError):
            break  # closed: what it sent before is still readable (expect_goaway reads it)
        except TimeoutError:
            raise AssertionError(
                f"after {sent} bytes the server stopped reading for 10 s without ending the "
                f"connection; received: {peer.summary()}"
            ) from None
        sent += len(chunk)
        peer.drain()
    return sent


# ---------------------------------------------------------------------------------------------
# Rapid reset (CVE-2023-44487)
# ---------------------------------------------------------------------------------------------


def test_rapid_reset_over_the_budget_is_goaway_enhance_your_calm(server: RunningServer) -> None:
    """CVE-2023-44487 (rapid reset), as attackers send it: HEADERS then RST_STREAM(CANCEL) on
    stream after stream, 20 streams per write, without waiting. The server ends the connection
    with GOAWAY ENHANCE_YOUR_CALM (issue 17's spec; RFC 9113 §5.4.1, §7 code 0xb), whichever
    limit catches it first: h2_max_resets (50), or the h2 library's own limit on reset streams
    not yet taken in (see the paced test for h2_max_resets alone)."""
    with Peer.open(server) as peer:
        fields = request_fields("GET", "/slow?ms=2000")
        sent_streams = 0
        for first in range(1, 4001, 40):  # 20 streams per write, up to 2,000 streams
            out = []
            for sid in range(first, first + 40, 2):
                out += [headers_frame(sid, peer.block(fields)), rst_stream_frame(sid, CANCEL)]
            try:
                peer.send(*out)
            except (BrokenPipeError, ConnectionResetError):
                break
            sent_streams += 20
            peer.drain()
            if peer.goaway is not None or peer.eof:
                break
        code = expect_goaway(peer)
        assert code == ENHANCE_YOUR_CALM, (
            f"after {sent_streams} reset streams: GOAWAY {error_name(code)}, expected "
            f"ENHANCE_YOUR_CALM; {peer.summary()}"
        )
        assert peer.goaway is not None
        assert sent_streams > MAX_RESETS // 2, "GOAWAY long before the budget was spent"
    assert_served(server)


def test_paced_resets_past_the_budget_are_goaway_enhance_your_calm(server: RunningServer) -> None:
    """CVE-2023-44487, paced: each HEADERS + RST_STREAM(CANCEL) is followed by a PING round
    trip, so the server has taken in every stream before the next (no backlog of unaccepted
    streams for the h2 library's own burst limit to catch). The first h2_max_resets (50)
    resets are allowed; past them comes GOAWAY ENHANCE_YOUR_CALM (issue 17's spec)."""
    with Peer.open(server) as peer:
        sid, resets = 1, 0
        while peer.goaway is None and not peer.eof and resets < 4 * MAX_RESETS:
            try:
                peer.send(
                    headers_frame(sid, peer.block(request_fields("GET", "/slow?ms=2000"))),
                    rst_stream_frame(sid, CANCEL),
                )
            except (BrokenPipeError, ConnectionResetError):
                break
            resets += 1
            with contextlib.suppress(ConnectionEnded):
                peer.ping_roundtrip(f"rst{resets:05d}".encode())
            sid += 2
        assert peer.goaway is not None, f"{resets} resets and no GOAWAY; {peer.summary()}"
        assert resets > MAX_RESETS, f"GOAWAY after {resets} resets; the budget is {MAX_RESETS}"
        code = expect_goaway(peer)
        assert code == ENHANCE_YOUR_CALM, f"GOAWAY {error_name(code)}"
    assert_served(server)


def test_resets_within_the_budget_keep_the_connection(server: RunningServer) -> None:
    """CVE-2023-44487 defence, the other side: a client that cancels fewer than h2_max_resets
    (50) streams in 10 s is an ordinary client (RFC 9113 §6.4: RST_STREAM is legitimate); its
    connection goes on serving."""
    with Peer.open(server) as peer:
        sid = 1
        for i in range(MAX_RESETS // 2):
            peer.send(headers_frame(sid, peer.block(request_fields("GET", "/slow?ms=2000"))))
            peer.send(rst_stream_frame(sid, CANCEL))
            peer.ping_roundtrip(f"rst{i:05d}".encode())
            sid += 2
        r = peer.get(sid, "/")
        assert (r.status, r.body) == (200, b"Hello, World!")
        assert peer.goaway is None, peer.summary()


# ---------------------------------------------------------------------------------------------
# CONTINUATION flood (CVE-2024-27316)
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("payload", ["headers", "empty"])
def test_continuation_flood_ends_the_connection(server: RunningServer, payload: str) -> None:
    """CVE-2024-27316: HEADERS without END_HEADERS, then CONTINUATION frames without end (each
    carrying a 16 KB field, or nothing at all). The server must end the connection — GOAWAY
    PROTOCOL_ERROR, ENHANCE_YOUR_CALM or COMPRESSION_ERROR (RFC 9113 §6.10, §10.5.1), or a
    close — before 10 MiB arrived: a server that buffers the field block keeps reading."""
    with Peer.open(server) as peer:
        peer.send(headers_frame(1, GET_ROOT, end_headers=False))
        if payload == "headers":
            field = hpack_literal_not_indexed(b"x-flood", b"f" * 16000)
            unit = continuation_frame(1, field, end_headers=False)
            batch = 4
        else:
            unit = continuation_frame(1, b"", end_headers=False)
            batch = 1024
        sent = flood(peer, unit, batch=batch)
        assert sent < FLOOD_LIMIT, f"{sent} bytes of CONTINUATION and the connection lives on"
        while peer.goaway is None and not peer.eof:
            peer.pump_or_eof("GOAWAY or the close")
        if peer.goaway is not None:
            code = int(peer.goaway.error_code)
            assert code in (PROTOCOL_ERROR, ENHANCE_YOUR_CALM, COMPRESSION_ERROR), (
                f"GOAWAY {error_name(code)}"
            )
        peer.read_to_close()
    assert_served(server)


# ---------------------------------------------------------------------------------------------
# HPACK bomb (RFC 7541 §7.3)
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("references", [40, 4000])
def test_hpack_bomb_is_refused(server: RunningServer, references: int) -> None:
    """RFC 7541 §7.3 / RFC 9113 §10.5.1: one 4,000-octet field is put in the dynamic table,
    then referenced by its 1-octet index `references` times: 40 decode to 160 KB, 4,000 to
    16 MB, both over h2_max_header_list_size (64 KiB). The request is refused — a 431, a
    RST_STREAM or a GOAWAY — never served."""
    with Peer.open(server) as peer:
        # Stream 1 plants the entry (index 62) with a request that is fine on its own.
        plant = GET_ROOT + hpack_literal_indexed(b"x-bomb", b"b" * 4000)
        peer.send(headers_frame(1, plant))
        r = peer.response(1)
        assert r.status == 200, r
        bomb = GET_ROOT + hpack_indexed(62) * references
        peer.send(headers_frame(3, bomb))
        kind, code = outcome(peer, 3)
        assert (kind, code) != ("status", 200), "the HPACK bomb was served"
        assert kind in ("RST_STREAM", "GOAWAY") or (kind, code) == ("status", 431), (
            kind,
            code,
            peer.summary(),
        )
    assert_served(server)


def test_header_list_just_under_the_limit_is_served(server: RunningServer) -> None:
    """RFC 9113 §6.5.2 (the control case): 10 references (40 KB decoded, under 64 KiB) are an
    ordinary request."""
    with Peer.open(server) as peer:
        plant = GET_ROOT + hpack_literal_indexed(b"x-bomb", b"b" * 4000)
        peer.send(headers_frame(1, plant))
        assert peer.response(1).status == 200
        peer.send(headers_frame(3, GET_ROOT + hpack_indexed(62) * 10))
        r = peer.response(3)
    assert (r.status, r.body) == (200, b"Hello, World!")


# ---------------------------------------------------------------------------------------------
# Control-frame and empty-frame floods
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "kind",
    ["settings", "ping", "empty-data"],
)
def test_flood_is_goaway_enhance_your_calm(server: RunningServer, kind: str) -> None:
    """CVE-2019-9515 (SETTINGS flood), CVE-2019-9512 (PING flood), CVE-2019-9518 (empty DATA
    frames): each frame costs the server work (an ACK to queue, a frame to process) and the
    client nothing. Issue 17's spec: GOAWAY ENHANCE_YOUR_CALM (0xb), then the close."""
    with Peer.open(server) as peer:
        if kind == "settings":
            unit = settings_frame({INITIAL_WINDOW_SIZE: 65535})
        elif kind == "ping":
            unit = ping_frame(b"floodpin")
        else:
            peer.send(
                headers_frame(1, peer.block(request_fields("POST", "/count")), end_stream=False)
            )
            unit = data_frame(1, b"")
        sent = flood(peer, unit)
        assert sent < FLOOD_LIMIT, f"{sent} bytes of {kind} frames and the connection lives on"
        code = expect_goaway(peer)
        assert code == ENHANCE_YOUR_CALM, f"GOAWAY {error_name(code)}; {peer.summary()}"
    assert_served(server)


# ---------------------------------------------------------------------------------------------
# Zero-window slow read
# ---------------------------------------------------------------------------------------------


def _state(url: str) -> dict[str, int]:
    return httpx.get(f"{url}/infinite-state", timeout=10, trust_env=False).json()


@pytest.mark.timeout(120)
def test_zero_window_slow_read_is_cut(start_server: StartServer) -> None:
    """RFC 9113 §6.9 / §10.5 (CVE-2019-9517 class): the client advertises INITIAL_WINDOW_SIZE
    0 and never opens it, so the server can send no DATA of its endless response. The server
    must not hold the stream (and its handler) forever: with `--write-timeout 2` the stream is
    reset or the connection ended, the handler's generator is closed, and other connections
    are served meanwhile. No DATA may arrive into the zero window (§6.9.1)."""
    s = start_server(APP, "--write-timeout", "2")
    before = _state(s.url)["closed"]
    with Peer.open(s, settings={INITIAL_WINDOW_SIZE: 0}, auto_window=False) as peer:
        peer.check_windows = True
        peer.request(1, "GET", "/infinite")
        assert_served(s)  # the stalled stream blocks nobody else
        ended = None
        deadline = time.monotonic() + 60  # the reset is expected after ~2 s
        while ended is None and time.monotonic() < deadline:
            try:
                got = peer.read_frame()  # asserts that no DATA exceeds the (zero) window
            except TimeoutError:
                continue
            if got is None:
                ended = "closed"
            elif any(k == "rst" for k, _, _ in peer.events[1]):
                ended = "RST_STREAM"
            elif peer.goaway is not None:
                ended = "GOAWAY"
        assert ended, f"the zero-window stream was never ended; received: {peer.summary()}"
        assert not any(k == "data" and v for k, v, _ in peer.events[1]), "DATA into a 0 window"
    deadline = time.monotonic() + 30
    while _state(s.url)["closed"] <= before:
        assert time.monotonic() < deadline, "the handler's generator was never closed"
        time.sleep(0.1)
    assert_served(s)


# ---------------------------------------------------------------------------------------------
# Request smuggling through HTTP/2 framing
# ---------------------------------------------------------------------------------------------


def test_content_length_smuggling_is_a_stream_error(server: RunningServer) -> None:
    """RFC 9113 §8.1.1 (request smuggling, as in h2c-to-h1 downgrade attacks): content-length 0
    and DATA carrying a second request. Malformed: RST_STREAM PROTOCOL_ERROR; the handler never
    answers it, and the connection goes on."""
    smuggled = b"GET /admin HTTP/1.1\r\nHost: x\r\n\r\n"
    with Peer.open(server) as peer:
        fields = request_fields("POST", "/count", extra=[("content-length", "0")])
        peer.send(headers_frame(1, peer.block(fields), end_stream=False))
        peer.send(data_frame(1, smuggled, end_stream=True))
        assert expect_rst(peer, 1) == PROTOCOL_ERROR
        assert peer.get(3, "/").status == 200
    assert_served(server)


def test_transfer_encoding_in_an_h2_request_is_a_stream_error(server: RunningServer) -> None:
    """RFC 9113 §8.2.2: transfer-encoding is connection-specific and MUST NOT appear in HTTP/2;
    `transfer-encoding: chunked` with a chunked-looking body is malformed: RST_STREAM
    PROTOCOL_ERROR."""
    with Peer.open(server) as peer:
        fields = request_fields("POST", "/count", extra=[("transfer-encoding", "chunked")])
        peer.send(headers_frame(1, peer.block(fields), end_stream=False))
        peer.send(data_frame(1, b"5\r\nhello\r\n0\r\n\r\n", end_stream=True))
        assert expect_rst(peer, 1) == PROTOCOL_ERROR
        assert peer.get(3, "/").status == 200
    assert_served(server)


BAD_FIELDS = {
    "path-space": [(":path", "/a b")],
    "path-cr-lf": [(":path", "/a\r\nx-injected: 1")],
    "path-lf": [(":path", "/a\nb")],
    "path-nul": [(":path", "/a\x00b")],
    "path-empty": [(":path", "")],
    "value-cr-lf": [(":path", "/"), ("x-a", "1\r\nx-injected: 1")],
    "value-nul": [(":path", "/"), ("x-a", "1\x00")],
    "name-space": [(":path", "/"), ("x a", "1")],
    "name-colon": [(":path", "/"), ("x:a", "1")],
}


@pytest.mark.parametrize("fields", list(BAD_FIELDS.values()), ids=list(BAD_FIELDS))
def test_injection_through_fields_is_refused(
    server: RunningServer, fields: list[tuple[str, str]]
) -> None:
    """RFC 9113 §8.2.1 (no NUL, CR or LF in field values; names are tokens), §8.3.1 (:path not
    empty, no whitespace): a request smuggling CR/LF into a downgraded HTTP/1.1 request is
    malformed: stream error PROTOCOL_ERROR (RST_STREAM, or a GOAWAY PROTOCOL_ERROR since
    §5.4.1 allows escalating it), or a 400. Never served."""
    with Peer.open(server) as peer:
        path = dict(fields)[":path"]
        rest = [(k, v) for k, v in fields if k != ":path"]
        block = (
            HPACK_GET
            + HPACK_HTTP
            + HPACK_AUTHORITY
            + b"\x04"  # :path, indexed name 4, literal value without indexing (RFC 7541 §6.2.2)
            + hpack_str(path.encode("latin-1"))
            + b"".join(
                hpack_literal_not_indexed(k.encode("latin-1"), v.encode("latin-1")) for k, v in rest
            )
        )
        peer.send(headers_frame(1, block))
        kind, code = outcome(peer, 1)
    assert (kind, code) in (
        ("RST_STREAM", PROTOCOL_ERROR),
        ("GOAWAY", PROTOCOL_ERROR),
        ("status", 400),
    ), (kind, error_name(code) if kind != "status" else code, peer.summary())
    assert_served(server)


def test_post_without_content_length_is_framed_by_end_stream(server: RunningServer) -> None:
    """RFC 9113 §8.1.1 (control case for the smuggling tests): a POST without content-length
    is framed by END_STREAM alone and served whole."""
    with Peer.open(server) as peer:
        peer.send(
            headers_frame(
                1,
                HPACK_POST + HPACK_HTTP + HPACK_AUTHORITY + b"\x04" + hpack_str(b"/echo"),
                end_stream=False,
            )
        )
        peer.send(data_frame(1, b"a" * 1000), data_frame(1, b"b" * 1000, end_stream=True))
        r = peer.response(1)
    assert (r.status, r.body) == (200, b"a" * 1000 + b"b" * 1000)
