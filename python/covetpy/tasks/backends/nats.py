"""`nats://host:port?stream=COVETPY_TASKS&prefix=covetpy.tasks&visibility=30&key_ttl=86400&result_ttl=3600`:
tasks on NATS JetStream (nats-server 2.9 or later; nats-py).

Layout, for the stream `S` and the subject prefix `P` of the URL:
- `S` (file storage, work-queue retention: a message is removed when it is acked) on `P.q.>`:
  a run of queue `emails` is a message on `P.q.emails.high`, `.normal` or `.low`, read by the
  durable pull consumer `w_emails_high` (`_normal`, `_low`) that every worker shares: explicit
  acks, `ack_wait = visibility`, no delivery limit (the worker decides from the delivery count).
- `S_DELAYED` (work queue) on `P.d.<queue>.<priority>`: delayed runs and retries waiting for
  their backoff, read by the consumer `scheduler` (`nats_delayed.py`): a delayed run starts
  within about 50 ms of its time (plus the worker's turn, at most a second, when it is the
  first one due).
- KV buckets `S_KEYS` (idempotency keys: the sha256 of the key -> the first task id),
  `S_RESULTS` (results) and `S_CANCELS` (markers of cancelled delayed runs, a day).
- `S_DEAD` (limits retention, the newest 100,000) on `P.dead.<queue>`: dead letters, with the
  headers `Covetpy-Reason` and `Covetpy-Task-Id`.

TTLs: JetStream 2.9 has no per-message TTL, so the buckets expire their entries after the
URL's `key_ttl` and `result_ttl` (seconds, for every task): a task's own `key_ttl` and
`result_ttl` are not honoured on NATS (`result_ttl=0`, keeping none, is).

At-least-once: an enqueue returns once the stream stored the message (file storage, synced
to disk every 2 minutes, the server's `sync_interval`: a SIGKILLed server lost none of 15,000
acked enqueues over 5 kills here; a machine that loses power may lose the last ones). A
message is acked after its run; a running one gets an in-progress (`+WPI`) every third of
`visibility`, and one held by a worker that died is handed out again `visibility` seconds
after its last sign of life, with a delivery count above 1.

Fetching (`nats_pull.py`): a no-wait pull request per consumer, highest priority first, for
what is left of `count`, so a worker holds only messages it runs. When every consumer is empty
the worker subscribes (core NATS) to its queues' subjects and waits for a publish: no pull
request waits on the server, to deliver later to a worker that stopped waiting.

Throughput: acks and in-progress are fire-and-forget publishes (no round trip); enqueues are
publishes awaiting their stream ack, concurrent on one connection (`nats_publish.py`: 28 µs
of client CPU each instead of nats-py's `js.publish` 48 µs). Measured with benches/tasks.py
(1 KiB task, one worker of concurrency 64): see the lead's benches/results/tasks-*.json.

Cancelling: a queued run is deleted if its consumer has not delivered it yet, a delayed one is
deleted and marked cancelled (in case a worker is moving it at that moment). A run waiting
for its retry's backoff cannot be cancelled here (the handle knows where its first run went).
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
from urllib.parse import parse_qsl, urlsplit, urlunsplit

from covetpy.exceptions import ConfigError, require
from covetpy.tasks.backends import nats_inspect
from covetpy.tasks.backends.base import (
    PRIORITIES,
    DeadLetter,
    Enqueued,
    Outgoing,
    QueueStats,
    Received,
)
from covetpy.tasks.backends.nats_delayed import CONSUMER as SCHEDULER
from covetpy.tasks.backends.nats_delayed import Scheduler
from covetpy.tasks.backends.nats_layout import ensure_bucket, ensure_stream
from covetpy.tasks.backends.nats_publish import Publisher
from covetpy.tasks.backends.nats_pull import REPLY_TIMEOUT, NatsUnavailable, NoConsumer, Pull, ack
from covetpy.tasks.backends.nats_watch import Watch
from covetpy.tasks.errors import TaskError
from covetpy.tasks.message import decode

try:
    import nats
    import nats.errors
    import nats.js.errors
    from nats.aio.client import Client
    from nats.js import JetStreamContext
    from nats.js.api import (
        AckPolicy,
        ConsumerConfig,
        DeliverPolicy,
        RetentionPolicy,
    )
    from nats.js.kv import KeyValue
except ImportError:  # without the tasks extra the module imports; NatsBroker() names it
    pass

__all__ = ["NatsBroker"]

logger = logging.getLogger("covetpy.tasks")

_LEVEL = {1: "high", 0: "normal", -1: "low"}
_PRIORITY = {v: k for k, v in _LEVEL.items()}
MAX_ACK_PENDING = 20_000
"""Runs a queue's priority may have in workers' hands at once, across all workers."""
BACKLOG = 256
"""Messages left in a consumer past which a worker stops watching the publishes."""
DEAD_MAX = 100_000
CANCEL_TTL = 86_400.0


def _seconds(query: dict[str, str], name: str, default: float, url: str) -> float:
    try:
        value = float(query.get(name, default))
    except ValueError:
        raise ConfigError(f"tasks: {name} must be seconds, in {url!r}") from None
    if value <= 0:
        raise ConfigError(f"tasks: {name} must be more than 0 seconds, in {url!r}")
    return value


class NatsBroker:
    """A task broker on NATS JetStream (see the module docstring)."""

    def __init__(self, url: str) -> None:
        require("tasks on NATS", "tasks", "nats.js")
        self.url = url
        parts = urlsplit(url)
        query = dict(parse_qsl(parts.query))
        self.stream = query.get("stream", "COVETPY_TASKS")
        self.prefix = query.get("prefix", "covetpy.tasks")
        self.visibility = _seconds(query, "visibility", 30.0, url)
        self.key_ttl = _seconds(query, "key_ttl", 86400.0, url)
        self.result_ttl = _seconds(query, "result_ttl", 3600.0, url)
        self.delayed_stream = f"{self.stream}_DELAYED"
        self.dead_stream = f"{self.stream}_DEAD"
        self.server = urlunsplit(parts._replace(query=""))
        self._nc: Client | None = None
        self._js: JetStreamContext | None = None
        self._kv: dict[str, KeyValue] = {}
        self._pulls: dict[tuple[str, int], Pull] = {}
        self._scheduler = Scheduler(self)
        self._publisher: Publisher | None = None
        self._watch: Watch | None = None

    # -- names ----------------------------------------------------------------------------

    def subject(self, queue: str, priority: int) -> str:
        return f"{self.prefix}.q.{queue}.{_LEVEL[priority]}"

    def delayed_subject(self, queue: str, priority: int) -> str:
        return f"{self.prefix}.d.{queue}.{_LEVEL[priority]}"

    @staticmethod
    def durable(queue: str, priority: int) -> str:
        return f"w_{queue}_{_LEVEL[priority]}"

    @property
    def js(self) -> JetStreamContext:
        if self._js is None:
            raise NatsUnavailable("tasks: the NATS broker is not connected")
        return self._js

    async def publish(
        self, subject: str, data: bytes, headers: dict[str, str] | None = None
    ) -> int:
        """Stores `data` on `subject`: its stream sequence, once the stream acked it."""
        if self._publisher is None:
            raise NatsUnavailable("tasks: the NATS broker is not connected")
        return await self._publisher.publish(subject, data, headers)

    def kv(self, name: str) -> KeyValue:
        """The bucket `S_<name>`: KEYS, RESULTS or CANCELS."""
        if not self._kv:
            raise NatsUnavailable("tasks: the NATS broker is not connected")
        return self._kv[name]

    @property
    def nc(self) -> Client:
        if self._nc is None:
            raise NatsUnavailable("tasks: the NATS broker is not connected")
        return self._nc

    # -- connection -----------------------------------------------------------------------

    async def connect(self) -> None:
        self._nc = await nats.connect(
            servers=[self.server],
            name="covetpy-tasks",
            connect_timeout=2,
            reconnect_time_wait=0.5,
            max_reconnect_attempts=-1,
        )
        self._js = self._nc.jetstream()
        try:
            self._publisher = Publisher(self._nc, 5.0)
            await self._publisher.start()
            await self._layout()
        except BaseException:
            await self.close()
            raise

    async def _layout(self) -> None:
        p = self.prefix
        await ensure_stream(self.js, self.stream, f"{p}.q.>", RetentionPolicy.WORK_QUEUE)
        await ensure_stream(self.js, self.delayed_stream, f"{p}.d.>", RetentionPolicy.WORK_QUEUE)
        await ensure_stream(
            self.js, self.dead_stream, f"{p}.dead.>", RetentionPolicy.LIMITS, max_msgs=DEAD_MAX
        )
        for suffix, ttl in (
            ("KEYS", self.key_ttl),
            ("RESULTS", self.result_ttl),
            ("CANCELS", CANCEL_TTL),
        ):
            self._kv[suffix] = await ensure_bucket(self.js, f"{self.stream}_{suffix}", ttl)

    async def close(self) -> None:
        await self._unwatch()
        pulls = list(self._pulls.values())
        self._pulls.clear()
        for pull in pulls:
            await pull.stop()
        await self._scheduler.stop()
        if self._publisher is not None:
            await self._publisher.stop()
            self._publisher = None
        nc, self._nc, self._js = self._nc, None, None
        if nc is not None:
            try:  # the acks still buffered go out first
                await nc.flush(2)
            except Exception as exc:
                logger.debug("tasks: flushing before close failed: %r", exc)
            await nc.close()

    # -- enqueue --------------------------------------------------------------------------

    async def enqueue(self, out: Outgoing) -> Enqueued:
        digest = None
        if out.key is not None:
            digest = hashlib.sha256(out.key.encode()).hexdigest()
            first = await self._claim(digest, out.id)
            if first is not None:
                return Enqueued(first, duplicate=True)
        try:
            if out.due > time.time():
                seq = await self.publish(self.delayed_subject(out.queue, out.priority), out.data)
                return Enqueued(out.id, ref=f"d {seq}")
            seq = await self.publish(self.subject(out.queue, out.priority), out.data)
            return Enqueued(out.id, ref=f"q {seq} {self.durable(out.queue, out.priority)}")
        except Exception:
            if digest is not None:  # nothing stored: a retry must not be taken for a duplicate
                try:
                    await self.kv("KEYS").delete(digest)
                except Exception as exc:
                    logger.warning("tasks: could not free the idempotency key %r: %r", out.key, exc)
            raise

    async def _claim(self, digest: str, task_id: str) -> str | None:
        """Stores `task_id` under the key, or returns the task id stored there first."""
        keys = self.kv("KEYS")
        for _ in range(3):
            try:
                await keys.create(digest, task_id.encode())
                return None
            except nats.js.errors.KeyWrongLastSequenceError:
                try:
                    return (await keys.get(digest)).value.decode()  # type: ignore[union-attr]
                except nats.js.errors.KeyNotFoundError:  # expired in between: try again
                    continue
        raise TaskError("tasks: the idempotency key keeps changing (expiring as it is read)")

    # -- consuming ------------------------------------------------------------------------

    async def prepare(self, queues: list[str]) -> None:
        for q in queues:
            for p in PRIORITIES:
                await self._consumer(q, p)

    async def _consumer(self, queue: str, priority: int) -> Pull:
        """Creates (or updates, when `visibility` changed) the consumer and its reader."""
        durable = self.durable(queue, priority)
        await self.js.add_consumer(
            self.stream,
            ConsumerConfig(
                durable_name=durable,
                filter_subject=self.subject(queue, priority),
                deliver_policy=DeliverPolicy.ALL,
                ack_policy=AckPolicy.EXPLICIT,
                ack_wait=self.visibility,
                max_deliver=-1,
                max_ack_pending=MAX_ACK_PENDING,
            ),
        )
        pull = self._pulls.get((queue, priority))
        if pull is None:
            pull = Pull(self.nc, self.stream, durable)
            await pull.start()
            self._pulls[(queue, priority)] = pull
        return pull

    async def fetch(self, queues: list[str], count: int, wait: float) -> list[Received]:
        every = [(q, p) for p in PRIORITIES for q in queues]
        watch = self._watch
        if watch is not None and watch.queues != queues:
            await self._unwatch()
            watch = None
        if watch is None:
            items = await self._take(every, count)
            if items or wait <= 0:
                return items
            # Nothing waiting: from now on the publishes say where to look (nats_watch.py).
            watch = self._watch = Watch(self.nc, self.prefix, queues, _PRIORITY)
            await watch.start(every, REPLY_TIMEOUT)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + wait
        while True:
            left = deadline - loop.time()
            # At the deadline, every consumer: one handed a message out again wakes nobody.
            items = await self._take(every if left <= 0 else watch.dirty(every), count, watch)
            if items:
                if items[-1].ref.metadata.num_pending >= BACKLOG:
                    await self._unwatch()  # busy: plain looks, no copy of every publish
                return items
            if left <= 0:
                return []
            await watch.wait(every, left)

    async def _unwatch(self) -> None:
        watch, self._watch = self._watch, None
        if watch is not None:
            await watch.stop()

    async def _take(
        self, pairs: list[tuple[str, int]], count: int, watch: Watch | None = None
    ) -> list[Received]:
        """Up to `count` messages from the consumers of `pairs` (queue, priority), in order;
        `watch` learns which answered with less than asked."""
        out: list[Received] = []
        try:
            for q, prio in pairs:
                left = count - len(out)
                if left <= 0:
                    return out
                pull = self._pulls.get((q, prio)) or await self._consumer(q, prio)
                mark = watch.mark((q, prio)) if watch is not None else 0
                try:
                    msgs = await pull.take(left)
                except NoConsumer:  # deleted by hand: made again
                    await self._consumer(q, prio)
                    msgs = await pull.take(left)
                except TimeoutError:
                    # nats-server 2.9 parks a no-wait request, unanswered, when it counts a
                    # message deleted since (`cancel`, a purge) as pending; reading the
                    # consumer's info recounts.
                    await self.js.consumer_info(self.stream, pull.consumer)
                    msgs = await pull.take(left)
                out.extend(Received(q, prio, m.data, m, m.metadata.num_delivered) for m in msgs)
                if watch is not None and len(msgs) < left:
                    watch.empty((q, prio), mark)
        except Exception:
            if not out:
                raise
            # These are delivered to this worker: run them (the error comes back next time).
            logger.debug("tasks: a fetch failed after %d messages", len(out), exc_info=True)
        return out

    async def finish(
        self, item: Received, result: bytes | None, result_id: str, ttl: float
    ) -> None:
        if result is not None:
            await self.kv("RESULTS").put(result_id, result)
        await ack(item.ref)

    async def store(self, task_id: str, result: bytes, ttl: float) -> None:
        await self.kv("RESULTS").put(task_id, result)

    async def result(self, task_id: str) -> bytes | None:
        try:
            entry = await self.kv("RESULTS").get(task_id)
        except nats.js.errors.KeyNotFoundError:
            return None
        return entry.value

    async def requeue(self, item: Received, data: bytes, due: float) -> None:
        if due > time.time():
            await self.publish(self.delayed_subject(item.queue, item.priority), data)
        else:
            await self.publish(self.subject(item.queue, item.priority), data)
        await ack(item.ref)

    async def release(self, items: list[Received]) -> None:
        # A copy at the end of its queue, then the ack: a nak would count a delivery, and
        # the next worker would take the run for one whose worker died.
        await asyncio.gather(
            *(self.publish(self.subject(i.queue, i.priority), i.data) for i in items)
        )
        for item in items:
            await ack(item.ref)

    async def dead(self, item: Received | None, data: bytes, queue: str, reason: str) -> None:
        try:
            task_id = decode(data).id
        except Exception:
            task_id = str(item.ref.metadata.sequence.stream) if item is not None else "?"
        headers = {"Covetpy-Reason": " ".join(reason.splitlines()), "Covetpy-Task-Id": task_id}
        await self.publish(f"{self.prefix}.dead.{queue}", data, headers=headers)
        if item is not None:
            await ack(item.ref)

    async def keep_alive(self, items: list[Received]) -> None:
        for item in items:
            await item.ref.in_progress()

    async def reclaim(self, queues: list[str], count: int) -> list[Received]:
        return []  # JetStream hands the messages of a dead worker out again through fetch

    # -- delayed runs ---------------------------------------------------------------------

    async def promote(self) -> float:
        return await self._scheduler.promote()

    async def cancel(self, task_id: str, ref: str | None) -> bool:
        kind, _, rest = (ref or "").partition(" ")
        if kind == "q":
            seq_text, _, durable = rest.partition(" ")
            seq = int(seq_text)
            try:
                info = await self.js.consumer_info(self.stream, durable)
                if info.delivered is not None and (info.delivered.stream_seq or 0) >= seq:
                    return False  # a worker took it
            except nats.js.errors.NotFoundError:
                pass  # no worker yet
            return await self._delete(self.stream, seq, durable)
        if kind == "d":
            # The marker first: a worker moving it right now drops it.
            await self.kv("CANCELS").put(task_id, b"1")
            if await self._delete(self.delayed_stream, int(rest), SCHEDULER):
                return True
            await self.kv("CANCELS").delete(task_id)  # moved already: its retries must run
        return False

    async def _delete(self, stream: str, seq: int, consumer: str | None = None) -> bool:
        try:
            await self.js.delete_msg(stream, seq)
        except nats.js.errors.NotFoundError:
            return False
        except nats.js.errors.APIError as exc:
            if exc.err_code in (10043, 10057):  # sequence not found, no message found
                return False
            raise
        if consumer is not None:
            # nats-server 2.9 keeps counting a deleted message as pending for the consumer
            # (and parks its no-wait requests unanswered) until its info is read.
            try:
                await self.js.consumer_info(stream, consumer)
            except nats.js.errors.NotFoundError:
                pass
        return True

    # -- inspection (covetpy tasks) -------------------------------------------------------

    async def stats(self, queues: list[str] | None) -> list[QueueStats]:
        return await nats_inspect.stats(self, queues)

    async def dead_letters(self, queue: str | None, limit: int) -> list[DeadLetter]:
        return await nats_inspect.dead_letters(self, queue, limit)

    async def drop_dead(self, task_id: str) -> DeadLetter | None:
        for d in await self.dead_letters(None, DEAD_MAX):
            if d.id == task_id:
                await self._delete(self.dead_stream, int(d.ref))
                return d
        return None

    def __repr__(self) -> str:
        return f"<NatsBroker {self.server} stream={self.stream}>"
