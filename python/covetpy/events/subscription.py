"""One subscription at run time: a fetch loop, `concurrency` lanes that call the handler, and
the decisions taken on each delivery (ack, retry after a backoff, dead-letter).

Lanes keep order per key: an event with a `partitionkey` always goes to the lane its key
hashes to, and a lane handles one event at a time, so events of one key are handled in the
order this consumer received them; an event without a key goes to the least busy lane. The
fetch loop asks the backend for at most as many deliveries as there are free slots, so a
subscription never holds more than `concurrency` events, and the backend keeps the rest
(for the distributed ones, for other consumers of the group).

Drain: the fetch loop stops asking (its last fetch returns within `poll_interval`), the
lanes finish what was fetched and ack it, then the consumer leaves its group. Handlers still
running at the deadline are cancelled; their events are not acked and are delivered again.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import typing
import zlib
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

import msgspec

from covetpy.events import context
from covetpy.events.backends.base import Backend, Consumer, ConsumerSpec, Delivery
from covetpy.events.envelope import Envelope, decode_envelope
from covetpy.events.retry import NonRetryable, RetryPolicy
from covetpy.events.topics import validate_pattern

if TYPE_CHECKING:
    from covetpy.events.bus import EventBus

__all__ = ["Handler", "Subscription"]

logger = logging.getLogger("covetpy.events")

Handler = Callable[..., Awaitable[Any]]
_Item = tuple[Delivery, Envelope | None, str | None]  # delivery, envelope, why it is unreadable


def _handler_shape(handler: Handler) -> tuple[Any, bool]:
    """`(event type, passes the envelope)` from the handler's signature: the first parameter
    receives the payload decoded into its annotation (`Envelope`: the whole envelope); a
    second parameter, if any, receives the `Envelope`."""
    if not inspect.iscoroutinefunction(inspect.unwrap(handler)):
        raise TypeError(f"event handler {handler!r} must be an `async def` function")
    try:
        hints = typing.get_type_hints(inspect.unwrap(handler))
    except Exception as exc:
        raise TypeError(f"cannot resolve the annotations of {handler!r}: {exc}") from exc
    params = [
        p
        for p in inspect.signature(handler).parameters.values()
        if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD) and p.default is p.empty
    ]
    if not 1 <= len(params) <= 2:
        raise TypeError(
            f"event handler {handler.__qualname__} must take the event and, optionally, its "
            f"Envelope; it takes {len(params)} required positional parameters"
        )
    event_type = hints.get(params[0].name, Any)
    if len(params) == 2 and hints.get(params[1].name, Envelope) is not Envelope:
        raise TypeError(f"the second parameter of {handler.__qualname__} must be an Envelope")
    return event_type, len(params) == 2


class Subscription:
    """A handler subscribed to a pattern (created by `EventBus.subscribe`)."""

    def __init__(
        self,
        bus: EventBus,
        pattern: str,
        handler: Handler,
        *,
        name: str,
        concurrency: int,
        policy: RetryPolicy,
        start: str,
        redeliver_after: float,
    ) -> None:
        if concurrency < 1:
            raise ValueError("concurrency must be at least 1")
        if redeliver_after <= 0:
            raise ValueError("redeliver_after must be positive")
        self.pattern = validate_pattern(pattern)
        self.handler = handler
        self.name = name
        self.group = f"{bus.service}:{name}"
        self.concurrency = concurrency
        self.policy = policy
        self.start_at = start
        self.redeliver_after = redeliver_after
        self.event_type, self._pass_envelope = _handler_shape(handler)
        self._envelope_only = self.event_type is Envelope
        self._decoder: msgspec.json.Decoder[Any] | None = None
        if self.event_type not in (Any, object, Envelope):
            self._decoder = msgspec.json.Decoder(self.event_type)
        self._bus = bus
        self._consumer: Consumer | None = None
        self._lanes: list[asyncio.Queue[_Item]] = []
        self._load: list[int] = []
        self._tasks: list[asyncio.Task[None]] = []
        self._fetcher: asyncio.Task[None] | None = None
        self._inflight: dict[Delivery, None] = {}
        self._idle = asyncio.Event()
        self._slot = asyncio.Event()
        self._stopping = False

    @property
    def running(self) -> bool:
        """Whether it is consuming."""
        return self._fetcher is not None

    @property
    def in_flight(self) -> int:
        """How many fetched events are not finished yet."""
        return len(self._inflight)

    async def start(self, backend: Backend, poll_interval: float) -> None:
        """Joins the consumer group and starts fetching."""
        spec = ConsumerSpec(
            group=self.group,
            pattern=self.pattern,
            start=self.start_at,
            redeliver_after=self.redeliver_after,
            max_deliveries=self.policy.max_deliveries,
            prefetch=self.concurrency,
        )
        self._consumer = await backend.consumer(spec)
        self._stopping = False
        # New events: the bus may be started again later, from another event loop.
        self._idle = asyncio.Event()
        self._slot = asyncio.Event()
        self._idle.set()
        self._lanes = [asyncio.Queue() for _ in range(self.concurrency)]
        self._load = [0] * self.concurrency
        self._tasks = [asyncio.create_task(self._lane(i)) for i in range(self.concurrency)]
        self._tasks.append(asyncio.create_task(self._keep_alive()))
        self._fetcher = asyncio.create_task(self._fetch_loop(poll_interval))

    async def drain(self, timeout: float) -> None:
        """Stops fetching, lets the handlers finish (up to `timeout` seconds) and leaves the
        group."""
        if self._fetcher is None:
            return
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        self._stopping = True
        self._slot.set()
        try:
            await asyncio.wait_for(asyncio.shield(self._fetcher), timeout)
            await asyncio.wait_for(self._idle.wait(), max(0.0, deadline - loop.time()))
        except TimeoutError:
            logger.warning(
                "%s: drain deadline (%.0fs) passed with %d events in flight; they will be "
                "delivered again",
                self.group,
                timeout,
                len(self._inflight),
            )
        self._fetcher.cancel()
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(self._fetcher, *self._tasks, return_exceptions=True)
        self._fetcher = None
        self._tasks = []
        self._inflight.clear()
        if self._consumer is not None:
            await self._consumer.close()
            self._consumer = None

    def abandon(self) -> None:
        """Forgets a run whose event loop was closed without `drain`: its tasks and consumer
        went with the loop. Its events not acked are delivered again (distributed backends)."""
        self._fetcher = None
        self._tasks = []
        self._inflight.clear()
        self._consumer = None

    # -- fetching ---------------------------------------------------------------------------

    async def _fetch_loop(self, poll_interval: float) -> None:
        assert self._consumer is not None
        failures = 0
        while not self._stopping:
            free = self.concurrency - len(self._inflight)
            if free <= 0:
                self._slot.clear()
                await self._slot.wait()
                continue
            try:
                batch = await self._consumer.fetch(free, poll_interval)
            except Exception as exc:
                failures += 1
                if failures == 1 or failures % 20 == 0:
                    logger.warning(
                        "%s: fetching failed (%d in a row): %r", self.group, failures, exc
                    )
                await asyncio.sleep(min(2.0, 0.05 * 2**failures))
                continue
            if failures:
                logger.info("%s: fetching again after %d failures", self.group, failures)
                failures = 0
            for delivery in batch:
                self._dispatch(delivery)

    def _dispatch(self, delivery: Delivery) -> None:
        envelope: Envelope | None = None
        problem: str | None = None
        try:
            envelope = decode_envelope(delivery.body)
        except (msgspec.DecodeError, msgspec.ValidationError) as exc:
            problem = f"not a CloudEvents envelope: {exc}"
        key = envelope.partitionkey if envelope is not None else None
        if key is not None:
            lane = zlib.crc32(key.encode()) % len(self._lanes)
        else:
            lane = min(range(len(self._load)), key=self._load.__getitem__)
        self._inflight[delivery] = None
        self._idle.clear()
        self._load[lane] += 1
        self._lanes[lane].put_nowait((delivery, envelope, problem))

    # -- handling ---------------------------------------------------------------------------

    async def _lane(self, index: int) -> None:
        queue = self._lanes[index]
        while True:
            delivery, envelope, problem = await queue.get()
            try:
                await self._handle(delivery, envelope, problem)
            except Exception as exc:  # the backend failed to ack/retry: it redelivers later
                logger.warning("%s: could not settle %s: %r", self.group, delivery.position, exc)
            finally:
                self._load[index] -= 1
                self._inflight.pop(delivery, None)
                if not self._inflight:
                    self._idle.set()
                self._slot.set()

    async def _handle(self, d: Delivery, envelope: Envelope | None, problem: str | None) -> None:
        limit = self.policy.max_deliveries
        if envelope is None:
            await self._dead_letter(d, None, problem or "unreadable")
            return
        if d.attempt > limit:
            reason = (
                f"delivered {d.attempt} times, more than max_deliveries={limit}: the "
                "consumers it went to stopped before acking it"
            )
            await self._dead_letter(d, envelope, reason)
            return
        try:
            args = self._arguments(envelope)
        except (msgspec.DecodeError, msgspec.ValidationError) as exc:
            await self._dead_letter(d, envelope, f"data does not decode: {exc}")
            return
        tokens = (
            context.request_id.set(envelope.requestid),
            context.traceparent.set(envelope.traceparent),
            context.envelope.set(envelope),
            context.attempt.set(d.attempt),
        )
        try:
            await self.handler(*args)
        except NonRetryable as exc:
            await self._dead_letter(d, envelope, f"rejected: {exc!r}")
            return
        except Exception as exc:
            if d.attempt >= limit:
                logger.error(
                    "%s: %s %s failed on delivery %d of %d; dead-lettering it",
                    self.group,
                    d.topic,
                    envelope.id,
                    d.attempt,
                    limit,
                    exc_info=exc,
                )
                await self._dead_letter(d, envelope, f"failed {d.attempt} times; last: {exc!r}")
            else:
                delay = self.policy.backoff.delay(d.attempt)
                logger.warning(
                    "%s: %s %s failed on delivery %d of %d (%r); retrying in %.2fs",
                    self.group,
                    d.topic,
                    envelope.id,
                    d.attempt,
                    limit,
                    exc,
                    delay,
                )
                await d.retry(delay)
            return
        finally:
            context.attempt.reset(tokens[3])
            context.envelope.reset(tokens[2])
            context.traceparent.reset(tokens[1])
            context.request_id.reset(tokens[0])
        await d.ack()

    def _arguments(self, envelope: Envelope) -> tuple[Any, ...]:
        if self._envelope_only:
            event: Any = envelope
        elif self._decoder is not None:
            event = self._decoder.decode(envelope.data)
        else:
            event = msgspec.json.decode(envelope.data)
        return (event, envelope) if self._pass_envelope else (event,)

    async def _dead_letter(self, d: Delivery, envelope: Envelope | None, reason: str) -> None:
        topic = self.policy.dead_letter_topic(d.topic)
        if topic is None:
            logger.error("%s: dropping %s at %s: %s", self.group, d.topic, d.position, reason)
        else:
            await self._bus.publish_dead_letter(topic, d, envelope, reason, self.group)
        await d.dead_lettered()

    async def _keep_alive(self) -> None:
        """Tells the backend, every third of `redeliver_after`, that the events in flight are
        still being worked on."""
        while True:
            await asyncio.sleep(self.redeliver_after / 3)
            if self._consumer is None:
                continue
            try:
                await self._consumer.keep_alive(list(self._inflight))
            except Exception as exc:  # the next one may get through; else it is redelivered
                logger.debug("%s: keep-alive failed: %r", self.group, exc)
