"""`redis://host:port/db?prefix=covetpy:tasks&visibility=30`: tasks on Redis Streams (Redis 7).

Layout, under the prefix `P`:
- `P:q:<queue>`, `P:q:<queue>:high`, `P:q:<queue>:low`: a stream per queue and priority, each
  entry `{m: the message}`, read by the consumer group `workers`; every worker process is a
  consumer of it (`<host>-<pid>-<random>`). A fetch takes the high stream first, then the
  normal, then the low (one script). A finished entry is XACKed and XDELed, so a stream holds
  only what is waiting or running: `XLEN` minus the group's pending count is the queue's depth,
  and nothing is ever trimmed away.
- `P:delayed` (sorted set of task ids by due time) and `P:delayed:m` (hash: id -> stream and
  message): delayed runs and retries waiting for their backoff; any worker moves the due ones
  to their stream (one script: no run is moved twice).
- `P:key:<key>`: idempotency keys (SET NX with the task's `key_ttl`, in the enqueue script).
- `P:r:<id>`: results (msgpack, with the task's `result_ttl`).
- `P:dead:<queue>`: dead letters (a stream of `{m, r: reason, i: task id}`, capped near 100,000).

At-least-once: an entry stays in the group's pending list from the fetch until its ack; a
worker refreshes its running entries' idle time every third of `visibility` seconds, and any
worker takes over (XAUTOCLAIM) entries idle longer than `visibility` (their worker died). A
run is thus repeated only when its worker died or stopped answering for `visibility` seconds.

Throughput: enqueues of one loop turn go in one pipeline (plain XADDs when they have no key
and no delay), and the acks of one loop turn in another (XACK and XDEL of many ids at once), so
a busy worker pays a round trip per batch, not per task.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import socket
import time
from collections import defaultdict
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from covetpy.exceptions import ConfigError, require
from covetpy.tasks.backends import redis_scripts as lua
from covetpy.tasks.backends.base import (
    PRIORITIES,
    DeadLetter,
    Enqueued,
    Outgoing,
    QueueStats,
    Received,
)
from covetpy.tasks.backends.batch import Batcher
from covetpy.tasks.backends.resp import Resp, RespError, Script
from covetpy.tasks.message import decode

__all__ = ["RedisBroker"]

GROUP = "workers"
_SUFFIX = {1: ":high", 0: "", -1: ":low"}


def _text(v: bytes | str) -> str:
    return v.decode() if isinstance(v, bytes) else v


class RedisBroker:
    """A task broker on one Redis server."""

    def __init__(self, url: str) -> None:
        require("tasks on Redis", "tasks", "redis", "hiredis")
        import redis.asyncio as aioredis

        self.url = url
        parts = urlsplit(url)
        query = dict(parse_qsl(parts.query))
        self.prefix = query.pop("prefix", "covetpy:tasks")
        try:
            self.visibility = float(query.pop("visibility", "30"))
        except ValueError:
            raise ConfigError(f"tasks: visibility must be seconds, in {url!r}") from None
        if self.visibility <= 0:
            raise ConfigError(f"tasks: visibility must be more than 0 seconds, in {url!r}")
        self._client_url = urlunsplit(parts._replace(query=urlencode(query)))
        self._r: Any = aioredis.Redis.from_url(self._client_url, decode_responses=False)
        self.consumer = f"{socket.gethostname()}-{os.getpid()}-{secrets.token_hex(3)}"
        self._scripts = {
            name: self._r.register_script(getattr(lua, name))
            for name in (
                "ENQUEUE",
                "ENQUEUE_MANY",
                "FETCH",
                "REQUEUE",
                "RELEASE",
                "DEAD",
                "PROMOTE",
                "CANCEL",
                "KEEP_ALIVE",
            )
        }
        # The hot path (enqueue, fetch, ack) on connections of our own (`resp.py`: a round
        # trip costs ~7.5 us of CPU there, ~106 us through redis-py); redis-py for the rest.
        self._fast = Resp(self._client_url)
        self._blocking = Resp(self._client_url)
        self._enqueue_one = self._fast.register(Script(lua.ENQUEUE))
        self._enqueue_many = self._fast.register(Script(lua.ENQUEUE_MANY))
        self._fetch = self._fast.register(Script(lua.FETCH))
        self._backlog = True
        self._enqueue: Batcher[Outgoing, Enqueued] = Batcher(self._enqueue_batch)
        self._finish: Batcher[Any, None] = Batcher(self._finish_batch)
        self._prepared: set[bytes] = set()
        self._delayed = f"{self.prefix}:delayed"
        self._delayed_m = f"{self.prefix}:delayed:m"

    def stream(self, queue: str, priority: int) -> str:
        return f"{self.prefix}:q:{queue}{_SUFFIX[priority]}"

    def _streams(self, queues: list[str]) -> list[str]:
        """Every stream of `queues`, highest priority first."""
        return [self.stream(q, p) for p in PRIORITIES for q in queues]

    async def connect(self) -> None:
        await self._fast.call("PING")

    async def close(self) -> None:
        await self._forget_consumer()
        self._fast.close()
        self._blocking.close()
        await self._r.aclose()

    async def _forget_consumer(self) -> None:
        """Removes this consumer from the groups it joined, where it holds nothing (removing
        one that holds entries would lose them: those are left for XAUTOCLAIM)."""
        for key in self._prepared:
            try:
                mine = await self._r.xpending_range(
                    key, GROUP, "-", "+", 1, consumername=self.consumer
                )
                if not mine:
                    await self._r.xgroup_delconsumer(key, GROUP, self.consumer)
            except Exception:  # closing: a broker that went away keeps a stale name, no harm
                pass

    # -- enqueue --------------------------------------------------------------------------

    async def enqueue(self, out: Outgoing) -> Enqueued:
        return await self._enqueue(out)

    async def _enqueue_batch(self, outs: list[Outgoing]) -> list[Enqueued | Exception]:
        plain: dict[str, list[int]] = defaultdict(list)  # stream -> indexes in outs
        commands: list[tuple[Any, ...]] = []
        steps: list[tuple[str, Any]] = []  # what each reply answers
        for i, o in enumerate(outs):
            stream = self.stream(o.queue, o.priority)
            if o.key is None and o.due <= 0:
                plain[stream].append(i)
                continue
            key_ttl = max(1, int(o.key_ttl * 1000)) if o.key is not None else 0
            key = f"{self.prefix}:key:{o.key}" if o.key else stream
            due = int(o.due * 1000) if o.due > 0 else 0
            commands.append(
                self._enqueue_one.call(
                    [stream, key, self._delayed, self._delayed_m], [o.data, o.id, key_ttl, due]
                )
            )
            steps.append(("one", i))
        for stream, indexes in plain.items():
            commands.append(self._enqueue_many.call([stream], [outs[i].data for i in indexes]))
            steps.append((stream, indexes))
        replies = await self._fast.execute(commands)
        results: list[Enqueued | Exception] = [ConnectionError("no reply")] * len(outs)
        for (what, where), reply in zip(steps, replies, strict=True):
            if what == "one":
                o = outs[where]
                if isinstance(reply, Exception):
                    results[where] = reply
                    continue
                stored, value = reply
                if stored:
                    ref = f"{self.stream(o.queue, o.priority)} {_text(value)}" if value else None
                    results[where] = Enqueued(o.id, ref=ref)
                else:
                    results[where] = Enqueued(_text(value), duplicate=True)
                continue
            for n, i in enumerate(where):
                if isinstance(reply, Exception):
                    results[i] = reply
                else:
                    results[i] = Enqueued(outs[i].id, ref=f"{what} {_text(reply[n])}")
        return results

    # -- consuming ------------------------------------------------------------------------

    async def prepare(self, queues: list[str]) -> None:
        from redis.exceptions import ResponseError

        for key in self._streams(queues):
            try:
                # From 0: entries enqueued before any worker existed are taken too.
                await self._r.xgroup_create(key, GROUP, id="0", mkstream=True)
            except ResponseError as exc:
                if "BUSYGROUP" not in str(exc):
                    raise
            self._prepared.add(key.encode())

    async def fetch(self, queues: list[str], count: int, wait: float) -> list[Received]:
        streams = self._streams(queues)
        if self._backlog:
            # Work was waiting last time: take exactly `count`, highest priority first.
            flat = await self._fast.call(*self._fetch.call(streams, [GROUP, self.consumer, count]))
            self._backlog = len(flat) // 3 >= count
            if flat:
                return [
                    Received(
                        *_queue_of(streams[int(flat[i]) - 1], self.prefix),
                        flat[i + 2],
                        (streams[int(flat[i]) - 1], flat[i + 1]),
                    )
                    for i in range(0, len(flat), 3)
                ]
        # Little or nothing waiting: one blocking read over every stream, returning as soon as
        # anything arrives (at most `count` in all: an equal share per stream). One round trip
        # per arrival, where a fetch script then a blocking read would be two.
        share = max(1, count // len(streams))
        command = ("XREADGROUP", "GROUP", GROUP, self.consumer, "COUNT", share,
                   "BLOCK", max(1, int(wait * 1000)), "STREAMS", *streams,
                   *(">" for _ in streams))  # fmt: skip
        try:
            reply = await self._blocking.call(*command)
        except asyncio.CancelledError:
            # Redis may still answer this read; the next one starts on a new connection (what
            # it would have delivered is pending for this consumer: reclaimed after
            # `visibility`).
            self._blocking.close()
            raise
        out: list[Received] = []
        for key, entries in reply or ():
            name = _text(key)
            q, prio = _queue_of(name, self.prefix)
            if len(entries) >= share:
                self._backlog = True
            for entry_id, fields in entries:
                out.append(Received(q, prio, fields[1], (name, entry_id)))
        out.sort(key=lambda r: -r.priority)
        return out

    async def finish(
        self, item: Received, result: bytes | None, result_id: str, ttl: float
    ) -> None:
        await self._finish((item.ref, result, result_id, ttl))

    async def _finish_batch(
        self, batch: list[tuple[Any, bytes | None, str, float]]
    ) -> list[Exception | None]:
        by_stream: dict[str, list[Any]] = defaultdict(list)
        commands: list[tuple[Any, ...]] = []
        for (stream, entry_id), result, result_id, ttl in batch:
            by_stream[stream].append(entry_id)
            if result is not None:
                key = f"{self.prefix}:r:{result_id}"
                commands.append(("SET", key, result, "PX", max(1, int(ttl * 1000))))
        for stream, ids in by_stream.items():
            commands.append(("XACK", stream, GROUP, *ids))
            commands.append(("XDEL", stream, *ids))
        for reply in await self._fast.execute(commands):
            if isinstance(reply, RespError):
                raise reply
        return [None] * len(batch)

    async def store(self, task_id: str, result: bytes, ttl: float) -> None:
        await self._r.set(f"{self.prefix}:r:{task_id}", result, px=max(1, int(ttl * 1000)))

    async def requeue(self, item: Received, data: bytes, due: float) -> None:
        stream, entry_id = item.ref
        await self._scripts["REQUEUE"](
            keys=[stream, self._delayed, self._delayed_m],
            args=[GROUP, entry_id, decode(data).id, int(due * 1000), data],
        )

    async def release(self, items: list[Received]) -> None:
        pipe = self._r.pipeline(transaction=False)
        for item in items:
            stream, entry_id = item.ref
            await self._scripts["RELEASE"](
                keys=[stream], args=[GROUP, entry_id, item.data], client=pipe
            )
        await pipe.execute()

    async def dead(self, item: Received | None, data: bytes, queue: str, reason: str) -> None:
        stream, entry_id = item.ref if item is not None else ("", b"")
        try:
            task_id = decode(data).id
        except Exception:
            task_id = _text(entry_id) or "?"
        await self._scripts["DEAD"](
            keys=[stream or f"{self.prefix}:dead:{queue}", f"{self.prefix}:dead:{queue}"],
            args=[GROUP, entry_id, data, reason, task_id],
        )

    async def keep_alive(self, items: list[Received]) -> None:
        by_stream: dict[str, list[Any]] = defaultdict(list)
        for item in items:
            by_stream[item.ref[0]].append(item.ref[1])
        pipe = self._r.pipeline(transaction=False)
        for stream, ids in by_stream.items():
            await self._scripts["KEEP_ALIVE"](
                keys=[stream], args=[GROUP, self.consumer, *ids], client=pipe
            )
        await pipe.execute()

    async def reclaim(self, queues: list[str], count: int) -> list[Received]:
        out: list[Received] = []
        idle = int(self.visibility * 1000)
        for stream in self._streams(queues):
            if len(out) >= count:
                break
            reply = await self._r.xautoclaim(
                stream, GROUP, self.consumer, idle, "0-0", count=count - len(out)
            )
            entries = reply[1] if len(reply) > 1 else []
            gone = reply[2] if len(reply) > 2 else []
            if gone:  # deleted while pending (cancelled): nothing to run
                await self._r.xack(stream, GROUP, *gone)
            q, prio = _queue_of(stream, self.prefix)
            for entry_id, fields in entries:
                if not fields:
                    continue
                info = await self._r.xpending_range(stream, GROUP, entry_id, entry_id, 1)
                deliveries = int(info[0]["times_delivered"]) if info else 2
                out.append(Received(q, prio, fields[b"m"], (stream, entry_id), max(2, deliveries)))
        return out

    async def promote(self) -> float:
        now_ms = int(time.time() * 1000)
        moved, nxt = await self._scripts["PROMOTE"](
            keys=[self._delayed, self._delayed_m], args=[now_ms, 500]
        )
        if int(moved) >= 500:
            return 0.0
        if not nxt:
            return 1.0
        return max(0.0, min(1.0, (float(nxt) - now_ms) / 1000))

    async def result(self, task_id: str) -> bytes | None:
        value: bytes | None = await self._r.get(f"{self.prefix}:r:{task_id}")
        return value

    async def cancel(self, task_id: str, ref: str | None) -> bool:
        stream, _, entry_id = (ref or "").partition(" ")
        removed = await self._scripts["CANCEL"](
            keys=[self._delayed, self._delayed_m, stream or self._delayed],
            args=[task_id, GROUP, entry_id],
        )
        return bool(removed)

    # -- inspection (covetpy tasks) -------------------------------------------------------

    async def _queues(self) -> list[str]:
        names: set[str] = set()
        async for key in self._r.scan_iter(match=f"{self.prefix}:q:*", count=1000):
            names.add(_queue_of(_text(key), self.prefix)[0])
        async for key in self._r.scan_iter(match=f"{self.prefix}:dead:*", count=1000):
            names.add(_text(key)[len(self.prefix) + 6 :])
        return sorted(names)

    async def stats(self, queues: list[str] | None) -> list[QueueStats]:
        from redis.exceptions import ResponseError

        names = queues or await self._queues()
        delayed: dict[str, int] = defaultdict(int)
        async for _, value in self._r.hscan_iter(self._delayed_m, count=1000):
            stream = value.split(b"\n", 1)[0].decode()
            delayed[_queue_of(stream, self.prefix)[0]] += 1
        out = []
        for q in names:
            ready = running = 0
            for p in PRIORITIES:
                key = self.stream(q, p)
                length = await self._r.xlen(key)
                try:
                    pending = (await self._r.xpending(key, GROUP))["pending"]
                except ResponseError:  # no group yet: no worker ever read it
                    pending = 0
                ready += length - pending
                running += pending
            dead = await self._r.xlen(f"{self.prefix}:dead:{q}")
            out.append(QueueStats(q, ready, running, delayed.get(q, 0), dead))
        return out

    async def dead_letters(self, queue: str | None, limit: int) -> list[DeadLetter]:
        out: list[DeadLetter] = []
        for q in [queue] if queue else await self._queues():
            for entry_id, fields in await self._r.xrange(
                f"{self.prefix}:dead:{q}", count=limit - len(out)
            ):
                out.append(
                    DeadLetter(
                        _text(fields[b"i"]), fields[b"m"], _text(fields[b"r"]), (q, entry_id)
                    )
                )
            if len(out) >= limit:
                break
        return out

    async def drop_dead(self, task_id: str) -> DeadLetter | None:
        for d in await self.dead_letters(None, 100000):
            if d.id == task_id:
                q, entry_id = d.ref
                await self._r.xdel(f"{self.prefix}:dead:{q}", entry_id)
                return d
        return None


def _queue_of(stream: str, prefix: str) -> tuple[str, int]:
    """(queue, priority) of a stream key."""
    name = stream[len(prefix) + 3 :]
    if name.endswith(":high"):
        return name[:-5], 1
    if name.endswith(":low"):
        return name[:-4], -1
    return name, 0
