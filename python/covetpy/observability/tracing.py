"""OpenTelemetry tracing, configured by the standard `OTEL_*` variables.

While tracing is off (the default) the span helpers below are `nullcontext`s that yield None:
callers then carry on the trace context they already have, and nothing else is paid. `setup()`
turns it on when `OTEL_TRACES_EXPORTER` names an exporter (`otlp`: OTLP over http/protobuf,
configured by `OTEL_EXPORTER_OTLP_*`; `console`), unless `OTEL_SDK_DISABLED=true`. The service
name comes from `OTEL_SERVICE_NAME` or `OTEL_RESOURCE_ATTRIBUTES`, else from the app; the
sampler from `OTEL_TRACES_SAMPLER` (default: parent-based, always on).

While it is on, the span serving a call is the current OpenTelemetry span and also names
`covetpy.mesh.context.current`, so outbound calls, gRPC calls and published events carry it.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from contextlib import AbstractContextManager, nullcontext
from typing import TYPE_CHECKING, Any

from covetpy.exceptions import require

if TYPE_CHECKING:
    from opentelemetry.sdk.trace.export import SpanExporter

    from covetpy.observability._otel import Tracing

__all__ = ["current_ids", "enabled", "outbound_span", "server_span", "setup", "shutdown"]

logger = logging.getLogger("covetpy.tracing")

_OFF: AbstractContextManager[str | None] = nullcontext(None)

_impl: Tracing | None = None
"""The SDK set-up while tracing is on; None while it is off."""


def enabled() -> bool:
    """Whether spans are being recorded."""
    return _impl is not None


def setup(service_name: str | None = None, *, exporter: SpanExporter | None = None) -> bool:
    """Turns tracing on if the environment asks for it (`OTEL_TRACES_EXPORTER` set and not
    "none") or `exporter` is given (exported span by span, for tests); returns whether it is on.

    `OTEL_SDK_DISABLED=true` keeps it off in every case. Call it in each worker process (the
    batch exporter's thread does not survive a fork), before serving. A second call replaces
    the first set-up. Raises ConfigError for an exporter or OTLP protocol it does not know,
    `MissingExtra` when turned on without the observability extra.
    """
    global _impl
    if _impl is not None:
        shutdown(5.0)
    if os.environ.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return False
    names = _exporters_from_env()
    if exporter is None and not names:
        return False  # decided from the environment alone: the SDK is not even imported
    require("tracing", "observability", "opentelemetry.sdk.trace")
    from covetpy.observability import _otel

    _impl = _otel.Tracing(service_name, exporter, names)
    logger.debug("tracing on: exporters %s", ", ".join(names) or type(exporter).__name__)
    return True


def _exporters_from_env() -> list[str]:
    """The names in `OTEL_TRACES_EXPORTER`; [] when unset or "none"."""
    names = [n.strip() for n in os.environ.get("OTEL_TRACES_EXPORTER", "").split(",")]
    return [n for n in names if n and n != "none"]


def shutdown(timeout: float = 5.0) -> None:
    """Exports the spans not exported yet (waiting at most `timeout` seconds) and turns tracing
    off; nothing to do while it is off. Called when a worker has drained."""
    global _impl
    impl, _impl = _impl, None
    if impl is not None and not impl.shutdown(timeout):
        logger.warning("trace export did not finish within %gs; the rest is dropped", timeout)


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
    if _impl is None:
        return _OFF
    return _impl.server_span(name, traceparent, tracestate, kind, attributes)


def outbound_span(
    name: str, *, kind: str = "client", attributes: Mapping[str, Any] | None = None
) -> AbstractContextManager[str | None]:
    """A span for a call this service makes (HTTP, gRPC, publishing an event), child of the
    current context; yields the `traceparent` to send, or None while tracing is off."""
    if _impl is None:
        return _OFF
    return _impl.outbound_span(name, kind, attributes)


def annotate(attributes: Mapping[str, Any], *, error: str | None = None) -> None:
    """Adds `attributes` to the current span and, with `error`, marks it failed with that
    description. Nothing while tracing is off."""
    if _impl is None:
        return
    from opentelemetry import trace
    from opentelemetry.trace import Status, StatusCode

    span = trace.get_current_span()
    span.set_attributes(attributes)
    if error is not None:
        span.set_status(Status(StatusCode.ERROR, error))


def current_ids() -> tuple[str, str] | None:
    """(trace id, span id) in hex of the current span while tracing is on; else None."""
    if _impl is None:
        return None
    from opentelemetry import trace

    sc = trace.get_current_span().get_span_context()
    if not sc.is_valid:
        return None
    return f"{sc.trace_id:032x}", f"{sc.span_id:016x}"
