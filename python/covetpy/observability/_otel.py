"""The OpenTelemetry SDK behind `covetpy.observability.tracing`, imported only once tracing is
turned on (`tracing.setup`): an app with tracing off never loads the SDK."""

from __future__ import annotations

import logging
import os
import random
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.sdk.resources import SERVICE_NAME, OTELResourceDetector, Resource
from opentelemetry.sdk.trace import SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import (
    BatchSpanProcessor,
    ConsoleSpanExporter,
    SimpleSpanProcessor,
    SpanExporter,
)
from opentelemetry.sdk.trace.id_generator import IdGenerator
from opentelemetry.trace import Span, SpanKind
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from covetpy.exceptions import ConfigError, require
from covetpy.mesh import context as mesh

logger = logging.getLogger("covetpy.tracing")

KINDS = {
    "server": SpanKind.SERVER,
    "client": SpanKind.CLIENT,
    "producer": SpanKind.PRODUCER,
    "consumer": SpanKind.CONSUMER,
    "internal": SpanKind.INTERNAL,
}

# (trace id, span id) the next span takes instead of random ones: set by `Tracing.span` only
# around the `start_span` of a server span whose ids Rust already chose (and wrote in its access
# log), so spans started inside it get random ids again.
_preset: ContextVar[tuple[int, int] | None] = ContextVar("covetpy.tracing.preset", default=None)


class PresetIdGenerator(IdGenerator):
    """Random ids, except for a span started while `_preset` is set. The trace id is asked for
    only when the span has no parent (`Tracer.start_span`): a child keeps its parent's."""

    def generate_trace_id(self) -> int:
        preset = _preset.get()
        if preset is not None:
            return preset[0]
        return random.getrandbits(128) or 1

    def generate_span_id(self) -> int:
        preset = _preset.get()
        if preset is not None:
            return preset[1]
        return random.getrandbits(64) or 1

    def is_trace_id_random(self) -> bool:
        # Rust makes its trace ids from random bits too (W3C Trace Context 2, random flag).
        return True


def parse_ids(trace_id: str | None, span_id: str | None) -> tuple[int, int] | None:
    """Ids given in hex as a preset, or None unless both are valid (non-zero, right length)."""
    if not trace_id or not span_id or len(trace_id) != 32 or len(span_id) != 16:
        return None
    try:
        ids = int(trace_id, 16), int(span_id, 16)
    except ValueError:
        return None
    return ids if ids[0] and ids[1] else None


def traceparent_of(span: Span) -> str:
    """The W3C `traceparent` naming `span` (what an outbound call sends)."""
    sc = span.get_span_context()
    return f"00-{sc.trace_id:032x}-{sc.span_id:016x}-{sc.trace_flags:02x}"


def _exporter(name: str) -> SpanExporter:
    if name == "console":
        return ConsoleSpanExporter()
    if name == "otlp":
        protocol = os.environ.get(
            "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL",
            os.environ.get("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf"),
        )
        if protocol != "http/protobuf":
            raise ConfigError(
                f"OTLP protocol {protocol!r} is not supported: CovetPy exports traces with "
                "http/protobuf (set OTEL_EXPORTER_OTLP_PROTOCOL=http/protobuf and the "
                "collector's HTTP endpoint, port 4318)"
            )
        # Reads OTEL_EXPORTER_OTLP_(TRACES_)ENDPOINT, _HEADERS, _TIMEOUT, ... itself.
        require("the OTLP trace exporter", "observability", "opentelemetry.exporter.otlp")
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        return OTLPSpanExporter()
    raise ConfigError(
        f"OTEL_TRACES_EXPORTER: unknown exporter {name!r} (CovetPy knows otlp, console, none)"
    )


def _resource(service_name: str | None) -> Resource:
    # `Resource.create` merges OTEL_RESOURCE_ATTRIBUTES and OTEL_SERVICE_NAME, but lets the
    # attributes passed win: pass the app's name only when the environment names no service.
    attributes: dict[str, Any] = {}
    if service_name and SERVICE_NAME not in OTELResourceDetector().detect().attributes:
        attributes[SERVICE_NAME] = service_name
    return Resource.create(attributes)


class Tracing:
    """A tracer provider and the span helpers `covetpy.observability.tracing` hands out."""

    def __init__(
        self, service_name: str | None, exporter: SpanExporter | None, names: list[str]
    ) -> None:
        named = [_exporter(n) for n in names]  # all known before a processor thread starts
        processors: list[SpanProcessor] = []
        if exporter is not None:
            # Given in code (tests, custom set-ups): spans are exported as they end.
            processors.append(SimpleSpanProcessor(exporter))
        # Reads OTEL_BSP_* (queue size, delay, batch size, export timeout) itself.
        processors += [BatchSpanProcessor(e) for e in named]
        # The sampler is the SDK's own choice from OTEL_TRACES_SAMPLER(_ARG).
        self.provider = TracerProvider(resource=_resource(service_name), id_generator=_ids)
        for processor in processors:
            self.provider.add_span_processor(processor)
        self.tracer = self.provider.get_tracer("covetpy")
        self.propagator = TraceContextTextMapPropagator()
        if isinstance(trace.get_tracer_provider(), trace.ProxyTracerProvider):
            # The first set-up becomes the global provider, so the application's own spans
            # (`trace.get_tracer(...)`) join the same traces; it can be set once per process.
            trace.set_tracer_provider(self.provider)

    def parent(self, traceparent: str | None, tracestate: str | None) -> Context:
        """The context whose span is the remote parent `traceparent` names (empty: a root)."""
        if not traceparent:
            return Context()
        carrier = {"traceparent": traceparent}
        if tracestate:
            carrier["tracestate"] = tracestate
        return self.propagator.extract(carrier, context=Context())

    @contextmanager
    def span(
        self,
        name: str,
        *,
        traceparent: str | None,
        tracestate: str | None,
        kind: str,
        attributes: Mapping[str, Any] | None,
        ids: tuple[int, int] | None = None,
        base: mesh.CallContext | None = None,
    ) -> Iterator[Span]:
        """A span for work this service was asked to do, child of `traceparent`, current for
        the block; `mesh.current` names it too (the current CallContext, else `base`, else a
        new one, under this span)."""
        token = _preset.set(ids) if ids is not None else None
        try:
            parent = self.parent(traceparent, tracestate)
            span = self.tracer.start_span(
                name, context=parent, kind=KINDS[kind], attributes=attributes
            )
        finally:
            if token is not None:
                _preset.reset(token)
        own = traceparent_of(span)
        call = mesh.current.get() or base
        if call is None:
            call = mesh.CallContext(traceparent=own, tracestate=tracestate)
        call_token = mesh.current.set(call.with_span(own))
        try:
            with trace.use_span(span, end_on_exit=True):
                yield span
        finally:
            mesh.current.reset(call_token)

    @contextmanager
    def server_span(
        self,
        name: str,
        traceparent: str | None,
        tracestate: str | None,
        kind: str,
        attributes: Mapping[str, Any] | None,
    ) -> Iterator[str]:
        with self.span(
            name, traceparent=traceparent, tracestate=tracestate, kind=kind, attributes=attributes
        ) as span:
            yield traceparent_of(span)

    @contextmanager
    def outbound_span(
        self, name: str, kind: str, attributes: Mapping[str, Any] | None
    ) -> Iterator[str]:
        parent: Context | None = None  # the current context
        if not trace.get_current_span().get_span_context().is_valid:
            # No span of ours is current (work outside a traced request, or a call context
            # set by hand): the call context's span is the parent.
            call = mesh.current.get()
            if call is not None and call.traceparent:
                parent = self.parent(call.traceparent, call.tracestate)
        with self.tracer.start_as_current_span(
            name, context=parent, kind=KINDS[kind], attributes=attributes
        ) as span:
            yield traceparent_of(span)

    def shutdown(self, timeout: float) -> bool:
        """Exports the spans still queued and stops the exporters; False if that took more
        than `timeout` seconds (the rest is dropped)."""
        # The batch processor's own shutdown waits up to 30 s and its force_flush ignores its
        # timeout (SDK 1.45), so both run on a thread we stop waiting for after `timeout`.
        done = threading.Thread(
            target=self._flush_and_stop, name="covetpy-otel-shutdown", daemon=True
        )
        done.start()
        done.join(timeout)
        return not done.is_alive()

    def _flush_and_stop(self) -> None:
        try:
            self.provider.force_flush()
            self.provider.shutdown()
        except Exception:
            logger.exception("stopping the trace exporters failed")


_ids = PresetIdGenerator()
