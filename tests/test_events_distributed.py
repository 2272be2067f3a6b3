"""The event bus on real servers: Redis Streams and NATS JetStream, each started by the test on
a free loopback port (`make services` installs them). Every test runs on both backends."""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import nats
import pytest
import redis.asyncio as aioredis

from covetpy.events import Backoff, Envelope, EventBus, context
from covetpy.events.backends.nats import consumer_name
from covetpy.events.testing import LocalServer
from tests.events.harness import Workers, isolated, run, start_server, until, workers

__all__ = ["workers"]

FAST = Backoff(initial=0.05, factor=2, maximum=0.5, jitter=0)


@pytest.fixture(scope="module", params=["redis", "nats"])
def server(request: pytest.FixtureRequest) -> Iterator[LocalServer]:
    """One server per backend for the module; each test isolates itself with `isolated()`."""
    with start_server(request.param) as s:
        yield s


@pytest.fixture(params=["redis", "nats"])
def own_server(request: pytest.FixtureRequest) -> Iterator[LocalServer]:
    """A server of the test's own, which it may restart."""
    with start_server(request.param) as s:
        yield s


async def publish_many(bus: EventBus, topic: str, items: list[dict[str, Any]]) -> list[str]:
    return [(await bus.publish(topic, item)).id for item in items]


def test_each_event_goes_to_one_consumer_per_group(server: LocalServer, workers: Workers) -> None:
    url = isolated(server)
    billing = [workers(url, "--service", "billing", "--delay", "0.05") for _ in range(2)]
    audit = workers(url, "--service", "audit")
    for w in (*billing, audit):
        w.wait_ready()

    async def main() -> list[str]:
        bus = EventBus(url, service="shop")
        ids = await publish_many(bus, "orders.created", [{"n": n} for n in range(40)])
        await bus.close()
        return ids

    ids = run(main())
    billing[0].wait(lambda _: len(billing[0].handled()) + len(billing[1].handled()) >= 40, 20)
    audit.wait(lambda _: len(audit.handled()) >= 40, 20)
    first = [x["handled"] for x in billing[0].handled()]
    second = [x["handled"] for x in billing[1].handled()]
    assert sorted(first + second) == sorted(ids)  # each once, none twice
    assert first and second, "both processes of the group took events"
    assert sorted(x["handled"] for x in audit.handled()) == sorted(ids)
    for w in (*billing, audit):
        assert w.stop() == 0, w.errors


def test_an_event_is_redelivered_after_its_consumer_is_killed(
    server: LocalServer, workers: Workers
) -> None:
    url = isolated(server)
    args = ("--service", "shipping", "--redeliver-after", "1")
    doomed = workers(url, *args)
    doomed.wait_ready()

    async def main() -> str:
        bus = EventBus(url, service="shop")
        published = await bus.publish("orders.created", {"n": 1, "hang": True})
        await bus.close()
        return published.id

    event_id = run(main())
    doomed.wait(lambda lines: any(x.get("started") == event_id for x in lines), 20)
    doomed.stop(signal.SIGKILL)
    heir = workers(url, *args)
    heir.wait(lambda _: any(x["handled"] == event_id for x in heir.handled()), 20)
    assert heir.handled()[0]["attempt"] == 2
    assert heir.stop() == 0, heir.errors


def test_failed_events_go_to_the_dead_letter_topic_after_max_deliveries(
    server: LocalServer,
) -> None:
    url = isolated(server)

    async def main() -> tuple[int, list[Envelope], str]:
        bus = EventBus(url, service="billing")
        calls = 0
        dead: list[Envelope] = []

        @bus.subscribe("orders.created", max_deliveries=3, backoff=FAST, redeliver_after=5)
        async def charge(event: dict[str, Any]) -> None:
            nonlocal calls
            calls += 1
            assert context.attempt.get() == calls
            raise RuntimeError("card declined")

        @bus.subscribe("dlq.orders.>")
        async def dead_letters(envelope: Envelope) -> None:
            dead.append(envelope)

        async with bus:
            published = await bus.publish("orders.created", {"n": 1})
            await until(lambda: len(dead) == 1, 15, "the dead letter")
            await asyncio.sleep(0.3)  # and no further delivery
        return calls, dead, published.id

    calls, dead, event_id = run(main())
    assert calls == 3
    assert dead[0].id == event_id
    assert dead[0].deliveries == 3
    assert "card declined" in (dead[0].deadletterreason or "")
    assert dead[0].decode() == {"n": 1}


def test_replay_from_a_position(server: LocalServer) -> None:
    url = isolated(server)

    async def main() -> tuple[list[int], list[int], list[int]]:
        bus = EventBus(url, service="reports")
        positions = [(await bus.publish("ledger.entry", {"n": n})).position for n in range(10)]
        await bus.publish("other.thing", {"n": -1})
        start = positions[4]
        assert start is not None
        replayed = [e.envelope.decode()["n"] async for e in bus.read("ledger.>", start=start)]
        everything = [e.envelope.decode()["n"] async for e in bus.read(">")]
        got: list[int] = []

        @bus.subscribe("ledger.entry", start=start, concurrency=1)
        async def rebuild(event: dict[str, int]) -> None:
            got.append(event["n"])

        async with bus:
            await until(lambda: len(got) == 6, 15, "6 replayed events")
        return replayed, everything, got

    replayed, everything, got = run(main())
    assert replayed == [4, 5, 6, 7, 8, 9]
    assert everything == [*range(10), -1]
    assert got == [4, 5, 6, 7, 8, 9]


def test_events_of_one_key_are_handled_in_publish_order(server: LocalServer) -> None:
    url = isolated(server)

    async def main() -> dict[str, list[int]]:
        bus = EventBus(url, service="accounts")
        order: dict[str, list[int]] = {}

        @bus.subscribe("acct.>", concurrency=4)
        async def apply(event: dict[str, Any]) -> None:
            await asyncio.sleep(0.002 * (event["n"] % 3))
            order.setdefault(event["key"], []).append(event["n"])

        async with bus:
            for n in range(60):
                key = f"k{n % 4}"
                topic = "acct.opened" if n < 4 else "acct.changed"
                await bus.publish(topic, {"key": key, "n": n}, key=key)
            await until(lambda: sum(map(len, order.values())) == 60, 20, "60 events")
        return order

    order = run(main())
    assert len(order) == 4
    for key, ns in order.items():
        assert ns == sorted(ns), (key, ns)


def test_a_publish_retried_with_the_same_id_is_stored_once(server: LocalServer) -> None:
    url = isolated(server)

    async def main() -> tuple[bool, bool, int]:
        bus = EventBus(url, service="shop")
        first = await bus.publish("orders.created", {"n": 1}, id="order-1-created")
        again = await bus.publish("orders.created", {"n": 1}, id="order-1-created")
        stored = [e async for e in bus.read("orders.>")]
        await bus.close()
        assert again.position == first.position
        return first.duplicate, again.duplicate, len(stored)

    assert run(main()) == (False, True, 1)


def test_no_event_is_lost_when_the_server_restarts(own_server: LocalServer) -> None:
    # Redis is SIGKILLed (AOF with appendfsync always); nats-server is stopped with SIGTERM
    # (JetStream file storage syncs on shutdown, and every 2 minutes otherwise).
    url = isolated(own_server)
    stop = signal.SIGKILL if own_server.kind == "redis" else signal.SIGTERM

    async def main() -> tuple[set[str], set[str]]:
        published: set[str] = set()
        received: set[str] = set()

        def consumer() -> EventBus:
            bus = EventBus(url, service="archive", poll_interval=0.2)

            @bus.subscribe("docs.>", name="archive", concurrency=4, redeliver_after=2)
            async def archive(event: dict[str, Any], envelope: Envelope) -> None:
                received.add(envelope.id)

            return bus

        publisher = EventBus(url, service="docs")

        async def publish(batch: str, count: int) -> None:
            for n in range(count):
                published.add((await publisher.publish("docs.saved", {batch: n})).id)

        bus = consumer()
        await bus.start()  # creates the group
        await publish("a", 20)
        await until(lambda: received >= published, 15, "batch a")
        await bus.close()
        await publish("b", 20)  # stored while nobody consumes
        await publisher.close()
        await asyncio.to_thread(own_server.restart, stop)
        bus = consumer()
        await bus.start()
        await publish("c", 20)
        await until(lambda: received >= published, 20, "batches b and c after the restart")
        # Restarted under a running consumer, which reconnects and goes on.
        await asyncio.to_thread(own_server.restart, stop)
        await publish("d", 20)
        await until(lambda: received >= published, 20, "batch d after the second restart")
        await bus.close()
        await publisher.close()
        return published, received

    published, received = run(main(), timeout=60)
    assert len(published) == 80
    assert received >= published


async def pending(url: str, group: str) -> int:
    """Deliveries of `group` not acked yet, as the server counts them."""
    query = dict(parse_qsl(urlsplit(url).query))
    if url.startswith("redis"):
        client = aioredis.from_url(url.split("?", 1)[0])
        try:
            summary = await client.xpending(query["stream"], group)
            return int(summary["pending"])
        finally:
            await client.aclose()
    nc = await nats.connect(url.split("?", 1)[0])
    try:
        info = await nc.jetstream().consumer_info(query["stream"], consumer_name(group))
        return int(info.num_ack_pending or 0)
    finally:
        await nc.close()


def test_sigterm_drains_a_worker_finishing_and_acking_what_it_holds(
    server: LocalServer, workers: Workers
) -> None:
    url = isolated(server)
    worker = workers(url, "--service", "mailer", "--delay", "1.0", "--concurrency", "2")
    worker.wait_ready()

    async def main() -> list[str]:
        bus = EventBus(url, service="shop")
        ids = [(await bus.publish("orders.created", {"n": n})).id for n in range(2)]
        await bus.close()
        return ids

    ids = run(main())
    worker.wait(lambda lines: sum("started" in x for x in lines) == 2, 20)
    assert worker.stop(signal.SIGTERM) == 0, worker.errors
    assert sorted(x["handled"] for x in worker.handled()) == sorted(ids)
    assert run(pending(url, "mailer:worker")) == 0
