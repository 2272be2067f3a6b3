"""Raw HTTP/2 (RFC 9113) on a socket, for the conformance and attack tests.

Two clients:

- `Peer`: frames built by hand (`frame()` and the helpers below it; any bytes at all, so
  malformed traffic too), header blocks encoded with `hpack`, and every frame the server sends
  read back whole and parsed with `hyperframe`. The peer answers the server's SETTINGS and
  PINGs like any client and, unless told not to, gives back the flow-control window of every
  DATA frame it reads. `expect_goaway(peer)` / `expect_rst(peer, stream_id)` read until the
  server's GOAWAY / RST_STREAM and return its error code.
- `h2_request()`: one well-formed exchange driven by the `h2` library's client state machine
  (`H2Connection`), for normal traffic.

Every wait is a read with a generous socket timeout (`TIMEOUT`), never a sleep: a server that
does not answer fails the test with the frames it did send.
"""

from __future__ import annotations

import contextlib
import select
import socket
import ssl
from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field

import hpack
from h2.config import H2Configuration
from h2.connection import H2Connection
from h2.events import (
    ConnectionTerminated,
    DataReceived,
    ResponseReceived,
    StreamEnded,
    StreamReset,
    TrailersReceived,
    WindowUpdated,
)
from hyperframe.frame import (
    ContinuationFrame,
    DataFrame,
    Frame,
    GoAwayFrame,
    HeadersFrame,
    PingFrame,
    PushPromiseFrame,
    RstStreamFrame,
    SettingsFrame,
    WindowUpdateFrame,
)

from tests.conftest import RunningServer

# How long any single read waits for the server (a loaded 2-core machine included).
TIMEOUT = 10.0

# RFC 9113 §3.4: the client connection preface.
PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"

# RFC 9113 §6: frame types.
DATA = 0x0
HEADERS = 0x1
PRIORITY = 0x2
RST_STREAM = 0x3
SETTINGS = 0x4
PUSH_PROMISE = 0x5
PING = 0x6
GOAWAY = 0x7
WINDOW_UPDATE = 0x8
CONTINUATION = 0x9

# Flags.
END_STREAM = 0x1
ACK = 0x1
END_HEADERS = 0x4
PADDED = 0x8

# RFC 9113 §6.5.2: settings.
HEADER_TABLE_SIZE = 0x1
ENABLE_PUSH = 0x2
MAX_CONCURRENT_STREAMS = 0x3
INITIAL_WINDOW_SIZE = 0x4
MAX_FRAME_SIZE = 0x5
MAX_HEADER_LIST_SIZE = 0x6

# RFC 9113 §7: error codes.
NO_ERROR = 0x0
PROTOCOL_ERROR = 0x1
INTERNAL_ERROR = 0x2
FLOW_CONTROL_ERROR = 0x3
SETTINGS_TIMEOUT = 0x4
STREAM_CLOSED = 0x5
FRAME_SIZE_ERROR = 0x6
REFUSED_STREAM = 0x7
CANCEL = 0x8
COMPRESSION_ERROR = 0x9
CONNECT_ERROR = 0xA
ENHANCE_YOUR_CALM = 0xB
INADEQUATE_SECURITY = 0xC
HTTP_1_1_REQUIRED = 0xD

ERROR_NAMES = {
    NO_ERROR: "NO_ERROR",
    PROTOCOL_ERROR: "PROTOCOL_ERROR",
    INTERNAL_ERROR: "INTERNAL_ERROR",
    FLOW_CONTROL_ERROR: "FLOW_CONTROL_ERROR",
    SETTINGS_TIMEOUT: "SETTINGS_TIMEOUT",
    STREAM_CLOSED: "STREAM_CLOSED",
    FRAME_SIZE_ERROR: "FRAME_SIZE_ERROR",
    REFUSED_STREAM: "REFUSED_STREAM",
    CANCEL: "CANCEL",
    COMPRESSION_ERROR: "COMPRESSION_ERROR",
    CONNECT_ERROR: "CONNECT_ERROR",
    ENHANCE_YOUR_CALM: "ENHANCE_YOUR_CALM",
    INADEQUATE_SECURITY: "INADEQUATE_SECURITY",
    HTTP_1_1_REQUIRED: "HTTP_1_1_REQUIRED",
}

DEFAULT_WINDOW = 65535  # RFC 9113 §6.9.2: every window starts here
MAX_WINDOW = (1 << 31) - 1  # RFC 9113 §6.9.1


def error_name(code: int | None) -> str:
    if code is None:
        return "none"
    return f"{ERROR_NAMES.get(code, 'unknown')} (0x{code:x})"


# ---------------------------------------------------------------------------------------------
# Frames as bytes (RFC 9113 §4.1): anything at all, well-formed or not
# ---------------------------------------------------------------------------------------------


def frame(kind: int, flags: int, stream_id: int, payload: bytes = b"") -> bytes:
    """One frame: 24-bit length, type, flags, reserved bit + 31-bit stream id, payload. The
    length is the payload's (use `frame_with_length` to lie about it)."""
    return frame_with_length(len(payload), kind, flags, stream_id, payload)


def frame_with_length(length: int, kind: int, flags: int, stream_id: int, payload: bytes) -> bytes:
    return (
        length.to_bytes(3, "big")
        + bytes([kind, flags])
        + (stream_id & 0xFFFFFFFF).to_bytes(4, "big")
        + payload
    )


def settings_frame(settings: dict[int, int] | None = None, *, ack: bool = False) -> bytes:
    payload = b"".join(
        k.to_bytes(2, "big") + v.to_bytes(4, "big") for k, v in (settings or {}).items()
    )
    return frame(SETTINGS, ACK if ack else 0, 0, payload)


def ping_frame(opaque: bytes = b"\x00" * 8, *, ack: bool = False) -> bytes:
    return frame(PING, ACK if ack else 0, 0, opaque)


def window_update_frame(stream_id: int, increment: int) -> bytes:
    return frame(WINDOW_UPDATE, 0, stream_id, increment.to_bytes(4, "big"))


def rst_stream_frame(stream_id: int, code: int) -> bytes:
    return frame(RST_STREAM, 0, stream_id, code.to_bytes(4, "big"))


def goaway_frame(last_stream_id: int, code: int, debug: bytes = b"") -> bytes:
    return frame(GOAWAY, 0, 0, last_stream_id.to_bytes(4, "big") + code.to_bytes(4, "big") + debug)


def data_frame(stream_id: int, data: bytes, *, end_stream: bool = False) -> bytes:
    return frame(DATA, END_STREAM if end_stream else 0, stream_id, data)


def headers_frame(
    stream_id: int, block: bytes, *, end_stream: bool = True, end_headers: bool = True
) -> bytes:
    flags = (END_STREAM if end_stream else 0) | (END_HEADERS if end_headers else 0)
    return frame(HEADERS, flags, stream_id, block)


def continuation_frame(stream_id: int, block: bytes, *, end_headers: bool = True) -> bytes:
    return frame(CONTINUATION, END_HEADERS if end_headers else 0, stream_id, block)


def request_fields(
    method: str = "GET",
    path: str = "/",
    *,
    scheme: str = "http",
    authority: str = "127.0.0.1",
    extra: Sequence[tuple[str, str]] = (),
) -> list[tuple[str, str]]:
    """The pseudo-headers of a request (RFC 9113 §8.3.1), then `extra`."""
    return [
        (":method", method),
        (":scheme", scheme),
        (":path", path),
        (":authority", authority),
        *extra,
    ]


# ---------------------------------------------------------------------------------------------
# What the server sent
# ---------------------------------------------------------------------------------------------


@dataclass
class Response:
    """One response as read off the wire."""

    status: int
    headers: list[tuple[str, str]]
    body: bytes
    trailers: list[tuple[str, str]] | None = None

    def header(self, name: str) -> str | None:
        for k, v in self.headers:
            if k == name:
                return v
        return None


class StreamWasReset(AssertionError):
    """The server reset the stream (RST_STREAM) instead of answering it."""

    def __init__(self, stream_id: int, code: int) -> None:
        super().__init__(f"stream {stream_id} reset by the server: {error_name(code)}")
        self.stream_id = stream_id
        self.code = code


class ConnectionEnded(AssertionError):
    """The connection ended (GOAWAY, then or else EOF) before the stream was answered."""

    def __init__(self, what: str, goaway: GoAwayFrame | None) -> None:
        super().__init__(what)
        self.goaway = goaway


@dataclass
class _Block:
    """A header block being received (HEADERS, then CONTINUATION until END_HEADERS)."""

    stream_id: int
    end_stream: bool
    data: bytearray = field(default_factory=bytearray)


class Peer:
    """A raw HTTP/2 client connection (see the module docstring)."""

    def __init__(self, sock: socket.socket, *, auto_window: bool = True) -> None:
        self.sock = sock
        self.sock.settimeout(TIMEOUT)
        self.auto_window = auto_window
        self.encoder = hpack.Encoder()
        self.decoder = hpack.Decoder()
        self.decoder.max_header_list_size = 1 << 24
        self._buf = bytearray()
        self.frames: list[Frame] = []  # everything read, in order (for failure messages)
        self.server_settings: dict[int, int] = {}
        self.server_settings_frames = 0
        self.settings_acks = 0
        self.ping_acks: list[bytes] = []
        self.goaway: GoAwayFrame | None = None
        self.eof = False
        self.eof_reason = ""
        self.events: dict[int, list[tuple[str, object, bool]]] = defaultdict(list)
        self.window_updates: dict[int, int] = defaultdict(int)
        self._block: _Block | None = None
        # What the client advertised (for `check_windows`).
        self.initial_window = DEFAULT_WINDOW
        self.check_windows = False
        self.conn_window = DEFAULT_WINDOW
        self.stream_windows: dict[int, int] = {}
        self.bytes_sent = 0

    # -- connecting -----------------------------------------------------------------------

    @classmethod
    @contextlib.contextmanager
    def open(
        cls,
        server: RunningServer,
        *,
        settings: dict[int, int] | None = None,
        handshake: bool = True,
        ssl_context: ssl.SSLContext | None = None,
        server_hostname: str = "localhost",
        auto_window: bool = True,
    ) -> Iterator[Peer]:
        """A connection to `server` (TLS with `ssl_context`); with `handshake`, the prefaces
        are exchanged (see `handshake`)."""
        raw = socket.create_connection(("127.0.0.1", server.port), timeout=TIMEOUT)
        sock: socket.socket = raw
        try:
            if ssl_context is not None:
                sock = ssl_context.wrap_socket(raw, server_hostname=server_hostname)
            peer = cls(sock, auto_window=auto_window)
            if handshake:
                peer.handshake(settings)
            yield peer
        finally:
            sock.close()
            raw.close()

    def handshake(self, settings: dict[int, int] | None = None) -> dict[int, int]:
        """RFC 9113 §3.4: sends the preface and a SETTINGS frame; reads the server's SETTINGS
        (its first frame), acknowledges it, and waits for a PING round trip and for the ACK of
        ours, so that everything sent afterwards meets settings both sides have applied."""
        settings = dict(settings or {})
        self.initial_window = settings.get(INITIAL_WINDOW_SIZE, DEFAULT_WINDOW)
        self.send(PREFACE + settings_frame(settings))
        first = self.read_frame()
        if first is None:
            raise ConnectionEnded(f"closed before the server preface ({self.eof_reason})", None)
        assert isinstance(first, SettingsFrame) and "ACK" not in first.flags, (
            f"RFC 9113 §3.4: the server's first frame must be SETTINGS, got {first}"
        )
        self.ping_roundtrip(b"prefaced")
        while self.settings_acks == 0:
            self.pump("the ACK of the client's SETTINGS (RFC 9113 §6.5.3)")
        return self.server_settings

    # -- sending --------------------------------------------------------------------------

    def send(self, *chunks: bytes) -> None:
        data = b"".join(chunks)
        self.sock.sendall(data)
        self.bytes_sent += len(data)

    def block(self, fields: Iterable[tuple[str, str]]) -> bytes:
        """A header block (RFC 7541) of `fields` as given: no validation, no lower-casing."""
        return self.encoder.encode(list(fields))

    def request(
        self,
        stream_id: int,
        method: str = "GET",
        path: str = "/",
        *,
        body: bytes | None = None,
        extra: Sequence[tuple[str, str]] = (),
        end_stream: bool | None = None,
    ) -> None:
        """Sends HEADERS (+ one DATA frame per 16 KiB of `body`). `end_stream=False` leaves
        the request open after what was given."""
        finish = True if end_stream is None else end_stream
        fields = request_fields(method, path, extra=extra)
        self.stream_windows.setdefault(stream_id, self.initial_window)
        if not body:
            self.send(headers_frame(stream_id, self.block(fields), end_stream=finish))
            return
        out = [headers_frame(stream_id, self.block(fields), end_stream=False)]
        for i in range(0, len(body), 16384):
            chunk = body[i : i + 16384]
            out.append(data_frame(stream_id, chunk, end_stream=finish and i + 16384 >= len(body)))
        self.send(*out)

    def get(self, stream_id: int, path: str = "/") -> Response:
        """A GET on this connection, answered."""
        self.request(stream_id, "GET", path)
        return self.response(stream_id)

    def ping_roundtrip(self, opaque: bytes = b"roundtrp") -> None:
        """Sends a PING and reads until its ACK: the server has read all sent before."""
        assert len(opaque) == 8
        self.send(ping_frame(opaque))
        while opaque not in self.ping_acks:
            self.pump(f"the ACK of PING {opaque!r} (RFC 9113 §6.7)")
        self.ping_acks.remove(opaque)

    # -- receiving ------------------------------------------------------------------------

    def _recv(self, n: int) -> bool:
        while len(self._buf) < n:
            try:
                chunk = self.sock.recv(65536)
            except (ConnectionResetError, BrokenPipeError) as exc:
                self.eof, self.eof_reason = True, f"reset: {exc}"
                return False
            except ssl.SSLError as exc:
                self.eof, self.eof_reason = True, f"TLS error: {exc}"
                return False
            if not chunk:
                self.eof, self.eof_reason = True, "EOF"
                return False
            self._buf += chunk
        return True

    def read_frame(self) -> Frame | None:
        """The next whole frame, handled (see `_handle`); None once the connection closed.
        TimeoutError when the server sends nothing for `TIMEOUT` seconds."""
        if self.eof or not self._recv(9):
            return None
        parsed, length = Frame.parse_frame_header(memoryview(bytes(self._buf[:9])))
        if not self._recv(9 + length):
            return None
        parsed.parse_body(memoryview(bytes(self._buf[9 : 9 + length])))
        del self._buf[: 9 + length]
        self.frames.append(parsed)
        self._handle(parsed)
        return parsed

    def buffered_frame(self) -> bool:
        """Whether a whole frame is already buffered (read, not yet parsed)."""
        if len(self._buf) < 9:
            return False
        return len(self._buf) >= 9 + int.from_bytes(self._buf[:3], "big")

    def drain(self) -> None:
        """Reads (and handles) every frame that has arrived, without waiting for more."""
        while not self.eof and (self.buffered_frame() or select.select([self.sock], [], [], 0)[0]):
            if self.pump_or_eof("the rest of a frame") is None:
                return

    def pump(self, waiting_for: str) -> Frame:
        """Reads one frame; fails the test with what was received when the connection ends
        or the server says nothing for `TIMEOUT` seconds."""
        try:
            got = self.read_frame()
        except TimeoutError:
            raise AssertionError(
                f"nothing from the server for {TIMEOUT} s while waiting for {waiting_for}; "
                f"received: {self.summary()}"
            ) from None
        if got is None:
            raise ConnectionEnded(
                f"connection ended ({self.eof_reason}) while waiting for {waiting_for}; "
                f"received: {self.summary()}",
                self.goaway,
            )
        return got

    def _handle(self, f: Frame) -> None:
        if isinstance(f, SettingsFrame):
            if "ACK" in f.flags:
                self.settings_acks += 1
            else:
                self.server_settings.update(f.settings)
                self.server_settings_frames += 1
                with contextlib.suppress(OSError):
                    self.send(settings_frame(ack=True))
        elif isinstance(f, PingFrame):
            if "ACK" in f.flags:
                self.ping_acks.append(bytes(f.opaque_data))
            else:
                with contextlib.suppress(OSError):
                    self.send(ping_frame(bytes(f.opaque_data), ack=True))
        elif isinstance(f, GoAwayFrame):
            self.goaway = f
        elif isinstance(f, RstStreamFrame):
            self.events[f.stream_id].append(("rst", f.error_code, True))
        elif isinstance(f, WindowUpdateFrame):
            self.window_updates[f.stream_id] += f.window_increment
        elif isinstance(f, HeadersFrame | PushPromiseFrame):
            self._block = _Block(f.stream_id, "END_STREAM" in f.flags)
            self._block.data += f.data
            if "END_HEADERS" in f.flags:
                self._end_block()
        elif isinstance(f, ContinuationFrame):
            assert self._block is not None, f"CONTINUATION without HEADERS from the server: {f}"
            self._block.data += f.data
            if "END_HEADERS" in f.flags:
                self._end_block()
        elif isinstance(f, DataFrame):
            n = f.flow_controlled_length
            if self.check_windows:
                window = self.stream_windows.get(f.stream_id, self.initial_window)
                assert n <= self.conn_window and n <= window, (
                    f"RFC 9113 §6.9.1: DATA of {n} octets on stream {f.stream_id} exceeds the "
                    f"window (stream {window}, connection {self.conn_window})"
                )
                self.conn_window -= n
                self.stream_windows[f.stream_id] = window - n
            end = "END_STREAM" in f.flags
            self.events[f.stream_id].append(("data", bytes(f.data), end))
            if self.auto_window and n:
                self.give_window(f.stream_id, n, stream=not end)

    def give_window(self, stream_id: int, n: int, *, stream: bool = True) -> None:
        """WINDOW_UPDATE of `n` for the connection and (with `stream`) the stream."""
        out = [window_update_frame(0, n)]
        if stream:
            out.append(window_update_frame(stream_id, n))
        self.conn_window += n
        if stream:
            self.stream_windows[stream_id] = (
                self.stream_windows.get(stream_id, self.initial_window) + n
            )
        with contextlib.suppress(OSError):
            self.send(*out)

    def _end_block(self) -> None:
        assert self._block is not None
        fields = [(str(k), str(v)) for k, v in self.decoder.decode(bytes(self._block.data))]
        self.events[self._block.stream_id].append(("headers", fields, self._block.end_stream))
        self._block = None

    def next_event(self, stream_id: int, waiting_for: str) -> tuple[str, object, bool]:
        while not self.events[stream_id]:
            if self.goaway is not None and self.goaway.last_stream_id < stream_id:
                raise ConnectionEnded(
                    f"GOAWAY {error_name(self.goaway.error_code)} (last stream "
                    f"{self.goaway.last_stream_id}) while waiting for {waiting_for}; "
                    f"received: {self.summary()}",
                    self.goaway,
                )
            self.pump(waiting_for)
        return self.events[stream_id].pop(0)

    def response(self, stream_id: int) -> Response:
        """Reads the response on `stream_id` to its END_STREAM (interim 1xx skipped).
        StreamWasReset on RST_STREAM, ConnectionEnded on GOAWAY/EOF before its end."""
        status: int | None = None
        headers: list[tuple[str, str]] = []
        trailers: list[tuple[str, str]] | None = None
        body = bytearray()
        what = f"the response on stream {stream_id}"
        while True:
            kind, value, end = self.next_event(stream_id, what)
            if kind == "rst":
                assert isinstance(value, int)
                raise StreamWasReset(stream_id, value)
            if kind == "headers":
                assert isinstance(value, list)
                if status is None:
                    fields = dict(value)
                    code = int(fields[":status"])
                    if 100 <= code < 200 and not end:
                        continue
                    status, headers = code, value
                else:
                    trailers = value
            elif kind == "data":
                assert isinstance(value, bytes)
                body += value
            if end:
                assert status is not None, f"stream {stream_id} ended without a response head"
                return Response(status, headers, bytes(body), trailers)

    def summary(self) -> str:
        """The frames received, one short description each (for failure messages)."""
        parts = []
        for f in self.frames[-40:]:
            name = type(f).__name__.removesuffix("Frame")
            detail = ""
            if isinstance(f, GoAwayFrame):
                detail = (
                    f" {error_name(f.error_code)} last={f.last_stream_id}"
                    f" debug={bytes(f.additional_data)[:80]!r}"
                )
            elif isinstance(f, RstStreamFrame):
                detail = f" {error_name(f.error_code)}"
            elif isinstance(f, DataFrame):
                detail = f" {len(f.data)}B"
            elif isinstance(f, WindowUpdateFrame):
                detail = f" +{f.window_increment}"
            elif isinstance(f, SettingsFrame) and "ACK" not in f.flags:
                detail = f" {dict(f.settings)}"
            flags = ",".join(sorted(f.flags))
            parts.append(f"{name}(stream={f.stream_id}{detail}{' ' + flags if flags else ''})")
        if len(self.frames) > 40:
            parts.insert(0, f"... {len(self.frames) - 40} earlier")
        if self.eof:
            parts.append(f"<{self.eof_reason}>")
        return ", ".join(parts) or "nothing"

    def read_to_close(self) -> None:
        """Reads (and handles) frames until the server closes the connection."""
        while not self.eof:
            self.pump_or_eof("the server to close the connection")

    def pump_or_eof(self, waiting_for: str) -> Frame | None:
        try:
            return self.read_frame()
        except TimeoutError:
            raise AssertionError(
                f"nothing from the server for {TIMEOUT} s while waiting for {waiting_for}; "
                f"received: {self.summary()}"
            ) from None


# ---------------------------------------------------------------------------------------------
# Expectations
# ---------------------------------------------------------------------------------------------


def expect_goaway(peer: Peer, *, then_closed: bool = True) -> int:
    """Reads until the server's GOAWAY and returns its error code. RFC 9113 §5.4.1: after a
    GOAWAY for a connection error the server MUST close the TCP connection; with
    `then_closed` that is checked too. A close without GOAWAY fails."""
    while peer.goaway is None:
        if peer.pump_or_eof("a GOAWAY") is None:
            raise AssertionError(
                f"the connection closed ({peer.eof_reason}) without a GOAWAY (RFC 9113 §5.4.1: "
                f"a connection error is announced with GOAWAY); received: {peer.summary()}"
            )
    code = int(peer.goaway.error_code)
    if then_closed and code != NO_ERROR:
        peer.read_to_close()
    return code


def expect_rst(peer: Peer, stream_id: int) -> int:
    """Reads until the server resets `stream_id` and returns the RST_STREAM's error code. A
    GOAWAY or close first fails (that would be a connection error, not a stream error)."""
    while True:
        for i, (kind, value, _) in enumerate(peer.events[stream_id]):
            if kind == "rst":
                del peer.events[stream_id][: i + 1]
                assert isinstance(value, int)
                return value
        if peer.goaway is not None:
            raise AssertionError(
                f"expected RST_STREAM on stream {stream_id}, got GOAWAY "
                f"{error_name(peer.goaway.error_code)} (a connection error); "
                f"received: {peer.summary()}"
            )
        if peer.pump_or_eof(f"RST_STREAM on stream {stream_id}") is None:
            raise AssertionError(
                f"expected RST_STREAM on stream {stream_id}, the connection closed "
                f"({peer.eof_reason}); received: {peer.summary()}"
            )


def expect_goaway_or_close(peer: Peer) -> int | None:
    """Reads until the connection ends; the GOAWAY's error code, or None for a close without
    one (RFC 9113 §3.4 allows that for a bad preface)."""
    while peer.goaway is None:
        if peer.pump_or_eof("a GOAWAY or the close") is None:
            return None
    return int(peer.goaway.error_code)


def expect_stream_error(peer: Peer, stream_id: int) -> tuple[str, int]:
    """The server's reaction to a stream error: ("RST_STREAM", code), or ("GOAWAY", code) if it
    chose to treat it as a connection error (RFC 9113 §5.4.1 allows it)."""
    while True:
        for kind, value, _ in peer.events[stream_id]:
            if kind == "rst":
                assert isinstance(value, int)
                return "RST_STREAM", value
        if peer.goaway is not None:
            return "GOAWAY", int(peer.goaway.error_code)
        if peer.pump_or_eof(f"RST_STREAM on stream {stream_id} or GOAWAY") is None:
            raise AssertionError(
                f"the connection closed ({peer.eof_reason}) without RST_STREAM or GOAWAY; "
                f"received: {peer.summary()}"
            )


def assert_served(server: RunningServer, **open_args: object) -> None:
    """A fresh connection is served: GET / is answered 200 "Hello, World!"."""
    with Peer.open(server, **open_args) as peer:  # type: ignore[arg-type]
        r = peer.get(1, "/")
    assert (r.status, r.body) == (200, b"Hello, World!"), r


# ---------------------------------------------------------------------------------------------
# Normal traffic through the h2 library's client
# ---------------------------------------------------------------------------------------------


def h2_request(
    server: RunningServer,
    method: str = "GET",
    path: str = "/",
    body: bytes = b"",
    headers: Sequence[tuple[str, str]] = (),
) -> Response:
    """One request on a fresh connection, framed by `h2.connection.H2Connection` (which
    respects the server's flow-control windows and settings)."""
    conn = H2Connection(config=H2Configuration(client_side=True, header_encoding="utf-8"))
    with socket.create_connection(("127.0.0.1", server.port), timeout=TIMEOUT) as sock:
        conn.initiate_connection()
        sock.sendall(conn.data_to_send())
        sid = conn.get_next_available_stream_id()
        fields = [
            (":method", method),
            (":scheme", "http"),
            (":authority", f"127.0.0.1:{server.port}"),
            (":path", path),
            *headers,
        ]
        conn.send_headers(sid, fields, end_stream=not body)
        sock.sendall(conn.data_to_send())
        status, got_headers, trailers = 0, [], None
        got = bytearray()
        pending = memoryview(body)
        done = False
        while not done:
            # Send what the windows allow, then read.
            while len(pending):
                n = min(
                    len(pending), conn.local_flow_control_window(sid), conn.max_outbound_frame_size
                )
                if n <= 0:
                    break
                conn.send_data(sid, bytes(pending[:n]), end_stream=n == len(pending))
                pending = pending[n:]
                sock.sendall(conn.data_to_send())
            data = sock.recv(65536)
            if not data:
                raise ConnectionEnded("the server closed the connection mid-request", None)
            for event in conn.receive_data(data):
                if isinstance(event, ResponseReceived):
                    got_headers = [(str(k), str(v)) for k, v in event.headers]
                    status = int(dict(got_headers)[":status"])
                elif isinstance(event, DataReceived):
                    got += event.data
                    conn.acknowledge_received_data(event.flow_controlled_length, sid)
                elif isinstance(event, TrailersReceived):
                    trailers = [(str(k), str(v)) for k, v in event.headers]
                elif isinstance(event, StreamEnded) and event.stream_id == sid:
                    done = True
                elif isinstance(event, StreamReset) and event.stream_id == sid:
                    raise StreamWasReset(sid, int(event.error_code))
                elif isinstance(event, ConnectionTerminated):
                    raise ConnectionEnded(f"GOAWAY {error_name(int(event.error_code))}", None)
                elif isinstance(event, WindowUpdated):
                    pass
            sock.sendall(conn.data_to_send())
        conn.close_connection()
        with contextlib.suppress(OSError):
            sock.sendall(conn.data_to_send())
    return Response(status, got_headers, bytes(got), trailers)


def outcome(peer: Peer, stream_id: int) -> tuple[str, int | None]:
    """How the server dealt with the request on `stream_id`: ("status", N) for a response,
    ("RST_STREAM", code), ("GOAWAY", code), or ("closed", None) for a close without GOAWAY."""
    while True:
        for kind, value, _ in peer.events[stream_id]:
            if kind == "rst":
                assert isinstance(value, int)
                return "RST_STREAM", value
            if kind == "headers":
                assert isinstance(value, list)
                status = int(dict(value)[":status"])
                if status >= 200:
                    return "status", status
        if peer.goaway is not None and peer.goaway.last_stream_id < stream_id:
            return "GOAWAY", int(peer.goaway.error_code)
        if peer.pump_or_eof(f"an answer on stream {stream_id}") is None:
            if peer.goaway is not None:
                return "GOAWAY", int(peer.goaway.error_code)
            return "closed", None


# ---------------------------------------------------------------------------------------------
# HPACK by hand (RFC 7541 §5.1, §5.2, §6): exact control over the dynamic table
# ---------------------------------------------------------------------------------------------


def hpack_int(value: int, prefix_bits: int, first: int = 0) -> bytes:
    """RFC 7541 §5.1: `value` with an N-bit prefix; `first` holds the bits above the prefix."""
    limit = (1 << prefix_bits) - 1
    if value < limit:
        return bytes([first | value])
    out = bytearray([first | limit])
    value -= limit
    while value >= 128:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def hpack_str(s: bytes) -> bytes:
    """RFC 7541 §5.2: a string literal, not Huffman-coded."""
    return hpack_int(len(s), 7) + s


def hpack_indexed(index: int) -> bytes:
    """RFC 7541 §6.1: an indexed field (static 1-61, dynamic from 62)."""
    return hpack_int(index, 7, 0x80)


def hpack_literal_indexed(name: bytes, value: bytes) -> bytes:
    """RFC 7541 §6.2.1: a literal field with a new name, added to the dynamic table."""
    return b"\x40" + hpack_str(name) + hpack_str(value)


def hpack_literal_not_indexed(name: bytes, value: bytes) -> bytes:
    """RFC 7541 §6.2.2: a literal field with a new name, not added to the table."""
    return b"\x00" + hpack_str(name) + hpack_str(value)


# RFC 7541 Appendix A: static-table entries of a GET / over http.
HPACK_GET = hpack_indexed(2)  # :method GET
HPACK_POST = hpack_indexed(3)  # :method POST
HPACK_ROOT = hpack_indexed(4)  # :path /
HPACK_HTTP = hpack_indexed(6)  # :scheme http
# :authority 127.0.0.1 as a literal without indexing (RFC 7541 §6.2.2, indexed name 1): the
# dynamic table is left alone.
HPACK_AUTHORITY = b"\x01" + hpack_str(b"127.0.0.1")


def read_until_close(sock: socket.socket, timeout: float = 20.0) -> bytes:
    """Everything the server sends until it closes the connection (a reset counts as the
    close: a server closing with unread input resets). Fails if it stays open `timeout`."""
    sock.settimeout(timeout)
    data = bytearray()
    try:
        while chunk := sock.recv(65536):
            data += chunk
    except ConnectionResetError:
        pass
    except TimeoutError:
        raise AssertionError(f"still open after {timeout} s; got {bytes(data[:200])!r}") from None
    return bytes(data)
