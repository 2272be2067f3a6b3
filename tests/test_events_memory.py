"""The event bus on `memory://`: the semantics every backend shares (wildcards, typed
handlers, retries and dead letters, concurrency, drain), plus the memory backend's
backpressure."""

from __future__ import annotations

import asyncio
import itertools
import time
from dataclasses import dataclass
from typing import Any

import msgspec
import pytest

from covetpy.events import (
    Backoff,
    Envelope,
    EventBus,
    NonRetryable,
    context,
)
from tests.events.harness import run, until

FAST = Backoff(initial=0.02, factor=2, maximum=0.2, jitter=0)


class OrderCreated(msgspec.Struct):
    order_id: int
    total: float = 0.0


@dataclass
class Shipped:
    order_id: int


def test_wildcards_route_each_topic_to_the_patterns_it_matches() -> None:
    async def main() -> dict[str, list[str]]:
        bus = EventBus()
        seen: dict[str, list[str]] = {}

        def record(name: str) -> Any:
            async def handler(event: Any, envelope: Envelope) -> None:
                seen.setdefault(name, []).append(envelope.type)

            return handler

        for pattern in ("orders.*", "orders.>", "*.created", "orders.created", ">"):
            bus.subscribe(pattern, name=pattern, concurrency=1)(record(pattern))
        async with bus:
            for topic in ("orders.created", "orders.eu.created", "users.created", "orders"):
                await bus.publish(topic, {})
            await until(lambda: len(seen.get(">", [])) == 4, what="4 events on >")
            await until(lambda: sum(map(len, seen.values())) == 10, what="10 deliveries")
        return seen

    seen = run(main())
    assert seen["orders.*"] == ["orders.created"]
    assert sorted(seen["orders.>"]) == ["orders.created", "orders.eu.created"]
    assert sorted(seen["*.created"]) == ["orders.created", "users.created"]
    assert seen["orders.created"] == ["orders.created"]


def test_handlers_receive_the_type_they_annotate() -> None:
    async def main() -> list[Any]:
        bus = EventBus()
        got: list[Any] = []

        @bus.subscribe("a.struct")
        async def struct(event: OrderCreated) -> None:
            got.append(event)

        @bus.subscribe("a.dataclass")
        async def dc(event: Shipped) -> None:
            got.append(event)

        @bus.subscribe("a.envelope")
        async def whole(envelope: Envelope) -> None:
            got.append(envelope.decode(OrderCreated))

        @bus.subscribe("a.untyped")
        async def untyped(event, envelope: Envelope) -> None:  # type: ignore[no-untyped-def]
            got.append((event, envelope.type))

        async with bus:
            await bus.publish("a.struct", OrderCreated(1, 9.5))
            await bus.publish("a.dataclass", Shipped(2))
            await bus.publish("a.envelope", {"order_id": 3})
            await bus.publish("a.untyped", [1, "x"])
            await until(lambda: len(got) == 4, what="4 events")
        return got

    got = run(main())
    assert OrderCreated(1, 9.5) in got
    assert Shipped(2) in got
    assert OrderCreated(3) in got
    assert ([1, "x"], "a.untyped") in got


def test_handler_signatures_are_checked_when_subscribing() -> None:
    bus = EventBus()
    with pytest.raises(TypeError, match="async def"):

        @bus.subscribe("a.b")  # type: ignore[type-var]
        def sync(event: dict[str, Any]) -> None: ...

    with pytest.raises(TypeError, match="positional"):

        @bus.subscribe("a.b")
        async def three(a: int, b: Envelope, c: int) -> None: ...

    with pytest.raises(TypeError, match="Envelope"):

        @bus.subscribe("a.b")
        async def second(a: int, b: int) -> None: ...

    @bus.subscribe("a.b", name="same")
    async def first(a: int) -> None: ...

    with pytest.raises(ValueError, match="already"):
        bus.subscribe("a.c", name="same")(first)


def test_failures_are_retried_with_backoff_then_dead_lettered() -> None:
    async def main() -> tuple[list[float], list[Envelope]]:
        bus = EventBus(service="shop")
        attempts: list[float] = []
        dead: list[Envelope] = []

        @bus.subscribe("orders.created", max_deliveries=4, backoff=FAST)
        async def always_fails(event: OrderCreated) -> None:
            attempts.append(time.monotonic())
            assert context.attempt.get() == len(attempts)
            raise RuntimeError(f"boom {event.order_id}")

        @bus.subscribe("dlq.>")
        async def dead_letters(envelope: Envelope) -> None:
            dead.append(envelope)

        async with bus:
            published = await bus.publish("orders.created", OrderCreated(7), key="7")
            await until(lambda: len(dead) == 1, what="the dead letter")
            assert dead[0].id == published.id
        return attempts, dead

    attempts, dead = run(main())
    assert len(attempts) == 4
    gaps = [b - a for a, b in itertools.pairwise(attempts)]
    assert gaps[0] >= 0.02 and gaps[1] >= 0.04 and gaps[2] >= 0.08, gaps
    letter = dead[0]
    assert letter.type == "orders.created"  # the original topic, stored under dlq.…
    assert letter.decode(OrderCreated) == OrderCreated(7)
    assert letter.partitionkey == "7"
    assert letter.deliveries == 4
    assert (letter.deadlettergroup or "").startswith("shop:")  # <service>:<subscription>
    assert (letter.deadlettergroup or "").endswith(".always_fails")
    assert "RuntimeError('boom 7')" in (letter.deadletterreason or "")


def test_undecodable_payloads_and_non_retryable_errors_go_to_the_dead_letter_topic_at_once() -> (
    None
):
    async def main() -> tuple[int, list[Envelope]]:
        bus = EventBus()
        calls = 0
        dead: list[Envelope] = []

        @bus.subscribe("orders.*", max_deliveries=5, backoff=FAST)
        async def handler(event: OrderCreated) -> None:
            nonlocal calls
            calls += 1
            raise NonRetryable("order refused")

        @bus.subscribe("failed.>", name="dead", dead_letter=None)
        async def dead_letters(envelope: Envelope) -> None:
            dead.append(envelope)

        handler_sub = bus.subscriptions[0]
        handler_sub.policy = type(handler_sub.policy)(5, FAST, "failed.{topic}")
        async with bus:
            await bus.publish("orders.bad", {"order_id": "not a number"})
            await bus.publish("orders.refused", OrderCreated(1))
            await until(lambda: len(dead) == 2, what="2 dead letters")
        return calls, dead

    calls, dead = run(main())
    assert calls == 1
    reasons = {d.type: d.deadletterreason or "" for d in dead}
    assert "data does not decode" in reasons["orders.bad"]
    assert "order refused" in reasons["orders.refused"]
    assert all(d.deliveries == 1 for d in dead)


def test_a_failing_catch_all_does_not_dead_letter_dead_letters_forever() -> None:
    async def main() -> list[str]:
        bus = EventBus()
        topics: list[str] = []

        @bus.subscribe(">", max_deliveries=1)
        async def fails(event: Any, envelope: Envelope) -> None:
            topics.append(envelope.type if envelope.deliveries is None else "dlq")
            raise RuntimeError("no")

        async with bus:
            await bus.publish("a.b", 1)
            await until(lambda: len(topics) == 2, what="the event and its dead letter")
            await asyncio.sleep(0.1)  # nothing more comes
        return topics

    assert run(main()) == ["a.b", "dlq"]


def test_concurrency_bounds_the_handlers_running_at_once() -> None:
    async def main() -> tuple[int, int]:
        bus = EventBus()
        running = peak = done = 0

        @bus.subscribe("jobs.run", concurrency=3)
        async def job(event: int) -> None:
            nonlocal running, peak, done
            running += 1
            peak = max(peak, running)
            await asyncio.sleep(0.02)
            running -= 1
            done += 1

        async with bus:
            for i in range(12):
                await bus.publish("jobs.run", i)
            await until(lambda: done == 12, what="12 jobs")
        return peak, done

    peak, _ = run(main())
    assert peak == 3


def test_events_of_one_key_are_handled_in_order() -> None:
    async def main() -> dict[str, list[int]]:
        bus = EventBus()
        order: dict[str, list[int]] = {}

        @bus.subscribe("acct.>", concurrency=4)
        async def apply(event: dict[str, Any]) -> None:
            await asyncio.sleep(0.001 * (event["n"] % 3))
            order.setdefault(event["key"], []).append(event["n"])

        async with bus:
            for n in range(30):
                key = f"k{n % 5}"
                await bus.publish("acct.changed", {"key": key, "n": n}, key=key)
            await until(lambda: sum(map(len, order.values())) == 30, what="30 events")
        return order

    order = run(main())
    for key, ns in order.items():
        assert ns == sorted(ns), (key, ns)


def test_publish_waits_when_a_subscriber_queue_is_full() -> None:
    async def main() -> tuple[int, int]:
        bus = EventBus("memory://?queue_size=2")
        release = asyncio.Event()
        handled = 0

        @bus.subscribe("work.item", concurrency=1)
        async def slow(event: int) -> None:
            nonlocal handled
            await release.wait()
            handled += 1

        published = 0

        async def producer() -> None:
            nonlocal published
            for i in range(10):
                await bus.publish("work.item", i)
                published += 1

        async with bus:
            task = asyncio.create_task(producer())
            # One event in the handler, two in the queue: the fourth publish waits.
            await until(lambda: published == 3, what="3 publishes")
            await asyncio.sleep(0.2)
            stalled = published
            release.set()
            await until(lambda: handled == 10, what="10 handled")
            await task
        return stalled, published

    stalled, published = run(main())
    assert stalled == 3
    assert published == 10


def test_drain_stops_fetching_and_finishes_what_is_in_flight() -> None:
    async def main() -> tuple[list[int], bool]:
        bus = EventBus()
        release = asyncio.Event()
        started: list[int] = []
        finished: list[int] = []

        @bus.subscribe("work.item", concurrency=1)
        async def handler(event: int) -> None:
            started.append(event)
            await release.wait()
            finished.append(event)

        await bus.start()
        await bus.publish("work.item", 1)
        await until(lambda: started == [1], what="the first event to start")
        drain = asyncio.create_task(bus.drain(timeout=10))
        await asyncio.sleep(0.05)
        early = drain.done()
        await bus.publish("work.item", 2)  # queued, never fetched: the bus is draining
        release.set()
        await asyncio.wait_for(drain, 10)
        await bus.close()
        return finished, early

    finished, early = run(main())
    assert not early
    assert finished == [1]


def test_drain_deadline_cancels_handlers_still_running() -> None:
    async def main() -> bool:
        bus = EventBus()
        cancelled = False

        @bus.subscribe("work.item")
        async def stuck(event: int) -> None:
            nonlocal cancelled
            try:
                await asyncio.sleep(60)
            except asyncio.CancelledError:
                cancelled = True
                raise

        await bus.start()
        await bus.publish("work.item", 1)
        await until(lambda: bus.subscriptions[0].in_flight == 1, what="the event in flight")
        await bus.drain(timeout=0.2)
        await bus.close()
        return cancelled

    assert run(main())


def test_request_id_and_trace_context_travel_with_events() -> None:
    async def main() -> list[Envelope]:
        bus = EventBus(service="orders")
        seen: list[Envelope] = []

        @bus.subscribe("orders.created")
        async def created(event: int, envelope: Envelope) -> None:
            seen.append(envelope)
            assert context.request_id.get() == "req-1"
            await bus.publish("orders.followup", event)  # inherits them

        @bus.subscribe("orders.followup")
        async def followup(envelope: Envelope) -> None:
            seen.append(envelope)

        async with bus:
            context.request_id.set("req-1")
            context.traceparent.set("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
            await bus.publish("orders.created", 1)
            await until(lambda: len(seen) == 2, what="2 events")
        return seen

    first, second = run(main())
    assert first.source == "/orders"
    for env in (first, second):
        assert env.requestid == "req-1"
        assert env.traceparent == "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"


def test_buses_sharing_a_named_broker_share_a_group() -> None:
    async def main() -> tuple[list[str], list[str], list[str]]:
        a, b, other = (
            EventBus("memory://shared", service="billing"),
            EventBus("memory://shared", service="billing"),
            EventBus("memory://shared", service="audit"),
        )
        got: dict[str, list[str]] = {"a": [], "b": [], "other": []}
        for name, bus in (("a", a), ("b", b), ("other", other)):

            async def handler(event: int, envelope: Envelope, name: str = name) -> None:
                got[name].append(envelope.id)
                await asyncio.sleep(0.005)

            bus.subscribe("orders.>", name="on_order", concurrency=1)(handler)
            await bus.start()
        for i in range(20):
            await a.publish("orders.created", i)
        await until(lambda: len(got["a"]) + len(got["b"]) == 20 and len(got["other"]) == 20)
        for bus in (a, b, other):
            await bus.close()
        return got["a"], got["b"], got["other"]

    in_a, in_b, other = run(main())
    assert not set(in_a) & set(in_b)
    assert in_a and in_b
    assert sorted(in_a + in_b) == sorted(other)


def test_read_replays_from_a_position() -> None:
    async def main() -> tuple[list[int], list[int]]:
        bus = EventBus()
        positions = [(await bus.publish("log.line", n)).position for n in range(10)]
        await bus.publish("other.topic", -1)
        assert positions[4] is not None
        replayed = [e.envelope.decode() async for e in bus.read("log.>", start=positions[4])]

        got: list[int] = []

        @bus.subscribe("log.line", start=positions[4], concurrency=1)
        async def handler(event: int) -> None:
            got.append(event)

        async with bus:
            await until(lambda: len(got) == 6, what="6 replayed events")
        return replayed, got

    replayed, got = run(main())
    assert replayed == [4, 5, 6, 7, 8, 9]
    assert got == [4, 5, 6, 7, 8, 9]
