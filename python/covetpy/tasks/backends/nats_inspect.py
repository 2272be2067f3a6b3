"""What `covetpy tasks` shows of a NATS task broker: the queues' counts and the dead letters."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from covetpy.tasks.backends.base import DeadLetter, QueueStats
from covetpy.tasks.backends.nats_pull import Pull

try:
    from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
except ImportError:  # without the tasks extra the module imports; NatsBroker() names it
    pass

if TYPE_CHECKING:
    from nats.js import JetStreamContext

    from covetpy.tasks.backends.nats import NatsBroker

__all__ = ["dead_letters", "stats"]

logger = logging.getLogger("covetpy.tasks")

LEVELS = ("high", "normal", "low")


async def _counts(js: JetStreamContext, stream: str, pattern: str, skip: int) -> dict[str, int]:
    """Messages per queue in `stream` (subjects `pattern`, the queue after `skip` chars)."""
    info = await js.stream_info(stream, subjects_filter=pattern)
    out: dict[str, int] = {}
    for subject, n in (info.state.subjects or {}).items():
        queue = subject[skip:].split(".", 1)[0]
        out[queue] = out.get(queue, 0) + n
    return out


async def stats(broker: NatsBroker, queues: list[str] | None) -> list[QueueStats]:
    """Per queue: `ready` and `running` from its consumers (from its subjects before any
    worker made them), `delayed` and `dead` from the subjects of those streams."""
    js, p = broker.js, broker.prefix
    stored = await _counts(js, broker.stream, f"{p}.q.>", len(p) + 3)
    delayed = await _counts(js, broker.delayed_stream, f"{p}.d.>", len(p) + 3)
    dead = await _counts(js, broker.dead_stream, f"{p}.dead.>", len(p) + 6)
    # From the consumers: an acked message may stay in the stream for a moment.
    ready: dict[str, int] = {}
    running: dict[str, int] = {}
    for info in await broker.js.consumers_info(broker.stream):
        head, _, level = info.name.rpartition("_")
        if head.startswith("w_") and level in LEVELS:
            q = head[2:]
            ready[q] = ready.get(q, 0) + (info.num_pending or 0)
            running[q] = running.get(q, 0) + (info.num_ack_pending or 0)
    names = queues or sorted(set(stored) | set(delayed) | set(dead) | set(running))
    return [
        QueueStats(
            q,
            ready[q] if q in ready else stored.get(q, 0),
            running.get(q, 0),
            delayed.get(q, 0),
            dead.get(q, 0),
        )
        for q in names
    ]


async def dead_letters(broker: NatsBroker, queue: str | None, limit: int) -> list[DeadLetter]:
    """The oldest `limit` dead letters (of `queue`, or all), read by an ephemeral consumer
    without acks (gone 30 s after its last use if deleting it fails)."""
    info = await broker.js.add_consumer(
        broker.dead_stream,
        ConsumerConfig(
            filter_subject=f"{broker.prefix}.dead.{queue or '>'}",
            deliver_policy=DeliverPolicy.ALL,
            ack_policy=AckPolicy.NONE,
            inactive_threshold=30.0,
            mem_storage=True,
        ),
    )
    pull = Pull(broker.nc, broker.dead_stream, info.name)
    await pull.start()
    out: list[DeadLetter] = []
    try:
        while len(out) < limit:
            msgs = await pull.take(min(256, limit - len(out)))
            if not msgs:
                break
            for m in msgs:
                headers = m.headers or {}
                out.append(
                    DeadLetter(
                        headers.get("Covetpy-Task-Id", "?"),
                        m.data,
                        headers.get("Covetpy-Reason", ""),
                        ref=m.metadata.sequence.stream,
                    )
                )
    finally:
        await pull.stop()
        try:
            await broker.js.delete_consumer(broker.dead_stream, info.name)
        except Exception as exc:
            logger.debug("tasks: could not delete the reading consumer: %r", exc)
    return out
