"""What happens when a handler fails: retries with exponential backoff, then a dead-letter
topic once an event has been delivered `max_deliveries` times.

Deliveries are counted by the backend (Redis: the consumer group's delivery counter, shown
by XPENDING; JetStream: `num_delivered`), so a delivery to a consumer that died counts too:
an event that kills every process handling it ends in the dead-letter topic instead of
being redelivered forever.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from covetpy.exceptions import CovetError

__all__ = ["Backoff", "NonRetryable", "RetryPolicy"]


class NonRetryable(CovetError):
    """Raised by a handler for an event that no retry can help (it is dead-lettered at once)."""


@dataclass(frozen=True)
class Backoff:
    """Delay before delivery `n + 1` after delivery `n` failed:
    `min(maximum, initial * factor ** (n - 1))`, spread by ± `jitter` (a fraction) so that
    consumers failing together do not retry together."""

    initial: float = 0.1
    factor: float = 2.0
    maximum: float = 30.0
    jitter: float = 0.1

    def delay(self, deliveries: int) -> float:
        """Seconds to wait after the `deliveries`-th delivery failed."""
        base = min(self.maximum, self.initial * self.factor ** max(0, deliveries - 1))
        if self.jitter:
            base *= 1.0 + random.uniform(-self.jitter, self.jitter)
        return max(0.0, base)


@dataclass(frozen=True)
class RetryPolicy:
    """Retries of one subscription.

    `dead_letter` is the topic a failed event is published to, with `{topic}` standing for
    the event's own topic (`dlq.orders.created`); None drops it (logged as an error).
    """

    max_deliveries: int = 5
    backoff: Backoff = field(default_factory=Backoff)
    dead_letter: str | None = "dlq.{topic}"

    def __post_init__(self) -> None:
        if self.max_deliveries < 1:
            raise ValueError("max_deliveries must be at least 1")

    def dead_letter_topic(self, topic: str) -> str | None:
        """Where a failed event of `topic` goes, or None. Events that are already dead letters
        are not dead-lettered again (a failing `>` subscription would otherwise loop)."""
        if self.dead_letter is None:
            return None
        prefix = self.dead_letter.split("{topic}", 1)[0]
        if prefix and topic.startswith(prefix):
            return None
        return self.dead_letter.format(topic=topic)
