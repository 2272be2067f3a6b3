"""covetpy.observability.tracing: set-up from OTEL_* variables, the off path, server and
outbound spans, preset ids, the call context they set."""

from __future__ import annotations

import http.server
import threading
from typing import Any

import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from covetpy.exceptions import ConfigError
from covetpy.mesh import context as mesh
from covetpy.observability import _otel, tracing
from tests.observability.spans import PARENT, TRACE, TRACEPARENT, only, tp

# -- set-up -------------------------------------------------------------------------------------


def test_off_by_default_and_the_helpers_are_the_shared_nullcontext(
    clean_env: pytest.MonkeyPatch,
) -> None:
    assert tracing.setup("svc") is False
    assert not tracing.enabled()
    assert tracing.server_span("x", traceparent=TRACEPARENT) is tracing._OFF
    assert tracing.outbound_span("x") is tracing._OFF
    with (
        tracing.server_span("x", traceparent=TRACEPARENT) as own,
        tracing.outbound_span("y") as out,
    ):
        assert own is None and out is None
        assert mesh.current.get() is None
    assert tracing.current_ids() is None
    tracing.shutdown(1.0)  # nothing to do


def test_off_after_shutdown_creates_no_spans(spans: InMemorySpanExporter) -> None:
    tracing.shutdown(5.0)
    with tracing.server_span("x", traceparent=None) as own, tracing.outbound_span("y") as out:
        assert own is None and out is None
    assert spans.get_finished_spans() == ()


@pytest.mark.parametrize("value", ["", "none"])
def test_no_exporter_named_keeps_it_off(clean_env: pytest.MonkeyPatch, value: str) -> None:
    clean_env.setenv("OTEL_TRACES_EXPORTER", value)
    assert tracing.setup("svc") is False


def test_sdk_disabled_wins_over_everything(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("OTEL_TRACES_EXPORTER", "console")
    clean_env.setenv("OTEL_SDK_DISABLED", "TRUE")
    assert tracing.setup("svc", exporter=InMemorySpanExporter()) is False
    assert not tracing.enabled()


@pytest.mark.parametrize("names", ["console", "otlp", "console,otlp"])
def test_exporters_by_name(clean_env: pytest.MonkeyPatch, names: str) -> None:
    clean_env.setenv("OTEL_TRACES_EXPORTER", names)
    clean_env.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:9")
    assert tracing.setup("svc") is True
    assert tracing.enabled()
    tracing.shutdown(5.0)
    assert not tracing.enabled()


def test_unknown_exporter_and_grpc_protocol_are_refused(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("OTEL_TRACES_EXPORTER", "console,zipkin")
    with pytest.raises(ConfigError, match="zipkin"):
        tracing.setup("svc")
    clean_env.setenv("OTEL_TRACES_EXPORTER", "otlp")
    clean_env.setenv("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc")
    with pytest.raises(ConfigError, match="http/protobuf"):
        tracing.setup("svc")
    assert not tracing.enabled()


def test_otlp_exports_over_http_and_shutdown_flushes(clean_env: pytest.MonkeyPatch) -> None:
    received: list[tuple[str, str, bytes]] = []

    class Collector(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["content-length"]))
            received.append((self.path, self.headers["content-type"], body))
            self.send_response(200)
            self.send_header("content-length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Collector)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        clean_env.setenv("OTEL_TRACES_EXPORTER", "otlp")
        clean_env.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", f"http://127.0.0.1:{server.server_port}")
        clean_env.setenv("OTEL_BSP_SCHEDULE_DELAY", "60000")  # only the shutdown exports
        clean_env.setenv("OTEL_SERVICE_NAME", "orders")
        assert tracing.setup("ignored")
        with tracing.server_span("GET /orders", traceparent=TRACEPARENT):
            pass
        assert received == []
        tracing.shutdown(10.0)
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
    ((path, content_type, body),) = received
    assert (path, content_type) == ("/v1/traces", "application/x-protobuf")
    request = ExportTraceServiceRequest.FromString(body)
    (resource_spans,) = request.resource_spans
    service = {a.key: a.value.string_value for a in resource_spans.resource.attributes}
    assert service["service.name"] == "orders"
    (span,) = resource_spans.scope_spans[0].spans
    assert span.name == "GET /orders" and span.trace_id.hex() == TRACE
    assert span.parent_span_id.hex() == PARENT


def test_service_name_from_the_environment_else_the_argument(
    clean_env: pytest.MonkeyPatch,
) -> None:
    def service_name() -> object:
        exporter = InMemorySpanExporter()
        tracing.setup("from-app", exporter=exporter)
        with tracing.server_span("x", traceparent=None):
            pass
        tracing.shutdown(5.0)
        return exporter.get_finished_spans()[0].resource.attributes["service.name"]

    assert service_name() == "from-app"
    clean_env.setenv("OTEL_RESOURCE_ATTRIBUTES", "service.name=from-attrs,team=x")
    assert service_name() == "from-attrs"
    clean_env.setenv("OTEL_SERVICE_NAME", "from-env")
    assert service_name() == "from-env"


def test_sampler_from_the_environment(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("OTEL_TRACES_SAMPLER", "always_off")
    exporter = InMemorySpanExporter()
    tracing.setup("svc", exporter=exporter)
    with tracing.server_span("x", traceparent=None) as own:
        assert own is not None and own.endswith("-02")  # not sampled (random trace id flag)
    assert exporter.get_finished_spans() == ()


# -- spans --------------------------------------------------------------------------------------


def test_server_span_is_a_child_of_the_traceparent(spans: InMemorySpanExporter) -> None:
    with tracing.server_span(
        "GET /items/{id}",
        traceparent=TRACEPARENT,
        tracestate="vendor=1",
        attributes={"http.route": "/items/{id}"},
    ) as own:
        assert own is not None
        assert tracing.current_ids() == (own[3:35], own[36:52])
    span = only(spans, "GET /items/{id}")
    assert span.kind is SpanKind.SERVER
    assert span.attributes == {"http.route": "/items/{id}"}
    assert span.parent is not None and span.parent.is_remote
    assert f"{span.parent.span_id:016x}" == PARENT
    assert span.context is not None and f"{span.context.trace_id:032x}" == TRACE
    assert span.context.trace_state.to_header() == "vendor=1"
    assert own == tp(span)


def test_server_span_without_traceparent_is_a_root(spans: InMemorySpanExporter) -> None:
    with tracing.server_span("outer", traceparent=TRACEPARENT):
        with tracing.server_span("process t", traceparent=None, kind="consumer"):
            pass
    span = only(spans, "process t")
    assert span.parent is None
    assert span.kind is SpanKind.CONSUMER


def test_server_span_sets_the_call_context_under_itself(spans: InMemorySpanExporter) -> None:
    outer = mesh.CallContext(request_id="r-1", traceparent=TRACEPARENT, deadline=123.0)
    with mesh.use(outer):
        with tracing.server_span("GET /", traceparent=TRACEPARENT) as own:
            call = mesh.current.get()
            assert call == mesh.CallContext(request_id="r-1", traceparent=own, deadline=123.0)
        assert mesh.current.get() is outer
    with tracing.server_span("GET /x", traceparent=TRACEPARENT, tracestate="a=b") as own:
        assert mesh.current.get() == mesh.CallContext(traceparent=own, tracestate="a=b")
    assert mesh.current.get() is None


def test_an_exception_is_recorded_and_fails_the_span(spans: InMemorySpanExporter) -> None:
    with pytest.raises(KeyError), tracing.server_span("boom", traceparent=None):
        raise KeyError("x")
    span = only(spans, "boom")
    assert span.status.status_code is StatusCode.ERROR
    assert [e.name for e in span.events] == ["exception"]


def test_outbound_span_is_a_child_of_the_current_span(spans: InMemorySpanExporter) -> None:
    with tracing.server_span("GET /", traceparent=TRACEPARENT) as own:
        with tracing.outbound_span("GET", attributes={"server.address": "b"}) as out:
            assert out is not None and out[3:35] == TRACE and out != own
        with tracing.outbound_span("publish t", kind="producer"):
            pass
    server = only(spans, "GET /")
    client = only(spans, "GET")
    producer = only(spans, "publish t")
    assert client.kind is SpanKind.CLIENT and producer.kind is SpanKind.PRODUCER
    assert server.context is not None
    for child in (client, producer):
        assert child.parent is not None and child.parent.span_id == server.context.span_id
    assert tp(client) == out
    assert client.attributes == {"server.address": "b"}


def test_outbound_span_outside_a_span_follows_the_call_context(
    spans: InMemorySpanExporter,
) -> None:
    with mesh.use(mesh.CallContext(traceparent=TRACEPARENT)), tracing.outbound_span("GET"):
        pass
    with tracing.outbound_span("alone"):
        pass
    span = only(spans, "GET")
    assert span.parent is not None and f"{span.parent.span_id:016x}" == PARENT
    assert only(spans, "alone").parent is None


def test_preset_ids_name_the_server_span_only(spans: InMemorySpanExporter) -> None:
    impl = tracing._impl
    assert impl is not None
    ids = _otel.parse_ids("0af7651916cd43dd8448eb211c80319c", "b7ad6b7169203331")
    with impl.span(
        "GET /", traceparent=None, tracestate=None, kind="server", attributes=None, ids=ids
    ):
        with tracing.outbound_span("GET"):
            pass
    server = only(spans, "GET /")
    assert server.context is not None
    assert (server.context.trace_id, server.context.span_id) == ids
    client = only(spans, "GET")
    assert client.context is not None and client.context.span_id != server.context.span_id
    assert client.context.trace_id == server.context.trace_id


@pytest.mark.parametrize(
    ("trace_id", "span_id"),
    [
        (None, "b7ad6b7169203331"),
        ("0" * 32, "b7ad6b7169203331"),
        ("xyz", "b7ad6b7169203331"),
        ("0af7651916cd43dd8448eb211c80319c", "zz" * 8),
    ],
)
def test_unusable_preset_ids_are_ignored(trace_id: str | None, span_id: str) -> None:
    assert _otel.parse_ids(trace_id, span_id) is None
