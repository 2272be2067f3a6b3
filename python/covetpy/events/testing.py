"""Throwaway `redis-server` and `nats-server` processes for tests and benches: each on a free
loopback port with a data directory of its own, started and stopped by the caller (`make
services` installs the binaries).

```python
with redis_server() as server:          # appendonly yes: survives restart()
    bus = EventBus(server.url, service="test")
```
"""

from __future__ import annotations

import contextlib
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

__all__ = ["LocalServer", "find_binary", "free_port", "nats_server", "redis_server"]


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def find_binary(name: str) -> str:
    """The path of `name` on PATH or in /usr/sbin, /usr/bin (where Debian puts the servers);
    raises FileNotFoundError naming `make services` otherwise."""
    path = shutil.which(name) or shutil.which(name, path="/usr/sbin:/usr/bin:/usr/local/bin")
    if path is None:
        raise FileNotFoundError(f"{name} not found: `make services` installs it")
    return path


class LocalServer:
    """A server process this module started; `stop`, `kill` and `start` act on it only."""

    def __init__(self, kind: str, argv: list[str], port: int, data_dir: Path, log: Path) -> None:
        self.kind = kind
        self.argv = argv
        self.port = port
        self.data_dir = data_dir
        self.log_path = log
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """The URL an `EventBus` takes."""
        return f"{self.kind}://127.0.0.1:{self.port}"

    @property
    def log(self) -> str:
        """What the server wrote so far."""
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def start(self, timeout: float = 20.0) -> None:
        """Starts it (again, on the same port and data) and waits until it answers."""
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(
                self.argv,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=self.data_dir,
                start_new_session=True,
            )
        deadline = time.monotonic() + timeout
        while not self._answers():
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.argv[0]} exited {self.proc.returncode}:\n{self.log}")
            if time.monotonic() > deadline:
                self.kill()
                raise RuntimeError(f"{self.argv[0]} not ready in {timeout}s:\n{self.log}")
            time.sleep(0.02)

    def _answers(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=1.0) as s:
                if self.kind == "redis":
                    s.sendall(b"PING\r\n")
                    return s.recv(64).startswith(b"+PONG")
                # NATS greets with INFO; JetStream is on once the server says so.
                info = s.recv(4096)
                return info.startswith(b"INFO") and b'"jetstream":true' in info
        except OSError:
            return False

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 20.0) -> None:
        """Sends `sig` and waits for the exit (SIGKILL past `timeout`)."""
        proc = self.proc
        if proc is None:
            return
        if proc.poll() is None:
            proc.send_signal(sig)
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        self.proc = None

    def kill(self) -> None:
        """SIGKILL: the server gets no chance to save anything."""
        self.stop(signal.SIGKILL)

    def restart(self, sig: int = signal.SIGTERM) -> None:
        """Stops it with `sig` and starts it again on the same port and data."""
        self.stop(sig)
        self.start()


@contextlib.contextmanager
def _server(
    kind: str, argv_for: Callable[[int, Path], list[str]], data_dir: str | None
) -> Iterator[LocalServer]:
    with contextlib.ExitStack() as stack:
        if data_dir is None:
            data_dir = stack.enter_context(tempfile.TemporaryDirectory(prefix=f"covetpy-{kind}-"))
        path = Path(data_dir)
        port = free_port()
        server = LocalServer(kind, argv_for(port, path), port, path, path / f"{kind}.log")
        server.start()
        try:
            yield server
        finally:
            server.stop()


def redis_server(
    data_dir: str | None = None, *, appendonly: bool = True, fsync: str = "always"
) -> contextlib.AbstractContextManager[LocalServer]:
    """A `redis-server` with AOF persistence (`appendfsync always` by default: an event
    acked by XADD is on disk)."""
    binary = find_binary("redis-server")

    def argv(port: int, path: Path) -> list[str]:
        return [
            binary,
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--dir",
            str(path),
            "--appendonly",
            "yes" if appendonly else "no",
            "--appendfsync",
            fsync,
            "--save",
            "",
            "--protected-mode",
            "no",
            "--daemonize",
            "no",
        ]

    return _server("redis", argv, data_dir)


def nats_server(data_dir: str | None = None) -> contextlib.AbstractContextManager[LocalServer]:
    """A `nats-server -js` with JetStream file storage in its data directory."""
    binary = find_binary("nats-server")

    def argv(port: int, path: Path) -> list[str]:
        return [binary, "-js", "-a", "127.0.0.1", "-p", str(port), "-sd", str(path / "js")]

    return _server("nats", argv, data_dir)
