"""Python middleware: `async def mw(request, call_next) -> Response`, compiled per route once.

A route's chain is app-level middleware (in the order added), then its routers' (outer router
first), then its own; the first is outermost. The chain is built at start-up into nested
closures around the route's endpoint, so a route without middleware costs nothing, and each
middleware costs one call (and one closure) per request.

`call_next(request)` always gives a `Response`: the handler's return value is converted the way
the server would convert it, and an exception from the handler or an inner middleware is
rendered by the app's exception handling (HTTPException, validation errors, 500 + log), so a
middleware sees (and may change) every answer. An exception a middleware raises itself is
rendered the same way.

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
from covetpy.middleware.context import InContext
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


def compile_chain(
    middleware: Sequence[Any],
    endpoint: Endpoint,
    endpoint_async: bool,
    render: Render,
    label: str,
) -> tuple[Endpoint, bool]:
    """Wraps `endpoint(request, *path_values)` in `middleware` (outermost first); returns the
    new endpoint and whether it is a coroutine function."""
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


def _sync_chain(middleware: list[Any], endpoint: Endpoint, render: Render) -> Endpoint:
    def innermost(request: Request, values: tuple[Any, ...]) -> Response:
        try:
            return to_response(endpoint(request, *values))
        except Exception as exc:
            return render(exc)

    def layer(i: int, request: Request, values: tuple[Any, ...]) -> Response:
        if i == len(middleware):
            return innermost(request, values)

        def call_next(req: Request) -> Response:
            return layer(i + 1, req, values)

        try:
            return to_response(middleware[i](request, call_next))
        except Exception as exc:
            return render(exc)

    def entry(request: Request, *values: Any) -> Response:
        return contextvars.copy_context().run(layer, 0, request, values)

    return entry


def _async_chain(
    middleware: list[Any], endpoint: Endpoint, endpoint_async: bool, render: Render
) -> Endpoint:
    n = len(middleware)

    async def innermost(request: Request, values: tuple[Any, ...]) -> Response:
        try:
            result = endpoint(request, *values)
            if endpoint_async or inspect.isawaitable(result):
                result = await result
            return to_response(result)
        except Exception as exc:
            return render(exc)

    async def layer(i: int, request: Request, values: tuple[Any, ...]) -> Response:
        if i == n:
            return await innermost(request, values)

        def call_next(req: Request) -> Awaitable[Response]:
            return layer(i + 1, req, values)

        try:
            return to_response(await middleware[i](request, call_next))
        except Exception as exc:
            return render(exc)

    async def entry(request: Request, *values: Any) -> Response:
        response: Response = await InContext(layer(0, request, values), contextvars.copy_context())
        return response

    return entry


def describe(middleware: Sequence[Any]) -> list[str]:
    """Names in order, outermost first."""
    return [name_of(m) for m in middleware]
