"""What a backend provides to the bus: publishing encoded envelopes, consumers that fetch
deliveries for a group, and reading stored events back from a position.

The bus owns everything that must behave the same on every backend (decoding, handler calls,
retries, dead-lettering, concurrency, drain); a backend only moves bytes and keeps the
delivery state of its consumer groups.
"""

from __future__ import annotations

import abc
from collections.abc import AsyncIterator
from dataclasses import dataclass

import msgspec

__all__ = ["Backend", "Consumer", "ConsumerSpec", "Delivery", "Published", "Record"]


class Published(msgspec.Struct, frozen=True):
    """What `publish` returns: the event id, where the backend stored it (a stream entry id,
    a JetStream sequence, or a counter for `memory://`), and whether the backend recognised
    it as a duplicate of an event already stored with the same id (then `position` is that
    of the first copy where the backend knows it, else None)."""

    id: str
    position: str | None
    duplicate: bool = False


class Record(msgspec.Struct, frozen=True):
    """A stored event read back by `EventBus.read`."""

    position: str
    topic: str
    body: bytes


@dataclass(frozen=True)
class ConsumerSpec:
    """One subscription, as a backend sees it."""

    group: str
    """The consumer group: every consumer with this name shares the events (one gets each)."""
    pattern: str
    start: str
    """Where a group that does not exist yet begins: "new", "all" or a position (inclusive)."""
    redeliver_after: float
    """Seconds without an ack or a keep-alive after which a delivery is given to another
    consumer of the group (the consumer is taken for dead)."""
    max_deliveries: int
    prefetch: int


class Delivery(abc.ABC):
    """One delivery of one stored event to a consumer."""

    __slots__ = ("attempt", "body", "position", "topic")

    def __init__(self, topic: str, body: bytes, position: str, attempt: int) -> None:
        self.topic = topic
        self.body = body
        self.position = position
        self.attempt = attempt
        """How many times the backend has delivered this event to the group (1 the first)."""

    @abc.abstractmethod
    async def ack(self) -> None:
        """Handled: never deliver it to this group again."""

    @abc.abstractmethod
    async def retry(self, delay: float) -> None:
        """Failed: deliver it again (to any consumer of the group) after `delay` seconds."""

    async def dead_lettered(self) -> None:
        """Given up on (after it was published to the dead-letter topic)."""
        await self.ack()


class Consumer(abc.ABC):
    """A member of a consumer group."""

    @abc.abstractmethod
    async def fetch(self, max_count: int, timeout: float) -> list[Delivery]:
        """Up to `max_count` deliveries, waiting at most `timeout` seconds for the first."""

    async def keep_alive(self, deliveries: list[Delivery]) -> None:
        """Tells the backend that `deliveries` are still being worked on, so it does not give
        them to another consumer after `redeliver_after`. Nothing to do by default."""
        return None

    @abc.abstractmethod
    async def close(self) -> None:
        """Leaves the group (deliveries not acked are redelivered to its other members)."""


class Backend(abc.ABC):
    """A place events are published to and consumed from."""

    transient_errors: tuple[type[BaseException], ...] = ()
    """Errors after which publishing again may succeed (a connection the server closed, a
    timeout); `publish` retries them, and the dedup id keeps a retry from storing twice."""

    @abc.abstractmethod
    async def connect(self) -> None:
        """Connects (and creates what must exist, such as a stream)."""

    @abc.abstractmethod
    async def publish(
        self, topic: str, body: bytes, *, dedup_id: str, key: str | None
    ) -> Published:
        """Stores one encoded envelope; `dedup_id` is what duplicates are recognised by."""

    @abc.abstractmethod
    async def consumer(self, spec: ConsumerSpec) -> Consumer:
        """Joins (creating if needed) the consumer group of `spec`."""

    @abc.abstractmethod
    def read(self, pattern: str, start: str, limit: int | None) -> AsyncIterator[Record]:
        """The stored events matching `pattern` from `start` ("all" or a position, inclusive)
        up to the last one stored when reading began, oldest first."""

    @abc.abstractmethod
    async def close(self) -> None:
        """Closes the connections."""

    def abandon(self) -> None:
        """Forgets the connections and consumers made in an event loop that was closed
        without `close()`, so that `connect()` starts afresh in the next one."""
        return None
