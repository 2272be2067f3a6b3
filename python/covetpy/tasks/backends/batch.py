"""Calls made while a round trip is in flight go together in the next one.

`events.backends.coalesce.Coalescer` batches the calls of one loop turn; a busy worker makes
its calls over many turns, and each turn's batch would take a connection of its own. Here at
most `depth` batches are in flight: the calls made meanwhile wait and go as one batch when a
round trip comes back, so the batch grows with the load (Nagle's algorithm, for round trips)
and a lone call still goes at once.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

__all__ = ["Batcher"]

A = TypeVar("A")
R = TypeVar("R")


class Batcher(Generic[A, R]):
    """`await batcher(arg)` returns `send(batch)[i]` for its own `arg`; `send` may return an
    exception for an item, which is raised to that caller only."""

    def __init__(
        self,
        send: Callable[[list[A]], Awaitable[list[R | Exception]]],
        depth: int = 2,
        limit: int = 1000,
    ) -> None:
        self._send = send
        self._depth = depth
        self._limit = limit
        self._args: list[A] = []
        self._waiters: list[asyncio.Future[R]] = []
        self._inflight = 0
        self._scheduled = False
        self._tasks: set[asyncio.Task[None]] = set()

    async def __call__(self, arg: A) -> R:
        waiter: asyncio.Future[R] = asyncio.get_running_loop().create_future()
        self._args.append(arg)
        self._waiters.append(waiter)
        if not self._scheduled and self._inflight < self._depth:
            # The rest of this loop turn's calls join this batch.
            self._scheduled = True
            asyncio.get_running_loop().call_soon(self._flush)
        # Not shielded: a caller that is cancelled leaves its item in the batch (sent anyway).
        return await waiter

    def _flush(self) -> None:
        self._scheduled = False
        while self._args and self._inflight < self._depth:
            args, waiters = self._args[: self._limit], self._waiters[: self._limit]
            del self._args[: self._limit], self._waiters[: self._limit]
            self._inflight += 1
            task = asyncio.ensure_future(self._deliver(args, waiters))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _deliver(self, args: list[A], waiters: list[asyncio.Future[R]]) -> None:
        try:
            results = await self._send(args)
        except BaseException as exc:
            for w in waiters:
                if not w.done():
                    w.set_exception(
                        exc if isinstance(exc, Exception) else ConnectionError(repr(exc))
                    )
            if not isinstance(exc, Exception):
                raise
        else:
            for w, r in zip(waiters, results, strict=True):
                if w.done():
                    continue
                if isinstance(r, Exception):
                    w.set_exception(r)
                else:
                    w.set_result(r)
        finally:
            self._inflight -= 1
            if self._args:
                self._flush()
