"""Durable tasks in one process, on each broker: what an enqueue stores and what a worker does
with it."""

from __future__ import annotations

import asyncio
import logging
import threading
from typing import Any

import msgspec
import pytest

from covetpy import App
from covetpy.events import context
from covetpy.tasks import (
    Backoff,
    BadArguments,
    NonRetryable,
    NoResults,
    ResultTimeout,
    TaskFailed,
    current,
)
from tests.events.harness import run, until

FAST = Backoff(initial=0.01, factor=1.0, jitter=0.0)


class Item(msgspec.Struct):
    name: str
    qty: int = 1


def make(url: str) -> tuple[App, dict[str, Any]]:
    app = App(tasks=url)
    seen: dict[str, Any] = {"runs": [], "threads": [], "attempts": 0}

    @app.task(name="add", retries=0)
    async def add(a: int, b: int = 1) -> int:
        seen["runs"].append(("add", a, b))
        return a + b

    @app.task(name="order", retries=0)
    async def order(item: Item) -> Item:
        return Item(item.name.upper(), item.qty * 2)

    @app.task(name="flaky", retries=2, backoff=FAST)
    async def flaky(fail_times: int) -> int:
        seen["attempts"] += 1
        if seen["attempts"] <= fail_times:
            raise RuntimeError(f"boom {seen['attempts']}")
        return seen["attempts"]

    @app.task(name="rejects", retries=5, backoff=FAST)
    async def rejects() -> int:
        raise NonRetryable("the order does not exist")

    @app.task(name="sleepy", retries=0, timeout=0.05)
    async def sleepy() -> int:
        await asyncio.sleep(30)
        return 1

    @app.task(name="blocking", retries=0)
    def blocking(x: int) -> int:
        seen["threads"].append(threading.current_thread().name)
        return x * 10

    @app.task(name="log", retries=0, queue="other")
    async def log(tag: str) -> None:
        run_ = current()
        seen["runs"].append((tag, context.request_id.get(), run_.id if run_ else None))

    return app, seen


def test_enqueue_run_and_result(broker_url: str) -> None:
    app, seen = make(broker_url)

    async def go() -> None:
        await app.tasks.start(["default"], concurrency=4)
        try:
            h = await app.tasks.registry["add"].enqueue(2, b=40)
            assert await h.result(timeout=10) == 42
            h = await app.tasks.registry["order"].enqueue(Item("tea", 2))
            assert await h.result(timeout=10) == Item("TEA", 4)
            h = await app.tasks.registry["blocking"].enqueue(x=3)
            assert await h.result(timeout=10) == 30
            assert seen["threads"][0].startswith("covetpy-")  # the thread pool, not the loop
        finally:
            await app.tasks.close()

    run(go())


def test_bad_arguments_fail_the_enqueue_not_the_worker(broker_url: str) -> None:
    app, _ = make(broker_url)
    add = app.tasks.registry["add"]

    async def go() -> None:
        try:
            with pytest.raises(BadArguments, match=r"Expected `int`, got `str` - at `\$.a`"):
                await add.enqueue("two")
            with pytest.raises(BadArguments, match="missing required field `a`"):
                await add.enqueue(b=2)
            with pytest.raises(BadArguments, match="unknown field `c`"):
                await add.enqueue(1, c=3)
            with pytest.raises(BadArguments, match="takes 2 argument"):
                await add.enqueue(1, 2, 3)
            assert (await app.tasks.connected()) is not None
            stats = await app.tasks.broker.stats(["default"])
            assert stats[0].ready == 0  # nothing was stored
        finally:
            await app.tasks.close()

    run(go())


def test_retries_then_success_and_then_a_dead_letter(broker_url: str) -> None:
    app, seen = make(broker_url)
    flaky = app.tasks.registry["flaky"]

    async def go() -> None:
        await app.tasks.start(["default"], concurrency=2)
        try:
            assert await (await flaky.enqueue(2)).result(timeout=10) == 3  # 2 failures, 2 retries
            seen["attempts"] = 0
            h = await flaky.enqueue(5)
            with pytest.raises(
                TaskFailed, match=r"failed 3 time\(s\); last: RuntimeError\('boom 3'\)"
            ):
                await h.result(timeout=10)
            dead = await app.tasks.broker.dead_letters("default", 10)
            assert [d.id for d in dead] == [h.id]
            assert "RuntimeError('boom 3')" in dead[0].reason
        finally:
            await app.tasks.close()

    run(go())


def test_non_retryable_and_timeout_are_dead_letters_with_reasons(broker_url: str) -> None:
    app, _ = make(broker_url)

    async def go() -> None:
        await app.tasks.start(["default"], concurrency=2)
        try:
            h = await app.tasks.registry["rejects"].enqueue()
            with pytest.raises(
                TaskFailed, match="rejected: NonRetryable\\('the order does not exist'\\)"
            ):
                await h.result(timeout=10)
            h = await app.tasks.registry["sleepy"].enqueue()
            with pytest.raises(TaskFailed, match=r"timed out after 0.05s"):
                await h.result(timeout=10)
        finally:
            await app.tasks.close()

    run(go())


def test_idempotency_key_makes_the_second_enqueue_a_no_op(broker_url: str) -> None:
    app, seen = make(broker_url)
    add = app.tasks.registry["add"]

    async def go() -> None:
        try:
            first = await add.enqueue(1, _key="receipt-42")
            again = await add.enqueue(2, _key="receipt-42")
            other = await add.enqueue(3, _key="receipt-43")
            assert (again.id, again.duplicate) == (first.id, True)
            assert not first.duplicate and other.id != first.id
            await app.tasks.start(["default"], concurrency=2)
            await other.result(timeout=10)
            assert await first.result(timeout=10) == 2
            await asyncio.sleep(0.05)
            assert sorted(r[1] for r in seen["runs"]) == [1, 3]
        finally:
            await app.tasks.close()

    run(go())


def test_delay_priority_and_cancel(broker_url: str) -> None:
    app, seen = make(broker_url)
    add = app.tasks.registry["add"]

    async def go() -> None:
        try:
            low = await add.enqueue(1, _priority=-1)
            normal = await add.enqueue(2)
            high = await add.enqueue(3, _priority=1)
            gone = await add.enqueue(4)
            later = await add.enqueue(5, _delay=0.3)
            never = await add.enqueue(6, _delay=60)
            assert await gone.cancel() is True
            assert await never.cancel() is True
            # A worker of concurrency 1 takes them one by one, highest priority first.
            await app.tasks.start(["default"], concurrency=1)
            for h in (low, normal, high):
                await h.result(timeout=10)
            assert [r[1] for r in seen["runs"][:3]] == [3, 2, 1]
            assert await later.result(timeout=10) == 6
            assert await low.cancel() is False  # finished: too late
            await asyncio.sleep(0.05)
            assert {r[1] for r in seen["runs"]} == {1, 2, 3, 5}
        finally:
            await app.tasks.close()

    run(go())


def test_results_wait_and_none_returning_tasks_keep_none(broker_url: str) -> None:
    app, _ = make(broker_url)

    async def go() -> None:
        try:
            h = await app.tasks.registry["add"].enqueue(1)
            with pytest.raises(ResultTimeout):
                await h.result(timeout=0.05)  # no worker yet
            h2 = await app.tasks.registry["log"].enqueue("x")
            with pytest.raises(NoResults):
                await h2.result(timeout=1)
        finally:
            await app.tasks.close()

    run(go())


def test_request_id_and_run_reach_the_task(broker_url: str) -> None:
    app, seen = make(broker_url)

    async def go() -> None:
        await app.tasks.start(["other"], concurrency=1)
        try:
            token = context.request_id.set("req-123")
            try:
                h = await app.tasks.registry["log"].enqueue("a")
            finally:
                context.request_id.reset(token)
            await until(lambda: bool(seen["runs"]), 10, "the run")
            assert seen["runs"] == [("a", "req-123", h.id)]
        finally:
            await app.tasks.close()

    run(go())


def test_drain_gives_back_what_did_not_finish(
    broker_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    app = App(tasks=broker_url)
    started = asyncio.Event()
    runs: list[int] = []

    @app.task(name="hang", retries=0)
    async def hang(n: int) -> None:
        runs.append(n)
        started.set()
        await asyncio.sleep(30)

    async def go() -> None:
        await app.tasks.start(["default"], concurrency=1)
        await hang.enqueue(1)
        await started.wait()
        with caplog.at_level(logging.WARNING, "covetpy.tasks"):
            await app.tasks.drain(0.05)
        assert "1 run(s) unfinished at the drain deadline; given back" in caplog.text
        stats = await app.tasks.broker.stats(["default"])
        assert (stats[0].ready, stats[0].running, stats[0].dead) == (1, 0, 0)
        await app.tasks.close()

    run(go())
    assert runs == [1]
