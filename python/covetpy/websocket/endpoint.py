"""The endpoint Rust calls for a WebSocket route: `endpoint(request, *path_values)`, a
coroutine that lives as long as the connection.

Before `accept()` the handler can still refuse the upgrade, and what the endpoint returns
(or raises) is the HTTP answer Rust sends: a bad parameter is a 422, an `HTTPException` from
a dependency its status, a handler that returns or closes without accepting a 403 (or the
`Response` it returns). After `accept()` the return value is ignored: the endpoint closes
the connection itself (1000 when the handler returned, 1011 when it raised) and then runs
the dependencies' teardowns, so a `yield` dependency holds its resource for the whole
session.
"""

from __future__ import annotations

import inspect
import logging
import re
from collections.abc import Callable, Coroutine
from typing import TYPE_CHECKING, Any

from covetpy.exceptions import HTTPException
from covetpy.observability import tracing
from covetpy.responses import Response
from covetpy.websocket.socket import WebSocket, WebSocketDisconnect

if TYPE_CHECKING:
    from covetpy.params.plan import CallPlan
    from covetpy.params.resolve import Resolver
    from covetpy.requests import Request

__all__ = ["websocket_endpoint"]

logger = logging.getLogger("covetpy")

# RFC 6455 §7.4.1: the server met a condition that kept it from fulfilling the request.
INTERNAL_ERROR = 1011


def websocket_endpoint(
    plan: CallPlan,
    path_names: list[str],
    resolver: Resolver,
    on_error: Callable[[Request, Exception], Any] | None,
    render_exception: Callable[[BaseException], Response],
    template: str = "",
) -> Callable[..., Coroutine[Any, Any, Any]]:
    """The endpoint of a WebSocket route whose handler is planned as `plan`. `on_error` are
    the app's exception handlers (for exceptions before `accept()`), `render_exception`
    its renderer of the 403 refusal; `template` the route's path, which names its span."""
    names = tuple(path_names)
    handler = plan.call
    route = _CONVERTER.sub(r"{\1}", template)

    async def endpoint(request: Request, *values: Any) -> Any:
        if not tracing.enabled():
            return await session(request, values, None)
        # One server span per connection, from the upgrade request to the close, under the
        # ids the Rust core gave the request (its access-log line shows them too).
        traceparent = getattr(request, "traceparent", None) or request.header("traceparent")
        attributes = {"http.route": route, "network.protocol.name": "websocket"}
        with tracing.server_span(f"WS {route}", traceparent=traceparent, attributes=attributes):
            opened: list[WebSocket] = []
            result = await session(request, values, opened)
            code = opened[0].close_code if opened else None
            if code is not None:
                tracing.annotate({"websocket.close_code": code})
            return result

    async def session(
        request: Request, values: tuple[Any, ...], opened: list[WebSocket] | None
    ) -> Any:
        session = request.websocket
        if session is None:
            # Rust routes only checked upgrades here; a plain request is told what to do.
            raise HTTPException(426, "this route speaks WebSocket", {"upgrade": "websocket"})
        path = dict(zip(names, values, strict=True))
        ws = WebSocket(session, request, path)
        if opened is not None:
            opened.append(ws)
        try:
            kwargs, token = await resolver.enter(plan, request, path, ws)
        except Exception as exc:
            if ws.accepted:  # a dependency accepted, then failed
                await _failed(ws, exc)
                return None
            return await _refusal(request, exc, on_error)
        ended: BaseException | None = None
        try:
            result = await handler(**kwargs)
        except WebSocketDisconnect as exc:
            # The peer went away, or a receive closed it (1003, 1007): the session's end.
            logger.debug("WebSocket handler %s ended: %s", _name(handler), exc)
            result = None
        except Exception as exc:
            ended = exc
            if not ws.accepted:
                await resolver.leave(token, exc)
                return await _refusal(request, exc, on_error)
            await _failed(ws, exc)
        except BaseException as exc:  # cancelled: the server stops, Rust closes the socket
            await resolver.leave(token, exc)
            raise
        if not ws.accepted:
            await resolver.leave(token, None)
            if isinstance(result, Response):
                return result
            return render_exception(
                HTTPException(403, "the WebSocket handler did not accept the connection")
            )
        if not ws.closed:
            await ws.close(1000)
        await resolver.leave(token, ended)
        return None

    endpoint.__name__ = endpoint.__qualname__ = _name(handler)
    return endpoint


_CONVERTER = re.compile(r"\{([^{}:]+):[^{}]+\}")


async def _refusal(
    request: Request,
    exc: Exception,
    on_error: Callable[[Request, Exception], Any] | None,
) -> Any:
    """The HTTP answer for an exception raised before `accept()`: the app's exception
    handler's, else the exception itself (Rust renders it as for any route)."""
    if on_error is None:
        raise exc
    result = on_error(request, exc)
    if inspect.isawaitable(result):
        result = await result
    return result


async def _failed(ws: WebSocket, exc: Exception) -> None:
    """A handler raised after `accept()`: logged like a failing HTTP handler, and the peer
    gets 1011."""
    logger.error("unhandled exception in a WebSocket handler", exc_info=exc)
    if not ws.closed:
        await ws.close(INTERNAL_ERROR, "internal error")


def _name(handler: Callable[..., Any]) -> str:
    return str(getattr(handler, "__qualname__", handler))
