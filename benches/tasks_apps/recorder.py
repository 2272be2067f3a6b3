"""The body of the no-op task, the same for every system: it records enqueue-to-start and
counts, so that the worker itself says when the last task of a run completed.

Configured by the environment of the worker process (benches/tasks.py sets it per cell):

- `BENCH_TASKS_WARMUP`: the first this many tasks are the warm-up; when the last of them
  completes, `<out>.ready` is written and the recording starts afresh;
- `BENCH_TASKS_N`: how many tasks after the warm-up make the run;
- `BENCH_TASKS_OUT`: where the run's JSON goes once its last task completes: `latencies_s`
  (time.time() at the start of the body minus the task's `sent_at`), `first_start`,
  `last_completion` (time.time()), `count`.

A lock makes it safe in thread pools (Celery `-P threads`, dramatiq); in event loops it is
never contended.
"""

from __future__ import annotations

import json
import os
import threading
import time
from pathlib import Path

_WARMUP = int(os.environ.get("BENCH_TASKS_WARMUP", "0"))
_N = int(os.environ.get("BENCH_TASKS_N", "0"))
_OUT = os.environ.get("BENCH_TASKS_OUT", "")

_lock = threading.Lock()
_latencies: list[float] = []
_seen = 0
_first_start = 0.0


def record(sent_at: float, payload: str) -> None:
    """What the no-op task does: notes `time.time() - sent_at` and, on the last task of the
    warm-up or of the run, writes the file benches/tasks.py waits for."""
    global _seen, _first_start
    started = time.time()
    if len(payload) != 1024:
        raise ValueError(f"payload of {len(payload)} characters, not 1024")
    with _lock:
        _seen += 1
        if _seen <= _WARMUP:
            if _seen == _WARMUP and _OUT:
                Path(_OUT + ".ready").write_text(str(started))
            return
        if not _latencies:
            _first_start = started
        _latencies.append(started - sent_at)
        if _seen == _WARMUP + _N and _OUT:
            done = {
                "count": len(_latencies),
                "first_start": _first_start,
                "last_completion": time.time(),
                "latencies_s": _latencies,
            }
            tmp = Path(_OUT + ".tmp")
            tmp.write_text(json.dumps(done))
            tmp.replace(_OUT)  # whole or absent: the harness polls for it
