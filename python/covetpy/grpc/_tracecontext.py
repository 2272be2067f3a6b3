"""W3C Trace Context (https://www.w3.org/TR/trace-context/) for calls served while tracing is
off: each call still gets a span id of its own, so the trace id flows on and the hops can be
told apart in logs."""

from __future__ import annotations

import random
import re

__all__ = ["child_of", "parse"]

# §3.2.2: version 00 has exactly these four fields; ids are lower-case hex and not all zeros.
_TRACEPARENT = re.compile(r"00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})")
_ZERO_TRACE = "0" * 32
_ZERO_SPAN = "0" * 16


def parse(traceparent: str | None) -> tuple[str, str, str] | None:
    """(trace id, parent span id, flags) of a valid version-00 `traceparent`, else None
    (§3.2: a receiver that cannot parse it starts a new trace)."""
    if not traceparent:
        return None
    match = _TRACEPARENT.fullmatch(traceparent.strip())
    if match is None:
        return None
    trace, span, flags = match.groups()
    if trace == _ZERO_TRACE or span == _ZERO_SPAN:
        return None
    return trace, span, flags


def child_of(parent: tuple[str, str, str] | None) -> str:
    """A `traceparent` for a new span: in the parent's trace with its flags, or at the root of
    a new, unsampled trace (nothing records it while tracing is off)."""
    # Span and trace ids need to be unique, not unpredictable: `random` is enough (as in the
    # OpenTelemetry SDK's id generator) and costs less than `secrets`.
    span = f"{random.getrandbits(64) or 1:016x}"
    if parent is None:
        return f"00-{random.getrandbits(128) or 1:032x}-{span}-00"
    trace, _, flags = parent
    return f"00-{trace}-{span}-{flags}"
