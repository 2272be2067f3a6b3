"""Reading a JetStream pull consumer with no-wait requests, for the NATS task broker.

nats-py's `PullSubscription.fetch` follows an empty no-wait request with a waiting one, which
stays on the server until it expires: a message published meanwhile is delivered to a worker
that may have stopped waiting (or is now busy), and it sits there, unacked, until the
visibility timeout hands it to someone else as a second delivery. Here a request never waits
on the server (`no_wait`, no `expires`): the server answers at once with what it has (ended by
a `404`/`408` status when that is less than the batch), so a worker holds only what it asked
for. Waiting for new messages is the broker's job (a core subscription on the queue's
subjects, see `nats.py`).
"""

from __future__ import annotations

import asyncio
import json
from collections import deque
from typing import TYPE_CHECKING

from covetpy.tasks.errors import TaskError

try:
    import nats.errors
except ImportError:  # without the tasks extra the module imports; NatsBroker() names it
    pass

if TYPE_CHECKING:
    from nats.aio.client import Client
    from nats.aio.msg import Msg
    from nats.aio.subscription import Subscription

__all__ = ["NatsUnavailable", "NoAnswer", "NoConsumer", "Pull", "ack"]

REPLY_TIMEOUT = 2.0
"""Seconds a request waits for the server's first answer; past it the request raises (the
server is away: the worker backs off) rather than waiting for the reconnect."""


class NatsUnavailable(TaskError, ConnectionError):
    """The broker is not connected to NATS (not yet, or reconnecting)."""


class NoConsumer(NatsUnavailable):
    """The consumer does not answer (`503`: deleted, or JetStream not ready after a restart)."""


class NoAnswer(TaskError, TimeoutError):
    """The server did not answer a pull request in time."""


class Pull:
    """One pull consumer, read through an inbox of its own. Messages delivered after their
    request gave up (a reply slower than `REPLY_TIMEOUT`) are kept and handed out first."""

    def __init__(self, nc: Client, stream: str, consumer: str) -> None:
        self._nc = nc
        self.consumer = consumer
        self._subject = f"$JS.API.CONSUMER.MSG.NEXT.{stream}.{consumer}"
        self._inbox = ""
        self._sub: Subscription | None = None
        self._got: deque[Msg] = deque()
        self._ends = 0
        self._missing = False
        self._changed = asyncio.Event()
        self._lock = asyncio.Lock()

    async def start(self) -> None:
        self._inbox = self._nc.new_inbox()
        self._sub = await self._nc.subscribe(self._inbox, cb=self._arrived)

    async def stop(self) -> None:
        if self._sub is not None:
            sub, self._sub = self._sub, None
            try:
                await sub.unsubscribe()
            except Exception:  # a closed connection has no subscriptions left to remove
                pass

    async def _arrived(self, msg: Msg) -> None:
        status = msg.headers.get("Status") if msg.headers and not msg.data else None
        if status is None:
            self._got.append(msg)
        elif status == "503":
            self._missing = True
            self._ends += 1
        elif status != "100":  # 100: a heartbeat or flow control, not an answer
            self._ends += 1
        self._changed.set()

    async def take(self, count: int, timeout: float = REPLY_TIMEOUT) -> list[Msg]:
        """Up to `count` messages the consumer has now (none: `[]` at once)."""
        async with self._lock:
            out: list[Msg] = []
            while self._got and len(out) < count:
                out.append(self._got.popleft())
            if len(out) >= count:
                return out
            if not self._nc.is_connected:
                if out:
                    return out
                raise NatsUnavailable("tasks: not connected to NATS (reconnecting)")
            # An end that arrived after its request gave up would cut this one short.
            self._ends = 0
            self._missing = False
            need = count - len(out)
            await self._nc.publish(
                self._subject,
                json.dumps({"batch": need, "no_wait": True}).encode(),
                reply=self._inbox,
            )
            loop = asyncio.get_running_loop()
            deadline = loop.time() + timeout
            while need > 0:
                if self._got:
                    out.append(self._got.popleft())
                    need -= 1
                    continue
                if self._ends:
                    break
                left = deadline - loop.time()
                if left <= 0:
                    if out:
                        break
                    raise NoAnswer(f"tasks: no answer from consumer {self.consumer} in {timeout}s")
                self._changed.clear()
                try:
                    await asyncio.wait_for(self._changed.wait(), left)
                except TimeoutError:
                    pass
            if self._missing and not out:
                raise NoConsumer(f"tasks: consumer {self.consumer} does not answer (503)")
            return out


async def ack(msg: Msg) -> None:
    """Acks `msg` without waiting for the server (a lost ack means a second run, which
    at-least-once allows; a round trip per run would halve the throughput)."""
    try:
        await msg.ack()
    except nats.errors.MsgAlreadyAckdError:
        pass
