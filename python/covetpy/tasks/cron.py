"""When periodic tasks tick: cron expressions (5 fields, or 6 with seconds first) and fixed
intervals.

Hand-written (about 80 lines) because it is small and the usual library, croniter, was
declared unmaintained by its author in 2024; only the standard syntax is taken: `*`, `a`,
`a-b`, `*/n`, `a-b/n`, lists with `,`; day of week 0-7 (0 and 7: Sunday). As in cron, when
both day of month and day of week are restricted a day matching either runs. Times are UTC.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

__all__ = ["Cron", "Every", "Schedule", "parse"]

_FIELDS = (("second", 0, 59), ("minute", 0, 59), ("hour", 0, 23), ("day", 1, 31),
           ("month", 1, 12), ("weekday", 0, 7))  # fmt: skip


def _field(text: str, name: str, lo: int, hi: int) -> frozenset[int]:
    values: set[int] = set()
    for part in text.split(","):
        body, _, step_text = part.partition("/")
        try:
            step = int(step_text) if step_text else 1
            if body == "*":
                start, end = lo, hi
            elif "-" in body:
                a, b = body.split("-", 1)
                start, end = int(a), int(b)
            else:
                start = int(body)
                end = hi if step_text else start
        except ValueError:
            raise ValueError(f"cron {name} field {text!r}: not a number, range or */n") from None
        if step < 1 or not lo <= start <= end <= hi:
            raise ValueError(f"cron {name} field {text!r}: outside {lo}-{hi} or a bad step")
        values.update(range(start, end + 1, step))
    return frozenset(values)


@dataclass(frozen=True)
class Cron:
    """A cron expression; `next(after)` is the first tick strictly after `after` (Unix time)."""

    expression: str
    second: frozenset[int]
    minute: frozenset[int]
    hour: frozenset[int]
    day: frozenset[int]
    month: frozenset[int]
    weekday: frozenset[int]
    any_day: bool
    any_weekday: bool

    def _day_ok(self, t: datetime) -> bool:
        dom = t.day in self.day
        dow = (t.isoweekday() % 7) in self.weekday
        if self.any_day or self.any_weekday:
            return dom and dow
        return dom or dow

    def next(self, after: float) -> float:
        t = datetime.fromtimestamp(math.floor(after) + 1, UTC)
        for _ in range(366 * 24 * 60 * 2):  # bounded: an impossible date (Feb 30) ends here
            if t.month not in self.month or not self._day_ok(t):
                t = (t + timedelta(days=1)).replace(hour=0, minute=0, second=0)
            elif t.hour not in self.hour:
                t = (t + timedelta(hours=1)).replace(minute=0, second=0)
            elif t.minute not in self.minute:
                t = (t + timedelta(minutes=1)).replace(second=0)
            elif t.second not in self.second:
                t += timedelta(seconds=1)
            else:
                return t.timestamp()
        raise ValueError(f"cron {self.expression!r} never fires")


@dataclass(frozen=True)
class Every:
    """A fixed interval in seconds, ticking at multiples of it since the Unix epoch (so every
    replica agrees on the ticks)."""

    seconds: float

    def next(self, after: float) -> float:
        return (math.floor(after / self.seconds) + 1) * self.seconds


Schedule = Cron | Every


def parse(expression: str) -> Cron:
    """A `Cron` from 5 fields (minute hour day month weekday) or 6 (seconds first)."""
    parts = expression.split()
    if len(parts) == 5:
        parts = ["0", *parts]
    if len(parts) != 6:
        raise ValueError(
            f"cron {expression!r}: 5 fields (or 6 with seconds first), not {len(parts)}"
        )
    sec, minute, hour, day, month, dow = (
        _field(p, *spec) for p, spec in zip(parts, _FIELDS, strict=True)
    )
    weekday = frozenset(d % 7 for d in dow)
    return Cron(
        expression, sec, minute, hour, day, month, weekday, parts[3] == "*", parts[5] == "*"
    )
