"""Logs as one JSON object per line, carrying the trace and request they were written under.

```json
{"time": "2026-11-22T10:00:00.123Z", "level": "INFO", "logger": "shop", "message": "paid",
 "pid": 4242, "trace_id": "4bf9…", "span_id": "00f0…", "request_id": "r-1", "order": 42}
```

`trace_id` and `span_id` are those of the current span while tracing is on, else those of the
call being served (`covetpy.mesh.context.current`: the span the Rust core opened and wrote in
its access log), so a log line joins its request in either case. Fields passed with
`extra=` follow; one named like a field above gets a `_` appended.
"""

from __future__ import annotations

import logging
import sys
import time
from typing import IO, Any, Literal

import msgspec

from covetpy.mesh import context as mesh
from covetpy.observability import tracing

__all__ = ["JsonFormatter", "configure", "trace_fields"]

TEXT_FORMAT = "%(levelname)s covetpy[%(process)d]: %(message)s"

# What every LogRecord has: anything else on a record came from `extra=`.
_RECORD_ATTRS = frozenset((*vars(logging.makeLogRecord({})), "message", "asctime", "taskName"))
_FIELDS = frozenset(
    ("time", "level", "logger", "message", "pid", "exception", "stack", "trace_id", "span_id")
) | {"request_id"}


def trace_fields() -> dict[str, str]:
    """`trace_id`, `span_id` and `request_id` of the current context (those known)."""
    fields: dict[str, str] = {}
    call = mesh.current.get()
    # The event bus's own variables, set only once it is loaded (and by code written for it).
    events = sys.modules.get("covetpy.events.context")
    ids = tracing.current_ids()
    if ids is None:
        traceparent = call.traceparent if call is not None else None
        if traceparent is None and events is not None:
            traceparent = events.traceparent.get()
        # version "-" trace-id (32 hex) "-" parent-id (16 hex) "-" flags: W3C Trace Context §3.2
        if traceparent and len(traceparent) >= 55:
            ids = traceparent[3:35], traceparent[36:52]
    if ids is not None:
        fields["trace_id"], fields["span_id"] = ids
    request_id = call.request_id if call is not None else None
    if request_id is None and events is not None:
        request_id = events.request_id.get()
    if request_id:
        fields["request_id"] = request_id
    return fields


def _rfc3339(created: float) -> str:
    seconds = int(created)
    millis = int((created - seconds) * 1000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds)) + f".{millis:03d}Z"


class JsonFormatter(logging.Formatter):
    """Formats a record as one line of JSON: `time` (RFC 3339, UTC), `level`, `logger`,
    `message`, `pid`, `exception` and `stack` when there are, the trace fields
    (`trace_fields`) and the `extra=` fields (not JSON-able values as `str()`)."""

    def __init__(self) -> None:
        super().__init__()
        self._encoder = msgspec.json.Encoder(enc_hook=str)

    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "time": _rfc3339(record.created),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "pid": record.process,
        }
        if record.exc_info:
            if not record.exc_text:
                record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            out["exception"] = record.exc_text
        if record.stack_info:
            out["stack"] = self.formatStack(record.stack_info)
        out.update(trace_fields())
        for key, value in vars(record).items():
            if key not in _RECORD_ATTRS:
                out[f"{key}_" if key in _FIELDS else key] = value
        try:
            return self._encoder.encode(out).decode()
        except Exception:  # a value that refers to itself, a __str__ that raises, ...
            return self._encoder.encode({k: _plain(v) for k, v in out.items()}).decode()


def _plain(value: Any) -> Any:
    if isinstance(value, str | int | float | bool | None):
        return value
    try:
        return repr(value)
    except Exception:
        return f"<{type(value).__name__} that cannot be shown>"


class _Handler(logging.StreamHandler[IO[str]]):
    """The handler `configure` installs (a stream handler it can recognise)."""


def configure(
    fmt: Literal["text", "json"] = "text",
    level: int | str = "INFO",
    *,
    stream: IO[str] | None = None,
) -> logging.Handler:
    """Makes the root logger write to `stream` (default stderr) at `level`, as plain lines
    (`TEXT_FORMAT`) or JSON lines (`JsonFormatter`), replacing its handlers; returns the
    handler installed."""
    if fmt not in ("text", "json"):
        raise ValueError(f"log format must be text or json, not {fmt!r}")
    handler = _Handler(sys.stderr if stream is None else stream)
    handler.setFormatter(JsonFormatter() if fmt == "json" else logging.Formatter(TEXT_FORMAT))
    root = logging.getLogger()
    for old in root.handlers[:]:
        root.removeHandler(old)
        old.close()
    root.addHandler(handler)
    root.setLevel(level.upper() if isinstance(level, str) else level)
    return handler
