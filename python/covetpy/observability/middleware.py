"""The Python middleware that give each request its call context and its server span.

```python
app.add_middleware(MeshContextMiddleware())   # tracing off: request id, trace, deadline
app.add_middleware(TracingMiddleware())       # tracing on: all of that, under a server span
```

`TracingMiddleware` does what `MeshContextMiddleware` does, so an app needs only one of them.
Both are async; in a route whose chain is sync throughout (sync middleware around a sync
handler) the app uses their sync form, which `bind_route` picks along with the route
template the span is named after.

The server span takes the ids the Rust core gave the request (`request.trace_id`, `span_id`,
`parent_span_id`, `sampled`), which its access log shows too. With a core that does not expose
them, the context is read from the request headers and the span has ids of its own.
"""

from __future__ import annotations

import re
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, Any

from covetpy.mesh import context as mesh
from covetpy.middleware.pipeline import CallNext, bind_route
from covetpy.observability import tracing

if TYPE_CHECKING:
    from opentelemetry.trace import Span

    from covetpy.responses import Response

__all__ = ["MeshContextMiddleware", "TracingMiddleware", "bind_route", "call_context"]

# HTTP semantic conventions: methods outside this set are reported as "_OTHER" (with the method
# in `http.request.method_original`) and spans named "HTTP", to keep the names few.
_KNOWN_METHODS = frozenset(
    ("GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH")
)
_CONVERTER = re.compile(r"\{([^{}:]+):[^{}]+\}")


def route_template(path: str) -> str:
    """The route as `http.route` shows it: `/users/{user_id:int}` -> `/users/{user_id}`."""
    return _CONVERTER.sub(r"{\1}", path)


def call_context(request: Any, b3: bool = False) -> mesh.CallContext:
    """The call context of `request`: its request id (`request.request_id`, else the
    `x-request-id` header), the traceparent of the span serving it, its tracestate and
    deadline."""
    request_id = request.request_id or request.header("x-request-id")
    # Rust's `request.traceparent` names the server span; without it (an older core) the
    # caller's span, so outbound calls are siblings of this request rather than its children.
    traceparent = getattr(request, "traceparent", None) or request.header("traceparent")
    tracestate = getattr(request, "tracestate", None) or request.header("tracestate")
    deadline = getattr(request, "deadline", None)
    return mesh.CallContext(
        request_id=request_id,
        traceparent=traceparent,
        tracestate=tracestate,
        deadline=deadline,
        b3=b3,
    )


class MeshContextMiddleware:
    """Sets `covetpy.mesh.context.current` for the handler (request id, trace context,
    deadline); `b3` also sends B3 headers on outbound calls."""

    def __init__(self, *, b3: bool = False) -> None:
        self.b3 = b3

    async def __call__(self, request: Any, call_next: CallNext) -> Response:
        token = mesh.current.set(call_context(request, self.b3))
        try:
            response: Response = await call_next(request)
            return response
        finally:
            mesh.current.reset(token)

    def for_route(self, path: str, *, sync: bool = False) -> Any:
        """The middleware for one route (`sync`: for a chain that is sync throughout)."""
        return _SyncMeshContext(self.b3) if sync else self


class _SyncMeshContext:
    def __init__(self, b3: bool) -> None:
        self.b3 = b3

    def __call__(self, request: Any, call_next: CallNext) -> Response:
        return _in_call_context(request, call_next, self.b3)


def _in_call_context(request: Any, call_next: CallNext, b3: bool) -> Response:
    token = mesh.current.set(call_context(request, b3))
    try:
        response: Response = call_next(request)
        return response
    finally:
        mesh.current.reset(token)


class TracingMiddleware(MeshContextMiddleware):
    """Serves each request under an HTTP server span named `{method} {route}` (semantic
    conventions for HTTP spans), child of the caller's `traceparent`, with the ids the Rust
    core gave the request; sets the call context as `MeshContextMiddleware` does. 5xx
    responses mark the span as failed. While tracing is off it only sets the call context.

    `route` is the route template; `bind_route` (or `for_route`) sets it per route. Unbound,
    it is `request.route` if the request has one, else spans are named `{method}` only.
    """

    def __init__(self, route: str | None = None, *, b3: bool = False) -> None:
        super().__init__(b3=b3)
        self.route = None if route is None else route_template(route)

    def for_route(self, path: str, *, sync: bool = False) -> Any:
        """The middleware for the route `path` (`sync`: for a chain that is sync throughout)."""
        return (_SyncTracing if sync else TracingMiddleware)(path, b3=self.b3)

    async def __call__(self, request: Any, call_next: CallNext) -> Response:
        span_cm = self._span(request)
        if span_cm is None:
            return await super().__call__(request, call_next)
        with span_cm as span:
            response: Response = await call_next(request)
            _finish(span, response)
        return response

    def _span(self, request: Any) -> AbstractContextManager[Span] | None:
        impl = tracing._impl
        if impl is None:
            return None
        from covetpy.observability._otel import parse_ids

        name, attributes = _http_attributes(request, self.route or getattr(request, "route", None))
        trace_id = getattr(request, "trace_id", None)
        if trace_id is not None:
            # The ids Rust gave this request (and wrote in its access log); the parent as Rust
            # read it (from traceparent, or b3 when configured), with its sampling decision.
            ids = parse_ids(trace_id, request.span_id)
            parent_id = request.parent_span_id
            flags = "01" if getattr(request, "sampled", True) else "00"
            parent = f"00-{trace_id}-{parent_id}-{flags}" if parent_id else None
            tracestate = request.tracestate
        else:
            ids = None
            parent = request.header("traceparent")
            tracestate = request.header("tracestate")
        return impl.span(
            name,
            traceparent=parent,
            tracestate=tracestate,
            kind="server",
            attributes=attributes,
            ids=ids,
            base=None if mesh.current.get() is not None else call_context(request, self.b3),
        )


def _http_attributes(request: Any, route: str | None) -> tuple[str, dict[str, Any]]:
    """The span name and attributes of an HTTP server span (semantic conventions)."""
    method = request.method
    attributes: dict[str, Any] = {
        "http.request.method": method if method in _KNOWN_METHODS else "_OTHER",
        "url.path": request.path,
        "url.scheme": getattr(request, "scheme", None) or "http",
        "network.protocol.version": request.http_version,
    }
    if method not in _KNOWN_METHODS:
        attributes["http.request.method_original"] = method
        method = "HTTP"
    if route:
        attributes["http.route"] = route
    # The core's `host` and `client` follow trusted proxies (Forwarded, X-Forwarded-*).
    host = getattr(request, "host", None) or request.header("host")
    if host:
        address, _, port = host.rpartition(":") if host[-1:] != "]" else (host, "", "")
        if address and port.isdigit():
            attributes["server.address"], attributes["server.port"] = address, int(port)
        else:
            attributes["server.address"] = host
    client = request.client
    if client is not None:
        attributes["client.address"] = client[0]
    peer = getattr(request, "peer", None)
    if peer is not None:
        attributes["network.peer.address"] = peer[0]
    user_agent = request.header("user-agent")
    if user_agent:
        attributes["user_agent.original"] = user_agent
    return (f"{method} {route}" if route else method), attributes


class _SyncTracing(TracingMiddleware):
    def __call__(self, request: Any, call_next: CallNext) -> Response:  # type: ignore[override]
        span_cm = self._span(request)
        if span_cm is None:
            return _in_call_context(request, call_next, self.b3)
        with span_cm as span:
            response: Response = call_next(request)
            _finish(span, response)
        return response


def _finish(span: Span, response: Response) -> None:
    from opentelemetry.trace import StatusCode

    status = response.status_code
    span.set_attribute("http.response.status_code", status)
    if status >= 500:
        # Server spans: 5xx only are errors; a 4xx is the client's (semantic conventions).
        span.set_attribute("error.type", str(status))
        span.set_status(StatusCode.ERROR)
