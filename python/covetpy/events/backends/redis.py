"""`redis://host:port/db`: Redis Streams (Redis 6.2 or later; redis-py's asyncio client).

Layout: one stream for the bus (`?stream=covetpy:events`), each entry `{t: topic, e: the
CloudEvents JSON}`. One stream keeps every topic in one order, so the events of one key
(`orders.created` then `orders.paid` for one order) reach a consumer in the order they were
published even when they have different topics; a subscription reads the whole stream and
skips, acking at once, the entries its pattern does not match. A service with heavy traffic
on unrelated topics gives them streams of their own with separate buses
(`redis://…?stream=billing`). The stream is capped near `?maxlen=1000000` entries
(`MAXLEN ~`), so a consumer group that falls that far behind loses the oldest events.

Consumer groups: one per subscription, named `<service>:<subscription>`; every process of a
service joins it as a consumer named `<host>-<pid>-<random>`, so each event goes to one of
them. An entry is XACKed after its handler succeeded (or after it was dead-lettered). A
failed one stays pending, held by this consumer until its backoff has passed, then is
XCLAIMed again, which counts one more delivery. Entries whose consumer stopped answering
(no ack and no keep-alive for `redeliver_after`) are taken over with XAUTOCLAIM by any live
consumer of the group. Delivery counts come from XPENDING.

Publishing runs one script: `SET <stream>:dedup:<event id> NX PX <window>` then XADD, so an
event published twice with the same id within `?dedup_window=120` seconds is stored once
(the counterpart of JetStream's `Nats-Msg-Id`; `dedup_window=0` turns it off and saves one
key per event).
"""

from __future__ import annotations

import heapq
import logging
import os
import secrets
import socket
import time
from collections.abc import AsyncIterator, Iterable
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from covetpy.exceptions import require

try:
    import redis.asyncio as aioredis
    from redis.exceptions import ConnectionError as RedisConnectionError
    from redis.exceptions import ResponseError
    from redis.exceptions import TimeoutError as RedisTimeoutError
except ImportError:  # without the events extra the module imports; RedisBackend() names it
    pass

from covetpy.events.backends.base import (
    Backend,
    Consumer,
    ConsumerSpec,
    Delivery,
    Published,
    Record,
)
from covetpy.events.backends.coalesce import Coalescer
from covetpy.events.topics import matches

__all__ = ["RedisBackend"]

logger = logging.getLogger("covetpy.events")

_PUBLISH = """
local id
if tonumber(ARGV[1]) > 0 then
  if not redis.call('SET', KEYS[2], '', 'NX', 'PX', ARGV[1]) then
    return {0, redis.call('GET', KEYS[2])}
  end
end
if tonumber(ARGV[2]) > 0 then
  id = redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[2], '*', 't', ARGV[3], 'e', ARGV[4])
else
  id = redis.call('XADD', KEYS[1], '*', 't', ARGV[3], 'e', ARGV[4])
end
if tonumber(ARGV[1]) > 0 then
  redis.call('SET', KEYS[2], id, 'XX', 'KEEPTTL')
end
return {1, id}
"""

# Resets the idle time of the entries this consumer still owns (XCLAIM ... JUSTID does not
# count a delivery); an entry another consumer has taken over meanwhile is left to it.
_KEEP_ALIVE = """
local kept = 0
for i = 3, #ARGV do
  local p = redis.call('XPENDING', KEYS[1], ARGV[1], ARGV[i], ARGV[i], 1)
  if p[1] and p[1][2] == ARGV[2] then
    redis.call('XCLAIM', KEYS[1], ARGV[1], ARGV[2], 0, ARGV[i], 'JUSTID')
    kept = kept + 1
  end
end
return kept
"""

_OPTIONS = ("stream", "maxlen", "dedup_window")


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def _before(position: str) -> str:
    """The stream id just before `position`, for an inclusive start."""
    ms, _, seq = position.partition("-")
    if seq and int(seq) > 0:
        return f"{ms}-{int(seq) - 1}"
    if int(ms) == 0:
        return "0"
    return f"{int(ms) - 1}-18446744073709551615"


def _entries(response: Any) -> list[tuple[Any, Any]]:
    """XREADGROUP's entries, whichever shape redis-py returns (list of [stream, entries] or
    a dict of stream -> entries)."""
    if not response:
        return []
    pairs = response.items() if isinstance(response, dict) else response
    out: list[tuple[Any, Any]] = []
    for _, entries in pairs:
        out.extend(entries)
    return out


class _RedisDelivery(Delivery):
    __slots__ = ("_consumer", "id")

    def __init__(
        self, consumer: _RedisConsumer, entry_id: bytes, topic: str, body: bytes, attempt: int
    ) -> None:
        super().__init__(topic, body, _text(entry_id), attempt)
        self._consumer = consumer
        self.id = entry_id

    async def ack(self) -> None:
        await self._consumer.ack(self.id)

    async def retry(self, delay: float) -> None:
        self._consumer.retry_later(self.id, delay)


class _RedisConsumer(Consumer):
    def __init__(self, backend: RedisBackend, spec: ConsumerSpec) -> None:
        # redis-py's annotations describe every response shape at once: read them as Any.
        self._r: Any = backend.client
        self._keep_alive_script = backend.keep_alive_script
        self._stream = backend.stream
        self._spec = spec
        self._group = spec.group
        self.name = f"{socket.gethostname()}-{os.getpid()}-{secrets.token_hex(3)}"
        self._min_idle_ms = max(1, int(spec.redeliver_after * 1000))
        self._claim_every = max(0.05, spec.redeliver_after / 2)
        self._next_claim = 0.0
        self._claim_cursor: bytes | str = "0-0"
        self._retries: list[tuple[float, bytes]] = []  # (due, entry id), a heap
        self._held: set[bytes] = set()  # delivered here, not acked yet
        # The acks of handlers that finish in one loop turn go in one XACK.
        self._acks: Coalescer[bytes, None] = Coalescer(self._send_acks)

    async def create_group(self) -> None:
        start = {"new": "$", "all": "0"}.get(self._spec.start) or _before(self._spec.start)
        try:
            await self._r.xgroup_create(self._stream, self._group, id=start, mkstream=True)
        except ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise

    async def ack(self, entry_id: bytes) -> None:
        self._held.discard(entry_id)
        await self._acks(entry_id)

    async def _send_acks(self, ids: list[bytes]) -> list[None]:
        await self._r.xack(self._stream, self._group, *ids)
        return [None] * len(ids)

    def retry_later(self, entry_id: bytes, delay: float) -> None:
        heapq.heappush(self._retries, (time.monotonic() + delay, entry_id))

    async def fetch(self, max_count: int, timeout: float) -> list[Delivery]:
        try:
            return await self._fetch(max_count, timeout)
        except ResponseError as exc:
            if "NOGROUP" not in str(exc):
                raise
            logger.warning("consumer group %s was gone; creating it again", self._group)
            await self.create_group()
            return []

    async def _fetch(self, max_count: int, timeout: float) -> list[Delivery]:
        now = time.monotonic()
        out: list[Delivery] = []
        due: list[bytes] = []
        while self._retries and self._retries[0][0] <= now and len(due) < max_count:
            due.append(heapq.heappop(self._retries)[1])
        if due:
            try:
                claimed = await self._r.xclaim(self._stream, self._group, self.name, 0, due)
            except BaseException:
                for entry_id in due:  # still ours and pending: try again on the next fetch
                    heapq.heappush(self._retries, (now, entry_id))
                raise
            out += await self._deliveries(claimed, counted=False)
        if now >= self._next_claim and len(out) < max_count:
            self._next_claim = now + self._claim_every
            out += await self._autoclaim(max_count - len(out))
        if out:
            return out
        wake = [now + timeout, self._next_claim]
        if self._retries:
            wake.append(self._retries[0][0])
        block_ms = max(1, int((min(wake) - now) * 1000))
        response = await self._r.xreadgroup(
            self._group, self.name, {self._stream: ">"}, count=max_count, block=block_ms
        )
        return await self._deliveries(_entries(response), counted=True)

    async def _autoclaim(self, count: int) -> list[Delivery]:
        response = await self._r.xautoclaim(
            self._stream,
            self._group,
            self.name,
            self._min_idle_ms,
            start_id=self._claim_cursor,
            count=count,
        )
        self._claim_cursor = response[0]
        entries = [e for e in response[1] if e[0] is not None and e[0] not in self._held]
        if entries:
            logger.info(
                "%s took over %d entries of a consumer that stopped answering",
                self._group,
                len(entries),
            )
        return await self._deliveries(entries, counted=False)

    async def _deliveries(
        self, entries: Iterable[tuple[Any, Any]], *, counted: bool
    ) -> list[Delivery]:
        """Deliveries for stream entries; `counted` when they come from XREADGROUP `>` (the
        first delivery), else their delivery count is read with XPENDING."""
        deliveries: list[Delivery] = []
        skip: list[bytes] = []
        attempts: dict[bytes, int] = {}
        entries = [(i, f) for i, f in entries if f is not None]
        if not counted and entries:
            async with self._r.pipeline(transaction=False) as pipe:
                for entry_id, _ in entries:
                    pipe.xpending_range(self._stream, self._group, entry_id, entry_id, 1)
                for (entry_id, _), rows in zip(entries, await pipe.execute(), strict=True):
                    if rows:
                        attempts[entry_id] = int(rows[0]["times_delivered"])
        for entry_id, fields in entries:
            topic = fields.get(b"t")
            body = fields.get(b"e")
            if topic is None or body is None or not matches(self._spec.pattern, topic.decode()):
                skip.append(entry_id)
                continue
            self._held.add(entry_id)
            attempt = 1 if counted else attempts.get(entry_id, 1)
            deliveries.append(_RedisDelivery(self, entry_id, topic.decode(), body, attempt))
        if skip:
            await self._r.xack(self._stream, self._group, *skip)
        return deliveries

    async def keep_alive(self, deliveries: list[Delivery]) -> None:
        ids = [d.id for d in deliveries if isinstance(d, _RedisDelivery)]
        ids += [entry_id for _, entry_id in self._retries]
        if ids:
            await self._keep_alive_script(keys=[self._stream], args=[self._group, self.name, *ids])

    async def close(self) -> None:
        # A consumer with pending entries stays in the group: deleting it would drop them.
        try:
            pending = await self._r.xpending_range(
                self._stream, self._group, "-", "+", 1, consumername=self.name
            )
            if not pending:
                await self._r.xgroup_delconsumer(self._stream, self._group, self.name)
        except Exception as exc:  # closing goes on without the server
            logger.debug("could not remove consumer %s: %s", self.name, exc)


class RedisBackend(Backend):
    """Redis Streams (see the module docstring)."""

    def __init__(self, url: str) -> None:
        require("the Redis event backend", "events", "redis.asyncio")
        self.transient_errors = (RedisConnectionError, RedisTimeoutError)
        parts = urlsplit(url)
        query = dict(parse_qsl(parts.query))
        self.stream = query.get("stream", "covetpy:events")
        self.maxlen = int(query.get("maxlen", "1000000"))
        self.dedup_ms = int(float(query.get("dedup_window", "120")) * 1000)
        rest = urlencode({k: v for k, v in query.items() if k not in _OPTIONS})
        self._address = urlunsplit(parts._replace(query=rest))
        self._new_client()

    def _new_client(self) -> None:
        """A client for the next event loop to use the backend: redis-py's connections, pool
        and locks belong to the loop that first uses them. (Made here, it connects later.)"""
        self.client: aioredis.Redis = aioredis.from_url(self._address)
        self.publish_script = self.client.register_script(_PUBLISH)
        self.keep_alive_script = self.client.register_script(_KEEP_ALIVE)
        # Concurrent publishes go to Redis as one pipeline (one round trip).
        self._publishes: Coalescer[tuple[str, bytes, str], Any] = Coalescer(self._send_publishes)

    async def connect(self) -> None:
        await self.client.ping()

    async def publish(
        self, topic: str, body: bytes, *, dedup_id: str, key: str | None
    ) -> Published:
        result = await self._publishes((topic, body, dedup_id))
        position = _text(result[1]) if len(result) > 1 else ""
        return Published(dedup_id, position or None, duplicate=not result[0])

    async def _send_publishes(self, batch: list[tuple[str, bytes, str]]) -> list[Any]:
        if len(batch) == 1:
            topic, body, dedup_id = batch[0]
            return [await self._run_publish(self.client, topic, body, dedup_id)]
        async with self.client.pipeline(transaction=False) as pipe:
            for topic, body, dedup_id in batch:
                await self._run_publish(pipe, topic, body, dedup_id)
            results: list[Any] = await pipe.execute()
            return results

    async def _run_publish(self, client: Any, topic: str, body: bytes, dedup_id: str) -> Any:
        return await self.publish_script(
            keys=[self.stream, f"{self.stream}:dedup:{dedup_id}"],
            args=[self.dedup_ms, self.maxlen, topic, body],
            client=client,
        )

    async def consumer(self, spec: ConsumerSpec) -> Consumer:
        consumer = _RedisConsumer(self, spec)
        await consumer.create_group()
        return consumer

    async def read(self, pattern: str, start: str, limit: int | None) -> AsyncIterator[Record]:
        client: Any = self.client
        last = await client.xrevrange(self.stream, "+", "-", count=1)
        if not last:
            return
        end = last[0][0]
        low: bytes | str = "-" if start == "all" else start
        count = 0
        while True:
            entries = await client.xrange(self.stream, low, end, count=512)
            for entry_id, fields in entries:
                topic = _text(fields.get(b"t", b""))
                if topic and matches(pattern, topic):
                    yield Record(_text(entry_id), topic, fields[b"e"])
                    count += 1
                    if limit is not None and count >= limit:
                        return
            if len(entries) < 512:
                return
            low = b"(" + entries[-1][0]

    async def close(self) -> None:
        try:
            await self.client.aclose()
        finally:
            self._new_client()

    def abandon(self) -> None:
        self._new_client()
