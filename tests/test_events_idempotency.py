"""Idempotency helpers: a redelivered event is handled once."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest
import redis.asyncio as aioredis

from covetpy.events import (
    Claim,
    EventBus,
    IdempotencyStore,
    InProgress,
    MemoryIdempotency,
    RedisIdempotency,
    idempotent,
)
from covetpy.events.testing import LocalServer, redis_server
from tests.events.harness import run, until


@pytest.fixture(scope="module")
def redis() -> Iterator[LocalServer]:
    with redis_server() as server:
        yield server


async def check_store(store: IdempotencyStore) -> None:
    assert await store.claim("k1", lease=0.2) is Claim.NEW
    assert await store.claim("k1", lease=0.2) is Claim.BUSY  # someone is on it
    await store.release("k1")  # it failed: a retry may take it
    assert await store.claim("k1", lease=0.2) is Claim.NEW
    await store.complete("k1")
    assert await store.claim("k1", lease=0.2) is Claim.DONE
    assert await store.claim("k2", lease=0.05) is Claim.NEW
    await asyncio.sleep(0.15)  # the holder died: its lease ran out
    assert await store.claim("k2", lease=0.05) is Claim.NEW


def test_memory_store() -> None:
    run(check_store(MemoryIdempotency()))


def test_memory_store_forgets_the_oldest_keys() -> None:
    async def main() -> list[Claim]:
        store = MemoryIdempotency(max_keys=2)
        for key in ("a", "b", "c"):
            await store.claim(key, 10)
            await store.complete(key)
        return [await store.claim(key, 10) for key in ("c", "b", "a")]

    assert run(main()) == [Claim.DONE, Claim.DONE, Claim.NEW]


def test_redis_store(redis: LocalServer) -> None:
    async def main() -> None:
        client = aioredis.from_url(redis.url)
        try:
            await check_store(RedisIdempotency(client, prefix="t1:", ttl=60))
        finally:
            await client.aclose()

    run(main())


@pytest.mark.parametrize("kind", ["memory", "redis"])
def test_idempotent_handlers_skip_duplicates_and_retry_failures(
    kind: str, redis: LocalServer
) -> None:
    async def main() -> tuple[list[int], int]:
        client = aioredis.from_url(redis.url)
        store: IdempotencyStore = (
            MemoryIdempotency() if kind == "memory" else RedisIdempotency(client, prefix="t2:")
        )
        bus = EventBus()
        handled: list[int] = []
        failures = 0

        @bus.subscribe("pay.>", concurrency=1)
        @idempotent(store)
        async def pay(event: dict[str, Any]) -> None:
            nonlocal failures
            if event.get("fail_once") and not failures:
                failures += 1
                raise RuntimeError("flaky")
            handled.append(event["n"])

        async with bus:
            await bus.publish("pay.requested", {"n": 1}, id="e1")
            await bus.publish("pay.requested", {"n": 1}, id="e1")  # delivered again
            await bus.publish("pay.requested", {"n": 2, "fail_once": True}, id="e2")
            await until(lambda: len(handled) == 2, what="2 payments")
            await bus.publish("pay.requested", {"n": 2}, id="e2")
            await asyncio.sleep(0.2)
        await client.aclose()
        return handled, failures

    handled, failures = run(main())
    assert handled == [1, 2]
    assert failures == 1


def test_a_key_held_elsewhere_is_retried() -> None:
    async def main() -> None:
        store = MemoryIdempotency()
        await store.claim("e1", lease=60)  # another consumer is handling it

        @idempotent(store)
        async def handler(event: int) -> None: ...

        from covetpy.events import Envelope, context
        from covetpy.events.envelope import now

        context.envelope.set(Envelope(id="e1", source="/t", type="a.b", time=now()))
        with pytest.raises(InProgress):
            await handler(1)

    run(main())
