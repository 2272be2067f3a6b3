"""The NATS JetStream task broker, in one process against a `nats-server -js` of the module's
own: the checks the memory and Redis brokers pass (imported from test_inprocess and run here
on NATS), then what is NATS's own: the streams and consumers, redelivery after a worker died,
dead letters, stats, and a server restart."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Iterator

import msgspec
import nats.js.errors as nats_errors
import pytest

from covetpy import App
from covetpy.events import context
from covetpy.events.testing import LocalServer, nats_server
from covetpy.exceptions import ConfigError
from covetpy.tasks import Backoff, TaskFailed
from covetpy.tasks.backends.base import Outgoing
from covetpy.tasks.backends.nats import NatsBroker
from covetpy.tasks.message import Message, encode
from tests.events.harness import run, until, until_async
from tests.tasks.test_inprocess import (  # noqa: F401 - collected here, on NATS
    test_bad_arguments_fail_the_enqueue_not_the_worker,
    test_delay_priority_and_cancel,
    test_drain_gives_back_what_did_not_finish,
    test_enqueue_run_and_result,
    test_idempotency_key_makes_the_second_enqueue_a_no_op,
    test_non_retryable_and_timeout_are_dead_letters_with_reasons,
    test_request_id_and_run_reach_the_task,
    test_results_wait_and_none_returning_tasks_keep_none,
    test_retries_then_success_and_then_a_dead_letter,
)

FAST = Backoff(initial=0.01, factor=1.0, jitter=0.0)


@pytest.fixture(scope="module")
def nats() -> Iterator[LocalServer]:
    with nats_server() as server:
        yield server


def isolated(server: LocalServer, **options: object) -> str:
    """A URL with streams, subjects and buckets no other test shares; `visibility=1` so that
    a run held by a dead worker is handed out again within a second."""
    tag = uuid.uuid4().hex[:10]
    extra = "".join(f"&{k}={v}" for k, v in options.items())
    return f"{server.url}?stream=T{tag}&prefix=p{tag}&visibility=1{extra}"


@pytest.fixture
def broker_url(nats: LocalServer) -> str:
    """Overrides conftest's: the imported tests run on NATS."""
    return isolated(nats)


def message(
    task: str, queue: str = "default", priority: int = 0, args: bytes = b"\x90"
) -> Outgoing:
    task_id = uuid.uuid4().hex[:20]
    data = encode(
        Message(id=task_id, task=task, args=msgspec.Raw(args), queue=queue, priority=priority)
    )
    return Outgoing(task_id, queue, priority, data)


async def connected(url: str) -> NatsBroker:
    broker = NatsBroker(url)
    await broker.connect()
    return broker


def test_url_options_are_checked() -> None:
    with pytest.raises(ConfigError, match="visibility must be more than 0 seconds"):
        NatsBroker("nats://127.0.0.1:4222?visibility=0")
    with pytest.raises(ConfigError, match="key_ttl must be seconds"):
        NatsBroker("nats://127.0.0.1:4222?key_ttl=day")
    b = NatsBroker("nats://127.0.0.1:4222?stream=JOBS&prefix=jobs&result_ttl=60")
    assert (b.stream, b.delayed_stream, b.dead_stream) == ("JOBS", "JOBS_DELAYED", "JOBS_DEAD")
    assert (b.subject("emails", 1), b.delayed_subject("emails", -1)) == (
        "jobs.q.emails.high",
        "jobs.d.emails.low",
    )
    assert (b.durable("emails", 0), b.result_ttl, b.key_ttl, b.visibility) == (
        "w_emails_normal",
        60.0,
        86400.0,
        30.0,
    )


def test_layout_streams_consumers_and_buckets(nats: LocalServer) -> None:
    url = isolated(nats, key_ttl=120, result_ttl=60)

    async def go() -> None:
        b = await connected(url)
        try:
            await b.prepare(["emails"])
            await b.prepare(["emails"])  # idempotent
            js = b.js
            work = await js.stream_info(b.stream)
            assert work.config.subjects == [f"{b.prefix}.q.>"]
            assert work.config.retention == "workqueue"
            dead = await js.stream_info(b.dead_stream)
            assert (dead.config.retention, dead.config.max_msgs) == ("limits", 100_000)
            names = sorted(c.name for c in await js.consumers_info(b.stream))
            assert names == ["w_emails_high", "w_emails_low", "w_emails_normal"]
            c = await js.consumer_info(b.stream, "w_emails_normal")
            assert (c.config.ack_wait, c.config.max_deliver, c.config.filter_subject) == (
                1.0,
                -1,
                f"{b.prefix}.q.emails.normal",
            )
            keys = await js.stream_info(f"KV_{b.stream}_KEYS")
            results = await js.stream_info(f"KV_{b.stream}_RESULTS")
            assert (keys.config.max_age, results.config.max_age) == (120.0, 60.0)
        finally:
            await b.close()
        # Another process with a longer visibility updates the consumers; with another TTL,
        # the bucket.
        b = await connected(
            url.replace("visibility=1", "visibility=5").replace("result_ttl=60", "result_ttl=90")
        )
        try:
            await b.prepare(["emails"])
            c = await b.js.consumer_info(b.stream, "w_emails_normal")
            assert c.config.ack_wait == 5.0
            assert (await b.js.stream_info(f"KV_{b.stream}_RESULTS")).config.max_age == 90.0
        finally:
            await b.close()

    run(go())


def test_a_stream_on_other_subjects_is_a_config_error(nats: LocalServer) -> None:
    url = isolated(nats)

    async def go() -> None:
        b = await connected(url)
        await b.close()
        with pytest.raises(ConfigError, match="choose another \\?stream="):
            await connected(url.replace("&prefix=p", "&prefix=other"))

    run(go())


def test_an_enqueue_nothing_stored_raises_and_frees_its_key(nats: LocalServer) -> None:
    async def go() -> None:
        b = await connected(isolated(nats))
        try:
            await b.js.delete_stream(b.stream)  # by hand: publishes find no stream
            out = message("t")
            out.key = "order-1"
            with pytest.raises(nats_errors.NoStreamResponseError):
                await b.enqueue(out)
            await b.js.delete_stream(b.dead_stream)
            await b.close()
            b = await connected(b.url)  # makes them again
            again = await b.enqueue(out)
            assert (again.id, again.duplicate) == (out.id, False)
        finally:
            await b.close()

    run(go())


def test_fetch_takes_priorities_in_order_and_never_more_than_count(nats: LocalServer) -> None:
    async def go() -> None:
        b = await connected(isolated(nats))
        try:
            await b.prepare(["a", "b"])
            for prio, queue in [(-1, "a"), (0, "b"), (1, "a"), (0, "a"), (1, "b")]:
                await b.enqueue(message("t", queue, prio))
            got = await b.fetch(["a", "b"], 3, 0.1)
            assert [(r.queue, r.priority, r.deliveries) for r in got] == [
                ("a", 1, 1),
                ("b", 1, 1),
                ("a", 0, 1),
            ]
            got += await b.fetch(["a", "b"], 10, 0.1)
            assert [(r.queue, r.priority) for r in got[3:]] == [("b", 0), ("a", -1)]
            stats = {s.queue: s for s in await b.stats(None)}
            assert (stats["a"].ready, stats["a"].running, stats["b"].running) == (0, 3, 2)
            for r in got:
                await b.finish(r, None, "", 0)
            await until_async(lambda: _stats_are(b, ["a", "b"], (0, 0, 0, 0)), 10, "the acks")
            # Nothing waiting: the fetch waits for a publish, and returns at once with it.
            waiting = asyncio.ensure_future(b.fetch(["a", "b"], 5, 20.0))
            await asyncio.sleep(0.2)
            assert not waiting.done()
            await b.enqueue(message("t", "b", -1))
            got = await asyncio.wait_for(waiting, 10)
            assert [(r.queue, r.priority) for r in got] == [("b", -1)]
            assert await b.fetch(["a"], 5, 0.05) == []
        finally:
            await b.close()

    run(go())


def test_an_idle_worker_watches_the_publishes_until_a_backlog(nats: LocalServer) -> None:
    async def go() -> None:
        b = await connected(isolated(nats))
        try:
            await b.prepare(["default"])
            assert await b.fetch(["default"], 5, 0.05) == []
            assert b._watch is not None  # idle: watching
            await b.enqueue(message("t", priority=1))
            got = await b.fetch(["default"], 5, 5.0)
            assert [r.priority for r in got] == [1]
            assert b._watch is not None
            await asyncio.gather(*(b.enqueue(message("t")) for _ in range(300)))
            assert len(await b.fetch(["default"], 10, 1.0)) == 10
            assert b._watch is None  # a backlog: plain looks
            got = await b.fetch(["default"], 400, 1.0)
            assert len(got) == 290 and b._watch is None
        finally:
            await b.close()

    run(go())


async def _stats_are(b: NatsBroker, queues: list[str], want: tuple[int, int, int, int]) -> bool:
    return all((s.ready, s.running, s.delayed, s.dead) == want for s in await b.stats(queues))


def test_a_worker_that_died_holding_a_run_it_is_handed_out_again(nats: LocalServer) -> None:
    url = isolated(nats)
    app = App(tasks=url)
    attempts: list[int] = []

    @app.task(name="once", retries=2)
    async def once(n: int) -> int:
        attempts.append(context.attempt.get())
        return n

    async def go() -> None:
        dying = await connected(url)
        await dying.prepare(["default"])
        h = await once.enqueue(7)
        held = await dying.fetch(["default"], 5, 1.0)
        assert [r.deliveries for r in held] == [1]
        await dying.close()  # killed: no ack, no release
        await app.tasks.start(["default"], concurrency=2)
        try:
            # Handed out again after the visibility (1 s), with 2 deliveries: its run 2.
            assert await h.result(timeout=20) == 7
            assert attempts == [2]
        finally:
            await app.tasks.close()

    run(go())


def test_keep_alive_holds_a_run_past_the_visibility(nats: LocalServer) -> None:
    url = isolated(nats)

    async def go() -> None:
        a, b = await connected(url), await connected(url)
        try:
            await a.prepare(["default"])
            await a.enqueue(message("t"))
            held = await a.fetch(["default"], 1, 1.0)
            deadline = time.monotonic() + 2.5  # 2.5 visibilities
            while time.monotonic() < deadline:
                await a.keep_alive(held)
                assert await b.fetch(["default"], 1, 0.3) == []
            await a.finish(held[0], None, "", 0)
            await until_async(lambda: _stats_are(a, ["default"], (0, 0, 0, 0)), 10, "the ack")
        finally:
            await a.close()
            await b.close()

    run(go())


def test_unknown_task_and_poison_are_dead_letters_and_drop_dead_removes_one(
    nats: LocalServer,
) -> None:
    url = isolated(nats)
    app = App(tasks=url)

    @app.task(name="known", retries=0)
    async def known() -> int:
        return 1

    async def go() -> None:
        b = await connected(url)
        try:
            stranger = message("not.registered.here")
            await b.enqueue(stranger)
            poison = Outgoing("x", "default", 0, b"\xc1 not msgpack")
            await b.enqueue(poison)
            await app.tasks.start(["default"], concurrency=2)
            await until_async(lambda: _dead_count(b, 2), 20, "two dead letters")
            dead = await b.dead_letters("default", 10)
            assert dead[0].id == stranger.id
            assert dead[0].reason.startswith("unknown task 'not.registered.here'")
            assert dead[1].reason.startswith("undecodable message")
            assert dead[1].data == poison.data
            assert await b.dead_letters("other", 10) == []
            assert len(await b.dead_letters(None, 1)) == 1
            [s] = await b.stats(["default"])
            assert (s.ready, s.running, s.delayed, s.dead) == (0, 0, 0, 2)
            dropped = await b.drop_dead(stranger.id)
            assert dropped is not None and dropped.id == stranger.id
            assert await b.drop_dead(stranger.id) is None
            assert [d.data for d in await b.dead_letters(None, 10)] == [poison.data]
        finally:
            await app.tasks.close()
            await b.close()

    run(go())


async def _dead_count(b: NatsBroker, n: int) -> bool:
    return len(await b.dead_letters(None, 100)) >= n


def test_retries_wait_in_the_delayed_stream_and_stats_count_them(nats: LocalServer) -> None:
    url = isolated(nats)
    app = App(tasks=url)
    runs: list[float] = []

    @app.task(name="fails", retries=1, backoff=Backoff(initial=60.0, jitter=0.0))
    async def fails() -> int:
        runs.append(time.time())
        raise RuntimeError("down")

    async def go() -> None:
        await app.tasks.start(["default"], concurrency=1)
        b = await connected(url)
        try:
            h = await fails.enqueue()
            await until(lambda: len(runs) == 1, 10, "the first run")
            await until_async(
                lambda: _stats_are(b, ["default"], (0, 0, 1, 0)), 10, "a delayed retry"
            )
            later = await fails.enqueue(_delay=30)
            assert await later.cancel() is True
            assert await later.cancel() is False
            await until_async(lambda: _stats_are(b, ["default"], (0, 0, 1, 0)), 10, "one delayed")
            assert h.id not in {d.id for d in await b.dead_letters(None, 10)}
        finally:
            await b.close()
            await app.tasks.close()

    run(go())


def test_cancel_of_a_run_a_worker_took_is_too_late(nats: LocalServer) -> None:
    async def go() -> None:
        b = await connected(isolated(nats))
        try:
            await b.prepare(["default"])
            first, second = message("t"), message("t")
            e1, e2 = await b.enqueue(first), await b.enqueue(second)
            [taken] = await b.fetch(["default"], 1, 1.0)
            assert await b.cancel(first.id, e1.ref) is False
            assert await b.cancel(second.id, e2.ref) is True
            assert await b.cancel(second.id, None) is False
            await b.finish(taken, None, "", 0)
            assert await b.fetch(["default"], 5, 0.05) == []
        finally:
            await b.close()

    run(go())


def test_promote_drops_a_run_marked_cancelled(nats: LocalServer) -> None:
    async def go() -> None:
        b = await connected(isolated(nats))
        try:
            await b.prepare(["default"])
            out = message("t")
            out.due = time.time() + 0.2
            await b.enqueue(out)
            await b.kv("CANCELS").put(out.id, b"1")  # as if cancelled while being moved
            await asyncio.sleep(0.3)
            assert await b.promote() >= 0
            assert await b.fetch(["default"], 5, 0.05) == []
            [s] = await b.stats(["default"])
            assert (s.ready, s.delayed) == (0, 0)
        finally:
            await b.close()

    run(go())


def test_a_short_delay_is_not_stuck_behind_many_long_ones(nats: LocalServer) -> None:
    """Regression: nak'ed delayed messages stay pending on the scheduler consumer; with
    JetStream's default max_ack_pending (1,000) the 1,001st was never handed out."""

    async def go() -> None:
        b = await connected(isolated(nats))
        try:
            await b.prepare(["default"])
            later = time.time() + 600
            await asyncio.gather(*(b.enqueue(_due(message("t"), later)) for _ in range(1200)))
            while await b.promote() == 0.0:  # full batches: more to look at
                pass
            soon = _due(message("t"), time.time() + 0.2)
            await b.enqueue(soon)

            async def moved() -> bool:
                await b.promote()
                return len(await b.fetch(["default"], 5, 0.01)) == 1

            await until_async(moved, 10, "the short delay")
            [s] = await b.stats(["default"])
            assert (s.ready, s.running, s.delayed) == (0, 1, 1200)
        finally:
            await b.close()

    run(go())


def _due(out: Outgoing, at: float) -> Outgoing:
    out.due = at
    msg = msgspec.msgpack.decode(out.data, type=Message)
    out.data = encode(msgspec.structs.replace(msg, due=at))
    return out


def test_a_server_restart_loses_nothing_acknowledged_and_the_worker_resumes() -> None:
    with nats_server() as server:
        url = isolated(server)
        app = App(tasks=url)
        done: list[int] = []

        @app.task(name="record", retries=3, backoff=FAST)
        async def record(n: int) -> int:
            done.append(n)
            return n

        async def go() -> None:
            producer = App(tasks=url)
            producer.tasks.registry["record"] = record
            for n in range(50):
                await record.enqueue(n)
            await app.tasks.start(["default"], concurrency=8)
            try:
                await until(lambda: len(set(done)) == 50, 20, "the first 50")
                await asyncio.to_thread(server.restart)
                handles = []
                for n in range(50, 100):
                    handles.append(await _retrying(lambda n=n: record.enqueue(n)))
                for h in handles:
                    await h.result(timeout=30)
                assert set(done) == set(range(100))
                b = await connected(url)
                try:
                    await until_async(lambda: _stats_are(b, ["default"], (0, 0, 0, 0)), 10, "empty")
                finally:
                    await b.close()
            finally:
                await app.tasks.close()

        run(go(), timeout=90)


async def _retrying(enqueue: object) -> object:
    """The enqueue, retried while the client reconnects (an enqueue raises in an outage)."""
    deadline = time.monotonic() + 20
    while True:
        try:
            return await enqueue()  # type: ignore[operator]
        except Exception:
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.1)


def test_a_fetch_during_an_outage_raises_and_resumes() -> None:
    with nats_server() as server:
        url = isolated(server)

        async def go() -> None:
            b = await connected(url)
            try:
                await b.prepare(["default"])
                await asyncio.to_thread(server.stop)
                with pytest.raises((ConnectionError, TimeoutError)):
                    await asyncio.wait_for(b.fetch(["default"], 5, 0.1), 15)
                await asyncio.to_thread(server.start)
                await until_async(lambda: _reconnected(b), 20, "the reconnect")
                await b.enqueue(message("t"))
                assert len(await b.fetch(["default"], 5, 1.0)) == 1
            finally:
                await b.close()

        run(go(), timeout=60)


async def _reconnected(b: NatsBroker) -> bool:
    try:
        await b.fetch(["default"], 1, 0.01)
        return True
    except (ConnectionError, TimeoutError):
        return False


def test_a_failed_task_result_says_why(nats: LocalServer) -> None:
    app = App(tasks=isolated(nats))

    @app.task(name="boom", retries=0)
    async def boom() -> int:
        raise ValueError("no\nway")

    async def go() -> None:
        await app.tasks.start(["default"], concurrency=1)
        try:
            h = await boom.enqueue()
            with pytest.raises(TaskFailed, match="ValueError"):
                await h.result(timeout=10)
            [d] = await app.tasks.broker.dead_letters(None, 10)
            assert "\n" not in d.reason and "ValueError('no\\nway')" in d.reason
        finally:
            await app.tasks.close()

    run(go())
