"""One WebSocket connection served by an ASGI app, on the Rust WebSocket session (ASGI
WebSocket spec 2.4 and its `websocket.http.response` denial extension).

Rust does the framing, pings, UTF-8 checks and the close handshake; the app sees whole
messages. Before `websocket.accept` the app may refuse the upgrade: `websocket.close` is a 403
(the spec's rule), `websocket.http.response.start`/`.body` an HTTP response of its own. An app
that returns without either gets a 500, as under uvicorn. After the accept, an app that
returns is closed with 1000, one that raises with 1011 (RFC 6455 §7.4.1, internal error).
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Any

from covetpy import _bridge
from covetpy.hosting.asgi_protocol import (
    ASGIProtocolError,
    ClientDisconnected,
    as_bytes,
    broke,
    header_pairs,
    internal_error,
    response,
    status_of,
)

if TYPE_CHECKING:
    from covetpy._core import Responder, WsSession

__all__ = ["WebSocketCycle"]

logger = logging.getLogger("covetpy")

# Before the accept; refusing with an HTTP response of the app's (start sent, body pending);
# open; closed (by the app, a refusal, or a protocol error).
_CONNECTING, _DENYING, _OPEN, _CLOSED = range(4)
INTERNAL_ERROR = 1011


class WebSocketCycle:
    """The state of one WebSocket's ASGI call; `receive` and `send` are its bound methods."""

    __slots__ = (
        "_accepted",
        "_body",
        "_connected",
        "_headers",
        "_loop",
        "_phase",
        "_responder",
        "_session",
        "_status",
    )

    def __init__(
        self, session: WsSession, responder: Responder, loop: asyncio.AbstractEventLoop
    ) -> None:
        self._session = session
        self._responder = responder
        self._loop = loop
        self._phase = _CONNECTING
        self._connected = False
        self._accepted = False
        self._status = 0
        self._headers: list[tuple[str, str]] = []
        self._body: list[bytes] = []

    async def run(self, app: Any, scope: dict[str, Any], job: int) -> None:
        """Calls the app; the Task's coroutine."""
        try:
            await app(scope, self.receive, self.send)
        except asyncio.CancelledError:
            raise  # the server is stopping; Rust closes the socket
        except Exception as exc:
            self._failed(exc)
        else:
            phase = self._phase
            if phase == _CONNECTING:
                self._refuse("the app returned without accepting or closing the WebSocket")
            elif phase == _DENYING:
                self._refuse("the app returned before its denial response body ended")
            elif phase == _OPEN and self._session.close_code is None:
                self._session.close(1000, "")
        finally:
            _bridge._running.pop(job, None)
            _bridge.on_disconnect.pop(job, None)
            self._responder.send(None)  # ignored after the accept or a refusal

    def status(self) -> int:
        """The status of an HTTP denial (for the request's span); 0 for a WebSocket."""
        return self._status

    def disconnected(self) -> None:
        """The `_bridge.on_disconnect` hook: the session itself reports the close."""

    # -- receive ----------------------------------------------------------------------------

    async def receive(self) -> dict[str, Any]:
        """`websocket.connect` first, then `websocket.receive` messages, then
        `websocket.disconnect` with the close code."""
        if not self._connected:
            self._connected = True
            return {"type": "websocket.connect"}
        phase = self._phase
        if phase != _OPEN:
            if phase == _CONNECTING:
                raise self._broke(
                    "after 'websocket.connect' the app sends 'websocket.accept' or "
                    "'websocket.close' before it receives again"
                )
            if not self._accepted:  # refused: the handshake never completed
                return {"type": "websocket.disconnect", "code": 1006, "reason": ""}
        session = self._session
        while True:
            message = session.receive()
            if message is None:
                ready: asyncio.Future[None] = self._loop.create_future()
                session.wait_receive(ready)
                await ready
                continue
            if type(message) is str:
                return {"type": "websocket.receive", "text": message}
            if type(message) is bytes:
                return {"type": "websocket.receive", "bytes": message}
            return {"type": "websocket.disconnect", "code": message, "reason": session.close_reason}

    # -- send -------------------------------------------------------------------------------

    async def send(self, message: Any) -> None:
        """Takes one message (see the module docstring)."""
        try:
            kind = message["type"]
        except (KeyError, TypeError):
            raise self._broke(f"a message must be a dict with a 'type'; got {message!r}") from None
        phase = self._phase
        if phase == _OPEN:
            if kind == "websocket.send":
                await self._send_data(message)
            elif kind == "websocket.close":
                self._phase = _CLOSED
                try:
                    self._session.close(message.get("code", 1000), message.get("reason") or "")
                except ValueError as exc:
                    raise self._broke(
                        f"'websocket.close' with an unusable code or reason: {exc}"
                    ) from None
            else:
                raise self._broke(f"{kind!r} cannot be sent on an open WebSocket")
        elif phase == _CONNECTING:
            if kind == "websocket.accept":
                self._accept(message)
            elif kind == "websocket.close":
                # ASGI: a close before the accept refuses the handshake with 403.
                self._phase = _CLOSED
                self._responder.send(response(403, [], b""))
            elif kind == "websocket.http.response.start":
                try:
                    self._status = status_of(message, kind)
                    self._headers = header_pairs(message.get("headers", ()), kind)
                except ASGIProtocolError as exc:
                    raise self._broke(str(exc)) from None
                self._phase = _DENYING
            else:
                raise self._broke(f"before the accept, {kind!r} cannot be sent")
        elif phase == _DENYING:
            if kind != "websocket.http.response.body":
                raise self._broke(
                    f"a denial continues with 'websocket.http.response.body', not {kind!r}"
                )
            body = message.get("body", b"")
            if type(body) is not bytes:
                try:
                    body = as_bytes(body, kind)
                except ASGIProtocolError as exc:
                    raise self._broke(str(exc)) from None
            self._body.append(body)
            if not message.get("more_body", False):
                self._phase = _CLOSED
                self._responder.send(response(self._status, self._headers, b"".join(self._body)))
        else:
            raise ClientDisconnected(f"{kind!r} sent on a closed WebSocket")

    def _accept(self, message: Any) -> None:
        subprotocol = message.get("subprotocol")
        try:
            headers = header_pairs(message.get("headers", ()), "websocket.accept")
            self._session.accept(subprotocol, headers)
        except ASGIProtocolError as exc:
            raise self._broke(str(exc)) from None
        except ValueError as exc:  # a subprotocol the client did not offer, a bad header
            raise self._broke(f"'websocket.accept' refused: {exc}") from None
        except RuntimeError:  # the client went away before the accept
            self._phase = _CLOSED
            raise ClientDisconnected("the client went away before the accept") from None
        self._phase = _OPEN
        self._accepted = True

    async def _send_data(self, message: Any) -> None:
        data = message.get("bytes")
        if data is None:
            data = message.get("text")
            if type(data) is not str:
                raise self._broke("'websocket.send' needs 'bytes' (bytes) or 'text' (str)")
        elif type(data) is not bytes:
            try:
                data = as_bytes(data, "websocket.send")
            except ASGIProtocolError as exc:
                raise self._broke(str(exc)) from None
        session = self._session
        try:
            while not session.send(data):
                room: asyncio.Future[None] = self._loop.create_future()
                session.wait_send(room)
                await room
        except ConnectionResetError:
            self._phase = _CLOSED
            raise ClientDisconnected("the WebSocket is closed") from None

    # -- endings ----------------------------------------------------------------------------

    def _broke(self, rule: str) -> ASGIProtocolError:
        """Logs the broken rule; a 500 before the accept, a 1011 close after it."""
        err = broke(rule)
        self._close_for_error()
        return err

    def _refuse(self, rule: str) -> None:
        broke(rule)
        self._close_for_error()

    def _close_for_error(self) -> None:
        phase = self._phase
        self._phase = _CLOSED
        if phase == _CONNECTING or phase == _DENYING:
            self._responder.send(internal_error())
        elif phase == _OPEN and self._session.close_code is None:
            self._session.close(INTERNAL_ERROR, "internal error")

    def _failed(self, exc: Exception) -> None:
        if isinstance(exc, ASGIProtocolError):
            return  # logged and answered by _broke
        phase = self._phase
        if phase == _CONNECTING or phase == _DENYING:
            self._phase = _CLOSED
            self._responder.fail(exc)  # the app's renderer logs the traceback and answers 500
        elif isinstance(exc, ConnectionResetError) or self._session.close_code is not None:
            logger.debug("ASGI WebSocket app ended with %r after the connection closed", exc)
        else:
            logger.error("ASGI WebSocket app raised; closing with 1011", exc_info=exc)
            self._close_for_error()
