"""`nats://host:port`: NATS JetStream (nats-server 2.9 or later; nats-py).

Layout: one stream (`?stream=COVETPY`, file storage) over the subjects `events.>`
(`?prefix=events`); topic `orders.created` is published to `events.orders.created`. As with
Redis, one stream keeps all topics in one order; unlike Redis, JetStream filters per
consumer on the server, so a subscription receives only the subjects its pattern matches.

Publishing waits for the stream's ack and sets `Nats-Msg-Id` to the event id, so a publish
retried with the same id within the stream's duplicate window (`?dedup_window=120` seconds)
is stored once.

Each subscription is a durable pull consumer named `<service>_<subscription>` (characters
that JetStream does not allow in a name become `_`), filtered on its pattern, with explicit
acks, `ack_wait = redeliver_after` and `max_deliver = max_deliveries + 1` (the extra
delivery reaches a consumer that dead-letters the event without handling it, when every
earlier delivery ended in a consumer's death). Every process of the service fetches from
the same durable consumer, so each message goes to one of them. A handled message is acked;
a failed one is nak'ed with its backoff delay; a dead-lettered one is terminated; one still
being handled gets a `+WPI` (in progress) every third of `ack_wait`.
"""

from __future__ import annotations

import logging
import re
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import parse_qsl, urlsplit, urlunsplit

from covetpy.exceptions import require

try:
    import nats
    import nats.errors
    import nats.js.errors
    from nats.aio.client import Client as NATS
    from nats.aio.msg import Msg
    from nats.js import JetStreamContext
    from nats.js.api import (
        AckPolicy,
        ConsumerConfig,
        DeliverPolicy,
        RetentionPolicy,
        StorageType,
        StreamConfig,
    )
except ImportError:  # without the events extra the module imports; NatsBackend() names it
    pass

from covetpy.events.backends.base import (
    Backend,
    Consumer,
    ConsumerSpec,
    Delivery,
    Published,
    Record,
)

__all__ = ["NatsBackend"]

logger = logging.getLogger("covetpy.events")

_NOT_IN_NAMES = re.compile(r"[^A-Za-z0-9_-]")


def consumer_name(group: str) -> str:
    """A JetStream durable name for the consumer group `group`."""
    return _NOT_IN_NAMES.sub("_", group)


class _NatsDelivery(Delivery):
    __slots__ = ("msg",)

    def __init__(self, msg: Msg, prefix_len: int) -> None:
        meta = msg.metadata
        super().__init__(
            msg.subject[prefix_len:], msg.data, str(meta.sequence.stream), meta.num_delivered
        )
        self.msg = msg

    async def ack(self) -> None:
        await self.msg.ack()

    async def retry(self, delay: float) -> None:
        await self.msg.nak(delay=delay if delay > 0 else None)

    async def dead_lettered(self) -> None:
        await self.msg.term()


class _NatsConsumer(Consumer):
    def __init__(self, sub: JetStreamContext.PullSubscription, prefix_len: int) -> None:
        self._sub = sub
        self._prefix_len = prefix_len

    async def fetch(self, max_count: int, timeout: float) -> list[Delivery]:
        try:
            msgs = await self._sub.fetch(batch=max_count, timeout=timeout)
        except nats.errors.TimeoutError:
            return []
        return [_NatsDelivery(m, self._prefix_len) for m in msgs]

    async def keep_alive(self, deliveries: list[Delivery]) -> None:
        for d in deliveries:
            if isinstance(d, _NatsDelivery):
                await d.msg.in_progress()

    async def close(self) -> None:
        try:
            await self._sub.unsubscribe()
        except Exception as exc:  # closing goes on without the server
            logger.debug("could not unsubscribe: %s", exc)


class NatsBackend(Backend):
    """NATS JetStream (see the module docstring)."""

    def __init__(self, url: str) -> None:
        require("the NATS event backend", "events", "nats.js")
        self.transient_errors = (
            nats.errors.TimeoutError,
            nats.errors.ConnectionClosedError,
            nats.errors.NoRespondersError,
            nats.js.errors.NoStreamResponseError,
        )
        parts = urlsplit(url)
        query = dict(parse_qsl(parts.query))
        self.stream = query.get("stream", "COVETPY")
        self.prefix = query.get("prefix", "events")
        self.dedup_window = float(query.get("dedup_window", "120"))
        self.server = urlunsplit(parts._replace(query=""))
        self._nc: NATS | None = None
        self._js: JetStreamContext | None = None

    @property
    def js(self) -> JetStreamContext:
        if self._js is None:
            raise RuntimeError("the NATS backend is not connected")
        return self._js

    async def connect(self) -> None:
        options: dict[str, Any] = {
            "servers": [self.server],
            "name": "covetpy-events",
            "connect_timeout": 2,
            "reconnect_time_wait": 0.5,
            "max_reconnect_attempts": -1,
        }
        self._nc = await nats.connect(**options)
        self._js = self._nc.jetstream()
        try:
            await self.js.stream_info(self.stream)
        except nats.js.errors.NotFoundError:
            await self.js.add_stream(
                StreamConfig(
                    name=self.stream,
                    subjects=[f"{self.prefix}.>"],
                    storage=StorageType.FILE,
                    retention=RetentionPolicy.LIMITS,
                    duplicate_window=self.dedup_window,
                )
            )

    def _subject(self, topic: str) -> str:
        return f"{self.prefix}.{topic}"

    async def publish(
        self, topic: str, body: bytes, *, dedup_id: str, key: str | None
    ) -> Published:
        ack = await self.js.publish(
            self._subject(topic), body, headers={"Nats-Msg-Id": dedup_id}, stream=self.stream
        )
        return Published(dedup_id, str(ack.seq), duplicate=bool(ack.duplicate))

    async def consumer(self, spec: ConsumerSpec) -> Consumer:
        durable = consumer_name(spec.group)
        config = ConsumerConfig(
            durable_name=durable,
            ack_policy=AckPolicy.EXPLICIT,
            ack_wait=spec.redeliver_after,
            max_deliver=spec.max_deliveries + 1,
            max_ack_pending=max(1000, spec.prefetch * 4),
            **_start(spec.start),
        )
        sub = await self.js.pull_subscribe(
            self._subject(spec.pattern), durable=durable, stream=self.stream, config=config
        )
        return _NatsConsumer(sub, len(self.prefix) + 1)

    async def read(self, pattern: str, start: str, limit: int | None) -> AsyncIterator[Record]:
        config = ConsumerConfig(
            ack_policy=AckPolicy.NONE, inactive_threshold=30.0, mem_storage=True, **_start(start)
        )
        sub = await self.js.pull_subscribe(
            self._subject(pattern), stream=self.stream, config=config
        )
        prefix_len = len(self.prefix) + 1
        count = 0
        name: str | None = None
        try:
            info = await sub.consumer_info()
            name = info.name
            if not info.num_pending:
                return
            while True:
                try:
                    msgs = await sub.fetch(batch=256, timeout=2.0)
                except nats.errors.TimeoutError:
                    return
                for msg in msgs:
                    meta = msg.metadata
                    yield Record(str(meta.sequence.stream), msg.subject[prefix_len:], msg.data)
                    count += 1
                    if (limit is not None and count >= limit) or not meta.num_pending:
                        return
        finally:
            try:
                await sub.unsubscribe()
                if name is not None:
                    await self.js.delete_consumer(self.stream, name)
            except Exception as exc:  # it expires by itself after inactive_threshold
                logger.debug("could not delete the reading consumer: %s", exc)

    async def close(self) -> None:
        if self._nc is not None:
            await self._nc.close()
            self._nc = self._js = None

    def abandon(self) -> None:
        self._nc = self._js = None


def _start(start: str) -> dict[str, Any]:
    if start == "new":
        return {"deliver_policy": DeliverPolicy.NEW}
    if start == "all":
        return {"deliver_policy": DeliverPolicy.ALL}
    return {"deliver_policy": DeliverPolicy.BY_START_SEQUENCE, "opt_start_seq": int(start)}
