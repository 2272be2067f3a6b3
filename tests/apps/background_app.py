"""Handlers with background tasks, for tests/test_background.py's real-server tests. Tasks
report by writing files the test names (the server is another process)."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path

from covetpy import App, BackgroundTasks

app = App(openapi_url=None)
released = asyncio.Event()


def write(path: str, text: str) -> None:
    Path(path).write_text(text)


async def write_when_released(path: str) -> None:
    await released.wait()
    write(path, "released")


async def write_after(path: str, seconds: float) -> None:
    await asyncio.sleep(seconds)
    write(path, "done")


async def wait_forever() -> None:
    await asyncio.Event().wait()


def fail() -> None:
    raise RuntimeError("the mail server is down")


def thread_name(path: str) -> None:
    write(path, threading.current_thread().name)


@app.get("/later")
async def later(out: str, tasks: BackgroundTasks) -> str:
    """Answers at once; the task writes `out` once /release was called."""
    tasks.add_task(write_when_released, out)
    return "sent"


@app.get("/release")
def release() -> str:
    released.set()
    return "released"


@app.get("/slow")
def slow(out: str, seconds: float, tasks: BackgroundTasks) -> str:
    tasks.add_task(write_after, out, seconds)
    return "queued"


@app.get("/forever")
async def forever(out: str, tasks: BackgroundTasks) -> str:
    tasks.add_task(wait_forever)
    tasks.add_task(write, out, "never")
    return "queued"


@app.get("/mixed")
def mixed(out: str, tasks: BackgroundTasks) -> str:
    """A failing task between two that succeed; the last names its thread."""
    tasks.add_task(write, out + ".first", "ok")
    tasks.add_task(fail)
    tasks.add_task(thread_name, out)
    return "queued"
