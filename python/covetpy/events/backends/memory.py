"""`memory://`: events stay in this process.

Each consumer group has one bounded queue (`?queue_size=1024`); `publish` waits while the
queue of a group the topic matches is full, which is the backpressure: a publisher cannot
run further ahead of a slow subscriber than the queue plus the subscriber's concurrency.
Topics no group matches are dropped. The last `?history=10000` events are kept for `read`
and for groups created with `start="all"` or a position.

`memory://` gives each bus a broker of its own; buses in one process that name the same
broker (`memory://orders`) share it, and subscriptions of theirs with the same group name
share that group's events, one consumer each, as on the distributed backends.

Nothing survives the process: events queued or waiting for a retry are lost when it ends.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import weakref
from collections import deque
from collections.abc import AsyncIterator
from urllib.parse import parse_qs, urlsplit

from covetpy.events.backends.base import (
    Backend,
    Consumer,
    ConsumerSpec,
    Delivery,
    Published,
    Record,
)
from covetpy.events.topics import matches

__all__ = ["MemoryBackend"]

_Item = tuple[str, bytes, str, int]  # topic, body, position, attempt


class _Group:
    def __init__(self, pattern: str, queue_size: int) -> None:
        self.pattern = pattern
        self.queue: asyncio.Queue[_Item] = asyncio.Queue(queue_size)
        self.members = 0
        self.backlog: set[asyncio.Task[None]] = set()

    def requeue(self, item: _Item) -> None:
        try:
            self.queue.put_nowait(item)
        except asyncio.QueueFull:
            task = asyncio.ensure_future(self.queue.put(item))
            self.backlog.add(task)
            task.add_done_callback(self.backlog.discard)


class _Broker:
    def __init__(self, queue_size: int, history: int) -> None:
        self.queue_size = queue_size
        self.groups: dict[str, _Group] = {}
        self.history: deque[_Item] = deque(maxlen=history)
        self.counter = itertools.count(1)


_brokers: weakref.WeakValueDictionary[str, _Broker] = weakref.WeakValueDictionary()


class _MemoryDelivery(Delivery):
    __slots__ = ("_group",)

    def __init__(self, group: _Group, item: _Item) -> None:
        super().__init__(*item)
        self._group = group

    async def ack(self) -> None:
        pass

    async def retry(self, delay: float) -> None:
        item = (self.topic, self.body, self.position, self.attempt + 1)
        asyncio.get_running_loop().call_later(delay, self._group.requeue, item)


class _MemoryConsumer(Consumer):
    def __init__(
        self, broker: _Broker, name: str, group: _Group, members: set[_MemoryConsumer]
    ) -> None:
        self._broker = broker
        self._name = name
        self._group = group
        self._members = members
        members.add(self)

    async def fetch(self, max_count: int, timeout: float) -> list[Delivery]:
        queue = self._group.queue
        try:
            first = await asyncio.wait_for(queue.get(), timeout)
        except TimeoutError:
            return []
        batch: list[Delivery] = [_MemoryDelivery(self._group, first)]
        while len(batch) < max_count and not queue.empty():
            batch.append(_MemoryDelivery(self._group, queue.get_nowait()))
        return batch

    async def close(self) -> None:
        self.leave()

    def leave(self) -> None:
        """Leaves the group; the last member to leave removes it (and its queue, which
        belongs to the event loop its members ran in)."""
        if self not in self._members:
            return
        self._members.discard(self)
        self._group.members -= 1
        if self._group.members == 0 and self._broker.groups.get(self._name) is self._group:
            del self._broker.groups[self._name]
            for task in self._group.backlog:
                with contextlib.suppress(RuntimeError):  # its loop is closed (abandon)
                    task.cancel()


class MemoryBackend(Backend):
    """The in-process backend (see the module docstring)."""

    def __init__(self, url: str) -> None:
        parts = urlsplit(url)
        query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
        self.queue_size = int(query.get("queue_size", "1024"))
        history = int(query.get("history", "10000"))
        name = parts.netloc + parts.path
        broker = _brokers.get(name) if name else None
        if broker is None:
            broker = _Broker(self.queue_size, history)
            if name:
                _brokers[name] = broker
        self._broker = broker
        self._consumers: set[_MemoryConsumer] = set()

    async def connect(self) -> None:
        pass

    async def publish(
        self, topic: str, body: bytes, *, dedup_id: str, key: str | None
    ) -> Published:
        broker = self._broker
        position = str(next(broker.counter))
        item = (topic, body, position, 1)
        broker.history.append(item)
        for group in list(broker.groups.values()):
            if matches(group.pattern, topic):
                await group.queue.put(item)
        return Published(dedup_id, position)

    async def consumer(self, spec: ConsumerSpec) -> Consumer:
        broker = self._broker
        group = broker.groups.get(spec.group)
        if group is None:
            group = broker.groups[spec.group] = _Group(spec.pattern, broker.queue_size)
            if spec.start != "new":
                first = 0 if spec.start == "all" else int(spec.start)
                for item in list(broker.history):
                    if int(item[2]) >= first and matches(spec.pattern, item[0]):
                        group.requeue(item)
        group.members += 1
        return _MemoryConsumer(broker, spec.group, group, self._consumers)

    async def read(self, pattern: str, start: str, limit: int | None) -> AsyncIterator[Record]:
        first = 0 if start == "all" else int(start)
        count = 0
        for topic, body, position, _ in list(self._broker.history):
            if limit is not None and count >= limit:
                return
            if int(position) >= first and matches(pattern, topic):
                count += 1
                yield Record(position, topic, body)

    async def close(self) -> None:
        pass

    def abandon(self) -> None:
        # The events stay (history, other buses' groups); the groups this bus's consumers
        # were in go, as their queues belonged to the closed loop.
        for consumer in list(self._consumers):
            consumer.leave()
