"""Which consumers of an idle worker may have messages, learnt from the publishes themselves.

A worker that finds its queues empty subscribes (core NATS) to their subjects: every publish
to a queue (an enqueue, a retry or delayed run moved there, a run given back) now also reaches
it, and marks that queue and priority's consumer `dirty`. A look then asks only the dirty
consumers, and one that answers with less than asked is clean again, so an idle worker waits
on an event instead of polling, and a lone enqueue costs it one pull request, not one per
priority. benches/tasks.py, 1 KiB task paced at 1,060/s, one worker: enqueue-to-start p50/p99
2.7/10.3 ms with a subscription per idle wait and every consumer asked, 0.9/3.3 ms watching
(worker CPU per 1,000 tasks 0.27 -> 0.32 s: the looks again after `SETTLE`).

A message handed out again after its worker died is no publish: a full look every `wait`
seconds (the worker's 1 s) finds it. The copies cost the worker a callback per publish, so a
worker that finds a backlog stops watching (`nats.py`).
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from nats.aio.client import Client
    from nats.aio.msg import Msg
    from nats.aio.subscription import Subscription

__all__ = ["Watch"]

Pair = tuple[str, int]

SETTLE = 0.005
"""Seconds after a wake-up during which an empty answer does not make the consumer clean:
the copy of a publish may reach the worker before the stream has stored the message."""


class Watch:
    """The subscriptions of one worker's queues and what they told it."""

    def __init__(self, nc: Client, prefix: str, queues: list[str], levels: dict[str, int]) -> None:
        self._nc = nc
        self._prefix = prefix
        self.queues = list(queues)
        self._levels = levels
        self._cut = len(prefix) + 3
        self._subs: list[Subscription] = []
        self._woken: dict[Pair, tuple[int, float]] = {}
        """Per consumer: how many wake-ups so far, and the loop time of the last one."""
        self._dirty: set[Pair] = set()
        self._event = asyncio.Event()

    async def start(self, pairs: list[Pair], timeout: float) -> None:
        """Subscribes and waits until the server has the subscriptions (a publish from now
        on is seen); every consumer is dirty until looked at."""
        for q in self.queues:
            self._subs.append(await self._nc.subscribe(f"{self._prefix}.q.{q}.*", cb=self._wake))
        await self._nc.flush(max(1, int(timeout)))
        self._dirty.update(pairs)

    async def stop(self) -> None:
        subs, self._subs = self._subs, []
        for sub in subs:
            try:
                await sub.unsubscribe()
            except Exception:  # gone with the connection
                pass

    async def _wake(self, msg: Msg) -> None:
        queue, _, level = msg.subject[self._cut :].rpartition(".")
        pair = (queue, self._levels.get(level, 0))
        count, _ = self._woken.get(pair, (0, 0.0))
        self._woken[pair] = (count + 1, asyncio.get_running_loop().time())
        self._dirty.add(pair)
        self._event.set()

    def dirty(self, pairs: list[Pair]) -> list[Pair]:
        """Those of `pairs` that may have messages, in their order."""
        return [p for p in pairs if p in self._dirty]

    def mark(self, pair: Pair) -> int:
        """A look at `pair` starts: the token `empty` needs."""
        return self._woken.get(pair, (0, 0.0))[0]

    def empty(self, pair: Pair, mark: int) -> None:
        """`pair` answered with less than asked: clean, unless woken since `mark` or too
        recently (its message may not be stored yet)."""
        count, at = self._woken.get(pair, (0, 0.0))
        if count == mark and asyncio.get_running_loop().time() - at > SETTLE:
            self._dirty.discard(pair)

    async def wait(self, pairs: list[Pair], timeout: float) -> None:
        """Until a publish to one of `pairs` (at most `timeout` seconds); a pair woken too
        recently to be clean is looked at again when `SETTLE` has passed."""
        dirty = self.dirty(pairs)
        if dirty:
            now = asyncio.get_running_loop().time()
            settled = min(self._woken.get(p, (0, 0.0))[1] for p in dirty) + SETTLE
            timeout = min(timeout, max(0.001, settled - now))
        self._event.clear()
        try:
            await asyncio.wait_for(self._event.wait(), timeout)
        except TimeoutError:
            pass
