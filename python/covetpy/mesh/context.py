"""The context of the call being served, for whatever it calls next.

The mesh middleware (`App(mesh=...)`) sets `current` for each request: its request id, the W3C
trace context of the span serving it, and its deadline. Outbound calls (`covetpy.mesh.Client`),
gRPC calls and published events read it here, so they carry the request id and trace on and
get only what remains of the deadline. Outside a request `current` is None.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, replace

__all__ = ["CallContext", "current", "outbound_headers", "remaining", "use"]


@dataclass(frozen=True, slots=True)
class CallContext:
    """What a call carries on to the calls it makes."""

    request_id: str | None = None
    """The request id (`x-request-id`), accepted from the caller or made for this request."""
    traceparent: str | None = None
    """W3C `traceparent` of the span serving this call (outbound calls are its children)."""
    tracestate: str | None = None
    """W3C `tracestate`, passed on unchanged."""
    deadline: float | None = None
    """When the caller stops waiting, in `time.monotonic()` seconds; None for no deadline."""
    b3: bool = False
    """Also send B3 headers (`b3` single header) on outbound calls."""

    def remaining(self) -> float | None:
        """Seconds left before the deadline (0.0 once passed); None without a deadline."""
        if self.deadline is None:
            return None
        return max(0.0, self.deadline - time.monotonic())

    def with_span(self, traceparent: str) -> CallContext:
        """The same context under another span (a tracer's own span)."""
        return replace(self, traceparent=traceparent)


current: ContextVar[CallContext | None] = ContextVar("covetpy.mesh.current", default=None)
"""The context of the request (or gRPC call, or event) being handled."""


def remaining() -> float | None:
    """Seconds left of the current call's deadline; None outside a call or without one."""
    ctx = current.get()
    return None if ctx is None else ctx.remaining()


def outbound_headers(ctx: CallContext | None = None) -> dict[str, str]:
    """The headers an outbound HTTP call carries for `ctx` (default: the current context):
    `x-request-id`, `traceparent`, `tracestate` and, when configured, `b3`."""
    ctx = current.get() if ctx is None else ctx
    if ctx is None:
        return {}
    headers: dict[str, str] = {}
    if ctx.request_id:
        headers["x-request-id"] = ctx.request_id
    if ctx.traceparent:
        headers["traceparent"] = ctx.traceparent
        if ctx.b3:
            # b3 single header: {trace}-{span}-{sampled}; the W3C flags' low bit is "sampled".
            _, trace, span, flags = ctx.traceparent.split("-")
            headers["b3"] = f"{trace}-{span}-{int(flags, 16) & 1}"
    if ctx.tracestate:
        headers["tracestate"] = ctx.tracestate
    return headers


@contextmanager
def use(ctx: CallContext | None) -> Iterator[CallContext | None]:
    """Sets `current` to `ctx` for the block (for work done outside a request)."""
    token = current.set(ctx)
    try:
        yield ctx
    finally:
        current.reset(token)
