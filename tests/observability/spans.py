"""Helpers for reading the spans a test recorded."""

from __future__ import annotations

from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
PARENT = "00f067aa0ba902b7"
TRACEPARENT = f"00-{TRACE}-{PARENT}-01"
"""A caller's trace context (the example of W3C Trace Context §3.2)."""


def only(spans: InMemorySpanExporter, name: str) -> ReadableSpan:
    """The one finished span called `name`."""
    found = [s for s in spans.get_finished_spans() if s.name == name]
    assert len(found) == 1, [s.name for s in spans.get_finished_spans()]
    return found[0]


def tp(span: ReadableSpan) -> str:
    """The `traceparent` naming `span`."""
    sc = span.context
    assert sc is not None
    return f"00-{sc.trace_id:032x}-{sc.span_id:016x}-{sc.trace_flags:02x}"


def span_id(span: ReadableSpan) -> int:
    """The span's own id."""
    assert span.context is not None
    return int(span.context.span_id)


def parent_id(span: ReadableSpan) -> int | None:
    """Its parent's id; None for a root."""
    return None if span.parent is None else int(span.parent.span_id)
