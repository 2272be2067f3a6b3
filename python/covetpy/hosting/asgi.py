"""`ASGIMount`: an ASGI 3 app (spec 2.4) served on the Rust core, as the endpoint of a mount.

Rust calls the mount with `(request, responder)` on the event loop's thread for each request
under its prefix that no native route took. The mount builds the scope (Rust fills the
request's part into a copy of a template made once per mount) and runs the app's call as one
Task, the handler Task of `covetpy._bridge.start`: registered in `_bridge._running` so a
request timeout (504) cancels it, and with an `on_disconnect` hook so a client that goes
away is *told* instead (ASGI: `http.disconnect`, `send` raising OSError), never cancelled.

What each message does: `asgi_http` (requests), `asgi_websocket` (WebSocket sessions),
`lifespan` (start-up and shutdown).
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

from covetpy import _bridge
from covetpy.hosting import observe
from covetpy.hosting.asgi_http import HTTPCycle
from covetpy.hosting.asgi_protocol import ASGIProtocolError, ClientDisconnected
from covetpy.hosting.asgi_websocket import WebSocketCycle
from covetpy.hosting.lifespan import Lifespan, LifespanError

if TYPE_CHECKING:
    from covetpy._core import Request, Responder

__all__ = ["ASGIMount", "ASGIProtocolError", "ClientDisconnected", "LifespanError"]

ASGI_VERSION = {"version": "3.0", "spec_version": "2.4"}
# Every Task of a mounted request gets this name: an unnamed Task formats "Task-<n>" per
# request (as `_bridge.TASK_NAME`).
TASK_NAME = "covetpy-asgi"

_running = _bridge._running
_hooks = _bridge.on_disconnect
_Task = asyncio.Task
_EAGER = _bridge._EAGER


class ASGIMount:
    """Serves the ASGI 3 app `app` under `root_path` (the mount's prefix, "" at the root).

    The scopes' `server` is unknown until the server binds: the app's start-up sets it with
    `set_server`; until then it is None, which the spec allows.
    """

    __slots__ = ("_lifespan", "_loop", "_state", "_template", "app", "root_path")

    def __init__(self, app: Any, root_path: str = "") -> None:
        self.app = app
        self.root_path = root_path
        # The part of every scope that does not change per request; Rust copies it and adds
        # the request's fields (`Request.asgi_scope`). The nested dicts are shared by all
        # scopes, as under uvicorn; an app that mutates them mutates them for every request.
        self._template: dict[str, Any] = {
            "asgi": ASGI_VERSION,
            "root_path": root_path,
            "server": None,
            "extensions": {"http.response.pathsend": {}, "websocket.http.response": {}},
        }
        self._lifespan = Lifespan(app, ASGI_VERSION)
        self._state: dict[str, Any] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def set_server(self, server: tuple[str, int | None] | None) -> None:
        """The scopes' `server`: the listening `(host, port)`, or `(path, None)` on a Unix
        socket (ASGI HTTP spec, `server`)."""
        self._template["server"] = server

    async def startup(self, state: dict[str, Any] | None = None) -> None:
        """Runs the app's lifespan start-up (LifespanError if it fails). `state`: a dict to
        use as the lifespan state (shared with other mounts), else a new one."""
        # The loop of the serve that starts now (an App may be served again, on a new loop).
        self._loop = None
        await self._lifespan.startup({} if state is None else state)
        # Only a non-empty state is copied into each scope (a dict copy per request): Starlette
        # makes its own when the scope has none.
        self._state = self._lifespan.state if self._lifespan.supported else None

    async def shutdown(self) -> None:
        """Runs the app's lifespan shutdown; a failure is logged."""
        await self._lifespan.shutdown()

    def __call__(self, request: Request, responder: Responder) -> None:
        """Starts serving one request or WebSocket (called by Rust on the loop's thread)."""
        loop = self._loop
        if loop is None:
            loop = self._loop = asyncio.get_running_loop()
        scope = request.asgi_scope(self._template)
        state = self._state
        if state:
            scope["state"] = state.copy()
        job = request.job
        session = request.websocket
        cycle: HTTPCycle | WebSocketCycle
        if session is None:
            cycle = HTTPCycle(request, responder)
        else:
            cycle = WebSocketCycle(session, responder, loop)
        # Made directly, as `_bridge.start` does: the Task runs every step of the app, so
        # `asyncio.current_task()`, timeouts and anyio cancel scopes work inside it.
        coro = cycle.run(self.app, scope, job)
        if observe.enabled():
            route = self.root_path or "/"
            coro = observe.observed(coro, request, route, cycle.status)
        _hooks[job] = cycle.disconnected
        if _EAGER:
            # Python 3.12+: the app runs at once, inside its Task; one that never waits is
            # done here, without a pass of the event loop (its `run` has unregistered it).
            task = _Task(coro, loop=loop, name=TASK_NAME, eager_start=True)  # type: ignore[call-arg,unused-ignore]
            if not task.done():
                _running[job] = task
        else:
            _running[job] = _Task(coro, loop=loop, name=TASK_NAME)
