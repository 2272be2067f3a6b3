"""The event bus: typed events published to topics and handled by subscriptions, on the
backend the URL names.

```python
bus = EventBus("redis://localhost:6379", service="billing")

@bus.subscribe("orders.*", max_deliveries=5, concurrency=8)
async def on_order(event: OrderCreated) -> None: ...

await bus.publish("orders.created", OrderCreated(id=42), key="42")
```

Delivery is at least once on the distributed backends: a handler may see an event twice
(after a consumer died, a server restarted, or an ack was lost), so handlers are idempotent
or use `covetpy.events.idempotent`.

Each event carries the request id and trace context of the call that published it
(`covetpy.events.context`), and its handler runs under them. While tracing is on, publishing
is a producer span (`publish {topic}`) and handling a consumer span (`process {topic}`), its
child. The bus counts what it publishes, handles and dead-letters
(`covetpy.observability.metrics.EventMetrics`).
"""

from __future__ import annotations

import asyncio
import functools
import logging
import time as _time
from collections.abc import AsyncIterator, Callable
from datetime import datetime
from typing import Any, TypeVar

import msgspec

from covetpy.events import context
from covetpy.events.backends import Backend, Delivery, Published, backend_for
from covetpy.events.envelope import (
    Envelope,
    decode_envelope,
    encode_data,
    encode_envelope,
    new_id,
    now,
)
from covetpy.events.retry import Backoff, NonRetryable, RetryPolicy
from covetpy.events.subscription import Handler, Subscription
from covetpy.events.topics import validate_pattern, validate_topic
from covetpy.exceptions import CovetError
from covetpy.mesh import context as mesh
from covetpy.observability import metrics, tracing

__all__ = ["BusInUse", "EventBus", "StoredEvent"]

logger = logging.getLogger("covetpy.events")

H = TypeVar("H", bound=Handler)

_DEFAULT_DEAD_LETTER = "dlq.{topic}"
# Seconds between the tries of a publish that failed with a transient error (a server that
# restarted, a connection it closed): about 2 s in all before the error reaches the caller.
_PUBLISH_RETRIES = (0.1, 0.4, 1.5)


class BusInUse(CovetError, RuntimeError):
    """The bus was used from an event loop while another loop that is still open uses it: two
    runs of one app at once (a test client that was not closed while another one starts)."""


class StoredEvent(msgspec.Struct, frozen=True):
    """An event read back from the backend by `EventBus.read`."""

    position: str
    topic: str
    envelope: Envelope


class EventBus:
    """Publishes events and runs the subscriptions of one service.

    `url` picks the backend (`memory://`, `redis://…`, `nats://…`). `service` names the
    consumer groups (`<service>:<subscription>`): the processes of one service share each
    event, every other service gets its own copy. `source` is the CloudEvents `source`
    (default `/<service>`).

    The bus belongs to the event loop that first uses it (its connections, consumers and
    tasks live there) until `close()`; then another loop may use it, so an app's bus serves
    each run of the app in turn. Using it from a second loop while the first is still open
    raises `BusInUse`; a loop that was closed without `close()` takes what it held with it.
    """

    def __init__(
        self,
        url: str = "memory://",
        *,
        service: str = "covetpy",
        source: str | None = None,
        drain_timeout: float = 30.0,
        poll_interval: float = 0.5,
    ) -> None:
        self.url = url
        self.service = service
        self.source = source or f"/{service}"
        self.drain_timeout = drain_timeout
        self.poll_interval = poll_interval
        self.backend: Backend = backend_for(url)
        self._subscriptions: dict[str, Subscription] = {}
        self._topics: set[str] = set()
        self._connected = False
        self._connecting: asyncio.Lock | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def __repr__(self) -> str:
        return f"EventBus({self.url!r}, service={self.service!r})"

    @property
    def subscriptions(self) -> list[Subscription]:
        """The subscriptions, in the order they were made."""
        return list(self._subscriptions.values())

    # -- subscribing ------------------------------------------------------------------------

    def subscribe(
        self,
        pattern: str,
        *,
        name: str | None = None,
        concurrency: int = 8,
        max_deliveries: int = 5,
        backoff: Backoff | None = None,
        dead_letter: str | None = _DEFAULT_DEAD_LETTER,
        start: str = "new",
        redeliver_after: float = 30.0,
    ) -> Callable[[H], H]:
        """Subscribes an `async def handler(event: T[, envelope: Envelope])` to the topics
        `pattern` matches (`*` one token, `>` the rest). The payload is decoded into `T` by
        msgspec; one that does not decode is dead-lettered.

        - `name`: the subscription's name, default the handler's qualified name; the consumer
          group is `<service>:<name>`, so it must stay the same across deploys.
        - `concurrency`: at most this many events handled at once (events with one key are
          handled one at a time, in order).
        - `max_deliveries`, `backoff`: a failed event is delivered again after
          `backoff.delay(n)` seconds, up to `max_deliveries` deliveries in all; then it is
          published to `dead_letter` (`{topic}` is the event's topic; None drops it).
        - `start`: where a new consumer group begins: "new" (events published from now on),
          "all" (everything stored), or a position returned by `publish` (inclusive).
        - `redeliver_after`: seconds after which an event delivered to a consumer that stopped
          answering goes to another (while its handler runs, the bus keeps it claimed).
        """
        validate_pattern(pattern)
        policy = RetryPolicy(max_deliveries, backoff or Backoff(), dead_letter)

        def decorator(handler: H) -> H:
            sub_name = name or handler.__qualname__
            if sub_name in self._subscriptions:
                raise ValueError(f"{self!r} already has a subscription named {sub_name!r}")
            self._subscriptions[sub_name] = Subscription(
                self,
                pattern,
                self._observed(handler, f"{self.service}:{sub_name}", max_deliveries),
                name=sub_name,
                concurrency=concurrency,
                policy=policy,
                start=start,
                redeliver_after=redeliver_after,
            )
            return handler

        return decorator

    # -- publishing -------------------------------------------------------------------------

    async def publish(
        self,
        topic: str,
        event: Any,
        *,
        key: str | int | None = None,
        id: str | None = None,
        time: datetime | None = None,
    ) -> Published:
        """Publishes `event` (anything msgspec encodes) to `topic` and returns once the
        backend has stored it. `key` orders events: those with one key are handled in
        publish order. `id` (default a new UUID) is what duplicates are recognised by: a
        publish that fails on a transient error (a lost connection) is tried again for about
        2 s with the same id, and a caller retrying after an error passes the same `id`. The
        current request id and trace context (`covetpy.events.context.carried`) go into the
        envelope."""
        if topic not in self._topics:
            validate_topic(topic)
            self._topics.add(topic)
        if asyncio.current_task() is None:
            # CovetPy's bridge steps route handlers without an asyncio Task, and
            # `asyncio.timeout` (which redis-py uses) needs one: publish from a task of its
            # own (it copies this context, so the request id still reaches the envelope).
            return await asyncio.ensure_future(
                self.publish(topic, event, key=key, id=id, time=time)
            )
        event_id = id or new_id()
        request_id, traceparent, tracestate = context.carried()
        attributes = self._span_attributes(topic, event_id, "send") if tracing.enabled() else None
        with tracing.outbound_span(
            f"publish {topic}", kind="producer", attributes=attributes
        ) as span:
            envelope = Envelope(
                id=event_id,
                source=self.source,
                type=topic,
                time=time or now(),
                data=encode_data(event),
                partitionkey=None if key is None else str(key),
                requestid=request_id,
                traceparent=span or traceparent,
                tracestate=tracestate,
            )
            published = await self._publish(topic, envelope)
        metrics.event_published(topic)
        return published

    async def _publish(self, topic: str, envelope: Envelope) -> Published:
        if self._loop is not asyncio.get_running_loop():
            self.claim()
        if not self._connected:
            await self._connect()
        body = encode_envelope(envelope)
        for delay in _PUBLISH_RETRIES:
            try:
                return await self.backend.publish(
                    topic, body, dedup_id=envelope.id, key=envelope.partitionkey
                )
            except self.backend.transient_errors as exc:
                logger.warning("publishing %s failed (%r); again in %.1fs", topic, exc, delay)
                await asyncio.sleep(delay)
        return await self.backend.publish(
            topic, body, dedup_id=envelope.id, key=envelope.partitionkey
        )

    def _span_attributes(self, topic: str, event_id: str, operation: str) -> dict[str, str]:
        # Semantic conventions for messaging spans.
        return {
            "messaging.system": self.url.split(":", 1)[0],
            "messaging.destination.name": topic,
            "messaging.operation.type": operation,
            "messaging.message.id": event_id,
        }

    def _observed(self, handler: H, group: str, max_deliveries: int) -> H:
        """`handler` run under the event's call context (`covetpy.mesh.context.current`) and
        a consumer span, its outcome and duration counted. The subscription still sees the
        handler's signature (`functools.wraps`)."""

        @functools.wraps(handler)
        async def observed(*args: Any) -> Any:
            envelope = context.envelope.get()
            if envelope is None:  # called by hand, not by the subscription
                return await handler(*args)
            topic = envelope.type
            attributes = None
            if tracing.enabled():
                attributes = self._span_attributes(topic, envelope.id, "process")
                attributes["messaging.consumer.group.name"] = group
            call = mesh.CallContext(
                request_id=envelope.requestid,
                traceparent=envelope.traceparent,
                tracestate=envelope.tracestate,
            )
            token = mesh.current.set(call)
            outcome = "ok"
            started = _time.perf_counter()
            try:
                with tracing.server_span(
                    f"process {topic}",
                    kind="consumer",
                    traceparent=envelope.traceparent,
                    tracestate=envelope.tracestate,
                    attributes=attributes,
                ):
                    return await handler(*args)
            except NonRetryable:
                outcome = "rejected"
                raise
            except asyncio.CancelledError:
                outcome = "cancelled"
                raise
            except Exception:
                outcome = "failed" if context.attempt.get() >= max_deliveries else "retry"
                raise
            finally:
                mesh.current.reset(token)
                metrics.event_consumed(topic, outcome, _time.perf_counter() - started)

        return observed  # type: ignore[return-value]

    async def publish_dead_letter(
        self,
        topic: str,
        delivery: Delivery,
        envelope: Envelope | None,
        reason: str,
        group: str,
    ) -> None:
        """Publishes a failed event to the dead-letter `topic`: the original envelope (same
        id; `type` is still the original topic) with the reason, the consumer group and the
        number of deliveries added."""
        if envelope is None:  # not an envelope at all: keep the bytes as a string
            envelope = Envelope(
                id=new_id(),
                source=self.source,
                type=delivery.topic,
                time=now(),
                datacontenttype="text/plain",
                data=encode_data(delivery.body.decode("utf-8", "replace")),
            )
        dead = msgspec.structs.replace(
            envelope,
            deadletterreason=reason[:2000],
            deadlettergroup=group,
            deliveries=delivery.attempt,
        )
        await self.backend.publish(
            topic, encode_envelope(dead), dedup_id=f"{envelope.id}:{group}:dlq", key=None
        )
        metrics.event_dead_lettered(delivery.topic)
        logger.warning("%s: %s %s dead-lettered to %s", group, delivery.topic, envelope.id, topic)

    # -- reading back -----------------------------------------------------------------------

    async def read(
        self, pattern: str = ">", *, start: str = "all", limit: int | None = None
    ) -> AsyncIterator[StoredEvent]:
        """The stored events `pattern` matches, oldest first, from `start` ("all" or a
        position, inclusive) up to the last one stored when reading began: a replay that
        touches no consumer group. `memory://` keeps its last `?history=` events."""
        validate_pattern(pattern)
        self.claim()
        if not self._connected:
            await self._connect()
        async for record in self.backend.read(pattern, start, limit):
            yield StoredEvent(record.position, record.topic, decode_envelope(record.body))

    # -- lifecycle --------------------------------------------------------------------------

    def claim(self) -> None:
        """Makes the running event loop the bus's own (see the class docstring): raises
        `BusInUse` while another open loop has it; forgets what a closed loop left."""
        loop = asyncio.get_running_loop()
        owner = self._loop
        if owner is loop:
            return
        if owner is not None and not owner.is_closed():
            raise BusInUse(
                f"{self!r} is in use by another event loop: is another run of the app still "
                "serving (a TestClient not closed)? Close it before serving the app again"
            )
        if owner is not None:
            # Its loop ended without close(): the connections, consumers and tasks it held
            # cannot be closed any more, only dropped.
            logger.debug("%r: the event loop that used it was closed; starting afresh", self)
            for sub in self._subscriptions.values():
                sub.abandon()
            self.backend.abandon()
            self._connected = False
            self._connecting = None
        self._loop = loop

    async def _connect(self) -> None:
        if self._connecting is None:
            self._connecting = asyncio.Lock()
        async with self._connecting:
            if not self._connected:
                await self.backend.connect()
                self._connected = True

    async def start(self) -> None:
        """Starts the subscriptions not running yet (connecting first). Without
        subscriptions it does nothing: publishing connects when it first needs to."""
        self.claim()
        pending = [s for s in self._subscriptions.values() if not s.running]
        if not pending:
            return
        if not self._connected:
            await self._connect()
        for sub in pending:
            await sub.start(self.backend, self.poll_interval)
        logger.info(
            "events: %s consuming %s",
            self.url.split("?", 1)[0],
            ", ".join(f"{s.pattern} ({s.group})" for s in pending),
        )

    async def drain(self, timeout: float | None = None) -> None:
        """Stops fetching, waits (up to `timeout`, default `drain_timeout`) for the handlers
        running to finish and ack, and leaves the consumer groups. Publishing still works."""
        if self._loop is not None and self._loop is not asyncio.get_running_loop():
            self.claim()
        timeout = self.drain_timeout if timeout is None else timeout
        await asyncio.gather(*(s.drain(timeout) for s in self._subscriptions.values()))

    async def close(self) -> None:
        """Drains, then closes the backend's connections; the bus may then be used from
        another event loop."""
        if self._loop is not None and self._loop is not asyncio.get_running_loop():
            self.claim()  # BusInUse, or the owner is gone: nothing of it to close here
        await self.drain()
        self._connecting = None
        try:
            if self._connected:
                self._connected = False
                await self.backend.close()
        finally:
            self._loop = None

    async def __aenter__(self) -> EventBus:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()
