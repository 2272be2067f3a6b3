"""Server-Sent Events (HTML Living Standard §9.2, "Server-sent events").

```python
from covetpy.sse import EventSourceResponse, ServerSentEvent

@app.get("/ticks")
async def ticks(request: Request) -> EventSourceResponse:
    async def events():
        for n in range(3):
            yield ServerSentEvent({"n": n}, event="tick", id=str(n))
            await asyncio.sleep(1)
    return EventSourceResponse(events())
```

The stream is a streamed `Response` (`body_iterator`), so it inherits backpressure and the
disconnect handling of `covetpy._bridge.pump_stream`: when the client goes away the next write
fails and the producer is closed (`aclose()` / `close()`), so its `finally` runs. While the
producer is idle a `: ping` comment goes out every `ping` seconds; it keeps proxies from
timing the connection out and is also the write that finds a client gone.
"""

from __future__ import annotations

import asyncio
import re
import threading
from collections.abc import AsyncIterable, AsyncIterator, Iterable, Iterator, Mapping
from typing import TYPE_CHECKING, Any

import msgspec

from covetpy.responses import Response

if TYPE_CHECKING:
    from covetpy.requests import Request

__all__ = ["EventSourceResponse", "ServerSentEvent", "last_event_id"]

_encode_json = msgspec.json.Encoder().encode
# The spec ends a line at CRLF, a lone CR or a lone LF (§9.2.6 "end-of-line"): a data value
# holding any of them becomes several `data:` lines, which the client joins back with LF.
_LINES = re.compile(r"\r\n|\r|\n")
_PING = b": ping\n\n"
_DONE = object()


def _field_value(name: str, value: str) -> str:
    # One line only: a CR or LF would start a field of the client's choosing (an injected
    # `data:` or `retry:`); a NUL in `id` makes the client ignore the field (§9.2.6).
    if "\r" in value or "\n" in value or "\0" in value:
        raise ValueError(f"ServerSentEvent {name} must not contain CR, LF or NUL: {value!r}")
    return value


class ServerSentEvent:
    """One event. `data` is a str (sent as is, one `data:` line per line), bytes (UTF-8), or
    anything else msgspec encodes (sent as JSON); None sends no data (a comment or a `retry`
    alone). `event` names the event type (the client's `addEventListener(name)`), `id` sets the
    client's last event id (sent back as `Last-Event-ID` when it reconnects), `retry` the
    client's reconnection delay in milliseconds, `comment` a line the client ignores."""

    __slots__ = ("comment", "data", "event", "id", "retry")

    def __init__(
        self,
        data: Any = None,
        event: str | None = None,
        id: str | None = None,
        retry: int | None = None,
        comment: str | None = None,
    ) -> None:
        if event is not None:
            _field_value("event", event)
        if id is not None:
            _field_value("id", id)
        if retry is not None and (type(retry) is not int or retry < 0):
            raise ValueError(f"ServerSentEvent retry must be an int >= 0 (ms), got {retry!r}")
        self.data = data
        self.event = event
        self.id = id
        self.retry = retry
        self.comment = comment

    def encode(self) -> bytes:
        """The event in the wire format, ending with the blank line that dispatches it."""
        out: list[str] = []
        if self.comment is not None:
            out.extend(f": {line}\n" for line in _LINES.split(self.comment))
        if self.event is not None:
            out.append(f"event: {self.event}\n")
        if self.id is not None:
            out.append(f"id: {self.id}\n")
        if self.retry is not None:
            out.append(f"retry: {self.retry}\n")
        data = self.data
        if data is not None:
            if isinstance(data, bytes):
                data = data.decode()
            elif not isinstance(data, str):
                data = _encode_json(data).decode()
            out.extend(f"data: {line}\n" for line in _LINES.split(data))
        out.append("\n")
        return "".join(out).encode()

    def __repr__(self) -> str:
        fields = ", ".join(
            f"{k}={getattr(self, k)!r}" for k in self.__slots__ if getattr(self, k) is not None
        )
        return f"ServerSentEvent({fields})"


def encode(item: Any) -> bytes:
    """What one item a producer yields becomes on the wire: a `ServerSentEvent` as itself,
    anything else as the data of an event without a name."""
    if type(item) is ServerSentEvent:
        return item.encode()
    if isinstance(item, ServerSentEvent):
        return item.encode()
    return ServerSentEvent(item).encode()


def last_event_id(request: Request) -> str | None:
    """The id of the last event the client saw, from a reconnecting `EventSource`
    (`Last-Event-ID`); None on a first connection."""
    return request.headers.get("last-event-id")


class EventSourceResponse(Response):
    """A `text/event-stream` response fed by a sync or async iterable of `ServerSentEvent`, str,
    bytes or dicts (see `ServerSentEvent` for how each is sent).

    `ping`: seconds of producer silence after which a `: ping` comment is sent (None or 0: no
    pings). A sync iterable is advanced in the default thread pool, so a producer that blocks
    (a queue `get`, a sleep) does not stop the event loop.

    Sent with `cache-control: no-store` and `x-accel-buffering: no` (nginx would otherwise hold
    events back in its buffer); the built-in compression never compresses this media type.
    """

    media_type = "text/event-stream"

    def __init__(
        self,
        content: Iterable[Any] | AsyncIterable[Any],
        status_code: int = 200,
        headers: Mapping[str, str] | None = None,
        ping: float | None = 15.0,
    ) -> None:
        super().__init__(None, status_code, headers)
        for name, value in (("cache-control", "no-store"), ("x-accel-buffering", "no")):
            if not any(k == name for k, _ in self.raw_headers):
                self.raw_headers.append((name, value))
        if ping is not None and ping < 0:
            raise ValueError(f"EventSourceResponse ping must be >= 0 seconds, got {ping!r}")
        self.ping = ping or None
        self.content = content
        self.body_iterator = self._stream()

    last_event_id = staticmethod(last_event_id)

    async def _stream(self) -> AsyncIterator[bytes]:
        content = self.content
        source = _from_sync(content) if not isinstance(content, AsyncIterable) else content
        it = aiter(source)
        ping = self.ping
        pending: asyncio.Future[Any] | None = None
        try:
            if ping is None:
                async for item in it:
                    yield encode(item)
                return
            while True:
                if pending is None:
                    pending = asyncio.ensure_future(anext(it, _DONE))
                # `wait` leaves the step running on a timeout, unlike `wait_for`: a ping
                # does not cut the producer mid-await.
                done, _ = await asyncio.wait((pending,), timeout=ping)
                if not done:
                    yield _PING
                    continue
                item = pending.result()
                pending = None
                if item is _DONE:
                    return
                yield encode(item)
        finally:
            if pending is not None and not pending.done():
                # The producer is suspended inside the step: cancelling it raises
                # CancelledError at its await, which runs its `finally` and ends it.
                pending.cancel()
                await asyncio.gather(pending, return_exceptions=True)
            close = getattr(it, "aclose", None)
            if close is not None:
                await close()


async def _from_sync(content: Iterable[Any]) -> AsyncIterator[Any]:
    """A sync iterable advanced in the thread pool; closed there too (`finally`)."""
    loop = asyncio.get_running_loop()
    it: Iterator[Any] = iter(content)
    # A generator cannot be closed while a thread is inside its `next` ("generator already
    # executing"), and a cancelled await does not stop that thread: the lock makes `close`
    # wait for the step in flight.
    lock = threading.Lock()

    def step() -> Any:
        with lock:
            return next(it, _DONE)

    def close() -> None:
        with lock:
            getattr(it, "close", lambda: None)()

    busy = False
    try:
        while True:
            busy = True
            item = await loop.run_in_executor(None, step)
            busy = False
            if item is _DONE:
                return
            yield item
    finally:
        closing = loop.run_in_executor(None, close)
        if not busy:
            await closing
