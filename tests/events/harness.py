"""Servers, worker processes and deadline waits shared by the event bus tests."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Awaitable, Callable, Coroutine, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest

from covetpy.events.testing import LocalServer, nats_server, redis_server

ROOT = Path(__file__).resolve().parent.parent.parent
T = TypeVar("T")


def run(coro: Coroutine[Any, Any, T], timeout: float = 30.0) -> T:
    """Runs `coro` in a new event loop, failing the test past `timeout` seconds."""
    return asyncio.run(asyncio.wait_for(coro, timeout))


async def until(
    condition: Callable[[], bool], timeout: float = 30.0, what: str = "condition"
) -> None:
    """Waits (polling every 10 ms) until `condition()` is true; fails after `timeout`."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        await asyncio.sleep(0.01)


async def until_async(
    condition: Callable[[], Awaitable[bool]], timeout: float = 30.0, what: str = "condition"
) -> None:
    """`until` for a condition that must be awaited."""
    deadline = time.monotonic() + timeout
    while not await condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        await asyncio.sleep(0.02)


def start_server(kind: str) -> Any:
    """The context manager of a fresh local server of `kind` ("redis" or "nats")."""
    return redis_server() if kind == "redis" else nats_server()


def isolated(server: LocalServer) -> str:
    """A bus URL on `server` that no other test shares (its own stream and subjects)."""
    tag = uuid.uuid4().hex[:10]
    if server.kind == "redis":
        return f"{server.url}?stream=test-{tag}"
    return f"{server.url}?stream=T{tag}&prefix=p{tag}"


class Worker:
    """A `tests.events.worker_app` process and the JSON lines it printed."""

    def __init__(self, url: str, *args: str) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "tests.events.worker_app", url, *args],
            cwd=ROOT,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=dict(os.environ, PYTHONUNBUFFERED="1"),
        )
        self.lines: list[dict[str, Any]] = []
        self.errors: list[str] = []
        self._changed = threading.Condition()
        self._readers = [
            threading.Thread(target=self._read, daemon=True),
            threading.Thread(target=self._read_errors, daemon=True),
        ]
        for reader in self._readers:
            reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        with self.proc.stdout:
            for line in self.proc.stdout:
                with self._changed:
                    self.lines.append(json.loads(line))
                    self._changed.notify_all()
        with self._changed:
            self._changed.notify_all()

    def _read_errors(self) -> None:
        assert self.proc.stderr is not None
        with self.proc.stderr:
            for line in self.proc.stderr:
                self.errors.append(line)

    def handled(self) -> list[dict[str, Any]]:
        """The `handled` lines so far."""
        with self._changed:
            return [x for x in self.lines if "handled" in x]

    def wait(self, condition: Callable[[list[dict[str, Any]]], bool], timeout: float) -> None:
        """Waits until `condition(lines)`; fails after `timeout` or if the process ended."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while not condition(self.lines):
                left = deadline - time.monotonic()
                if left <= 0 or (self.proc.poll() is not None and not condition(self.lines)):
                    stderr = "".join(self.errors)
                    raise AssertionError(f"worker {self.proc.pid}: {self.lines}\n{stderr}")
                self._changed.wait(min(left, 0.2))

    def wait_ready(self, timeout: float = 20.0) -> None:
        """Waits until the worker consumes."""
        self.wait(lambda lines: any("ready" in x for x in lines), timeout)

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 15.0) -> int:
        """Sends `sig` and returns the exit code."""
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise
        finally:
            for reader in self._readers:  # they close the pipes at end of file
                reader.join(5)


class Workers:
    """Starts workers and, at the end of a test, stops those still running."""

    def __init__(self) -> None:
        self.started: list[Worker] = []

    def __call__(self, url: str, *args: str) -> Worker:
        worker = Worker(url, *args)
        self.started.append(worker)
        return worker

    def stop_all(self) -> None:
        for worker in self.started:
            worker.stop(signal.SIGKILL)


@pytest.fixture
def workers() -> Iterator[Workers]:
    """A factory of worker processes, killed at the end of the test if still running."""
    started = Workers()
    yield started
    started.stop_all()
