"""What a task broker does. The worker loop, retries, results and periodic ticks are written
once (`covetpy.tasks.worker`, `tasks.py`) over this interface; a backend maps it to its
broker's own primitives (Redis Streams and sorted sets, JetStream consumers and KV buckets).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

__all__ = ["Broker", "DeadLetter", "Enqueued", "Outgoing", "QueueStats", "Received"]

PRIORITIES = (1, 0, -1)
"""The priority levels of a queue, highest first: a worker takes `1` before `0` before `-1`."""


@dataclass(slots=True)
class Outgoing:
    """One message to store. `due` > 0 holds it until that Unix time; `key` (with `key_ttl`
    seconds) makes a second enqueue of the same key within the TTL a no-op."""

    id: str
    queue: str
    priority: int
    data: bytes
    due: float = 0.0
    key: str | None = None
    key_ttl: float = 0.0


@dataclass(slots=True)
class Enqueued:
    """Where an enqueue went: `id` is the task id (the first one's, when `key` was seen),
    `ref` the broker's handle of the stored message (for `cancel`), `duplicate` True when the
    key was seen."""

    id: str
    ref: str | None = None
    duplicate: bool = False


@dataclass(slots=True)
class Received:
    """One message a worker holds: `deliveries` counts how many times the broker handed it
    out (more than 1 after a worker died holding it)."""

    queue: str
    priority: int
    data: bytes
    ref: Any
    deliveries: int = 1


@dataclass(slots=True)
class QueueStats:
    queue: str
    ready: int
    """Waiting to be taken, all priorities."""
    running: int
    """Taken by a worker and not finished (or held by a worker that died)."""
    delayed: int
    dead: int


@dataclass(slots=True)
class DeadLetter:
    id: str
    data: bytes
    reason: str
    ref: Any = field(default=None)


class Broker(Protocol):
    """A task broker. Every method may raise the client's connection errors; the worker
    loop retries what it does, an enqueue raises them to its caller (nothing was stored)."""

    url: str

    async def connect(self) -> None: ...

    async def close(self) -> None: ...

    async def enqueue(self, out: Outgoing) -> Enqueued: ...

    async def prepare(self, queues: list[str]) -> None:
        """Creates what consuming `queues` needs (streams, groups, consumers)."""

    async def fetch(self, queues: list[str], count: int, wait: float) -> list[Received]:
        """Up to `count` messages, highest priority first, waiting up to `wait` seconds."""

    async def finish(
        self, item: Received, result: bytes | None, result_id: str, ttl: float
    ) -> None:
        """Acknowledges `item` and, when `result` is given, stores it for `ttl` seconds."""

    async def requeue(self, item: Received, data: bytes, due: float) -> None:
        """Acknowledges `item` and stores `data` in its place, held until `due` (a retry)."""

    async def release(self, items: list[Received]) -> None:
        """Gives back messages a worker took and did not run (a drain past its deadline)."""

    async def dead(self, item: Received | None, data: bytes, queue: str, reason: str) -> None:
        """Acknowledges `item` (if any) and keeps `data` as a dead letter of `queue`."""

    async def keep_alive(self, items: list[Received]) -> None:
        """Tells the broker these messages are still being worked on."""

    async def reclaim(self, queues: list[str], count: int) -> list[Received]:
        """Messages whose worker stopped answering, now this worker's."""

    async def promote(self) -> float:
        """Moves delayed messages that are due to their queues; returns seconds until the
        next one is due (at most a second: one may be added meanwhile)."""

    async def store(self, task_id: str, result: bytes, ttl: float) -> None:
        """Keeps a result (a failure's, for a dead letter) for `ttl` seconds."""

    async def result(self, task_id: str) -> bytes | None: ...

    async def cancel(self, task_id: str, ref: str | None) -> bool:
        """Removes a task that no worker has taken; False when it is too late."""

    async def stats(self, queues: list[str] | None) -> list[QueueStats]: ...

    async def dead_letters(self, queue: str | None, limit: int) -> list[DeadLetter]: ...

    async def drop_dead(self, task_id: str) -> DeadLetter | None: ...
