"""With tracing on, each gRPC call is served under a server span child of the caller's, and
calls made through `client_interceptors()` get a client span."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import grpc  # type: ignore[import-untyped]
import pytest
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from covetpy.observability import tracing
from tests.grpc.conftest import ECHO, Served, echo_pb2

TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
PARENT = f"00-{TRACE}-00f067aa0ba902b7-01"


@pytest.fixture
def spans(monkeypatch: pytest.MonkeyPatch) -> Iterator[InMemorySpanExporter]:
    """Tracing on for the test, into memory; off afterwards."""
    for name in ("OTEL_SDK_DISABLED", "OTEL_TRACES_EXPORTER", "OTEL_TRACES_SAMPLER"):
        monkeypatch.delenv(name, raising=False)
    exporter = InMemorySpanExporter()
    assert tracing.setup("grpc-test", exporter=exporter)
    yield exporter
    tracing.shutdown(5.0)


def test_server_span_continues_the_callers_trace(
    served: Served, spans: InMemorySpanExporter
) -> None:
    reply = served.stub.Say(echo_pb2.SayRequest(), timeout=5, metadata=[("traceparent", PARENT)])
    [span] = spans.get_finished_spans()
    assert span.name == f"{ECHO}/Say"
    assert span.kind == SpanKind.SERVER
    assert dict(span.attributes or {}) == {
        "rpc.system": "grpc",
        "rpc.service": ECHO,
        "rpc.method": "Say",
        "rpc.grpc.status_code": 0,
    }
    assert span.status.status_code == StatusCode.UNSET
    assert span.parent is not None and f"{span.parent.span_id:016x}" == "00f067aa0ba902b7"
    # The handler's context names the span itself.
    assert reply.traceparent == f"00-{TRACE}-{span.context.span_id:016x}-01"
    assert reply.request_id  # the call context kept its request id under the span


def test_health_checks_are_not_traced(served: Served, spans: InMemorySpanExporter) -> None:
    from grpc_health.v1 import health_pb2, health_pb2_grpc

    health_pb2_grpc.HealthStub(served.channel).Check(health_pb2.HealthCheckRequest(), timeout=5)
    assert spans.get_finished_spans() == ()


def test_relayed_call_gets_a_client_span(served: Served, spans: InMemorySpanExporter) -> None:
    inner = served.stub.Relay(
        echo_pb2.SayRequest(text="interceptors"), timeout=5, metadata=[("traceparent", PARENT)]
    )
    by_kind = {s.kind: s for s in spans.get_finished_spans() if s.name.endswith("/Say")}
    outer = next(s for s in spans.get_finished_spans() if s.name == f"{ECHO}/Relay")
    client, server = by_kind[SpanKind.CLIENT], by_kind[SpanKind.SERVER]
    # Relay (server) -> Say (client) -> Say (server), one trace.
    assert client.parent is not None and client.parent.span_id == outer.context.span_id
    assert server.parent is not None and server.parent.span_id == client.context.span_id
    assert {f"{s.context.trace_id:032x}" for s in (outer, client, server)} == {TRACE}
    assert inner.traceparent == f"00-{TRACE}-{server.context.span_id:016x}-01"


def _one_span(spans: InMemorySpanExporter) -> Any:
    """The call's span: an abort sends the status before the span ends, so the client can
    have its answer a moment before the span is finished."""
    deadline = time.monotonic() + 30
    while not (finished := spans.get_finished_spans()) and time.monotonic() < deadline:
        time.sleep(0.01)
    [span] = finished
    return span


@pytest.mark.parametrize(
    ("code", "failed"),
    [
        (grpc.StatusCode.NOT_FOUND, False),  # an answer to the caller
        (grpc.StatusCode.INVALID_ARGUMENT, False),
        (grpc.StatusCode.UNAVAILABLE, True),  # the server's own failure
        (grpc.StatusCode.INTERNAL, True),
    ],
)
def test_an_abort_fails_the_span_only_for_server_errors(
    served: Served, spans: InMemorySpanExporter, code: grpc.StatusCode, failed: bool
) -> None:
    with pytest.raises(grpc.RpcError) as info:
        served.stub.Say(echo_pb2.SayRequest(abort=code.value[0]), timeout=5)
    assert info.value.code() == code
    span = _one_span(spans)
    assert span.attributes is not None and span.attributes["rpc.grpc.status_code"] == code.value[0]
    assert span.status.status_code == (StatusCode.ERROR if failed else StatusCode.UNSET)
    assert not span.events, "an abort is not recorded as an exception"


def test_a_handler_exception_fails_the_span_with_internal(
    served: Served, spans: InMemorySpanExporter
) -> None:
    with pytest.raises(grpc.RpcError) as info:
        served.stub.Say(echo_pb2.SayRequest(fail=True), timeout=5)
    assert info.value.code() == grpc.StatusCode.INTERNAL
    span = _one_span(spans)
    assert span.attributes is not None and span.attributes["rpc.grpc.status_code"] == 13
    assert span.status.status_code == StatusCode.ERROR
