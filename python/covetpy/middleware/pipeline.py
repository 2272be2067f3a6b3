"""Python middleware: `async def mw(request, call_next) -> Response`, compiled per route once.

A route's chain is app-level middleware (in the order added), then its routers' (outer router
first), then its own; the first is outermost. The chain is built at start-up: each middleware
gets a `call_next` made once, not per request, so a route without middleware costs nothing
and each middleware costs one call per request (benches/middleware.py).

`call_next(request)` gives a `Response` for whatever the handler does: its return value is
converted as the server would convert it, and an exception it raises is rendered by the app's
exception handling (HTTPException, validation errors, 500 + log). A middleware must return a
`Response`. An exception a middleware raises goes to the middleware around it, like any
exception from an `await`; if none catches it, it is rendered like a handler's (500 + log).

Each request runs its chain in a copy of the context, so ContextVars set by a middleware are
seen by inner middleware and the handler, and never by another request.

Sync middleware (`def mw(request, call_next)`) are allowed in a chain that is sync throughout
(sync middleware around a sync handler); in one with async parts, start-up fails naming the
middleware and the route, since a sync function cannot wait for `call_next`.
"""

from __future__ import annotations

import contextvars
import inspect
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from covetpy.exceptions import RouteError
from covetpy.requests import Request
from covetpy.responses import Response, to_response

CallNext = Callable[[Request], Any]
"""`call_next(request)`: awaitable of the inner `Response` (a `Response` in a sync chain)."""
Middleware = Callable[[Request, CallNext], Awaitable[Response] | Response]

Endpoint = Callable[..., Any]
Render = Callable[[BaseException], Response]


def name_of(mw: Any) -> str:
    """How a middleware is shown in errors and by `covetpy routes --middleware`."""
    fn = mw if inspect.isfunction(mw) or inspect.ismethod(mw) else type(mw)
    module = getattr(fn, "__module__", "?")
    return f"{module}.{getattr(fn, '__qualname__', repr(fn))}"


def is_async(mw: Any) -> bool:
    """Whether a middleware (a function, or an object with `__call__`) is a coroutine function."""
    if inspect.iscoroutinefunction(mw):
        return True
    call = getattr(mw, "__call__", None)  # noqa: B004 - instances with an async __call__
    return inspect.iscoroutinefunction(call)


def bind_route(middleware: Sequence[Any], path: str, endpoint_async: bool) -> list[Any]:
    """`middleware` (a route's chain, outermost first) with the route-aware ones (those with
    `for_route(path, sync=...)`, such as the tracing middleware, which name spans after the
    route template) replaced by their form for the route `path`: sync when nothing else in the
    chain, handler included, is async (else start-up would refuse the sync middleware)."""
    if not any(hasattr(m, "for_route") for m in middleware):
        return list(middleware)
    others = [m for m in middleware if not hasattr(m, "for_route")]
    sync = not endpoint_async and not any(is_async(m) for m in others)
    return [m.for_route(path, sync=sync) if hasattr(m, "for_route") else m for m in middleware]


def compile_chain(
    middleware: Sequence[Any],
    endpoint: Endpoint,
    endpoint_async: bool,
    render: Render,
    label: str,
) -> tuple[Endpoint, bool]:
    """Wraps `endpoint(request, *path_values)` in `middleware` (outermost first); returns the
    new endpoint, called the same way, and whether it is a coroutine function."""
    chain_async = endpoint_async or any(is_async(m) for m in middleware)
    if chain_async:
        for mw in middleware:
            if not is_async(mw):
                raise RouteError(
                    f"route {label}: middleware {name_of(mw)} is sync but wraps async code "
                    "(an async handler or middleware); a sync function cannot wait for "
                    "call_next: make it `async def`"
                )
        return _async_chain(list(middleware), endpoint, endpoint_async, render), True
    return _sync_chain(list(middleware), endpoint, render), False


# The path values of the request whose chain runs in this context (set in its own copy).
_values: contextvars.ContextVar[tuple[Any, ...]] = contextvars.ContextVar("covetpy_path_values")


def _link(mw: Any, call_next: CallNext) -> CallNext:
    def next_(request: Request) -> Any:
        return mw(request, call_next)

    return next_


def _outermost(middleware: list[Any], innermost: CallNext) -> CallNext:
    call = innermost
    for mw in reversed(middleware):
        call = _link(mw, call)
    return call


def _sync_chain(middleware: list[Any], endpoint: Endpoint, render: Render) -> Endpoint:
    def innermost(request: Request) -> Response:
        try:
            return to_response(endpoint(request, *_values.get(())))
        except Exception as exc:
            return render(exc)

    # The outermost middleware is called directly, not through a link (one call fewer).
    outer = middleware[0] if middleware else None
    inner = _outermost(middleware[1:], innermost)

    def run(request: Request, values: tuple[Any, ...]) -> Any:
        # Each request runs in a fresh copy of the thread's context, where `_values` is unset:
        # a route without path values needs no set (a new context mapping per request).
        if values:
            _values.set(values)
        try:
            return inner(request) if outer is None else outer(request, inner)
        except Exception as exc:
            return render(exc)

    def entry(request: Request, *values: Any) -> Any:
        return contextvars.copy_context().run(run, request, values)

    return entry


def _async_chain(
    middleware: list[Any], endpoint: Endpoint, endpoint_async: bool, render: Render
) -> Endpoint:
    async def innermost(request: Request) -> Response:
        try:
            result = endpoint(request, *_values.get(()))
            if endpoint_async or inspect.isawaitable(result):
                result = await result
            return to_response(result)
        except Exception as exc:
            return render(exc)

    outer = middleware[0] if middleware else None
    inner = _outermost(middleware[1:], innermost)

    async def entry(request: Request, *values: Any) -> Any:
        # An async chain is a request's handler, run as that request's own Task
        # (`_bridge.start`, adrs/0008), and a Task runs every step in its own copy of the
        # context: what a middleware sets here stays with this request.
        if values:
            _values.set(values)
        try:
            return await (inner(request) if outer is None else outer(request, inner))
        except Exception as exc:
            return render(exc)

    return entry


def describe(middleware: Sequence[Any]) -> list[str]:
    """Names in order, outermost first."""
    return [name_of(m) for m in middleware]
