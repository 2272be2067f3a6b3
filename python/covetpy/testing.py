"""Test clients that run an app through the real server: the same Rust parsing, routing and
bridge as `covetpy run`, on a Unix socket in a private temporary directory.

```python
from covetpy.testing import AsyncTestClient, TestClient

def test_items() -> None:
    with TestClient(app) as client:          # start-up hooks have run
        assert client.get("/items/1").json() == {"id": 1}
                                             # shutdown hooks run on exit

async def test_items_async() -> None:
    async with AsyncTestClient(app) as client:
        r = await client.post("/items", json={"name": "x"})
```

`TestClient` is an `httpx.Client` and `AsyncTestClient` an `httpx.AsyncClient`, so everything
httpx offers works: `.json()`, `.text`, `.headers`, `.status_code`, `stream(...)`, and cookies
set by responses are sent back on later requests.

- `TestClient` serves the app from a background thread with its own event loop. The server
  starts in the constructor (a start-up hook that fails makes the constructor raise
  `StartupError`) and stops on `close()`, on leaving a `with` block, or at the latest when the
  client is garbage-collected or the interpreter exits.
- `AsyncTestClient` serves the app as a task in the running event loop (the loop of the test),
  so handlers run in the same loop as the test. The server starts on `async with` (or on the
  first request) and stops on leaving the block or on `aclose()`.

One app may be served by any number of clients in turn, each a run of its own (start-up
hooks, event consumers, shutdown hooks). While one is open, another for the same app cannot
start if the app has an event bus: its constructor raises `StartupError` (from
`covetpy.events.bus.BusInUse`); close the first one.

With `raise_server_exceptions=True`, an exception a handler raised (other than
`HTTPException`) is re-raised in the test by the client call that received its 500 response.

Background tasks (`covetpy.BackgroundTasks`) have finished when a client call returns, as
with Starlette's client: the call waits for every background task of the app, unless the
response is streamed (`stream=True`, `client.stream(...)`), whose tasks run after its body.

`TestClient.websocket_connect(path)` opens a WebSocket session (`covetpy.websocket.testing`).
"""

from __future__ import annotations

import asyncio
import collections
import concurrent.futures
import contextlib
import dataclasses
import logging
import os
import shutil
import tempfile
import threading
import weakref
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Self, cast

from covetpy.exceptions import CovetError, HTTPException, MissingExtra

# The clients are httpx clients (subclasses), so this module needs httpx to be imported at all:
# without the testing extra, the import fails at once and says what to install.
try:
    import httpx
except ImportError as exc:
    raise MissingExtra("covetpy.testing", "testing") from exc

from covetpy import background
from covetpy._bridge import Runtime
from covetpy.app import App
from covetpy.config import ServerConfig
from covetpy.responses import Response
from covetpy.server.worker import _new_loop, serve
from covetpy.websocket.testing import WebSocketRejected, WebSocketTestSession

__all__ = [
    "AsyncTestClient",
    "StartupError",
    "TestClient",
    "WebSocketRejected",
    "WebSocketTestSession",
]

logger = logging.getLogger("covetpy")

_SOCKET_NAME = "app.sock"
# sun_path holds 108 bytes with the terminating NUL.
_MAX_SOCKET_PATH = 107


class StartupError(CovetError):
    """The app did not start under a test client: a start-up hook failed (it is the
    `__cause__`), the socket could not be bound, or start-up took too long."""


def _socket_dir() -> str:
    """A new private directory whose socket path fits AF_UNIX's limit."""
    base = tempfile.gettempdir()
    # mkdtemp adds "/covet-" and 8 random characters.
    if len(os.path.join(base, "covet-xxxxxxxx", _SOCKET_NAME).encode()) > _MAX_SOCKET_PATH:
        base = "/tmp"
    return tempfile.mkdtemp(prefix="covet-", dir=base)


def _config(config: ServerConfig | None, path: str) -> ServerConfig:
    return (config or ServerConfig()).replace(uds=path, fd=None)


class _Served:
    """The app as `serve` sees it, except that unhandled handler exceptions are also recorded
    (for `raise_server_exceptions=True`)."""

    def __init__(self, app: App, errors: collections.deque[BaseException]) -> None:
        self._app = app
        self._errors = errors

    def __getattr__(self, name: str) -> Any:
        return getattr(self._app, name)

    def runtime(self) -> Runtime:
        runtime = self._app.runtime()
        render = runtime.render_exception
        errors = self._errors

        def render_exception(exc: BaseException) -> Response:
            if not isinstance(exc, HTTPException):
                errors.append(exc)
            return render(exc)

        return dataclasses.replace(runtime, render_exception=render_exception)


def _served_app(app: App, errors: collections.deque[BaseException] | None) -> App:
    if errors is None:
        return app
    return cast(App, _Served(app, errors))


def _startup_failed(exc: BaseException | None) -> StartupError:
    if exc is None:
        return StartupError("the app stopped during start-up")
    err = StartupError(f"the app did not start: {type(exc).__name__}: {exc}")
    err.__cause__ = exc
    return err


# -- the sync client ---------------------------------------------------------------------------


class _ThreadServer:
    """`serve(app)` on a daemon thread that owns its event loop.

    Holds no reference to the client, so a `weakref.finalize` on the client can stop it.
    """

    def __init__(self, app: App, config: ServerConfig, directory: str) -> None:
        self.app = app
        self.config = config
        self.directory = directory
        self.loop = _new_loop()
        self.error: BaseException | None = None
        self._ready = threading.Event()  # set on readiness, and when the thread ends
        self._serving = False
        self._stop = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._lock = threading.Lock()
        self._stopped = False
        self.thread = threading.Thread(target=self._run, name="covetpy-testserver", daemon=True)

    def start(self, timeout: float) -> None:
        self.thread.start()
        if not self._ready.wait(timeout):
            self._call(self._cancel)
            self.thread.join(5)
            self._cleanup()
            raise StartupError(f"the app did not start within {timeout:g}s")
        if not self._serving:
            self.thread.join()
            self._cleanup()
            raise _startup_failed(self.error)

    def stop(self) -> BaseException | None:
        """Drains the server, runs the shutdown hooks and waits for the thread; returns what
        `serve` raised, if anything."""
        with self._lock:
            if self._stopped:
                return None
            self._stopped = True
        self._call(self._stop.set)
        # In-flight requests get the drain deadline; shutdown hooks some more time.
        self.thread.join(self.config.drain_timeout + 30)
        if self.thread.is_alive():
            return RuntimeError("the test server did not stop in time")
        self._cleanup()
        return self.error

    def _call(self, fn: Callable[[], object]) -> None:
        if self.thread.is_alive():
            # The loop may close between the check and the call; then it has stopped anyway.
            with contextlib.suppress(RuntimeError):
                self.loop.call_soon_threadsafe(fn)

    def _cancel(self) -> None:
        if self._task is not None:
            self._task.cancel()

    def _on_ready(self, addresses: list[str]) -> None:
        self._serving = True
        self._ready.set()

    def _run(self) -> None:
        loop = self.loop
        try:
            self._task = loop.create_task(
                serve(
                    self.app,
                    self.config,
                    self._on_ready,
                    install_signal_handlers=False,
                    stop=self._stop,
                )
            )
            loop.run_until_complete(self._task)
        except BaseException as exc:
            self.error = exc
        finally:
            try:
                _cancel_all_tasks(loop)
                loop.run_until_complete(loop.shutdown_asyncgens())
                loop.run_until_complete(loop.shutdown_default_executor())
            finally:
                loop.close()
                self._ready.set()

    def wait_background(self) -> None:
        """Waits until the app's background tasks have finished (none queued: returns at
        once, without a trip to the server's loop)."""
        if not background.busy() or not self.thread.is_alive():
            return
        try:
            done = asyncio.run_coroutine_threadsafe(background.idle(), self.loop)
        except RuntimeError:  # the loop closed meanwhile: nothing runs any more
            return
        with contextlib.suppress(concurrent.futures.CancelledError):
            done.result()

    def _cleanup(self) -> None:
        if not self.thread.is_alive():
            shutil.rmtree(self.directory, ignore_errors=True)


def _cancel_all_tasks(loop: asyncio.AbstractEventLoop) -> None:
    """Cancels what the app left running (handlers cut by the drain deadline, streams)."""
    tasks = asyncio.all_tasks(loop)
    if not tasks:
        return
    for task in tasks:
        task.cancel()
    loop.run_until_complete(asyncio.gather(*tasks, return_exceptions=True))


def _finalize(server: _ThreadServer, transport: httpx.BaseTransport) -> None:
    """Stops a server whose client was never closed (garbage collection, interpreter exit)."""
    transport.close()
    error = server.stop()
    if error is not None:
        logger.error("the test server failed while stopping", exc_info=error)


class TestClient(httpx.Client):
    """An `httpx.Client` talking to `app` served by the real server in a background thread.

    The server starts here: start-up hooks have run when the constructor returns (a failure
    raises `StartupError`). `close()` or leaving `with` drains it and runs the shutdown hooks
    (an exception from them is raised there); a client never closed is stopped when it is
    garbage-collected or at interpreter exit.

    `config` sets the server's limits and timeouts; its `host`, `port`, `uds` and `fd` are
    ignored. Other keyword arguments go to `httpx.Client`.
    """

    __test__ = False  # not a pytest test class

    def __init__(
        self,
        app: App,
        *,
        base_url: str = "http://testserver",
        raise_server_exceptions: bool = False,
        config: ServerConfig | None = None,
        startup_timeout: float = 30.0,
        **kwargs: Any,
    ) -> None:
        directory = _socket_dir()
        path = os.path.join(directory, _SOCKET_NAME)
        self._server_errors: collections.deque[BaseException] | None = (
            collections.deque() if raise_server_exceptions else None
        )
        try:
            server = _ThreadServer(
                _served_app(app, self._server_errors), _config(config, path), directory
            )
        except BaseException:
            shutil.rmtree(directory, ignore_errors=True)
            raise
        server.start(startup_timeout)
        self.app = app
        self._server = server
        transport = httpx.HTTPTransport(uds=path)
        self._finalizer = weakref.finalize(self, _finalize, server, transport)
        super().__init__(base_url=base_url, transport=transport, **kwargs)

    @property
    def socket_path(self) -> str:
        """The Unix socket the server listens on (for raw-socket tests)."""
        return os.path.join(self._server.directory, _SOCKET_NAME)

    def websocket_connect(
        self,
        path: str,
        subprotocols: Sequence[str] | None = None,
        headers: Mapping[str, str] | None = None,
        *,
        timeout: float | None = 30.0,
    ) -> WebSocketTestSession:
        """A WebSocket session with the app, as a context manager (`websockets`' sync
        client): `with client.websocket_connect("/ws") as ws: ws.send_text("hi")`. The
        client's cookies go along unless `headers` has a cookie; `timeout` bounds the
        handshake and each receive. A refused upgrade raises `WebSocketRejected`."""
        sent = {k.lower(): v for k, v in (headers or {}).items()}
        if "cookie" not in sent and self.cookies:
            sent["cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        url = self.base_url.copy_with(scheme="ws").join(path)
        return WebSocketTestSession(
            self.socket_path, str(url), subprotocols=subprotocols, headers=sent, timeout=timeout
        )

    def send(self, request: httpx.Request, **kwargs: Any) -> httpx.Response:
        response = super().send(request, **kwargs)
        if not kwargs.get("stream"):
            self._server.wait_background()
        if self._server_errors:
            response.close()
            raise self._server_errors.popleft()
        return response

    def close(self) -> None:
        """Closes the connections, then drains the server and runs the shutdown hooks."""
        super().close()
        self._stop_server()

    def __exit__(self, *exc_info: Any) -> None:
        super().__exit__(*exc_info)
        self._stop_server()

    def _stop_server(self) -> None:
        if self._finalizer.detach() is not None:
            error = self._server.stop()
            if error is not None:
                raise error


# -- the async client --------------------------------------------------------------------------


class AsyncTestClient(httpx.AsyncClient):
    """An `httpx.AsyncClient` talking to `app` served by the real server as a task in the
    running event loop.

    `async with AsyncTestClient(app) as client:` starts the server (start-up hooks run; a
    failure raises `StartupError`) and drains it on exit (shutdown hooks run; an exception from
    them is raised there). Without `async with`, the first request starts it and `aclose()`
    stops it.

    `config` sets the server's limits and timeouts; its `host`, `port`, `uds` and `fd` are
    ignored. Other keyword arguments go to `httpx.AsyncClient`.
    """

    __test__ = False  # not a pytest test class

    def __init__(
        self,
        app: App,
        *,
        base_url: str = "http://testserver",
        raise_server_exceptions: bool = False,
        config: ServerConfig | None = None,
        startup_timeout: float = 30.0,
        **kwargs: Any,
    ) -> None:
        self.app = app
        self._directory = _socket_dir()
        self._cleanup = weakref.finalize(self, shutil.rmtree, self._directory, ignore_errors=True)
        self._startup_timeout = startup_timeout
        self._server_errors: collections.deque[BaseException] | None = (
            collections.deque() if raise_server_exceptions else None
        )
        self._served = _served_app(app, self._server_errors)
        self._config = _config(config, self.socket_path)
        self._task: asyncio.Task[None] | None = None
        self._stop: asyncio.Event | None = None
        self._server_closed = False
        self._start_lock = asyncio.Lock()
        super().__init__(
            base_url=base_url, transport=httpx.AsyncHTTPTransport(uds=self.socket_path), **kwargs
        )

    @property
    def socket_path(self) -> str:
        """The Unix socket the server listens on (for raw-socket tests)."""
        return os.path.join(self._directory, _SOCKET_NAME)

    async def start(self) -> None:
        """Starts the server (once) and waits until it accepts connections."""
        async with self._start_lock:
            if self._task is not None:
                return
            if self._server_closed:
                raise RuntimeError("this test client has been closed")
            loop = asyncio.get_running_loop()
            ready: asyncio.Future[None] = loop.create_future()

            def on_ready(addresses: list[str]) -> None:
                if not ready.done():
                    ready.set_result(None)

            stop = asyncio.Event()
            task = loop.create_task(
                serve(
                    self._served,
                    self._config,
                    on_ready,
                    install_signal_handlers=False,
                    stop=stop,
                ),
                name="covetpy-testserver",
            )
            await asyncio.wait(
                (ready, task), timeout=self._startup_timeout, return_when=asyncio.FIRST_COMPLETED
            )
            if ready.done():
                self._task, self._stop = task, stop
                return
            self._server_closed = True
            try:
                if task.done():
                    raise _startup_failed(None if task.cancelled() else task.exception())
                task.cancel()
                await asyncio.wait((task,))
                if not task.cancelled():
                    task.exception()  # retrieved, so asyncio does not log it
                raise StartupError(f"the app did not start within {self._startup_timeout:g}s")
            finally:
                self._cleanup()

    async def send(self, request: httpx.Request, **kwargs: Any) -> httpx.Response:
        if self._task is None:
            await self.start()
        response = await super().send(request, **kwargs)
        if not kwargs.get("stream") and background.busy():
            await background.idle()
        if self._server_errors:
            await response.aclose()
            raise self._server_errors.popleft()
        return response

    async def aclose(self) -> None:
        """Closes the connections, then drains the server and runs the shutdown hooks."""
        await super().aclose()
        await self._stop_server()

    async def __aenter__(self) -> Self:
        await self.start()
        try:
            await super().__aenter__()
        except BaseException:
            await self._stop_server()
            raise
        return self

    async def __aexit__(self, *exc_info: Any) -> None:
        await super().__aexit__(*exc_info)
        await self._stop_server()

    async def _stop_server(self) -> None:
        self._server_closed = True
        task, self._task = self._task, None
        try:
            if task is not None and not task.done():
                assert self._stop is not None
                self._stop.set()
                await task
            elif task is not None and not task.cancelled() and task.exception() is not None:
                raise cast(BaseException, task.exception())
        finally:
            self._cleanup()
