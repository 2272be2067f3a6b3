"""What every system's module reads from the environment benches/tasks.py gives it."""

from __future__ import annotations

import os

URL = os.environ.get("BENCH_TASKS_URL", "redis://127.0.0.1:6379/0")
"""The broker: the cell's own redis-server (or nats-server for CovetPy on JetStream)."""

QUEUE = "bench"


def option(name: str, default: str) -> str:
    """A tuning knob of the worker, `BENCH_TASKS_<NAME>`, so variants need no code change."""
    return os.environ.get(f"BENCH_TASKS_{name.upper()}", default)


def use_uvloop() -> None:
    """uvloop for the loops the async systems create (arq, SAQ): their best configuration;
    neither installs it itself."""
    import asyncio

    import uvloop

    asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
