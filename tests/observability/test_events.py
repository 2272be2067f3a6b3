"""The event bus carries the trace and request id from publisher to handler (producer and
consumer spans while tracing), and counts what it publishes, handles and dead-letters."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode
from prometheus_client import REGISTRY

from covetpy.events import Backoff, Envelope, EventBus, NonRetryable
from covetpy.events import context as events_context
from covetpy.mesh import context as mesh
from covetpy.observability import tracing
from tests.events.harness import run, until
from tests.observability.spans import TRACE, TRACEPARENT, only, parent_id, span_id, tp

FAST = Backoff(initial=0.01, factor=1, maximum=0.01, jitter=0)


def sample(name: str, **labels: str) -> float:
    found: float | None = REGISTRY.get_sample_value(name, labels)
    return found or 0.0


def test_publish_to_consume_keeps_the_trace_and_request_id(spans: InMemorySpanExporter) -> None:
    seen: dict[str, Any] = {}

    async def main() -> None:
        bus = EventBus(service="shop")

        @bus.subscribe("orders.*", name="mailer")
        async def on_order(event: Any, envelope: Envelope) -> None:
            seen["order"] = (mesh.current.get(), tracing.current_ids(), envelope)
            await bus.publish("mail.send", {"to": event["id"]})

        @bus.subscribe("mail.*", name="smtp")
        async def on_mail(event: Any) -> None:
            seen["mail"] = mesh.current.get()

        async with bus:
            with mesh.use(mesh.CallContext(request_id="req-1")):
                with tracing.server_span("POST /orders", traceparent=TRACEPARENT):
                    await bus.publish("orders.created", {"id": 1})
            await until(lambda: "mail" in seen, what="the mail event handled")

    run(main())
    request = only(spans, "POST /orders")
    publish = only(spans, "publish orders.created")
    process = only(spans, "process orders.created")
    publish_mail = only(spans, "publish mail.send")
    process_mail = only(spans, "process mail.send")
    # One trace: request -> publish -> process -> publish -> process.
    assert parent_id(publish) == span_id(request)
    assert parent_id(process) == span_id(publish)
    assert parent_id(publish_mail) == span_id(process)
    assert parent_id(process_mail) == span_id(publish_mail)
    for span in (publish, process, publish_mail, process_mail):
        assert span.context is not None and f"{span.context.trace_id:032x}" == TRACE
    assert publish.kind is SpanKind.PRODUCER and process.kind is SpanKind.CONSUMER
    assert process.parent is not None and process.parent.is_remote

    call, ids, envelope = seen["order"]
    assert envelope.traceparent == tp(publish) and envelope.requestid == "req-1"
    assert call == mesh.CallContext(request_id="req-1", traceparent=tp(process))
    assert ids == (TRACE, tp(process)[36:52])
    assert seen["mail"] == mesh.CallContext(request_id="req-1", traceparent=tp(process_mail))

    assert publish.attributes == {
        "messaging.system": "memory",
        "messaging.destination.name": "orders.created",
        "messaging.operation.type": "send",
        "messaging.message.id": envelope.id,
    }
    assert process.attributes is not None
    assert process.attributes["messaging.operation.type"] == "process"
    assert process.attributes["messaging.consumer.group.name"] == "shop:mailer"


def test_tracing_off_the_call_context_travels_in_the_envelope(
    clean_env: pytest.MonkeyPatch,
) -> None:
    seen: list[tuple[mesh.CallContext | None, Envelope]] = []

    async def main() -> None:
        bus = EventBus()

        @bus.subscribe("orders.*")
        async def on_order(event: Any, envelope: Envelope) -> None:
            seen.append((mesh.current.get(), envelope))

        async with bus:
            call = mesh.CallContext(request_id="r-1", traceparent=TRACEPARENT, tracestate="a=1")
            with mesh.use(call):
                await bus.publish("orders.created", {})
            # Without a call context, the event bus's own variables (older middleware).
            token = events_context.request_id.set("r-2")
            await bus.publish("orders.paid", {})
            events_context.request_id.reset(token)
            await until(lambda: len(seen) == 2, what="2 events")

    run(main())
    (created, created_env), (paid, paid_env) = sorted(seen, key=lambda s: s[1].type)
    assert created_env.requestid == "r-1"
    assert created_env.traceparent == TRACEPARENT and created_env.tracestate == "a=1"
    assert created == mesh.CallContext(request_id="r-1", traceparent=TRACEPARENT, tracestate="a=1")
    assert paid_env.requestid == "r-2" and paid_env.traceparent is None
    assert paid == mesh.CallContext(request_id="r-2")


def test_event_metrics_count_outcomes(spans: InMemorySpanExporter) -> None:
    topic = f"t{uuid.uuid4().hex[:8]}"
    attempts: dict[str, int] = {}

    async def main() -> None:
        bus = EventBus()

        @bus.subscribe(f"{topic}.*", max_deliveries=2, backoff=FAST)
        async def handler(event: Any, envelope: Envelope) -> None:
            kind = envelope.type.rsplit(".", 1)[1]
            attempts[kind] = attempts.get(kind, 0) + 1
            if kind == "flaky" and attempts[kind] == 1:
                raise RuntimeError("once")
            if kind == "broken":
                raise RuntimeError("always")
            if kind == "refused":
                raise NonRetryable("no")

        async with bus:
            for kind in ("ok", "flaky", "broken", "refused"):
                await bus.publish(f"{topic}.{kind}", {})
            await until(
                lambda: all(
                    sample("covetpy_events_dead_lettered_total", topic=f"{topic}.{kind}")
                    for kind in ("refused", "broken")
                ),
                what="2 events dead-lettered",
            )

    run(main())

    def consumed(kind: str, outcome: str) -> float:
        return sample("covetpy_events_consumed_total", topic=f"{topic}.{kind}", outcome=outcome)

    for kind in ("ok", "flaky", "broken", "refused"):
        assert sample("covetpy_events_published_total", topic=f"{topic}.{kind}") == 1
    assert consumed("ok", "ok") == 1
    assert (consumed("flaky", "retry"), consumed("flaky", "ok")) == (1, 1)
    assert (consumed("broken", "retry"), consumed("broken", "failed")) == (1, 1)
    assert consumed("refused", "rejected") == 1
    assert sample("covetpy_events_dead_lettered_total", topic=f"{topic}.ok") == 0
    assert sample("covetpy_event_handler_duration_seconds_count", topic=f"{topic}.flaky") == 2
    failed = [s for s in spans.get_finished_spans() if s.name == f"process {topic}.broken"]
    assert [s.status.status_code for s in failed] == [StatusCode.ERROR] * 2
