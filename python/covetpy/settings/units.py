"""Durations ("30s", "1h30m", "250ms") and sizes ("10MiB", "1GB", "512k") in settings.

`Duration` and `ByteSize` are `Annotated` aliases of `float` and `int`: to a type checker and at
run time a field holds a plain number (seconds, bytes); the marker only tells the loader to
accept a unit after it. A bare number is seconds or bytes.

Sizes follow two conventions at once, each unambiguous: SI suffixes (`kB`/`KB`, `MB`, `GB`,
`TB`) are powers of 1000, IEC ones (`KiB`, `MiB`, `GiB`, `TiB`) and the single letters of
nginx and friends (`k`, `m`, `g`, `t`) powers of 1024.
"""

from __future__ import annotations

import re
from typing import Annotated, Final

__all__ = ["ByteSize", "Duration", "parse_duration", "parse_size"]


class Unit:
    """The marker in `Duration`/`ByteSize`: which parser reads a string value."""

    def __init__(self, name: str) -> None:
        self.name = name

    def __repr__(self) -> str:
        return f"Unit({self.name!r})"


DURATION: Final = Unit("duration")
SIZE: Final = Unit("size")

Duration = Annotated[float, DURATION]
"""Seconds, as a float; from a string also with units: "250ms", "30s", "5m", "1h30m", "2d"."""

ByteSize = Annotated[int, SIZE]
"""Bytes, as an int; from a string also with units: "512k", "10MiB", "1GB"."""

_SECONDS = {"us": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(us|ms|s|m|h|d)")
_SIZE = re.compile(r"(\d+(?:\.\d+)?)\s*([a-z]*)")
_BYTES = {
    "": 1,
    "b": 1,
    "k": 1 << 10,
    "m": 1 << 20,
    "g": 1 << 30,
    "t": 1 << 40,
    "kib": 1 << 10,
    "mib": 1 << 20,
    "gib": 1 << 30,
    "tib": 1 << 40,
    "kb": 10**3,
    "mb": 10**6,
    "gb": 10**9,
    "tb": 10**12,
}


def parse_duration(text: str) -> float:
    """Seconds in `text` ("1h30m" -> 5400.0; "2.5" -> 2.5); ValueError if it is not one."""
    s = text.strip().replace(" ", "")
    try:
        return float(s)
    except ValueError:
        pass
    pos, total = 0, 0.0
    for m in _DURATION_PART.finditer(s):
        if m.start() != pos:
            break
        total += float(m.group(1)) * _SECONDS[m.group(2)]
        pos = m.end()
    if pos != len(s) or not s:
        raise ValueError(f'expected a duration such as "30s", "1h30m" or "250ms", got "{text}"')
    return total


def parse_size(text: str) -> int:
    """Bytes in `text` ("10MiB" -> 10485760; "1GB" -> 10**9; "512k" -> 524288)."""
    m = _SIZE.fullmatch(text.strip().lower())
    factor = _BYTES.get(m.group(2)) if m else None
    if m is None or factor is None:
        raise ValueError(f'expected a size such as "512k", "10MiB" or "1GB", got "{text}"')
    return int(float(m.group(1)) * factor)
