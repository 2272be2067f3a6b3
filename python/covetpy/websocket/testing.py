"""`TestClient.websocket_connect`: a blocking WebSocket client session against the test
server, in the manner of Starlette's, on the `websockets` library's sync client.

```python
with TestClient(app) as client:
    with client.websocket_connect("/echo") as ws:
        ws.send_text("hi")
        assert ws.receive_text() == "hi"
```

A refused upgrade raises `WebSocketRejected` (its `response` is the HTTP answer); a
receive after the server closed raises `covetpy.WebSocketDisconnect` with the close code.
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, Literal, Self, TypeVar, overload

import msgspec

from covetpy.exceptions import CovetError, MissingExtra
from covetpy.websocket.socket import WebSocketDisconnect

if TYPE_CHECKING:
    import httpx
    from websockets.sync.client import ClientConnection

__all__ = ["WebSocketRejected", "WebSocketTestSession"]

T = TypeVar("T")


class WebSocketRejected(CovetError):
    """The server answered the upgrade with an HTTP response instead of accepting it;
    `response` is that answer (status, headers and body)."""

    def __init__(self, response: httpx.Response) -> None:
        super().__init__(f"the WebSocket upgrade was refused with {response.status_code}")
        self.response = response

    @property
    def status_code(self) -> int:
        """The status of the refusal."""
        return self.response.status_code


class WebSocketTestSession:
    """One client connection; use it as a context manager (leaving it closes with 1000)."""

    __test__ = False  # not a pytest test class

    def __init__(
        self,
        socket_path: str,
        url: str,
        *,
        subprotocols: Sequence[str] | None = None,
        headers: Mapping[str, str] | None = None,
        timeout: float | None = 30.0,
    ) -> None:
        self._socket_path = socket_path
        self._url = url
        self._subprotocols = list(subprotocols) if subprotocols else None
        self._headers = dict(headers or {})
        self._timeout = timeout
        self._stack = contextlib.ExitStack()
        self._conn: ClientConnection | None = None

    def __enter__(self) -> Self:
        try:
            from websockets.exceptions import InvalidStatus
            from websockets.sync.client import unix_connect
        except ImportError as exc:
            raise MissingExtra("TestClient.websocket_connect", "testing") from exc
        try:
            conn = unix_connect(
                self._socket_path,
                self._url,
                subprotocols=self._subprotocols,
                additional_headers=self._headers,
                open_timeout=self._timeout,
                max_size=None,
            )
        except InvalidStatus as exc:
            raise WebSocketRejected(_as_httpx(exc.response)) from None
        self._conn = self._stack.enter_context(conn)
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stack.close()

    @property
    def connection(self) -> ClientConnection:
        """The `websockets` connection (pings, frames, ...)."""
        if self._conn is None:
            raise RuntimeError("use the session in a `with` block")
        return self._conn

    @property
    def subprotocol(self) -> str | None:
        """The subprotocol the server accepted, if any."""
        return self.connection.subprotocol

    @property
    def response_headers(self) -> Mapping[str, str]:
        """The headers of the server's 101 answer."""
        response = self.connection.response
        assert response is not None
        return {k.lower(): v for k, v in response.headers.raw_items()}

    @property
    def close_code(self) -> int | None:
        """The close code once closed, else None."""
        return self.connection.close_code

    @property
    def close_reason(self) -> str | None:
        """The close reason once closed, else None."""
        return self.connection.close_reason

    # -- sending --------------------------------------------------------------------------

    def send_text(self, data: str) -> None:
        """Sends a text message."""
        self._send(data)

    def send_bytes(self, data: bytes) -> None:
        """Sends a binary message."""
        self._send(data)

    def send_json(self, data: Any, mode: Literal["text", "binary"] = "text") -> None:
        """Sends `data` as JSON, in a text message (or a binary one)."""
        encoded = msgspec.json.encode(data)
        self._send(encoded.decode() if mode == "text" else encoded)

    def _send(self, data: str | bytes) -> None:
        from websockets.exceptions import ConnectionClosed

        try:
            self.connection.send(data)
        except ConnectionClosed as exc:
            raise _disconnect(exc) from None

    # -- receiving ------------------------------------------------------------------------

    def receive(self) -> str | bytes:
        """The next message: str (text) or bytes (binary). Raises `WebSocketDisconnect`
        once the server closed, TimeoutError when nothing came within the timeout."""
        from websockets.exceptions import ConnectionClosed

        try:
            return self.connection.recv(timeout=self._timeout)
        except ConnectionClosed as exc:
            raise _disconnect(exc) from None

    def receive_text(self) -> str:
        """The next message, which must be text."""
        message = self.receive()
        if not isinstance(message, str):
            raise TypeError(f"expected a text message, got binary {message!r:.60}")
        return message

    def receive_bytes(self) -> bytes:
        """The next message, which must be binary."""
        message = self.receive()
        if not isinstance(message, bytes):
            raise TypeError(f"expected a binary message, got text {message!r:.60}")
        return message

    @overload
    def receive_json(self, type: None = None) -> Any: ...
    @overload
    def receive_json(self, type: type[T]) -> T: ...
    def receive_json(self, type: Any = None) -> Any:
        """The next message (text or binary) decoded as JSON (as `type` when given)."""
        message = self.receive()
        return msgspec.json.decode(message, type=type) if type else msgspec.json.decode(message)

    def close(self, code: int = 1000, reason: str = "") -> None:
        """Closes the connection (and waits for the server's close)."""
        self.connection.close(code, reason)


def _disconnect(exc: Exception) -> WebSocketDisconnect:
    rcvd = getattr(exc, "rcvd", None)
    if rcvd is None:
        return WebSocketDisconnect(1006, "")
    return WebSocketDisconnect(rcvd.code, rcvd.reason)


def _as_httpx(response: Any) -> httpx.Response:
    import httpx

    answer = httpx.Response(
        response.status_code,
        headers=list(response.headers.raw_items()),
        content=bytes(response.body or b""),
    )
    answer.read()  # with the server's headers httpx takes it for a stream until read
    return answer
