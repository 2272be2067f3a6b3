"""JetStream publishes that wait for the stream's ack, for the NATS task broker.

nats-py's `js.publish` is a `request`: a task for its timeout (`asyncio.wait_for`), a random
token, and a `PubAck` dataclass per call. An enqueue is one publish, so that is most of its
cost: here the replies come to one subscription (`<inbox>.<n>`), a timer handle stands for
the timeout and the ack's sequence is all that is read. Measured with the 1 KiB bench task
(one process, 64 coroutines enqueueing, a local nats-server on the same 2 cores): 48 -> 28 µs
of client CPU per enqueue, 10,000 -> 16,000 enqueues/s.
"""

from __future__ import annotations

import asyncio
import itertools
import json
from typing import TYPE_CHECKING

try:
    import nats.errors
    import nats.js.errors
except ImportError:  # without the tasks extra the module imports; NatsBroker() names it
    pass

if TYPE_CHECKING:
    from nats.aio.client import Client
    from nats.aio.msg import Msg
    from nats.aio.subscription import Subscription

__all__ = ["Publisher"]


class Publisher:
    """Publishes on one connection and returns each message's stream sequence."""

    def __init__(self, nc: Client, timeout: float) -> None:
        self._nc = nc
        self._timeout = timeout
        self._prefix = ""
        self._cut = 0
        self._sub: Subscription | None = None
        self._waiting: dict[str, asyncio.Future[int]] = {}
        self._tokens = itertools.count()

    async def start(self) -> None:
        self._prefix = self._nc.new_inbox()
        self._cut = len(self._prefix) + 1
        self._sub = await self._nc.subscribe(f"{self._prefix}.*", cb=self._reply)

    async def stop(self) -> None:
        if self._sub is not None:
            sub, self._sub = self._sub, None
            try:
                await sub.unsubscribe()
            except Exception:  # a closed connection has no subscriptions left to remove
                pass
        for fut in self._waiting.values():
            if not fut.done():
                fut.set_exception(nats.errors.ConnectionClosedError())

    async def publish(
        self, subject: str, data: bytes, headers: dict[str, str] | None = None
    ) -> int:
        """The sequence the stream stored `data` at; raises the stream's error (or
        `nats.errors.TimeoutError` without an answer, `NoStreamResponseError` without a
        stream on `subject`)."""
        token = str(next(self._tokens))
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[int] = loop.create_future()
        self._waiting[token] = fut
        timer = loop.call_later(self._timeout, _expire, fut)
        try:
            await self._nc.publish(subject, data, reply=f"{self._prefix}.{token}", headers=headers)
            return await fut
        finally:
            timer.cancel()
            del self._waiting[token]

    async def _reply(self, msg: Msg) -> None:
        fut = self._waiting.get(msg.subject[self._cut :])
        if fut is None or fut.done():
            return  # answered after its timeout
        if not msg.data and msg.headers and msg.headers.get("Status") == "503":
            fut.set_exception(nats.js.errors.NoStreamResponseError())
            return
        try:
            ack = json.loads(msg.data)
            if "error" in ack:
                nats.js.errors.APIError.from_error(ack["error"])  # raises the error's class
            fut.set_result(int(ack["seq"]))
        except Exception as exc:
            fut.set_exception(exc)


def _expire(fut: asyncio.Future[int]) -> None:
    if not fut.done():
        fut.set_exception(nats.errors.TimeoutError())
