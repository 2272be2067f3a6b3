"""Delayed runs and retries of the NATS task broker: the stream `S_DELAYED` and its one
consumer `scheduler`, shared by every worker.

JetStream 2.9 cannot hold a message until a time, but a consumer can hand one out again
after a delay: a worker's `promote` takes what the consumer has, moves the due ones to their
queue (publish, then ack) and naks the others with the time they have left, so the server
hands each out again when it is due and the next `promote` moves it. A nak'ed message stays
pending on the consumer, so its `max_ack_pending` is unlimited: delayed runs do not queue
behind one another.
"""

from __future__ import annotations

import asyncio
import heapq
import time
from typing import TYPE_CHECKING

from covetpy.tasks.backends.nats_pull import Pull, ack
from covetpy.tasks.message import decode

try:
    import nats.js.errors
    from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
except ImportError:  # without the tasks extra the module imports; NatsBroker() names it
    pass

if TYPE_CHECKING:
    from nats.aio.msg import Msg

    from covetpy.tasks.backends.nats import NatsBroker

__all__ = ["CONSUMER", "Scheduler"]

CONSUMER = "scheduler"
BATCH = 256


class Scheduler:
    """The `promote` of one broker."""

    def __init__(self, broker: NatsBroker) -> None:
        self._broker = broker
        self._pull: Pull | None = None
        self._dues: list[float] = []
        """Due times of the messages this scheduler nak'ed: when to look again."""

    async def _start(self) -> Pull:
        b = self._broker
        await b.js.add_consumer(
            b.delayed_stream,
            ConsumerConfig(
                durable_name=CONSUMER,
                filter_subject=f"{b.prefix}.d.>",
                deliver_policy=DeliverPolicy.ALL,
                ack_policy=AckPolicy.EXPLICIT,
                ack_wait=b.visibility,
                max_deliver=-1,
                max_ack_pending=-1,
            ),
        )
        pull = Pull(b.nc, b.delayed_stream, CONSUMER)
        await pull.start()
        self._pull = pull
        return pull

    async def stop(self) -> None:
        if self._pull is not None:
            await self._pull.stop()
            self._pull = None

    async def promote(self) -> float:
        """Moves the due messages; returns the seconds until it should run again (at most
        a second: one may be added meanwhile)."""
        pull = self._pull or await self._start()
        msgs = await pull.take(BATCH)
        now = time.time()
        due: list[tuple[Msg, str]] = []
        for m in msgs:
            try:
                message = decode(m.data)
                task_id, at = message.id, message.due
            except Exception:  # moved at once: the worker dead-letters it
                task_id, at = "", 0.0
            if at > now:
                await m.nak(delay=at - now)
                heapq.heappush(self._dues, at)
            else:
                due.append((m, task_id))
        if due:
            await self._move(due)
        if len(msgs) >= BATCH:
            return 0.0
        now = time.time()
        # A due time is kept 50 ms past it: the server hands the message out at that time,
        # and a look just before would find nothing.
        while self._dues and self._dues[0] < now - 0.05:
            heapq.heappop(self._dues)
        return min(1.0, max(0.005, self._dues[0] - now)) if self._dues else 1.0

    async def _move(self, due: list[tuple[Msg, str]]) -> None:
        b = self._broker
        dropped = await asyncio.gather(*(self._cancelled(tid) for _, tid in due))
        start = len(b.prefix) + 3  # P.d.<queue>.<priority> -> P.q.<queue>.<priority>
        sent = await asyncio.gather(
            *(
                b.publish(f"{b.prefix}.q.{m.subject[start:]}", m.data)
                for (m, _), drop in zip(due, dropped, strict=True)
                if not drop
            ),
            return_exceptions=True,
        )
        outcomes = iter(sent)
        failed: BaseException | None = None
        for (m, _), drop in zip(due, dropped, strict=True):
            outcome = None if drop else next(outcomes)
            if isinstance(outcome, BaseException):
                failed = failed or outcome  # not acked: moved again after `visibility`
            else:
                await ack(m)
        if failed is not None:
            raise failed

    async def _cancelled(self, task_id: str) -> bool:
        if not task_id:
            return False
        try:
            await self._broker.kv("CANCELS").get(task_id)
            return True
        except nats.js.errors.KeyNotFoundError:
            return False
