"""OpenTelemetry tracing, configured by the standard `OTEL_*` variables.

While tracing is off (the default) the span helpers below are `nullcontext`s that yield None:
callers then carry on the trace context they already have, and nothing else is paid.
"""

from __future__ import annotations

from collections.abc import Mapping
from contextlib import AbstractContextManager, nullcontext
from typing import Any

__all__ = ["enabled", "outbound_span", "server_span"]

_OFF: AbstractContextManager[str | None] = nullcontext(None)


def enabled() -> bool:
    """Whether spans are being recorded."""
    return False


def server_span(
    name: str,
    *,
    traceparent: str | None,
    tracestate: str | None = None,
    kind: str = "server",
    attributes: Mapping[str, Any] | None = None,
) -> AbstractContextManager[str | None]:
    """A span for work this service was asked to do (an HTTP request, a gRPC call, an event),
    child of `traceparent`; yields the span's own `traceparent`, or None while tracing is off."""
    return _OFF


def outbound_span(
    name: str, *, kind: str = "client", attributes: Mapping[str, Any] | None = None
) -> AbstractContextManager[str | None]:
    """A span for a call this service makes (HTTP, gRPC, publishing an event), child of the
    current context; yields the `traceparent` to send, or None while tracing is off."""
    return _OFF
