"""`WSGIMount`: a WSGI app (PEP 3333: Flask, Django's WSGI handler) as the endpoint of a mount.

Rust calls the mount on the event loop's thread, which must not block; the request is handed
to a fixed pool of `threads` worker threads through one `queue.SimpleQueue`, and the worker
builds the environ, calls the app and answers. Requests beyond `threads` wait in the queue
(never refused here: admission control and timeouts are the server's).

Own threads rather than `concurrent.futures.ThreadPoolExecutor`: `submit` builds a Future
and a work item and takes locks per request; `SimpleQueue.put` (C) is the whole hand-off.
The loop thread pays 0.4 µs per request for the put against 9 µs for `submit` with two busy
workers contending for the GIL (200 000 trivial jobs through 2 threads, 2-core machine).
"""

from __future__ import annotations

import asyncio
import functools
import logging
import os
import threading
import weakref
from collections.abc import Callable, Iterable
from queue import SimpleQueue
from typing import Any

from covetpy._core import Responder
from covetpy.hosting import observe
from covetpy.hosting.wsgi_environ import EnvironBuilder, WSGIRequest
from covetpy.hosting.wsgi_exchange import Exchange, WSGIProtocolError
from covetpy.hosting.wsgi_input import WSGIInput
from covetpy.hosting.wsgi_stream import FileWrapper

__all__ = ["FileWrapper", "WSGIApp", "WSGIMount", "WSGIProtocolError"]

logger = logging.getLogger("covetpy")

WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]
Job = tuple[WSGIRequest, Responder, asyncio.AbstractEventLoop]

# Threads per WSGI mount when none is given: enough for apps that wait on a database; the GIL
# makes more of them useless for CPU-bound work.
DEFAULT_THREADS = 8
# How long `close` waits for requests still running before it leaves them to their daemon
# threads (they end with the process).
CLOSE_WAIT = 10.0


class _ErrorStream:
    """`wsgi.errors`: what the app writes goes to the "covetpy.wsgi" logger, one record per
    `write` (a logging handler writes a whole record, traceback included, in one call)."""

    def __init__(self) -> None:
        self._log = logging.getLogger("covetpy.wsgi")

    def write(self, text: str) -> int:
        message = text.rstrip("\n")
        if message:
            self._log.error("%s", message)
        return len(text)

    def writelines(self, lines: Iterable[str]) -> None:
        for line in lines:
            self.write(line)

    def flush(self) -> None:
        """Nothing is buffered."""


class WSGIMount:
    """The endpoint of a WSGI mount: `mount(request, responder)` is what Rust calls."""

    def __init__(
        self,
        app: WSGIApp,
        root_path: str = "",
        threads: int | None = None,
        *,
        multiprocess: bool = False,
        server: tuple[str, int] | None = None,
    ) -> None:
        if threads is None:
            threads = DEFAULT_THREADS
        if threads < 1:
            raise ValueError(f"a WSGI mount needs at least one thread, got {threads}")
        self.app = app
        self.root_path = root_path
        self.threads = threads
        self._environ = EnvironBuilder(root_path, multiprocess, server, _ErrorStream())
        self._queue: SimpleQueue[Job | None] | None = None
        self._workers: list[threading.Thread] = []
        self._closed = False
        # Threads do not survive fork: a worker process starts its own pool on its first
        # request (the supervisor may have imported, even called, the app before forking).
        ref = weakref.ref(self)
        os.register_at_fork(after_in_child=lambda: _forget_pool(ref))

    def __call__(self, request: WSGIRequest, responder: Responder) -> None:
        """Queues the request for a worker thread; returns at once (loop thread)."""
        queue = self._queue
        if queue is None:
            queue = self._start()
        queue.put((request, responder, asyncio.get_running_loop()))

    def _start(self) -> SimpleQueue[Job | None]:
        if self._closed:
            raise RuntimeError("the WSGI mount is closed")
        queue: SimpleQueue[Job | None] = SimpleQueue()
        self._workers = [
            threading.Thread(target=self._work, args=(queue,), name=f"covetpy-wsgi-{i}")
            for i in range(self.threads)
        ]
        for t in self._workers:
            t.daemon = True
            t.start()
        self._queue = queue
        return queue

    def _work(self, queue: SimpleQueue[Job | None]) -> None:
        get = queue.get
        serve = self._serve
        while (job := get()) is not None:
            try:
                serve(*job)
            except BaseException:  # never lose a worker thread
                logger.exception("WSGI worker failed")

    def _serve(
        self, request: WSGIRequest, responder: Responder, loop: asyncio.AbstractEventLoop
    ) -> None:
        exchange = Exchange(responder, loop, getattr(request, "job", 0))
        if observe.enabled():
            route = self.root_path or "/"
            serve = functools.partial(self._call, request, exchange)
            observe.observed_sync(serve, request, route, exchange.status_code)
        else:
            self._call(request, exchange)

    def _call(self, request: WSGIRequest, exchange: Exchange) -> None:
        result: Any = None
        environ: dict[str, Any] | None = None
        try:
            environ = self._environ.build(request)
            result = self.app(environ, exchange.start_response)
            exchange.respond(result)
        except BaseException as exc:
            exchange.failed(exc)
        finally:
            close = getattr(result, "close", None)
            if close is not None:
                # PEP 3333: called once the answer is done with, on errors and disconnects too.
                try:
                    close()
                except Exception:
                    logger.exception("the WSGI app's close() failed")
            if environ is not None:
                _finish_body(environ, request)

    def close(self) -> None:
        """Stops the pool: queued requests are served, then each thread ends."""
        self._closed = True
        queue, self._queue = self._queue, None
        if queue is None:
            return
        for _ in self._workers:
            queue.put(None)
        for t in self._workers:
            if t is not threading.current_thread():
                t.join(CLOSE_WAIT / len(self._workers))
        self._workers = []


def _forget_pool(ref: weakref.ref[WSGIMount]) -> None:
    mount = ref()
    if mount is not None:
        mount._queue = None
        mount._workers = []


def _finish_body(environ: dict[str, Any], request: WSGIRequest) -> None:
    """Tells Rust to stop reading a body the app left unread (the connection then closes
    after the answer instead of carrying the rest into the next request)."""
    body = environ["wsgi.input"]
    if type(body) is not WSGIInput or body.at_eof:
        return
    # A request without a body needs no call into Rust (most GETs).
    if environ.get("CONTENT_LENGTH", "0") == "0" and "HTTP_TRANSFER_ENCODING" not in environ:
        return
    discard = getattr(request, "discard_body", None)
    if discard is not None:
        discard()
