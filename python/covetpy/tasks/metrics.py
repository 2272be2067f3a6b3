"""The tasks' Prometheus metrics, by task name (`prometheus_client`, in the same multiprocess
files as the event bus's, so `/metrics` sums them over workers). Made on first use; recording
never fails the task it counts (an error is logged once)."""

from __future__ import annotations

import logging
from typing import Any

__all__ = ["dead_lettered", "enqueued", "finished", "retried", "started"]

logger = logging.getLogger("covetpy.metrics")

_m: dict[str, Any] | None = None
_off = False
_failed = False


def _metrics() -> dict[str, Any] | None:
    global _m, _off
    if _m is not None or _off:
        return _m
    try:
        from prometheus_client import Counter, Histogram
    except ImportError:  # without the observability extra: no Python metrics
        _off = True
        return None
    _m = {
        "enqueued": Counter("covetpy_tasks_enqueued_total", "Task runs enqueued.", ["task"]),
        "started": Counter("covetpy_tasks_started_total", "Task runs started.", ["task"]),
        "succeeded": Counter(
            "covetpy_tasks_succeeded_total", "Task runs that succeeded.", ["task"]
        ),
        "failed": Counter(
            "covetpy_tasks_failed_total", "Task runs that raised or timed out.", ["task"]
        ),
        "retried": Counter("covetpy_tasks_retried_total", "Failed runs enqueued again.", ["task"]),
        "dead": Counter(
            "covetpy_tasks_dead_lettered_total",
            "Runs kept as dead letters, by reason.",
            ["task", "reason"],
        ),
        "latency": Histogram(
            "covetpy_task_start_latency_seconds",
            "From enqueue (or due time) to start.",
            ["task"],
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
        ),
    }
    return _m


_children: dict[tuple[str, tuple[str, ...]], Any] = {}


def _record(name: str, labels: tuple[str, ...], value: float | None = None) -> None:
    global _failed
    m = _metrics()
    if m is None:
        return
    try:
        # `labels()` costs about 2 us (a lock and a dict under it); the child is kept instead.
        metric = _children.get((name, labels))
        if metric is None:
            metric = _children[(name, labels)] = m[name].labels(*labels)
        if value is None:
            metric.inc()
        else:
            metric.observe(value)
    except Exception as exc:
        if not _failed:
            _failed = True
            logger.warning("recording task metrics failed (logged once): %r", exc)


def enqueued(task: str) -> None:
    _record("enqueued", (task,))


def started(task: str, latency: float) -> None:
    _record("started", (task,))
    _record("latency", (task,), max(0.0, latency))


def finished(task: str, ok: bool) -> None:
    # No duration histogram: a histogram observation costs a no-op task ~10 % of its CPU, and
    # tracing (when on) times each run anyway.
    _record("succeeded" if ok else "failed", (task,))


def retried(task: str) -> None:
    _record("retried", (task,))


def dead_lettered(task: str, reason: str) -> None:
    """`reason` is a short kind (failed, rejected, bad_arguments, unknown_task, undecodable,
    lost), not the message: labels stay few."""
    _record("dead", (task, reason))
