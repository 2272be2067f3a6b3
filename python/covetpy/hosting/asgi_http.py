"""One HTTP request served by an ASGI app: its `receive`, its `send`, and what happens when the
app fails or breaks the protocol (ASGI HTTP spec 2.4, "HTTP" connection scope).

- `receive` streams the body from Rust chunk by chunk, only when the app asks (backpressure),
  reading one chunk ahead so a body that is all there ends in the same message
  (`more_body: False`). Once the body has ended it waits for the client to go away or the
  response to be complete, then gives `http.disconnect` (and at once after that), as uvicorn
  does: the spec's "receive after the response was sent" is `http.disconnect`.
- `send`: `http.response.start` is held until the body: a start with one body message
  (`more_body: False`) is sent to Rust as one complete `Response` at that moment, before the
  app returns (Starlette runs BackgroundTasks after it, in the same call); a body with
  `more_body: True` starts a streamed response fed by `BodyStream`.
- Errors: an exception before any byte went out (no body message yet) is a 500 rendered by the
  app's renderer, which logs the traceback. A start with no body yet sent nothing, so it too
  gets a 500 rather than a cut connection. An exception mid-body cuts the connection (never a
  second response); after the body, it is logged. `send` after the client went away raises
  `ClientDisconnected` (an OSError, ASGI 2.4); an app that then fails is logged at debug only.
  A header Rust will not send (CR or LF in a value, a bad name) makes the response a 500,
  logged by Rust; a streamed body's next `send` then raises ASGIProtocolError.
"""

from __future__ import annotations

import asyncio
import logging
import os
from typing import TYPE_CHECKING, Any

from covetpy import _bridge
from covetpy.hosting.asgi_protocol import (
    ASGIProtocolError,
    ClientDisconnected,
    as_bytes,
    broke,
    header_pairs_rule,
    internal_error,
    response,
    status_of,
)
from covetpy.hosting.asgi_stream import BodyStream, file_chunks

if TYPE_CHECKING:
    from covetpy._core import Request, Responder

__all__ = ["HTTPCycle"]

logger = logging.getLogger("covetpy")

# Where the response is: nothing yet, start held, body streaming, complete, or broken (the
# protocol error was logged and the client answered; every later send raises).
_START, _HEAD, _STREAM, _DONE, _BROKEN = range(5)

_running = _bridge._running
_hooks = _bridge.on_disconnect


class HTTPCycle:
    """The state of one request's ASGI call; `receive` and `send` are its bound methods."""

    __slots__ = (
        "_ahead",
        "_body_ended",
        "_gone",
        "_headers",
        "_phase",
        "_request",
        "_responder",
        "_status",
        "_stream",
        "_waiter",
    )

    def __init__(self, request: Request, responder: Responder) -> None:
        self._request = request
        self._responder = responder
        self._phase = _START
        self._gone = False
        self._body_ended = False
        self._ahead: bytes | None = None  # a body chunk read ahead, not yet given to the app
        self._waiter: asyncio.Future[None] | None = None  # receive() after the body
        self._status = 0
        self._headers: list[tuple[str, str]] = []
        self._stream: BodyStream | None = None

    async def run(self, app: Any, scope: dict[str, Any], job: int) -> None:
        """Calls the app; the Task's coroutine."""
        try:
            await app(scope, self.receive, self.send)
        except asyncio.CancelledError:
            # The server gave up on the request (504 sent, or shutting down): no answer now.
            if self._stream is not None:
                self._stream.cut()
            raise
        except Exception as exc:
            self._failed(exc)
        else:
            if self._phase != _DONE and self._phase != _BROKEN:
                self._unfinished()
        finally:
            _running.pop(job, None)
            _hooks.pop(job, None)
            if not self._body_ended:
                self._request.discard_body()
            if self._waiter is not None:
                self._wake()

    def status(self) -> int:
        """The status the client was answered with (for the request's span): the app's, or
        500 when the app failed or broke the protocol before its body; 0 before any."""
        if self._phase == _BROKEN and self._stream is None:
            return 500
        return self._status

    def disconnected(self) -> None:
        """The `_bridge.on_disconnect` hook: the client went away."""
        self._gone = True
        if self._stream is not None:
            self._stream.close()
        self._wake()

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    # -- receive ----------------------------------------------------------------------------

    async def receive(self) -> dict[str, Any]:
        """The next `http.request` message, or `http.disconnect`."""
        if self._gone or self._phase >= _DONE:
            return {"type": "http.disconnect"}
        if not self._body_ended:
            return await self._next_chunk()
        waiter = self._waiter
        if waiter is None or waiter.done():
            # A waiter cancelled with its reader (Starlette's disconnect listener) is replaced.
            waiter = self._waiter = asyncio.get_running_loop().create_future()
        await waiter
        return {"type": "http.disconnect"}

    async def _next_chunk(self) -> dict[str, Any]:
        request = self._request
        chunk = self._ahead
        try:
            if chunk is None:
                chunk = request.read_chunk()
                while chunk is None:
                    ready: asyncio.Future[None] = asyncio.get_running_loop().create_future()
                    request.wait_chunk(ready)
                    await ready
                    chunk = request.read_chunk()
            else:
                self._ahead = None
            if not chunk:
                self._body_ended = True
                return {"type": "http.request", "body": b"", "more_body": False}
            ahead = request.read_chunk()
        except ConnectionResetError:
            # The client went away, or Rust cut the body (limit, timeout) and answered itself.
            self._body_ended = True
            self._gone = True
            return {"type": "http.disconnect"}
        if ahead == b"":
            self._body_ended = True
            return {"type": "http.request", "body": chunk, "more_body": False}
        self._ahead = ahead
        return {"type": "http.request", "body": chunk, "more_body": True}

    # -- send -------------------------------------------------------------------------------

    async def send(self, message: Any) -> None:
        """Takes one response message (see the module docstring)."""
        if self._gone:
            raise ClientDisconnected("the client went away")
        try:
            kind = message["type"]
        except (KeyError, TypeError):
            raise self._broke(f"a message must be a dict with a 'type'; got {message!r}") from None
        phase = self._phase
        if phase == _START:
            if kind != "http.response.start":
                raise self._broke(f"the first message must be 'http.response.start', not {kind!r}")
            # The status checked inline for the usual int; anything else takes the slow path,
            # which names the rule it breaks. The headers cross to Rust as the app gave them:
            # Rust reads [bytes, bytes] pairs in place, refuses what HTTP forbids (CR, LF, bad
            # names) or what is not str/bytes pairs, and drops the framing headers it owns.
            # Decoding them here cost 0.4 µs a request (of 4.3 for the whole adapter driven by
            # stand-ins of the Rust objects, uvloop).
            status = message.get("status")
            if type(status) is not int or not 200 <= status <= 999:
                try:
                    status = status_of(message, kind)
                except ASGIProtocolError as exc:
                    raise self._broke(str(exc)) from None
            self._status = status
            headers = message.get("headers")
            if type(headers) is not list:
                try:
                    headers = [] if headers is None else list(headers)
                except TypeError:
                    raise self._broke(header_pairs_rule(headers, kind)) from None
            self._headers = headers
            if message.get("trailers"):
                logger.debug("ASGI app asked for trailers; HTTP/1.1 responses here send none")
            self._phase = _HEAD
        elif phase == _HEAD:
            if kind == "http.response.body":
                body = message.get("body", b"")
                if type(body) is not bytes:
                    body = self._bytes(body, kind)
                if not message.get("more_body", False):
                    self._phase = _DONE
                    self._responder.send(response(self._status, self._headers, body))
                    if self._waiter is not None:
                        self._wake()
                    return
                loop = asyncio.get_running_loop()
                stream = self._stream = BodyStream(loop, self.disconnected)
                self._phase = _STREAM
                self._responder.send(response(self._status, self._headers, b"", stream))
                # Rust starts the pump that reads `stream` as a Task: its first step runs
                # before this one resumes (the loop runs callbacks in order), so a stream not
                # taken by now was refused with the response (a header Rust would not send;
                # the client got a 500), and the app must not wait on it forever.
                await asyncio.sleep(0)
                if not stream.adopted:
                    self._phase = _BROKEN
                    raise broke(
                        "the response start was refused (a header HTTP forbids?); see above"
                    )
                if body:
                    await stream.put(body)
            elif kind == "http.response.pathsend":
                path = message.get("path")
                if not isinstance(path, str):
                    raise self._broke(f"'http.response.pathsend' needs 'path', a str; got {path!r}")
                # Extension http.response.pathsend: Rust sends the file itself (sendfile(2),
                # with a Content-Length), the iterator being the fallback. A missing file is
                # the app's error, raised here before any byte went out.
                size = os.stat(path).st_size
                file_response = response(self._status, self._headers, b"", file_chunks(path))
                file_response.sendfile = (path, 0, size)
                self._phase = _DONE
                self._responder.send(file_response)
                self._wake()
            else:
                raise self._broke(f"after 'http.response.start' comes a body, not {kind!r}")
        elif phase == _STREAM:
            if kind != "http.response.body":
                if kind == "http.response.trailers":
                    return
                raise self._broke(
                    f"a streamed body continues with 'http.response.body', not {kind!r}"
                )
            body = message.get("body", b"")
            if type(body) is not bytes:
                body = self._bytes(body, kind)
            streaming = self._stream
            assert streaming is not None
            if body:
                await streaming.put(body)
            if not message.get("more_body", False):
                self._phase = _DONE
                streaming.end()
                self._wake()
        elif phase == _DONE:
            if kind == "http.response.trailers":
                return  # trailers need HTTP/2 here; the app was not offered them
            raise self._broke(f"{kind!r} sent after the response body ended (more_body False)")
        else:
            raise ASGIProtocolError("the response was already ended by a protocol error")

    def _bytes(self, body: Any, kind: str) -> bytes:
        try:
            return as_bytes(body, kind)
        except ASGIProtocolError as exc:
            raise self._broke(str(exc)) from None

    # -- endings ----------------------------------------------------------------------------

    def _broke(self, rule: str) -> ASGIProtocolError:
        """Logs the broken rule and answers the client now: a 500 if nothing was sent, a cut
        connection mid-body."""
        err = broke(rule)
        phase = self._phase
        self._phase = _BROKEN
        if phase < _STREAM:
            self._responder.send(internal_error())
        elif phase == _STREAM and self._stream is not None:
            self._stream.cut()
        self._wake()
        return err

    def _failed(self, exc: Exception) -> None:
        phase = self._phase
        if isinstance(exc, ASGIProtocolError) and phase == _BROKEN:
            return  # logged and answered by _broke
        if self._gone:
            logger.debug("ASGI app ended with %r after its client went away", exc)
            if self._stream is not None:
                self._stream.cut()
            return
        if phase < _STREAM:
            self._phase = _BROKEN
            self._responder.fail(exc)  # the app's renderer logs the traceback and answers 500
        elif phase == _STREAM:
            logger.error("ASGI app raised mid-body; the connection is cut", exc_info=exc)
            self._phase = _BROKEN
            assert self._stream is not None
            self._stream.cut()
        else:
            logger.error("ASGI app raised after its response was sent", exc_info=exc)

    def _unfinished(self) -> None:
        if self._gone:
            if self._stream is not None:
                self._stream.cut()
            return
        if self._phase == _START:
            self._broke("the app returned without sending 'http.response.start'")
        elif self._phase == _HEAD:
            self._broke("the app returned after 'http.response.start' without a body")
        else:
            self._broke("the app returned before its body ended (more_body False never sent)")
