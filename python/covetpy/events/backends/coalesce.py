"""Coalescing concurrent calls into one round trip.

Calls made in one turn of the event loop (32 publishers awaiting at once, 64 handlers
acking at once) are sent together when the loop next runs its callbacks: one pipeline of
scripts, one XACK with many ids. A lone call waits for nothing but that one turn.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

__all__ = ["Coalescer"]

A = TypeVar("A")
R = TypeVar("R")


class Coalescer(Generic[A, R]):
    """`await coalescer(arg)` returns `send([...args])[i]` for its own `arg`, where `send`
    received every argument of the calls made in the same loop turn (at most `limit`)."""

    def __init__(self, send: Callable[[list[A]], Awaitable[list[R]]], limit: int = 512) -> None:
        self._send = send
        self._limit = limit
        self._args: list[A] = []
        self._waiters: list[asyncio.Future[R]] = []
        self._scheduled = False
        self._tasks: set[asyncio.Task[None]] = set()

    async def __call__(self, arg: A) -> R:
        loop = asyncio.get_running_loop()
        waiter: asyncio.Future[R] = loop.create_future()
        self._args.append(arg)
        self._waiters.append(waiter)
        if len(self._args) >= self._limit:
            self._flush()
        elif not self._scheduled:
            self._scheduled = True
            loop.call_soon(self._flush)
        # Shielded: a caller that is cancelled leaves the batch to the others.
        return await asyncio.shield(waiter)

    def _flush(self) -> None:
        self._scheduled = False
        if not self._args:
            return
        args, waiters = self._args, self._waiters
        self._args, self._waiters = [], []
        task = asyncio.ensure_future(self._deliver(args, waiters))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _deliver(self, args: list[A], waiters: list[asyncio.Future[R]]) -> None:
        try:
            results = await self._send(args)
        except BaseException as exc:
            for waiter in waiters:
                if waiter.done():
                    continue
                if isinstance(exc, asyncio.CancelledError):
                    waiter.cancel()
                else:
                    waiter.set_exception(exc)
            if not isinstance(exc, Exception):
                raise
            return
        for waiter, result in zip(waiters, results, strict=True):
            if not waiter.done():
                waiter.set_result(result)
