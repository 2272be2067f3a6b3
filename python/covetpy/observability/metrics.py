"""Prometheus metrics: the HTTP server's, recorded in Rust, and the Python ones
(`prometheus_client`: the event bus's and the application's), in one scrape.

With several worker processes every one records its own; a scrape must sum them. The Rust
core keeps its counters in files under the metrics directory and `_core.metrics_scrape` sums
them; `prometheus_client` does the same in multiprocess mode, in files under `<dir>/py`.

Ordering: `prometheus_client` picks its value storage (in memory, or files for multiprocess
mode) from `PROMETHEUS_MULTIPROC_DIR` when it is imported, and a metric keeps the storage it
was made with. So the supervisor calls `configure_multiprocess(dir, fresh=True)` before it
imports the app and starts workers, which inherit the variable (forked or spawned). If
`prometheus_client` was imported before that, `configure_multiprocess` makes it pick again
for the metrics made afterwards; the event bus's metrics are made on first use, so they are
always made after. A metric the application made at import time, before the call, would stay
in memory and be missing from the scrape: hence "before importing the app".
"""

from __future__ import annotations

import logging
import os
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from prometheus_client import Counter, Histogram

__all__ = [
    "CONTENT_TYPE",
    "EventMetrics",
    "configure_multiprocess",
    "event_consumed",
    "event_dead_lettered",
    "event_metrics",
    "event_published",
    "mark_dead",
    "render",
]

logger = logging.getLogger("covetpy.metrics")

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
"""The Prometheus text exposition format `render` writes."""

_ENV = "PROMETHEUS_MULTIPROC_DIR"


def configure_multiprocess(dir: Path, *, fresh: bool = False) -> Path:
    """Puts `prometheus_client` in multiprocess mode with its files in `dir / "py"` (created;
    emptied first when `fresh`: a new server must not add up the last one's counts) and
    returns that directory. Call it in the supervisor before importing the app (see the
    module docstring); workers inherit the setting."""
    py = Path(dir) / "py"
    if fresh and py.exists():
        shutil.rmtree(py)
    py.mkdir(parents=True, exist_ok=True)
    os.environ[_ENV] = str(py)
    values = sys.modules.get("prometheus_client.values")
    if values is not None:
        # Imported already, with in-memory values: pick again for the metrics made from now.
        values.ValueClass = values.get_value_class()  # type: ignore[attr-defined]
    return py


def _multiprocess_dir(dir: Path | None) -> Path | None:
    configured = os.environ.get(_ENV)
    if dir is None or not configured:
        return None
    py = Path(dir) / "py"
    return py if os.path.realpath(configured) == os.path.realpath(py) else None


def render(dir: Path | None = None) -> bytes:
    """The Prometheus text of a scrape: the Rust server's metrics summed over the workers
    whose files are under `dir` (none when `dir` is None), then the Python ones, summed over
    the processes when multiprocess mode writes to `dir / "py"`, else this process's."""
    parts: list[bytes] = []
    from covetpy import _core

    scrape = getattr(_core, "metrics_scrape", None)  # the Rust side may be older than this
    if scrape is not None and dir is not None:
        text = scrape(str(dir))
        parts.append(text.encode() if isinstance(text, str) else bytes(text))
    try:
        import prometheus_client
    except ImportError:  # the `observability` extra is not installed: Rust metrics only
        return b"".join(parts)
    py = _multiprocess_dir(dir)
    if py is not None:
        from prometheus_client.multiprocess import MultiProcessCollector

        registry = prometheus_client.CollectorRegistry()
        MultiProcessCollector(registry, path=str(py))  # type: ignore[no-untyped-call]
        parts.append(prometheus_client.generate_latest(registry))
    else:
        parts.append(prometheus_client.generate_latest(prometheus_client.REGISTRY))
    return b"".join(p if p.endswith(b"\n") or not p else p + b"\n" for p in parts)


def mark_dead(pid: int) -> None:
    """Tells multiprocess mode that worker `pid` exited: its live gauges stop counting (its
    counters and histograms still add to the totals). Nothing to do outside that mode."""
    path = os.environ.get(_ENV)
    if not path:
        return
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(pid, path)  # type: ignore[no-untyped-call]


@dataclass(frozen=True, slots=True)
class EventMetrics:
    """The event bus's metrics."""

    published: Counter
    """`covetpy_events_published_total{topic}`: events stored by the backend."""
    consumed: Counter
    """`covetpy_events_consumed_total{topic, outcome}`: handler runs; outcome `ok`, `retry`
    (failed, delivered again later), `failed` (failed its last delivery: dead-lettered, or
    dropped without a dead-letter topic), `rejected` (raised NonRetryable), `cancelled`
    (stopped at the drain deadline; delivered again)."""
    dead_lettered: Counter
    """`covetpy_events_dead_lettered_total{topic}`: events published to a dead-letter topic,
    by their original topic (those that failed and those that could not be read or decoded)."""
    handler_duration: Histogram
    """`covetpy_event_handler_duration_seconds{topic}`: how long handlers ran."""


_events: EventMetrics | None = None
_no_client = False


def event_metrics() -> EventMetrics | None:
    """The event bus's metrics, made on first use (after `configure_multiprocess`, whatever
    the import order); None without `prometheus_client`."""
    global _events, _no_client
    if _events is not None or _no_client:
        return _events
    try:
        from prometheus_client import Counter, Histogram
    except ImportError:
        _no_client = True
        return None
    _events = EventMetrics(
        Counter("covetpy_events_published_total", "Events published.", ["topic"]),
        Counter(
            "covetpy_events_consumed_total", "Events handled, by outcome.", ["topic", "outcome"]
        ),
        Counter(
            "covetpy_events_dead_lettered_total", "Events sent to a dead-letter topic.", ["topic"]
        ),
        Histogram("covetpy_event_handler_duration_seconds", "Time event handlers took.", ["topic"]),
    )
    return _events


# What the event bus records. Recording never fails the work it counts: an error (a metrics
# directory removed under a running worker, say) is logged once and the count is lost.
_failed = False


def _lost(exc: Exception) -> None:
    global _failed
    if not _failed:
        _failed = True
        logger.warning("recording event metrics failed (logged once): %r", exc)


def event_published(topic: str) -> None:
    """Counts an event stored by the backend."""
    m = event_metrics()
    if m is not None:
        try:
            m.published.labels(topic).inc()
        except Exception as exc:
            _lost(exc)


def event_consumed(topic: str, outcome: str, seconds: float) -> None:
    """Counts a handler run and how long it took."""
    m = event_metrics()
    if m is not None:
        try:
            m.consumed.labels(topic, outcome).inc()
            m.handler_duration.labels(topic).observe(seconds)
        except Exception as exc:
            _lost(exc)


def event_dead_lettered(topic: str) -> None:
    """Counts an event of `topic` sent to its dead-letter topic."""
    m = event_metrics()
    if m is not None:
        try:
            m.dead_lettered.labels(topic).inc()
        except Exception as exc:
            _lost(exc)
