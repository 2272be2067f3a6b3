"""A hosted app's request in the server's tracing: while tracing is on (`OTEL_*`, see
docs/observability), each request to a mount is served under an HTTP server span named
`{method} {prefix}` (the mount's prefix is its route), with the ids the Rust core gave the
request and wrote in its access log, and under the call context (request id, trace context,
deadline) that `covetpy.mesh.Client` sends on, as a native route's `TracingMiddleware` does.
While tracing is off nothing is added to a request: one flag is read.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine, Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import TYPE_CHECKING, Any

from covetpy.mesh import context as mesh
from covetpy.observability import tracing
from covetpy.observability.middleware import TracingMiddleware, call_context

if TYPE_CHECKING:
    from opentelemetry.trace import Span

__all__ = ["enabled", "observed", "observed_sync"]

enabled = tracing.enabled


@contextmanager
def _served(request: Any, route: str, status: Callable[[], int]) -> Iterator[None]:
    span_cm: AbstractContextManager[Span] | None = TracingMiddleware(route)._span(request)
    token = mesh.current.set(call_context(request))
    try:
        if span_cm is None:
            yield
            return
        with span_cm as span:
            try:
                yield
            finally:
                _finish(span, status())
    finally:
        mesh.current.reset(token)


def _finish(span: Span, status: int) -> None:
    if not status:
        return  # a WebSocket, or no answer: nothing to say
    from opentelemetry.trace import StatusCode

    span.set_attribute("http.response.status_code", status)
    if status >= 500:
        span.set_attribute("error.type", str(status))
        span.set_status(StatusCode.ERROR)


async def observed(
    coro: Coroutine[Any, Any, None], request: Any, route: str, status: Callable[[], int]
) -> None:
    """Runs an ASGI request's coroutine under its span and call context."""
    with _served(request, route, status):
        await coro


def observed_sync(
    fn: Callable[[], None], request: Any, route: str, status: Callable[[], int]
) -> None:
    """Runs a WSGI request (on its worker thread) under its span and call context."""
    with _served(request, route, status):
        fn()
