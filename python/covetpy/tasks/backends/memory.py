"""`memory://`: the broker in this process, for tests and single-process apps. Same behaviour
as the others (priorities, delays, keys, results with a TTL, dead letters), nothing durable;
only this process can enqueue and consume."""

from __future__ import annotations

import asyncio
import heapq
import itertools
import time
from collections import deque

from covetpy.tasks.backends.base import (
    PRIORITIES,
    DeadLetter,
    Enqueued,
    Outgoing,
    QueueStats,
    Received,
)
from covetpy.tasks.message import decode

__all__ = ["MemoryBroker"]


class MemoryBroker:
    visibility = 30.0

    def __init__(self, url: str = "memory://") -> None:
        self.url = url
        self._ready: dict[tuple[str, int], deque[tuple[str, bytes]]] = {}
        self._delayed: list[tuple[float, int, str, str, int, bytes]] = []
        self._seq = itertools.count()
        self._keys: dict[str, tuple[str, float]] = {}
        self._results: dict[str, tuple[bytes, float]] = {}
        self._dead: dict[str, list[DeadLetter]] = {}
        self._running: dict[str, int] = {}
        self._cancelled: set[str] = set()
        self._arrived: asyncio.Event | None = None

    async def connect(self) -> None:
        self._arrived = asyncio.Event()

    async def close(self) -> None:
        pass

    def _wake(self) -> None:
        if self._arrived is not None:
            self._arrived.set()

    def _put(self, queue: str, priority: int, task_id: str, data: bytes) -> None:
        self._ready.setdefault((queue, priority), deque()).append((task_id, data))
        self._wake()

    async def enqueue(self, out: Outgoing) -> Enqueued:
        now = time.time()
        if out.key is not None:
            seen = self._keys.get(out.key)
            if seen is not None and seen[1] > now:
                return Enqueued(seen[0], duplicate=True)
            self._keys[out.key] = (out.id, now + out.key_ttl)
        if out.due > now:
            heapq.heappush(
                self._delayed, (out.due, next(self._seq), out.queue, out.id, out.priority, out.data)
            )
        else:
            self._put(out.queue, out.priority, out.id, out.data)
        return Enqueued(out.id, ref=out.id)

    async def prepare(self, queues: list[str]) -> None:
        pass

    def _take(self, queues: list[str], count: int) -> list[Received]:
        out: list[Received] = []
        for prio in PRIORITIES:
            for q in queues:
                ready = self._ready.get((q, prio))
                while ready and len(out) < count:
                    task_id, data = ready.popleft()
                    self._running[q] = self._running.get(q, 0) + 1
                    out.append(Received(q, prio, data, task_id))
        return out

    async def fetch(self, queues: list[str], count: int, wait: float) -> list[Received]:
        out = self._take(queues, count)
        if out or self._arrived is None:
            return out
        self._arrived.clear()
        try:
            await asyncio.wait_for(self._arrived.wait(), wait)
        except TimeoutError:
            return []
        return self._take(queues, count)

    def _ack(self, item: Received) -> None:
        self._running[item.queue] = self._running.get(item.queue, 1) - 1

    async def finish(
        self, item: Received, result: bytes | None, result_id: str, ttl: float
    ) -> None:
        self._ack(item)
        if result is not None:
            await self.store(result_id, result, ttl)

    async def store(self, task_id: str, result: bytes, ttl: float) -> None:
        self._results[task_id] = (result, time.time() + ttl)

    async def requeue(self, item: Received, data: bytes, due: float) -> None:
        self._ack(item)
        heapq.heappush(
            self._delayed, (due, next(self._seq), item.queue, str(item.ref), item.priority, data)
        )
        self._wake()

    async def release(self, items: list[Received]) -> None:
        for item in items:
            self._ack(item)
            self._ready.setdefault((item.queue, item.priority), deque()).appendleft(
                (str(item.ref), item.data)
            )
        self._wake()

    async def dead(self, item: Received | None, data: bytes, queue: str, reason: str) -> None:
        if item is not None:
            self._ack(item)
        try:
            task_id = decode(data).id
        except Exception:
            task_id = str(item.ref) if item is not None else "?"
        self._dead.setdefault(queue, []).append(DeadLetter(task_id, data, reason))

    async def keep_alive(self, items: list[Received]) -> None:
        pass

    async def reclaim(self, queues: list[str], count: int) -> list[Received]:
        return []

    async def promote(self) -> float:
        now = time.time()
        while self._delayed and self._delayed[0][0] <= now:
            _, _, queue, task_id, prio, data = heapq.heappop(self._delayed)
            if task_id in self._cancelled:
                self._cancelled.discard(task_id)
                continue
            self._put(queue, prio, task_id, data)
        return min(1.0, self._delayed[0][0] - now) if self._delayed else 1.0

    async def result(self, task_id: str) -> bytes | None:
        found = self._results.get(task_id)
        if found is None or found[1] < time.time():
            self._results.pop(task_id, None)
            return None
        return found[0]

    async def cancel(self, task_id: str, ref: str | None) -> bool:
        for ready in self._ready.values():
            for entry in ready:
                if entry[0] == task_id:
                    ready.remove(entry)
                    return True
        if any(d[3] == task_id for d in self._delayed):
            self._delayed = [d for d in self._delayed if d[3] != task_id]
            heapq.heapify(self._delayed)
            return True
        return False

    async def stats(self, queues: list[str] | None) -> list[QueueStats]:
        names = queues or sorted(
            {q for q, _ in self._ready} | set(self._dead) | {d[2] for d in self._delayed}
        )
        return [
            QueueStats(
                q,
                sum(len(self._ready.get((q, p), ())) for p in PRIORITIES),
                self._running.get(q, 0),
                sum(1 for d in self._delayed if d[2] == q),
                len(self._dead.get(q, ())),
            )
            for q in names
        ]

    async def dead_letters(self, queue: str | None, limit: int) -> list[DeadLetter]:
        found = [d for q, ds in self._dead.items() if queue in (None, q) for d in ds]
        return found[:limit]

    async def drop_dead(self, task_id: str) -> DeadLetter | None:
        for ds in self._dead.values():
            for d in ds:
                if d.id == task_id:
                    ds.remove(d)
                    return d
        return None
