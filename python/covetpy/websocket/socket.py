"""`WebSocket`: what a WebSocket handler holds, a thin async face over the Rust session.

Rust does the framing, pings, fragments, UTF-8 checks and the close handshake; Python sees
whole messages. Each receive and send first tries the session without waiting (one call into
Rust); only when nothing is there (or the send queue is full) does it park on a Future that
Rust resolves on the loop thread.

Iterators (`iter_text`, `iter_bytes`, `iter_json`) end quietly when the peer closes normally
(1000 normal closure, 1001 going away, 1005 no code given, RFC 6455 §7.4.1) and raise
`WebSocketDisconnect` on any other close. Starlette's end on every `WebSocketDisconnect`; we
keep abnormal ends (1006 dropped TCP, 1009 too big, a 1007 we sent) visible to the handler.
"""

from __future__ import annotations

import asyncio
import types
from collections.abc import AsyncIterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Literal, TypeVar, overload

import msgspec

from covetpy._bridge import json_encode
from covetpy.exceptions import CovetError

if TYPE_CHECKING:
    from covetpy._core import Headers, QueryParams, Request, WsSession

__all__ = ["NORMAL_CLOSE_CODES", "WebSocket", "WebSocketDisconnect"]

T = TypeVar("T")

NORMAL_CLOSE_CODES = frozenset({1000, 1001, 1005})
"""Close codes after which the `iter_*` iterators end instead of raising."""

# RFC 6455 §5.5: a control frame's payload is at most 125 bytes, 2 of them the close code.
_MAX_REASON = 123
_json_decoders: dict[Any, msgspec.json.Decoder[Any]] = {}


def _decoder(tp: Any) -> msgspec.json.Decoder[Any]:
    # One decoder per type, built on first use: a Decoder compiles its type once.
    dec = _json_decoders.get(tp)
    if dec is None:
        dec = _json_decoders[tp] = msgspec.json.Decoder(tp)
    return dec


def truncate_reason(reason: str) -> str:
    """`reason` cut to the 123 bytes a close frame carries, at a UTF-8 character boundary."""
    raw = reason.encode()
    if len(raw) <= _MAX_REASON:
        return reason
    return raw[:_MAX_REASON].decode("utf-8", "ignore")


class WebSocketDisconnect(CovetError):
    """The connection is closed: raised by a receive (or send) once either side closed it.
    `code` is the close code (1006 when the connection dropped without one), `reason` the
    peer's (or our) close reason."""

    def __init__(self, code: int = 1000, reason: str = "") -> None:
        super().__init__(code, reason)
        self.code = code
        self.reason = reason

    def __str__(self) -> str:
        return f"WebSocket closed with {self.code}" + (f": {self.reason}" if self.reason else "")


class WebSocket:
    """One WebSocket connection, handed to the handler parameter annotated `WebSocket`.

    ```python
    @app.websocket("/echo")
    async def echo(ws: WebSocket) -> None:
        await ws.accept()
        async for text in ws.iter_text():
            await ws.send_text(text)
    ```

    Before `accept()` the upgrade may still be refused: returning (or `close()`) answers
    403, raising `HTTPException` answers its status.
    """

    __slots__ = (
        "_accepted",
        "_closed",
        "_cookies",
        "_path_params",
        "_request",
        "_sent_code",
        "_session",
        "_state",
    )

    def __init__(self, session: WsSession, request: Request, path_params: dict[str, Any]) -> None:
        self._session = session
        self._request = request
        self._path_params = path_params
        self._accepted = False
        self._closed = False
        self._sent_code: int | None = None
        self._cookies: dict[str, str] | None = None
        self._state: types.SimpleNamespace | None = None

    # -- the upgrade request --------------------------------------------------------------

    @property
    def request(self) -> Request:
        """The HTTP upgrade request."""
        return self._request

    @property
    def headers(self) -> Headers:
        """The upgrade request's headers."""
        return self._request.headers

    @property
    def query_params(self) -> QueryParams:
        """The upgrade request's query parameters."""
        return self._request.query_params

    @property
    def path_params(self) -> dict[str, Any]:
        """The path parameters, converted as the route declares."""
        return self._path_params

    @property
    def cookies(self) -> dict[str, str]:
        """The upgrade request's cookies (the first of each name)."""
        if self._cookies is None:
            from covetpy.params.resolve import parse_cookies

            self._cookies = parse_cookies(self._request.header("cookie"))
        return self._cookies

    @property
    def client(self) -> tuple[str, int] | None:
        """The client's address (a trusted proxy's word, behind one)."""
        return self._request.client

    @property
    def path(self) -> str:
        """The request path."""
        return self._request.path

    @property
    def url(self) -> str:
        """`ws://` (or `wss://`) host, path and query of the upgrade request."""
        scheme = "wss" if self._request.scheme == "https" else "ws"
        query = self._request.query_string
        host = self._request.host or ""
        return f"{scheme}://{host}{self._request.path}" + (f"?{query}" if query else "")

    @property
    def subprotocols(self) -> tuple[str, ...]:
        """The subprotocols the client offered, in its order of preference."""
        return self._session.subprotocols

    @property
    def state(self) -> types.SimpleNamespace:
        """A namespace for this connection's own values."""
        if self._state is None:
            self._state = types.SimpleNamespace()
        return self._state

    # -- the connection's state ------------------------------------------------------------

    @property
    def accepted(self) -> bool:
        """Whether `accept()` was called."""
        return self._accepted

    @property
    def closed(self) -> bool:
        """Whether either side closed the connection (or the handler refused it)."""
        return self._closed or self._session.close_code is not None

    @property
    def close_code(self) -> int | None:
        """The close code once closed (1006: the connection dropped), else None; the code
        this side sent as soon as `close()` was called."""
        code = self._session.close_code
        return self._sent_code if code is None else code

    @property
    def close_reason(self) -> str:
        """The close reason once closed."""
        return self._session.close_reason

    async def accept(
        self,
        subprotocol: str | None = None,
        headers: Mapping[str, str] | Sequence[tuple[str, str]] | None = None,
    ) -> None:
        """Completes the handshake (101 Switching Protocols) with `subprotocol` (one the
        client offered, else ValueError) and extra response `headers`."""
        if self._closed:
            raise RuntimeError("accept() after close(): the upgrade was refused")
        if isinstance(headers, Mapping):
            pairs = list(headers.items())
        else:
            pairs = list(headers or ())
        self._session.accept(subprotocol, pairs)
        self._accepted = True

    async def close(self, code: int = 1000, reason: str = "") -> None:
        """Starts the close handshake with `code` and `reason` (at most 123 UTF-8 bytes);
        before `accept()`, refuses the upgrade (403). Closing twice does nothing."""
        if self.closed:
            return
        self._closed = True
        if self._accepted:
            self._session.close(code, reason)
            self._sent_code = code

    # -- receiving ------------------------------------------------------------------------

    async def receive(self) -> str | bytes:
        """The next whole message: `str` for a text message, `bytes` for a binary one.
        Raises `WebSocketDisconnect` once the connection is closed."""
        if not self._accepted:
            raise RuntimeError("receive() before accept(): accept the connection first")
        session = self._session
        while True:
            message = session.receive()
            if message is None:
                waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
                session.wait_receive(waiter)
                await waiter
                continue
            if isinstance(message, int):
                self._closed = True
                raise WebSocketDisconnect(message, session.close_reason)
            return message

    async def receive_text(self) -> str:
        """The next message, which must be text: a binary one closes the connection with
        1003 (unsupported data) and raises `WebSocketDisconnect`."""
        message = await self.receive()
        if isinstance(message, bytes):
            raise await self._refuse(1003, "expected a text message, got a binary one")
        return message

    async def receive_bytes(self) -> bytes:
        """The next message, which must be binary: a text one closes the connection with
        1003 (unsupported data) and raises `WebSocketDisconnect`."""
        message = await self.receive()
        if isinstance(message, str):
            raise await self._refuse(1003, "expected a binary message, got a text one")
        return message

    @overload
    async def receive_json(self, type: None = None) -> Any: ...
    @overload
    async def receive_json(self, type: type[T]) -> T: ...
    async def receive_json(self, type: Any = None) -> Any:
        """The next message (text or binary) decoded as JSON, validated as `type` when given
        (msgspec: a Struct, dataclass, TypedDict, list[...], ...). Malformed or invalid
        JSON closes the connection with 1007 (invalid payload data, RFC 6455 §7.4.1), the
        error as reason, and raises `WebSocketDisconnect`."""
        message = await self.receive()
        try:
            if type is None:
                return msgspec.json.decode(message)
            return _decoder(type).decode(message)
        except msgspec.DecodeError as exc:  # ValidationError is a DecodeError
            raise await self._refuse(1007, str(exc)) from None

    async def iter_text(self) -> AsyncIterator[str]:
        """Text messages until the peer closes normally (see the module docstring)."""
        try:
            while True:
                yield await self.receive_text()
        except WebSocketDisconnect as exc:
            if exc.code not in NORMAL_CLOSE_CODES:
                raise

    async def iter_bytes(self) -> AsyncIterator[bytes]:
        """Binary messages until the peer closes normally."""
        try:
            while True:
                yield await self.receive_bytes()
        except WebSocketDisconnect as exc:
            if exc.code not in NORMAL_CLOSE_CODES:
                raise

    @overload
    def iter_json(self, type: None = None) -> AsyncIterator[Any]: ...
    @overload
    def iter_json(self, type: type[T]) -> AsyncIterator[T]: ...
    def iter_json(self, type: Any = None) -> AsyncIterator[Any]:
        """JSON messages (validated as `type` when given) until the peer closes normally;
        one that does not decode or validate closes with 1007 and raises."""
        return self._iter_json(type)

    async def _iter_json(self, type: Any) -> AsyncIterator[Any]:
        try:
            while True:
                yield await self.receive_json(type)
        except WebSocketDisconnect as exc:
            if exc.code not in NORMAL_CLOSE_CODES:
                raise

    async def _refuse(self, code: int, reason: str) -> WebSocketDisconnect:
        """Closes with `code` because of what the peer sent; the exception to raise."""
        reason = truncate_reason(reason)
        await self.close(code, reason)
        return WebSocketDisconnect(code, reason)

    # -- sending --------------------------------------------------------------------------

    async def send(self, data: str | bytes) -> None:
        """Sends `data` as one message: text for `str`, binary for `bytes`. Waits while the
        peer reads slower than we write (the session's send queue is full)."""
        if not self._accepted:
            raise RuntimeError("send() before accept(): accept the connection first")
        session = self._session
        while True:
            try:
                if session.send(data):
                    return
            except ConnectionResetError:
                self._closed = True
                code = session.close_code
                raise WebSocketDisconnect(code or 1006, session.close_reason) from None
            room: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            session.wait_send(room)
            await room

    async def send_text(self, data: str) -> None:
        """Sends a text message."""
        if not isinstance(data, str):
            raise TypeError(f"send_text takes a str, not {type(data).__name__}")
        await self.send(data)

    async def send_bytes(self, data: bytes | bytearray | memoryview) -> None:
        """Sends a binary message."""
        if isinstance(data, str):
            raise TypeError("send_bytes takes bytes, not str")
        await self.send(bytes(data) if not isinstance(data, bytes) else data)

    async def send_json(self, data: Any, mode: Literal["text", "binary"] = "text") -> None:
        """Sends `data` encoded as JSON by msgspec, as a text message (or a binary one)."""
        encoded = json_encode(data)
        await self.send(encoded.decode() if mode == "text" else encoded)

    # -- pub/sub --------------------------------------------------------------------------

    def subscribe(self, topic: str) -> None:
        """This connection receives what `app.broadcast(topic, ...)` sends from now on."""
        self._session.subscribe(topic)

    def unsubscribe(self, topic: str) -> None:
        """Stops receiving `topic`'s broadcasts."""
        self._session.unsubscribe(topic)
