"""Durations and sizes with units (covetpy.settings.units)."""

from __future__ import annotations

import pytest

from covetpy.settings import parse_duration, parse_size


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("30s", 30.0),
        ("5m", 300.0),
        ("1h30m", 5400.0),
        ("250ms", 0.25),
        ("2d", 172800.0),
        ("1.5s", 1.5),
        ("500us", 0.0005),
        ("12", 12.0),
        ("0.5", 0.5),
        (" 1h 30m ", 5400.0),
    ],
)
def test_durations(text: str, seconds: float) -> None:
    assert parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize("text", ["", "s", "5x", "1h30", "m5", "-1s"])
def test_bad_durations(text: str) -> None:
    with pytest.raises(ValueError, match="expected a duration"):
        parse_duration(text)


@pytest.mark.parametrize(
    ("text", "size"),
    [
        ("512", 512),
        ("512B", 512),
        ("512k", 512 * 1024),
        ("10MiB", 10 * 1024 * 1024),
        ("10mib", 10 * 1024 * 1024),
        ("1GB", 10**9),
        ("1kB", 1000),
        ("2g", 2 << 30),
        ("1.5KiB", 1536),
    ],
)
def test_sizes(text: str, size: int) -> None:
    assert parse_size(text) == size


@pytest.mark.parametrize("text", ["", "MB", "10 parsecs", "1e3"])
def test_bad_sizes(text: str) -> None:
    with pytest.raises(ValueError, match="expected a size"):
        parse_size(text)
