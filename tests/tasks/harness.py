"""`covetpy worker` processes of `tests.tasks.apps` and the log their runs write."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent.parent


class TaskLog:
    """The `<event> <value> <pid>` lines `tests.tasks.apps` appends."""

    def __init__(self, path: Path) -> None:
        self.path = path
        path.touch()

    def lines(self) -> list[tuple[str, str, int]]:
        out = []
        for line in self.path.read_text().splitlines():
            event, value, pid = line.split(" ")
            out.append((event, value, int(pid)))
        return out

    def values(self, event: str) -> Counter[str]:
        return Counter(v for e, v, _ in self.lines() if e == event)

    def wait(self, condition: object, timeout: float = 60.0, what: str = "the log") -> None:
        deadline = time.monotonic() + timeout
        while not condition():  # type: ignore[operator]
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out waiting for {what}: {self.lines()[-20:]}")
            time.sleep(0.02)


class Proc:
    """A `python -m covetpy ...` process; its stderr is kept (the log lines)."""

    def __init__(self, args: list[str], env: dict[str, str]) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "covetpy", *args],
            cwd=ROOT,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env={**os.environ, "PYTHONUNBUFFERED": "1", **env},
        )
        self.output: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        with self.proc.stdout:  # closed at end of file: no ResourceWarning
            for line in self.proc.stdout:
                self.output.append(line)

    def text(self) -> str:
        return "".join(self.output)

    def wait_for(self, needle: str, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while needle not in self.text():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"{needle!r} not printed by {self.proc.args}:\n{self.text()}")
            time.sleep(0.02)

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 30.0) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return self.proc.wait()
        finally:
            self._reader.join(5)


def worker(env: dict[str, str], queues: str, concurrency: int = 32) -> Proc:
    """A started `covetpy worker tests.tasks.apps:app`, consuming `queues`."""
    p = Proc(
        ["worker", "tests.tasks.apps:app", "--queues", queues, "--concurrency", str(concurrency),
         "--drain-timeout", "5"],
        env,
    )  # fmt: skip
    p.wait_for("worker ready")
    return p
