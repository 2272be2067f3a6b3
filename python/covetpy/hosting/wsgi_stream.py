"""A streamed WSGI body: chunks made on a worker thread, sent by the event loop's pump.

The pump (`covetpy._bridge._pump`) is an asyncio Task, so the response with a
`body_iterator` is handed over on the loop thread; the worker thread then feeds `ChunkPipe`,
which holds at most `limit` chunks: a slow client makes the WSGI app wait in `put`
(backpressure), as a blocking socket write would under gunicorn. The loop is only woken
(`call_soon_threadsafe`, one write to its self-pipe) when the pump is actually waiting.

Also `FileWrapper`, the `wsgi.file_wrapper` of PEP 3333 §"Optional Platform-Specific File
Handling".
"""

from __future__ import annotations

import asyncio
import threading
from collections import deque
from collections.abc import AsyncIterator, Iterator
from typing import IO, Any

from covetpy import _bridge

__all__ = ["ChunkPipe", "FileWrapper"]

# Chunks waiting between the app's thread and the loop: with 64 KiB file blocks, 512 KiB.
PIPE_CHUNKS = 8


def _wake(fut: asyncio.Future[None]) -> None:
    if not fut.done():
        fut.set_result(None)


class ChunkPipe:
    """A bounded one-way channel of body chunks from one thread to an event loop."""

    __slots__ = (
        "_chunks",
        "_cond",
        "_done",
        "_error",
        "_gone",
        "_job",
        "_limit",
        "_loop",
        "_waiter",
    )

    def __init__(self, loop: asyncio.AbstractEventLoop, job: int, limit: int = PIPE_CHUNKS) -> None:
        self._loop = loop
        self._job = job
        self._limit = limit
        self._chunks: deque[bytes] = deque()
        self._cond = threading.Condition(threading.Lock())
        self._waiter: asyncio.Future[None] | None = None
        self._done = False
        self._error: BaseException | None = None
        # Set once nobody reads any more (client gone, pump ended, server shutting down).
        self._gone = False

    @property
    def gone(self) -> bool:
        """Whether the reading side has stopped."""
        return self._gone

    def _notify_loop(self) -> None:
        # Called with the lock held: take the waiter so that only one wake-up is scheduled.
        waiter, self._waiter = self._waiter, None
        if waiter is not None:
            try:
                self._loop.call_soon_threadsafe(_wake, waiter)
            except RuntimeError:  # the loop is closed: nobody will read
                self._gone = True

    def put(self, chunk: bytes) -> bool:
        """Queues `chunk`, waiting while the pipe is full. False: the reader is gone."""
        with self._cond:
            while len(self._chunks) >= self._limit and not self._gone:
                # Woken by the reader; the timeout only notices a loop that closed before its
                # pump ever ran (at shutdown), which would leave this thread waiting forever.
                if not self._cond.wait(1.0) and self._loop.is_closed():
                    self._gone = True
            if self._gone:
                return False
            self._chunks.append(chunk)
            self._notify_loop()
        return True

    def end(self, error: BaseException | None = None) -> None:
        """No more chunks; with `error`, the reader raises it after the queued ones (the
        pump then logs it and cuts the connection)."""
        with self._cond:
            self._done = True
            self._error = error
            self._notify_loop()

    def cancel(self) -> None:
        """The reader gives up (any thread): `put` returns False from now on."""
        with self._cond:
            self._gone = True
            self._cond.notify_all()
            self._notify_loop()

    async def chunks(self) -> AsyncIterator[bytes]:
        """The body, for a `Response.body_iterator`; runs on the loop. While it runs, a
        client that goes away cancels the pipe (`_bridge.on_disconnect`), so an app waiting
        for its next chunk learns it at its next `put` instead of producing to nobody."""
        hooks = _bridge.on_disconnect
        hooks[self._job] = self.cancel
        try:
            while True:
                with self._cond:
                    if self._chunks:
                        chunk = self._chunks.popleft()
                        self._cond.notify()
                    elif self._gone:
                        raise ConnectionResetError("the response stream was cancelled")
                    elif self._done:
                        if self._error is not None:
                            raise self._error
                        return
                    else:
                        fut = self._waiter = self._loop.create_future()
                        chunk = b""
                if chunk:
                    yield chunk
                else:
                    await fut
        finally:
            hooks.pop(self._job, None)
            self.cancel()


class FileWrapper:
    """`wsgi.file_wrapper`: iterates `filelike` in blocks of `blksize` bytes.

    The server recognises it by type when an app returns one (Flask's and Django's `send_file`
    do) and reads `filelike` itself, in blocks of at least 64 KiB."""

    def __init__(self, filelike: IO[bytes], blksize: int = 8192) -> None:
        self.filelike = filelike
        self.blksize = blksize

    def __iter__(self) -> Iterator[bytes]:
        return self

    def __next__(self) -> bytes:
        data = self.filelike.read(self.blksize)
        if data:
            return data
        raise StopIteration

    def close(self) -> None:
        """Closes the file (PEP 3333: the wrapper's `close` calls the file's)."""
        close: Any = getattr(self.filelike, "close", None)
        if close is not None:
            close()
