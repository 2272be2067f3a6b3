"""The parent process of `covetpy run`: starts N workers, restarts any that die, and on
SIGTERM/SIGINT drains them all and exits 0.

Workers bind their own TCP sockets with SO_REUSEPORT, so the kernel spreads connections and
a dying worker does not take the others' sockets with it. A Unix socket cannot be shared that
way: the supervisor binds it once and every worker inherits it.

The loop is event-driven: signals arrive through a wake-up pipe (`signal.set_wakeup_fd`), and
readiness through one pipe per worker; nothing polls on a timer.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import selectors
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field

from covetpy.config import ServerConfig

logger = logging.getLogger("covetpy")

__all__ = ["Supervisor"]

# A worker that dies sooner than this after starting is crashing, not being recycled:
# restarts back off up to MAX_BACKOFF so a broken app does not fork-bomb the machine.
CRASH_WINDOW = 5.0
MAX_BACKOFF = 5.0


@dataclass
class _Worker:
    index: int
    proc: subprocess.Popen[bytes]
    ready_r: int | None
    started: float
    ready: bool = False
    addresses: list[str] = field(default_factory=list)


class Supervisor:
    """Runs `workers` copies of the app at `app_ref` (`module:attribute`)."""

    def __init__(self, app_ref: str, config: ServerConfig, workers: int = 1) -> None:
        if workers < 1:
            raise ValueError("workers must be at least 1")
        self.app_ref = app_ref
        self.config = config
        self.workers = workers
        self._procs: dict[int, _Worker] = {}
        self._selector = selectors.DefaultSelector()
        self._stopping = False
        self._failures = 0
        self._uds: socket.socket | None = None

    def _spawn(self, index: int) -> None:
        ready_r, ready_w = os.pipe()
        config = self.config
        pass_fds = [ready_w]
        if self._uds is not None:
            config = config.replace(fd=self._uds.fileno(), uds=None)
            pass_fds.append(self._uds.fileno())
        spec = {"app": self.app_ref, "config": dataclasses.asdict(config), "ready_fd": ready_w}
        env = dict(os.environ, COVETPY_WORKER=json.dumps(spec))
        proc = subprocess.Popen(
            [sys.executable, "-m", "covetpy.server.worker"], env=env, pass_fds=pass_fds
        )
        os.close(ready_w)
        worker = _Worker(index, proc, ready_r, time.monotonic())
        self._procs[proc.pid] = worker
        self._selector.register(ready_r, selectors.EVENT_READ, worker)

    def _on_ready_pipe(self, worker: _Worker) -> None:
        assert worker.ready_r is not None
        data = os.read(worker.ready_r, 65536)
        self._selector.unregister(worker.ready_r)
        os.close(worker.ready_r)
        worker.ready_r = None
        if data:
            worker.ready = True
            worker.addresses = json.loads(data.decode().splitlines()[0])

    def run(self) -> int:
        """Runs until a signal; returns the process exit code."""
        wake_r, wake_w = os.pipe()
        os.set_blocking(wake_w, False)
        os.set_blocking(wake_r, False)
        signal.set_wakeup_fd(wake_w)
        for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGCHLD):
            signal.signal(sig, lambda *_: None)
        self._selector.register(wake_r, selectors.EVENT_READ, None)
        if self.config.uds is not None:
            self._uds = _bind_unix(self.config.uds, self.config.backlog)
        try:
            for i in range(self.workers):
                self._spawn(i)
            return self._loop(wake_r)
        finally:
            signal.set_wakeup_fd(-1)
            if self._uds is not None:
                self._uds.close()
                try:
                    os.unlink(self.config.uds or "")
                except OSError:
                    pass

    def _loop(self, wake_r: int) -> int:
        announced = False
        deadline: float | None = None
        while True:
            timeout = None if deadline is None else max(0.0, deadline - time.monotonic())
            for key, _ in self._selector.select(timeout):
                if key.data is None:
                    signums = os.read(wake_r, 4096)
                    if not self._stopping and any(
                        s in (signal.SIGTERM, signal.SIGINT) for s in signums
                    ):
                        deadline = self._stop()
                else:
                    self._on_ready_pipe(key.data)
            code = self._reap()
            if code is not None:
                return code
            if not announced and all(w.ready for w in self._procs.values()):
                announced = True
                addrs = sorted({a for w in self._procs.values() for a in w.addresses})
                logger.info(
                    "covetpy serving %s on %s with %d worker(s)",
                    self.app_ref,
                    ", ".join(addrs),
                    self.workers,
                )
            if self._stopping and not self._procs:
                return 0
            if deadline is not None and time.monotonic() >= deadline:
                for w in self._procs.values():
                    logger.warning("worker %d did not drain in time; killing it", w.proc.pid)
                    w.proc.kill()
                deadline = None

    def _stop(self) -> float:
        self._stopping = True
        logger.info("shutting down: draining %d worker(s)", len(self._procs))
        for w in self._procs.values():
            w.proc.send_signal(signal.SIGTERM)
        # The workers enforce the drain deadline themselves; this is the backstop.
        return time.monotonic() + self.config.drain_timeout + 5.0

    def _reap(self) -> int | None:
        """Collects exited workers; restarts them unless stopping. Returns an exit code when
        the supervisor must give up (a worker cannot start)."""
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return None
            if pid == 0:
                return None
            worker = self._procs.pop(pid, None)
            if worker is None:
                continue
            if worker.ready_r is not None:
                self._selector.unregister(worker.ready_r)
                os.close(worker.ready_r)
            code = os.waitstatus_to_exitcode(status)
            if self._stopping:
                logger.info("worker %d exited (%d)", pid, code)
                continue
            if not worker.ready:
                logger.error("worker %d failed to start (exit %d); stopping", pid, code)
                self._stopping = True
                for w in self._procs.values():
                    w.proc.kill()
                for w in self._procs.values():
                    w.proc.wait()
                return 1
            lived = time.monotonic() - worker.started
            self._failures = self._failures + 1 if lived < CRASH_WINDOW else 0
            backoff = min(MAX_BACKOFF, 0.1 * (2 ** max(0, self._failures - 1)))
            logger.warning("worker %d died (exit %d); restarting", pid, code)
            if self._failures > 1:
                time.sleep(backoff)
            self._spawn(worker.index)


def _bind_unix(path: str, backlog: int) -> socket.socket:
    if os.path.exists(path):
        # Only a stale socket may be replaced, never another kind of file.
        import stat

        if not stat.S_ISSOCK(os.stat(path).st_mode):
            raise FileExistsError(f"{path} exists and is not a socket")
        os.unlink(path)
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.bind(path)
    sock.listen(backlog)
    sock.set_inheritable(True)
    return sock
