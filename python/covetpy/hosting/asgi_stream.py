"""A streamed ASGI response body: the app's `send()` on one side, the bridge's pump on the other.

The response goes to Rust at the first `http.response.body` with `more_body: True`, with this
object as its `body_iterator`; the pump (`covetpy._bridge._pump`) takes chunks from it and
writes them as the connection has room. `put` hands a chunk straight to a pump that is
waiting; otherwise it parks the chunk and waits until the pump takes it, so an app is at most
one chunk ahead of the socket (backpressure, as ASGI asks of `send`).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Any

from covetpy.exceptions import CovetError
from covetpy.hosting.asgi_protocol import ClientDisconnected

__all__ = ["BodyStream", "file_chunks"]

# What the pump's waiter is resolved with besides a chunk.
_END: Any = object()
_CUT: Any = object()
# What a parked `put` is woken with when the client went away. Not an exception set on the
# Future: that would make a cycle (Future, exception, traceback, the frame holding the Future)
# that keeps the app's frames, and its body generator unclosed, until the next GC pass.
_GONE: Any = object()
# pathsend files are read in chunks of this size off the loop (as `FileResponse`).
_FILE_CHUNK = 64 * 1024


class _Cut(CovetError, ConnectionResetError):
    """Ends the pump without its "streamed response failed" traceback: the app's failure was
    logged already. The pump then drops its sender unfinished, which cuts the connection."""


class BodyStream:
    """The async iterator of a streamed ASGI body (see the module docstring)."""

    __slots__ = ("_chunk", "_closed", "_ended", "_giver", "_gone", "_loop", "_taker", "adopted")

    def __init__(self, loop: asyncio.AbstractEventLoop, gone: Callable[[], None]) -> None:
        self._loop = loop
        self._gone = gone
        self._chunk: bytes | None = None
        # The pump waits on `_taker` for the next chunk; the app on `_giver` until it is taken.
        self._taker: asyncio.Future[Any] | None = None
        self._giver: asyncio.Future[Any] | None = None
        self._ended: Any = None  # _END or _CUT once the app is done
        self._closed = False
        self.adopted = False
        """Whether a pump took this stream (Rust accepted the response)."""

    async def put(self, chunk: bytes) -> None:
        """Queues `chunk` and returns once the pump took it; ClientDisconnected when the
        client went away."""
        if self._closed:
            raise ClientDisconnected("the client went away")
        taker = self._taker
        if taker is not None and not taker.done():
            self._taker = None
            taker.set_result(chunk)
            return
        self._chunk = chunk
        giver = self._giver = self._loop.create_future()
        if await giver is _GONE:
            raise ClientDisconnected("the client went away")

    def end(self) -> None:
        """The app sent its last chunk: the pump finishes the body."""
        self._finish(_END)

    def cut(self) -> None:
        """The app failed mid-body: the connection is cut (never a second response)."""
        self._finish(_CUT)

    def _finish(self, how: Any) -> None:
        if self._ended is None:
            self._ended = how
        taker = self._taker
        if taker is not None and not taker.done():
            self._taker = None
            taker.set_result(how)

    def close(self) -> None:
        """The client is gone: a waiting or later `put` raises ClientDisconnected."""
        self._closed = True
        self._chunk = None
        giver = self._giver
        if giver is not None and not giver.done():
            giver.set_result(_GONE)
        self._giver = None

    def __aiter__(self) -> BodyStream:
        self.adopted = True
        return self

    async def __anext__(self) -> bytes:
        chunk = self._chunk
        if chunk is not None:
            self._chunk = None
            giver = self._giver
            if giver is not None and not giver.done():
                giver.set_result(None)
            self._giver = None
            return chunk
        item = self._ended
        if item is None:
            taker = self._taker = self._loop.create_future()
            item = await taker
        if item is _END:
            raise StopAsyncIteration
        if item is _CUT:
            raise _Cut("the ASGI app failed mid-body")
        return item  # type: ignore[no-any-return]

    async def aclose(self) -> None:
        """Called by the pump when it stops, for any reason: before the app ended the body,
        that is the client going away (the pump found the connection closed)."""
        if self._ended is None and not self._closed:
            self._gone()
        self.close()


async def file_chunks(path: str) -> AsyncIterator[bytes]:
    """The contents of the file at `path`, read off the event loop: the fallback of a
    `pathsend` response when the IO driver cannot send the file itself."""
    loop = asyncio.get_running_loop()
    f = await loop.run_in_executor(None, open, path, "rb")
    try:
        while chunk := await loop.run_in_executor(None, f.read, _FILE_CHUNK):
            yield chunk
    finally:
        f.close()
