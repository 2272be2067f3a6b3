"""The Python half of the bridge: what the Rust core calls besides handlers.

Also the typed objects that cross to Rust once at start-up besides the `ServerConfig`: each
`RouteEntry` of `App.route_table()` and the `Runtime` of `App.runtime()` (these module
functions plus the app's `render_exception` and built-in middleware). Rust reads every field
and refuses a missing or ill-typed one with a `ConfigError` naming it (designs/bridge.md).
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import sys
import uuid
from collections.abc import AsyncIterable, Awaitable, Callable, Coroutine, Iterable
from dataclasses import dataclass
from typing import Any, Literal

import msgspec

from covetpy import background
from covetpy._core import Responder, StreamSender
from covetpy.exceptions import HTTPException
from covetpy.responses import Response

logger = logging.getLogger("covetpy")

json_encode = msgspec.json.Encoder().encode
json_decode = msgspec.json.decode
UUID = uuid.UUID

# asyncio keeps only weak references to tasks; these keep running ones alive.
_tasks: set[asyncio.Task[None]] = set()
# Handlers that suspended, by request id, so the server can cancel them (client gone, 504).
_running: dict[int, asyncio.Task[None]] = {}
# Request ids whose client went away while their handler ran (`Request.is_disconnected()`).
_gone: set[int] = set()
# Background tasks queued by async endpoints, waiting for their response to be sent: the same
# dict as `background.pending` (never rebound), tested here as a global.
_after = background.pending
# What to do instead of cancelling when the client of request `job` goes away: a mounted ASGI
# app is not cancelled, it is told (`receive()` gives `http.disconnect`, `send()` raises
# OSError: ASGI spec 2.4), so its hook is called once and removed (covetpy.hosting.asgi).
on_disconnect: dict[int, Callable[[], None]] = {}


def _spawn(coro: Coroutine[Any, Any, None]) -> asyncio.Task[None]:
    task = asyncio.get_running_loop().create_task(coro)
    _tasks.add(task)
    task.add_done_callback(_tasks.discard)
    return task


def problem(
    status: int,
    title: str,
    detail: str,
    headers: dict[str, str] | None = None,
    **extra: Any,
) -> Response:
    """An RFC 9457 problem document; `extra` members (e.g. `errors`) are added to it."""
    doc = {"type": "about:blank", "title": title, "status": status, "detail": detail, **extra}
    return Response(json_encode(doc), status, headers, "application/problem+json")


def bad_request(detail: str) -> HTTPException:
    """The exception for a malformed request body."""
    return HTTPException(400, detail)


async def _run(handler: Awaitable[Any], responder: Responder, job: int) -> None:
    """Awaits a handler and sends its result (or its exception, rendered) to its client."""
    try:
        value = await handler
    except Exception as exc:
        if _after:
            background.discard(job)
        responder.fail(exc)
    except asyncio.CancelledError:
        # Cancelled by the server (client gone, 504 sent) or at shutdown: nobody waits for an
        # answer, and it is not an error of the handler. The dropped responder frees the slot.
        logger.debug("handler of request %d cancelled", job)
        if _after:
            background.discard(job)
        raise
    except BaseException as exc:
        if _after:
            background.discard(job)
        responder.fail(exc)
        raise
    else:
        if _after:  # some endpoint queued background tasks: this request's, maybe
            background.send_then_start(responder, value, job)
        else:
            responder.send(value)
    finally:
        _running.pop(job, None)
        _gone.discard(job)


# Every handler Task gets this name: an unnamed Task formats "Task-<n>" (3.11), per request.
TASK_NAME = "covetpy-handler"
# Python 3.12+: eager Tasks, whose first step runs at once, inside the Task.
_EAGER = sys.version_info >= (3, 12)


def start(
    coro: Coroutine[Any, Any, Any],
    responder: Responder,
    job: int,
    loop: asyncio.AbstractEventLoop,
) -> None:
    """Runs an async handler as a Task from its first step and sends its result.

    Every step, the first included, runs inside the Task, so `asyncio.current_task()` is
    the handler's own: `asyncio.timeout()`, anyio cancel scopes (httpx) and task-local state
    work anywhere in a handler (adrs/0008). On Python 3.11 this costs a Task and one pass of
    the event loop per request (adrs/0008 has the measured cost). `loop` is the running loop
    (Rust looks it up once per server). The Task is made directly, not by
    `loop.create_task`, which would format a name first and set ours after (so a task
    factory set on the loop is not used for handlers)."""
    if _EAGER:
        # A handler that never suspends finishes here, without a trip through the loop.
        task = asyncio.Task(  # type: ignore[call-arg,unused-ignore]
            _run(coro, responder, job), loop=loop, name=TASK_NAME, eager_start=True
        )
        if task.done():
            return
    else:
        task = asyncio.Task(_run(coro, responder, job), loop=loop, name=TASK_NAME)
    # Held here until it ends (`_run`'s finally), so asyncio's weak reference is enough.
    _running[job] = task


def cancel(job: int, why: str) -> None:
    """The server stopped waiting for request `job` ("disconnected" or "timeout"): cancels its
    handler if it is suspended (a handler running right now finishes its current step).
    A disconnect of a request with an `on_disconnect` hook calls the hook instead."""
    if why == "disconnected" and on_disconnect:
        hook = on_disconnect.pop(job, None)
        if hook is not None:
            hook()
            return
    task = _running.pop(job, None)
    if task is None:
        return
    if why == "disconnected":
        _gone.add(job)
    task.cancel(f"client {why}" if why == "disconnected" else "request timed out (504)")


def is_disconnected(job: int) -> bool:
    """Whether the client of request `job` went away while its handler ran."""
    return job in _gone


async def _room(sender: StreamSender) -> None:
    fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
    sender.wait(fut)
    await fut


async def _put(sender: StreamSender, chunk: bytes | str) -> None:
    data = chunk.encode() if isinstance(chunk, str) else chunk
    while not sender.send(data):
        await _room(sender)


async def _pump(
    iterator: Iterable[bytes | str] | AsyncIterable[bytes | str], sender: StreamSender
) -> None:
    try:
        if isinstance(iterator, AsyncIterable):
            async for chunk in iterator:
                await _put(sender, chunk)
        else:
            for chunk in iterator:
                await _put(sender, chunk)
        while not sender.finish():
            await _room(sender)
    except ConnectionResetError:
        logger.debug("client went away during a streamed response")
    except Exception:
        logger.exception("streamed response failed; the connection is cut")
        sender.abort()
    finally:
        close = getattr(iterator, "aclose", None)
        if close is not None:
            await close()
        elif hasattr(iterator, "close"):
            iterator.close()


def pump_stream(
    iterator: Iterable[bytes | str] | AsyncIterable[bytes | str], sender: StreamSender
) -> None:
    """Feeds a streamed body from a Task."""
    _spawn(_pump(iterator, sender))


PlanItem = (
    tuple[Literal["request"], None] | tuple[Literal["path"], str] | tuple[Literal["auth"], None]
)
"""One positional argument of an endpoint: the `Request`, the path value of that name, or the
`Identity` Rust verified (`Annotated[Identity, Auth()]`)."""


@dataclass(frozen=True, slots=True)
class RouteEntry:
    """One route as Rust receives it (`rust/bridge/server.rs`)."""

    methods: tuple[str, ...]
    path: str
    """The path with converters written in (`{id:int}`)."""
    endpoint: Callable[..., Any]
    plan: tuple[PlanItem, ...]
    """The endpoint's positional arguments, in order."""
    fixed: Response | None
    """A response answered by the IO threads without calling Python (`App.add_static`)."""
    timeout: float | None
    """Seconds the endpoint may take (504 after; 0 for none); None: `request_timeout`."""
    websocket: bool
    """A WebSocket route: Rust checks the upgrade handshake and hands the endpoint the
    session as `request.websocket` (`covetpy.websocket.endpoint`)."""
    mount: bool = False
    """A mount (`App.mount`): `path` is a prefix, `methods` and `plan` are empty, and Rust
    calls `endpoint(request, responder)` for every request under the prefix that no route
    takes (`covetpy.hosting`)."""
    auth: dict[str, Any] | None = None
    """The route's authentication policy (`{"public": bool, "requires": [Requires.spec()]}`,
    `rust/auth/policy.rs`); None: the default (no requirement, not public)."""


@dataclass(frozen=True, slots=True)
class Runtime:
    """The Python callables the Rust core uses for one app (`rust/bridge/runtime.rs`)."""

    json_encode: Callable[[Any], bytes]
    json_decode: Callable[[bytes], Any]
    response_type: type[Response]
    start: Callable[[Coroutine[Any, Any, Any], Responder, int, asyncio.AbstractEventLoop], None]
    """Runs an async handler as a Task and sends its result."""
    pump_stream: Callable[[Any, StreamSender], None]
    bad_request: Callable[[str], HTTPException]
    uuid: type[UUID]
    cancel: Callable[[int, str], None]
    is_disconnected: Callable[[int], bool]
    render_exception: Callable[[BaseException], Response]
    """The app's: the response for an exception no handler took."""
    native_middleware: tuple[dict[str, Any], ...]
    """The specs of the built-in middleware that run in Rust, outermost first."""
    auth: dict[str, Any] | None = None
    """The authentication layers (`covetpy.auth.runtime.AuthRuntime.spec`); None: none."""
    auth_gate: Callable[..., Any] | None = None
    """`auth_gate(request, route, handler, args)`: what Python still decides, then the
    handler (`covetpy.auth.runtime`)."""


def runtime(
    render_exception: Callable[[BaseException], Response],
    native_middleware: tuple[dict[str, Any], ...],
    auth: dict[str, Any] | None = None,
    auth_gate: Callable[..., Any] | None = None,
) -> Runtime:
    """The runtime of an app: this module's functions and the app's own parts."""
    return Runtime(
        json_encode=json_encode,
        json_decode=json_decode,
        response_type=Response,
        start=start,
        pump_stream=pump_stream,
        bad_request=bad_request,
        uuid=UUID,
        cancel=cancel,
        is_disconnected=is_disconnected,
        render_exception=render_exception,
        native_middleware=native_middleware,
        auth=auth,
        auth_gate=auth_gate or _no_gate,
    )


async def _no_gate(
    request: Any, route: int, handler: Callable[..., Any], args: Any, slots: Any = ()
) -> Any:
    """The gate of an app without Python-verified layers (never called: nothing is pending)."""
    result = handler(*args)
    return await result if inspect.isawaitable(result) else result
