"""The consumer: takes messages from the broker, runs their tasks, and acknowledges, retries
or dead-letters each.

At most `concurrency` runs at once: the fetch asks the broker for as many messages as there
are free slots, so a worker never holds messages it is not running (another worker can take
them). Alongside, a maintenance loop moves due delayed messages to their queues, tells the
broker the running ones are alive (so a run longer than the visibility timeout is not taken
over), and takes over the messages of workers that stopped answering (killed mid-task). Each
periodic task whose queue is consumed here has a scheduler loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import functools
import logging
import time
from typing import TYPE_CHECKING, Any

import msgspec

from covetpy.events import context
from covetpy.events.retry import NonRetryable
from covetpy.observability import tracing
from covetpy.tasks import metrics
from covetpy.tasks.backends.base import Received
from covetpy.tasks.context import running
from covetpy.tasks.message import Message, Outcome, decode, encode

if TYPE_CHECKING:
    from covetpy.tasks.manager import Periodic, Tasks
    from covetpy.tasks.task import Task

__all__ = ["Worker"]

logger = logging.getLogger("covetpy.tasks")

_encoder = msgspec.msgpack.Encoder()
# A task's return value is encoded with the app's types in mind: what msgspec cannot encode
# is stored as its repr (a result is for reading, not for a second run).
_result_encoder = msgspec.msgpack.Encoder(enc_hook=repr)


class Worker:
    """Runs the tasks of `queues` from `tasks.broker`."""

    def __init__(self, tasks: Tasks, queues: list[str], concurrency: int) -> None:
        self.tasks = tasks
        self.broker = tasks.broker
        self.queues = queues
        self.concurrency = concurrency
        self.running: dict[asyncio.Task[None], Received] = {}
        self._slot = asyncio.Event()
        self._idle = asyncio.Event()
        self._idle.set()
        self._stopping = False
        self._fetching: list[asyncio.Task[None]] = []
        self._maintaining: asyncio.Task[None] | None = None
        self._outage_logged = False
        self._wake = asyncio.Event()
        """Set when this worker scheduled a retry: the upkeep loop looks at the delayed runs
        again at once (it otherwise sleeps up to a second, and a 10 ms backoff would last
        that long)."""

    async def start(self) -> None:
        await self.broker.prepare(self.queues)
        loop = asyncio.get_running_loop()
        self._fetching = [loop.create_task(self._fetch_loop(), name="covetpy-tasks-fetch")]
        for p in self.tasks.periodics:
            if p.task.options.queue in self.queues:
                self._fetching.append(
                    loop.create_task(self._schedule_loop(p), name=f"covetpy-periodic-{p.task.name}")
                )
        self._maintaining = loop.create_task(self._maintain_loop(), name="covetpy-tasks-maintain")

    # -- taking messages ------------------------------------------------------------------

    async def _fetch_loop(self) -> None:
        pause = 0.1
        while not self._stopping:
            free = self.concurrency - len(self.running)
            if free <= 0:
                self._slot.clear()
                await self._slot.wait()
                continue
            try:
                items = await self.broker.fetch(self.queues, free, 1.0)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                self._outage(exc)
                await asyncio.sleep(pause)
                pause = min(pause * 2, 5.0)
                continue
            pause = 0.1
            if self._outage_logged:
                self._outage_logged = False
                logger.info("tasks: the broker answers again")
            for item in items:
                self._spawn(item)

    def _outage(self, exc: BaseException) -> None:
        if not self._outage_logged:
            self._outage_logged = True
            logger.warning("tasks: the broker does not answer (%r); retrying", exc)

    def _spawn(self, item: Received) -> None:
        t = asyncio.get_running_loop().create_task(self._run(item))
        self.running[t] = item
        self._idle.clear()
        t.add_done_callback(self._done)

    def _done(self, t: asyncio.Task[None]) -> None:
        self.running.pop(t, None)
        self._slot.set()
        if not self.running:
            self._idle.set()
        if not t.cancelled() and t.exception() is not None:
            logger.error("tasks: a run failed outside its task", exc_info=t.exception())

    # -- running one ----------------------------------------------------------------------

    async def _run(self, item: Received) -> None:
        try:
            msg = decode(item.data)
        except (msgspec.DecodeError, msgspec.ValidationError) as exc:
            await self._dead(item, None, "undecodable", f"undecodable message: {exc}")
            return
        task = self.tasks.registry.get(msg.task)
        if task is None:
            await self._dead(
                item,
                msg,
                "unknown_task",
                f"unknown task {msg.task!r}: not registered in this worker (a message from "
                "another version of the app?)",
            )
            return
        now = time.time()
        if msg.due > now + 0.001:  # a broker that stores delayed messages in the queue
            await self.broker.requeue(item, item.data, msg.due)
            return
        limit = task.options.retries + 1
        attempt = msg.attempt + item.deliveries - 1
        if item.deliveries > 1 and attempt > limit:
            await self._dead(
                item,
                msg,
                "lost",
                f"delivered {item.deliveries} times; the workers that took it stopped before "
                "finishing (killed, or unanswering past the visibility timeout)",
            )
            return
        try:
            kwargs = task.arguments.decode(msg.args)
        except (msgspec.DecodeError, msgspec.ValidationError) as exc:
            await self._dead(item, msg, "bad_arguments", f"bad arguments: {exc}")
            return
        metrics.started(task.name, now - max(msg.enqueued, msg.due))
        tokens = (
            context.request_id.set(msg.requestid),
            context.traceparent.set(msg.traceparent),
            context.attempt.set(attempt),
            running.set(msg),
        )
        try:
            with tracing.server_span(
                f"task {task.name}",
                traceparent=msg.traceparent,
                tracestate=msg.tracestate,
                kind="consumer",
                attributes={"covetpy.task": task.name, "covetpy.task.attempt": attempt},
            ):
                value = await self._call(task, kwargs)
        except NonRetryable as exc:
            metrics.finished(task.name, False)
            await self._dead(item, msg, "rejected", f"rejected: {exc!r}")
        except Exception as exc:
            metrics.finished(task.name, False)
            await self._failed(item, msg, task, attempt, exc)
        else:
            metrics.finished(task.name, True)
            result = None
            if task.options.result_ttl > 0:
                result = _encoder.encode(
                    Outcome(ok=True, value=msgspec.Raw(_result_encoder.encode(value)))
                )
            await self.broker.finish(item, result, msg.id, task.options.result_ttl)
        finally:
            running.reset(tokens[3])
            context.attempt.reset(tokens[2])
            context.traceparent.reset(tokens[1])
            context.request_id.reset(tokens[0])

    async def _call(self, task: Task[Any, Any], kwargs: dict[str, Any]) -> Any:
        timeout = task.options.timeout
        if task.is_async:
            if timeout is None:
                return await task.fn(**kwargs)
            async with asyncio.timeout(timeout):
                return await task.fn(**kwargs)
        # A sync task runs in the thread pool with this context (the request id in its logs);
        # its timeout stops the wait, not the thread (Python cannot stop a thread).
        ctx = contextvars.copy_context()
        fut = asyncio.get_running_loop().run_in_executor(
            self.tasks.executor(), functools.partial(ctx.run, task.fn, **kwargs)
        )
        if timeout is None:
            return await fut
        async with asyncio.timeout(timeout):
            return await fut

    async def _failed(
        self, item: Received, msg: Message, task: Task[Any, Any], attempt: int, exc: Exception
    ) -> None:
        what = (
            f"timed out after {task.options.timeout}s"
            if isinstance(exc, TimeoutError)
            else repr(exc)
        )
        limit = task.options.retries + 1
        if attempt < limit:
            delay = task.options.backoff.delay(attempt)
            logger.warning(
                "task %s %s failed on run %d of %d (%s); retrying in %.2fs",
                task.name, msg.id, attempt, limit, what, delay,
            )  # fmt: skip
            msgspec_msg = msgspec.structs.replace(msg, attempt=attempt + 1, due=time.time() + delay)
            await self.broker.requeue(item, encode(msgspec_msg), msgspec_msg.due)
            self._wake.set()
            metrics.retried(task.name)
            return
        logger.error(
            "task %s %s failed on run %d of %d; keeping it as a dead letter",
            task.name, msg.id, attempt, limit,
            exc_info=exc,
        )  # fmt: skip
        await self._dead(item, msg, "failed", f"failed {attempt} time(s); last: {what}")

    async def _dead(self, item: Received, msg: Message | None, kind: str, reason: str) -> None:
        name = msg.task if msg is not None else "?"
        if kind != "failed":
            logger.error("task %s %s: dead letter: %s", name, msg.id if msg else "?", reason)
        data = encode(msgspec.structs.replace(msg, reason=reason)) if msg is not None else item.data
        await self.broker.dead(item, data, item.queue, reason)
        metrics.dead_lettered(name, kind)
        task = self.tasks.registry.get(name)
        if msg is not None and task is not None and task.options.result_ttl > 0:
            failure = _encoder.encode(Outcome(ok=False, error=reason))
            await self.broker.store(msg.id, failure, task.options.result_ttl)

    # -- upkeep ---------------------------------------------------------------------------

    async def _maintain_loop(self) -> None:
        visibility = getattr(self.broker, "visibility", 30.0)
        next_keep = next_reclaim = time.monotonic()
        while True:
            wait = 1.0
            try:
                wait = await self.broker.promote()
                now = time.monotonic()
                if now >= next_keep and self.running:
                    await self.broker.keep_alive(list(self.running.values()))
                    next_keep = now + visibility / 3
                if now >= next_reclaim and not self._stopping:
                    next_reclaim = now + visibility / 2
                    free = self.concurrency - len(self.running)
                    if free > 0:
                        for item in await self.broker.reclaim(self.queues, free):
                            self._spawn(item)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                self._outage(exc)
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), max(0.002, min(wait, 1.0)))

    async def _schedule_loop(self, p: Periodic) -> None:
        after = time.time()
        period = p.period
        while True:
            tick = p.schedule.next(after)
            await asyncio.sleep(max(0.0, tick - time.time()))
            after = tick
            late = time.time() - tick
            # A scheduler that woke a little late (a busy or starting process: seconds, on a
            # loaded machine) still enqueues its tick; one that slept through a period (and at
            # least 5 s, a suspended host) skips it rather than run a stale tick.
            if late > max(min(period, 60.0), 5.0):
                logger.warning(
                    "periodic %s: tick %.3f skipped, %.1fs late", p.task.name, tick, late
                )
                continue
            try:
                await p.task.enqueue(_key=f"periodic:{p.task.name}:{round(tick * 1000)}")
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                logger.error("periodic %s: enqueuing the tick failed: %r", p.task.name, exc)

    # -- stopping -------------------------------------------------------------------------

    async def drain(self, grace: float) -> None:
        """Stops fetching, waits up to `grace` seconds for the running tasks, cancels the rest
        and gives their messages back."""
        self._stopping = True
        for t in self._fetching:
            t.cancel()
        await asyncio.gather(*self._fetching, return_exceptions=True)
        if self.running and grace > 0:
            try:
                await asyncio.wait_for(self._idle.wait(), grace)
            except TimeoutError:
                pass
        left = dict(self.running)
        for t in left:
            t.cancel()
        if left:
            await asyncio.gather(*left, return_exceptions=True)
            back = [item for t, item in left.items() if t.cancelled()]
            if back:
                logger.warning(
                    "tasks: %d run(s) unfinished at the drain deadline; given back", len(back)
                )
                try:
                    await self.broker.release(back)
                except Exception as exc:
                    logger.error("tasks: giving back %d run(s) failed (%r); they are redelivered "
                                 "after the visibility timeout", len(back), exc)  # fmt: skip
        if self._maintaining is not None:
            self._maintaining.cancel()
            await asyncio.gather(self._maintaining, return_exceptions=True)
