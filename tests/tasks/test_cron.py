"""Cron expressions and intervals: the parser's errors, and `next` against a brute-force scan."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from covetpy.tasks.cron import Every, parse


def at(*args: int) -> float:
    return datetime(*args, tzinfo=UTC).timestamp()  # type: ignore[misc]


def test_examples() -> None:
    t = at(2026, 1, 1, 0, 3)  # a Thursday
    assert parse("*/5 * * * *").next(t) == at(2026, 1, 1, 0, 5)
    assert parse("*/2 * * * * *").next(t) == at(2026, 1, 1, 0, 3, 2)
    assert parse("0 9 * * 1").next(t) == at(2026, 1, 5, 9, 0)  # next Monday
    assert parse("0 0 29 2 *").next(t) == at(2028, 2, 29)  # the next leap day
    assert parse("30 4 1,15 * 0").next(t) == at(2026, 1, 1, 4, 30)  # day 1/15 OR Sunday
    assert parse("30 4 15 * 0").next(t) == at(2026, 1, 4, 4, 30)  # the Sunday first
    assert parse("0 0 * * 7").next(t) == parse("0 0 * * 0").next(t)  # 7 is Sunday too
    assert Every(5).next(12.3) == 15 and Every(5).next(15) == 20


@pytest.mark.parametrize(
    ("expression", "message"),
    [
        ("* * * *", "5 fields (or 6 with seconds first), not 4"),
        ("61 * * * *", "minute field '61': outside 0-59"),
        ("*/0 * * * *", "minute field '*/0': outside 0-59 or a bad step"),
        ("a * * * *", "minute field 'a': not a number"),
        ("0 0 31 2 *", "never fires"),
    ],
)
def test_errors(expression: str, message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        parse(expression).next(at(2026, 1, 1))


def brute(expression: str, after: float) -> float:
    """The first whole minute after `after` that matches, by checking every minute."""
    fields = expression.split()
    c = parse(expression)
    t = datetime.fromtimestamp(after, UTC).replace(second=0) + timedelta(minutes=1)
    for _ in range(60 * 24 * 400):
        dom, dow = t.day in c.day, (t.isoweekday() % 7) in c.weekday
        day_ok = (dom and dow) if "*" in (fields[2], fields[4]) else (dom or dow)
        if t.minute in c.minute and t.hour in c.hour and t.month in c.month and day_ok:
            return t.timestamp()
        t += timedelta(minutes=1)
    raise AssertionError("no match in 400 days")


field = st.one_of(st.just("*"), st.builds(lambda n: f"*/{n}", st.integers(1, 20)))


@settings(max_examples=60, deadline=None)
@given(
    minute=st.one_of(field, st.integers(0, 59).map(str)),
    hour=st.one_of(field, st.integers(0, 23).map(str)),
    day=st.one_of(st.just("*"), st.integers(1, 28).map(str)),
    weekday=st.one_of(st.just("*"), st.integers(0, 6).map(str)),
    after=st.integers(int(at(2025, 1, 1)), int(at(2027, 1, 1))),
)
def test_next_matches_a_brute_force_scan(
    minute: str, hour: str, day: str, weekday: str, after: int
) -> None:
    expression = f"{minute} {hour} {day} * {weekday}"
    assert parse(expression).next(after) == brute(expression, after)
