"""The parent process of `covetpy run`: binds the listening sockets, starts N workers on them,
replaces workers that die or ask to be recycled, replaces them all one by one on SIGHUP, and
on SIGTERM/SIGINT drains them all and exits 0 (adrs/0006, designs/supervision.md).

The listening sockets are bound here and inherited by the workers, so a socket and the
connections queued on it outlive any one worker: a worker that drains or is killed loses only
the connections it had accepted. TCP gets one SO_REUSEPORT socket per worker slot (the kernel
spreads connections over the slots; a worker and its replacement share their slot's socket),
a Unix socket one socket for all. `COVETPY_LISTEN=shared|worker` (one socket for all workers,
or each worker binding its own as before issue 5) exists for benches/reload.py to measure the
layouts.

Each worker has a Unix socket to the supervisor (its channel) and writes JSON lines on it:
`{"ready": [addresses]}` once it serves, `{"recycle": reason, "detail": text}` when it has
served `--max-requests` or outgrown `--max-worker-memory`. A replacement starts a worker on the
old one's slot, waits until it is ready, and only then sends SIGTERM to the old one, which
drains and exits 0; replacements of live workers run one at a time, so N workers always serve.

A standby worker can be kept started with the app imported (`{"standby": true}`); a
replacement activates it by sending it the slot's socket (SCM_RIGHTS), which takes milliseconds
instead of a Python start-up, and a new standby is started behind it. On SIGHUP the standby
holds the old code, so it is let go and each replacement waits for a fresh one. `--standby`
says when one is kept (adrs/0020): `auto` (the default) from the first unexpected death of a
worker on (crashes repeat; a reload or a recycle has no gap to fill), `on` always, `off` never
(`COVETPY_STANDBY=0` is `off`).

The supervisor imports neither the app nor `covetpy.app` (adrs/0020): it costs the machine a
bare interpreter. Each worker checks the app before it serves (it imports, its settings
validate, its route table builds); one that cannot says why on its channel,
`{"fatal": message}`, and exits 3. Before any worker served, the first such message is printed
once, the other workers are stopped and `covetpy run` exits 2; later (a reload to broken code),
the message is logged and the workers already serving stay.

The loop is event-driven: signals arrive through a wake-up pipe (`signal.set_wakeup_fd`),
worker messages through their channels; timers only for back-off and the drain backstop.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import selectors
import shutil
import signal
import socket
import stat
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from covetpy.config import ServerConfig

if TYPE_CHECKING:
    from covetpy.server.admin import AdminServer

logger = logging.getLogger("covetpy")

__all__ = ["Supervisor"]

# A worker that dies sooner than this after starting is crashing, not being recycled:
# restarts back off up to MAX_BACKOFF so a broken app does not fork-bomb the machine.
CRASH_WINDOW = 5.0
MAX_BACKOFF = 5.0


@dataclass(eq=False)
class _Worker:
    proc: subprocess.Popen[bytes]
    channel: socket.socket | None
    started: float
    generation: int
    slot: int  # -1 while it is the standby
    # Why it was started, the pid it takes the place of, and since when that replacement
    # counts (the death of the one before, or its start); for the log line once it is ready.
    reason: str = "start"
    successor_of: int | None = None
    since: float = 0.0
    # While it starts in place of a live worker: that worker, sent SIGTERM once this is ready.
    replaces: _Worker | None = None
    buf: bytes = b""
    waiting: bool = False  # a standby with the app imported, ready to be activated
    ready: bool = False
    addresses: list[str] = field(default_factory=list)
    # Asked to stop (SIGTERM, or a standby let go): its exit is expected.
    retiring: bool = False
    # Why it asked to be replaced ("max-requests: ...", "memory: ..."); None if it did not.
    due: str | None = None
    # After a failed attempt to replace it, the next attempt waits until then.
    retry_at: float = 0.0
    # Why it cannot serve, as it reported before exiting: (message, printed on stderr as is
    # rather than logged).
    fatal: tuple[str, bool] | None = None

    @property
    def pid(self) -> int:
        return self.proc.pid


@dataclass
class _Vacancy:
    """A dead worker's slot, to be filled once `not_before` has passed."""

    pid: int
    slot: int
    reason: str
    since: float
    not_before: float


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
        self._announced = False
        self._failures = 0
        self._generation = 0
        self._reload_started: float | None = None
        self._vacancies: list[_Vacancy] = []
        self._listeners: list[socket.socket] = []
        self._standby_mode = config.standby  # COVETPY_STANDBY=0 reaches it as "off"
        # Whether a worker has died unexpectedly since start-up (turns `auto` on).
        self._had_death = False
        # The last fatal message logged after start-up, so a reload's workers repeat it once.
        self._last_fatal: str | None = None
        self._standby: _Worker | None = None
        # The generation whose standby failed to start: no other until the next reload.
        self._standby_failed: int | None = None
        self._admin: AdminServer | None = None

    # -- starting workers ---------------------------------------------------------------

    def _spawn(
        self,
        slot: int,
        reason: str = "start",
        successor_of: int | None = None,
        replaces: _Worker | None = None,
        since: float | None = None,
    ) -> _Worker:
        """Starts a worker on `slot`, or a standby (slot -1)."""
        ours, theirs = socket.socketpair()
        config = self.config
        pass_fds = [theirs.fileno()]
        if self._listeners and slot >= 0:
            fd = self._listener(slot).fileno()
            config = config.replace(fd=fd, uds=None)
            pass_fds.append(fd)
        spec = {
            "app": self.app_ref,
            "config": dataclasses.asdict(config),
            "channel_fd": theirs.fileno(),
            "standby": slot < 0,
        }
        env = dict(os.environ, COVETPY_WORKER=json.dumps(spec))
        try:
            proc = subprocess.Popen(
                [sys.executable, "-m", "covetpy.server.worker"], env=env, pass_fds=pass_fds
            )
        except BaseException:
            ours.close()
            raise
        finally:
            theirs.close()
        now = time.monotonic()
        worker = _Worker(
            proc,
            ours,
            now,
            self._generation,
            slot,
            reason=reason,
            successor_of=successor_of,
            since=now if since is None else since,
            replaces=replaces,
        )
        self._procs[proc.pid] = worker
        self._selector.register(ours, selectors.EVENT_READ, worker)
        return worker

    def _listener(self, slot: int) -> socket.socket:
        return self._listeners[slot % len(self._listeners)]

    def _start_on(
        self,
        slot: int,
        reason: str,
        successor_of: int,
        replaces: _Worker | None = None,
        since: float | None = None,
    ) -> None:
        """Puts a worker on `slot`: the standby if one is waiting, else a new process."""
        spare = self._standby
        if spare is None or not spare.waiting or spare.channel is None:
            self._spawn(slot, reason, successor_of, replaces, since)
            return
        self._standby = None
        fds = [self._listener(slot).fileno()] if self._listeners else []
        try:
            socket.send_fds(spare.channel, [b'{"go": true}\n'], fds)
        except OSError as exc:  # it died meanwhile; reaped later
            logger.warning("standby worker %d could not be activated: %s", spare.pid, exc)
            self._let_go(spare)
            self._spawn(slot, reason, successor_of, replaces, since)
            return
        now = time.monotonic()
        spare.slot, spare.waiting, spare.reason = slot, False, reason
        spare.successor_of, spare.replaces = successor_of, replaces
        spare.since = now if since is None else since

    def _on_channel(self, worker: _Worker) -> None:
        assert worker.channel is not None
        try:
            data = worker.channel.recv(65536)
        except OSError:
            data = b""
        if not data:
            self._close_channel(worker)
            return
        for message in _messages(worker, data):
            if "ready" in message:
                worker.ready = True
                worker.addresses = list(message["ready"])
                self._on_ready(worker)
            elif "standby" in message:
                worker.waiting = True
            elif "fatal" in message and worker.fatal is None:
                worker.fatal = (str(message["fatal"]), bool(message.get("printed")))
            elif "recycle" in message and worker.due is None and not worker.retiring:
                worker.due = f"{message['recycle']}: {message.get('detail', '')}"

    def _drain_channel(self, worker: _Worker) -> None:
        """Reads what an exited worker wrote last (its fatal report comes just before its exit,
        so the exit may be seen first)."""
        while worker.channel is not None:
            try:
                data = worker.channel.recv(65536, socket.MSG_DONTWAIT)
            except BlockingIOError:
                return
            except OSError:
                data = b""
            if not data:
                self._close_channel(worker)
                return
            for message in _messages(worker, data):
                if "fatal" in message and worker.fatal is None:
                    worker.fatal = (str(message["fatal"]), bool(message.get("printed")))

    def _close_channel(self, worker: _Worker) -> None:
        if worker.channel is not None:
            self._selector.unregister(worker.channel)
            worker.channel.close()
            worker.channel = None

    def _on_ready(self, new: _Worker) -> None:
        """A worker serves: if it replaces one, that one can drain now."""
        old, new.replaces = new.replaces, None
        if new.successor_of is None or self._stopping:
            return
        took = (time.monotonic() - new.since) * 1000
        logger.info(
            "worker %d replaced worker %d (%s), ready in %.0f ms",
            new.pid,
            new.successor_of,
            new.reason,
            took,
        )
        if old is not None and old.pid in self._procs and not old.retiring:
            self._retire(old, replaced=True)

    def _retire(self, worker: _Worker, replaced: bool = False) -> None:
        """Tells `worker` to drain: SIGTERM when the service shuts down (readiness fails
        first, then the pre-stop delay), SIGUSR1 when a replacement already serves its slot
        (no readiness change: to a proxy the service stays healthy throughout a reload)."""
        if worker.slot < 0:
            self._let_go(worker)
            return
        worker.retiring = True
        try:
            worker.proc.send_signal(signal.SIGUSR1 if replaced else signal.SIGTERM)
        except ProcessLookupError:  # pragma: no cover - reaped below
            pass

    def _let_go(self, standby: _Worker) -> None:
        """A standby that is not needed: closing its channel makes it exit 0."""
        standby.retiring = True
        self._close_channel(standby)
        if self._standby is standby:
            self._standby = None

    # -- the loop -----------------------------------------------------------------------

    def run(self) -> int:
        """Runs until SIGTERM/SIGINT; returns the process exit code."""
        try:
            self._listeners = self._bind()
        except OSError as exc:
            where = self.config.uds or f"{self.config.host}:{self.config.port}"
            logger.error("cannot listen on %s: %s", where, exc)
            return 1
        wake_r, wake_w = os.pipe()
        os.set_blocking(wake_w, False)
        os.set_blocking(wake_r, False)
        signal.set_wakeup_fd(wake_w)
        for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGCHLD, signal.SIGHUP):
            signal.signal(sig, lambda *_: None)
        self._selector.register(wake_r, selectors.EVENT_READ, None)
        metrics_dir = self._metrics_dir()
        try:
            self._admin = self._start_admin()
            for slot in range(self.workers):
                self._spawn(slot)
            return self._loop(wake_r)
        finally:
            if self._admin is not None:
                self._admin.stop()
            if metrics_dir is not None:
                shutil.rmtree(metrics_dir, ignore_errors=True)
            signal.set_wakeup_fd(-1)
            for w in self._procs.values():
                self._close_channel(w)
            self._selector.close()
            os.close(wake_r)
            os.close(wake_w)
            self._close_listeners()
            self._remove_uds()

    def _metrics_dir(self) -> str | None:
        """With --metrics, a directory for the workers' metrics files (Rust's, and
        prometheus_client's under `py/`); workers inherit it. Removed at exit (ours only)."""
        if not self.config.metrics or self.config.metrics_dir:
            return None
        from covetpy.observability.metrics import configure_multiprocess

        # On tmpfs when there is one: the kernel never writes shared pages of it back to disk.
        shm = "/dev/shm" if os.path.isdir("/dev/shm") else None
        path = tempfile.mkdtemp(prefix="covetpy-metrics-", dir=shm)
        # Before any worker starts (they inherit it); see covetpy.observability.metrics.
        configure_multiprocess(Path(path), fresh=True)
        self.config = self.config.replace(metrics_dir=path)
        return path

    def _start_admin(self) -> AdminServer | None:
        if not self.config.admin_port:
            return None
        from covetpy.server.admin import AdminServer  # http.server, http.client: only then

        admin = AdminServer(self.config)
        admin.start()
        return admin

    def _bind(self) -> list[socket.socket]:
        """The listening sockets: one per worker slot (or one for all, or none)."""
        cfg = self.config
        if cfg.uds is not None:
            return [_bind_unix(cfg.uds, cfg.backlog)]
        layout = os.environ.get("COVETPY_LISTEN", "slots")
        if layout == "worker":
            return []  # each worker binds its own SO_REUSEPORT socket
        if layout == "shared":
            return [_bind_tcp(cfg.host, cfg.port, cfg.backlog, reuse_port=False)]
        socks: list[socket.socket] = []
        try:
            port = cfg.port
            for _ in range(self.workers):
                socks.append(_bind_tcp(cfg.host, port, cfg.backlog, reuse_port=True))
                port = socks[0].getsockname()[1]  # --port 0: the others join the first
        except OSError:
            for sock in socks:
                sock.close()
            raise
        return socks

    def _close_listeners(self) -> None:
        """Closes our copies of the listening sockets (the workers' copies stay open)."""
        for sock in self._listeners:
            sock.close()
        self._listeners = []

    def _remove_uds(self) -> None:
        """Removes the Unix socket's path, at exit: during a shutdown's pre-stop delay the
        workers still accept on it, and clients find it only by its path."""
        if self.config.uds is not None:
            try:
                os.unlink(self.config.uds)
            except OSError:
                pass

    def _loop(self, wake_r: int) -> int:
        deadline: float | None = None  # the backstop of a shutdown
        while True:
            timeout = self._next_timer(deadline)
            for key, _ in self._selector.select(timeout):
                if key.data is None:
                    deadline = self._on_signals(os.read(wake_r, 4096)) or deadline
                else:
                    self._on_channel(key.data)
            code = self._reap()
            if code is not None:
                return code
            if self._stopping:
                if not self._procs:
                    return 0
                if deadline is not None and time.monotonic() >= deadline:
                    for w in self._procs.values():
                        logger.warning("worker %d did not drain in time; killing it", w.pid)
                        w.proc.kill()
                    deadline = None
                continue
            if not self._announced and all(w.ready for w in self._procs.values()):
                self._announced = True
                addrs = sorted({a for w in self._procs.values() for a in w.addresses})
                logger.info(
                    "covetpy serving %s on %s with %d worker(s)",
                    self.app_ref,
                    ", ".join(addrs),
                    self.workers,
                )
            if self._announced:
                self._advance()

    def _next_timer(self, deadline: float | None) -> float | None:
        times = [] if deadline is None else [deadline]
        if not self._stopping:
            times += [v.not_before for v in self._vacancies]
            times += [w.retry_at for w in self._procs.values() if w.retry_at and self._wants(w)]
        if not times:
            return None
        return max(0.0, min(times) - time.monotonic())

    def _on_signals(self, signums: bytes) -> float | None:
        if self._stopping:
            return None
        if any(s in (signal.SIGTERM, signal.SIGINT) for s in signums):
            return self._stop()
        if signal.SIGHUP in signums:
            self._generation += 1
            self._reload_started = time.monotonic()
            live = sum(1 for w in self._procs.values() if w.slot >= 0 and not w.retiring)
            logger.info("reloading: replacing %d worker(s) one by one", live)
        return None

    def _stop(self) -> float:
        self._stopping = True
        if self._admin is not None:
            self._admin.stopping = True
        logger.info("shutting down: draining %d worker(s)", len(self._procs))
        # Our copies of the sockets go first: once the workers drop theirs (after the pre-stop
        # delay), new connections are refused instead of waiting in a queue nobody accepts
        # from. A Unix socket's path stays until exit, so it can be reached until then.
        self._close_listeners()
        for w in list(self._procs.values()):
            self._retire(w)
        # The workers enforce the shutdown deadline themselves; this is the backstop.
        cfg = self.config
        deadline = cfg.shutdown_deadline or cfg.pre_stop_delay + cfg.drain_timeout + 5.0
        return time.monotonic() + deadline + 1.0

    # -- replacing workers --------------------------------------------------------------

    def _wants(self, w: _Worker) -> bool:
        """Whether `w` is to be replaced (it asked, or a reload started after it did)."""
        if w.slot < 0 or not w.ready or w.retiring:
            return False
        return w.due is not None or w.generation < self._generation

    def _advance(self) -> None:
        """Fills dead workers' slots whose back-off has passed, starts the next replacement
        unless one is already starting, and keeps a standby of the current code."""
        now = time.monotonic()
        for v in [v for v in self._vacancies if v.not_before <= now]:
            self._vacancies.remove(v)
            self._start_on(v.slot, v.reason, v.pid, since=v.since)
        self._keep_standby()
        if any(w.replaces is not None for w in self._procs.values()):
            return  # one at a time: N workers always serve
        waiting = [w for w in self._procs.values() if self._wants(w)]
        candidates = [w for w in waiting if w.retry_at <= now]
        if not candidates:
            if not waiting and self._reload_started is not None and not self._vacancies:
                took = time.monotonic() - self._reload_started
                logger.info("reload complete in %.2f s", took)
                self._reload_started = None
            return
        spare = self._standby
        if spare is not None and not spare.waiting:
            return  # a standby of the current code is on its way: replace with it
        # Workers that asked first; then the reload, oldest first.
        old = min(candidates, key=lambda w: (w.due is None, w.started))
        reason = old.due or "reload"
        logger.info("replacing worker %d (%s)", old.pid, reason)
        self._start_on(old.slot, reason, old.pid, replaces=old)
        self._keep_standby()

    def _wants_standby(self) -> bool:
        if self._standby_mode == "on":
            return True
        if self._standby_mode == "off" or not self._had_death:
            return False
        # auto, after a death: not while a worker is starting in a slot, so the standby's
        # start-up does not compete for the CPU with the replacement it exists for.
        return all(w.ready for w in self._procs.values() if w.slot >= 0)

    def _keep_standby(self) -> None:
        if self._standby_failed == self._generation:
            return
        if not self._wants_standby():
            spare = self._standby
            if spare is not None and spare.generation < self._generation:
                self._let_go(spare)
            return
        spare = self._standby
        if spare is not None and spare.generation < self._generation:
            self._let_go(spare)  # it imported the code from before the reload
            spare = None
        if spare is None:
            self._standby = self._spawn(-1, "standby")

    def _reap(self) -> int | None:
        """Collects exited workers and arranges their restarts. Returns an exit code when the
        supervisor must give up (a worker cannot start before the first announcement)."""
        # Through each worker's Popen, never waitpid(-1): Popen.send_signal and kill() poll
        # first and so may reap a worker that just exited (a SIGTERM racing a failed start);
        # its status then lives only in the Popen, and a waitpid(-1) loop never saw the worker
        # leave (the supervisor waited for it forever).
        for worker in list(self._procs.values()):
            code = worker.proc.poll()
            if code is None:
                continue
            pid = worker.pid
            del self._procs[pid]
            self._drain_channel(worker)
            self._close_channel(worker)
            if self.config.metrics_dir:
                from covetpy._core import metrics_mark_closed
                from covetpy.observability.metrics import mark_dead

                # Its gauges stop counting (even if its pid is reused); counters stay in the sums.
                mark_dead(pid)
                try:
                    metrics_mark_closed(self.config.metrics_dir, pid)
                except OSError as exc:
                    logger.warning("cannot mark worker %d's metrics closed: %s", pid, exc)
            if self._stopping or worker.retiring:
                log = logger.info if code == 0 else logger.warning
                log("worker %d exited (%s)", pid, _describe(code))
                continue
            if not self._announced and not worker.ready:
                self._stopping = True
                for w in self._procs.values():
                    w.proc.kill()
                for w in self._procs.values():
                    w.proc.wait()
                if worker.fatal is not None:
                    # What the supervisor itself said before adrs/0020, once, after the
                    # others are gone (nothing of theirs comes after it): exit 2 as then.
                    self._say_fatal(*worker.fatal)
                    return 2
                logger.error("worker %d failed to start (exit %d); stopping", pid, code)
                return 1
            if worker.fatal is not None and worker.fatal[0] != self._last_fatal:
                self._last_fatal = worker.fatal[0]
                logger.error("worker %d cannot start: %s", pid, worker.fatal[0])
            self._on_death(worker, code)
        return None

    @staticmethod
    def _say_fatal(message: str, printed: bool) -> None:
        if printed:
            print(message, file=sys.stderr, flush=True)
        else:
            logger.error("%s", message)

    def _on_death(self, worker: _Worker, code: int) -> None:
        now = time.monotonic()
        if worker.ready:
            self._had_death = True  # `--standby auto` keeps one from now on
        if worker.slot < 0:
            # Nothing lost; the next replacements start cold until the next reload.
            logger.error(
                "standby worker %d failed (%s); none until the next reload",
                worker.pid,
                _describe(code),
            )
            self._standby = None
            self._standby_failed = worker.generation
            return
        crashed = not worker.ready or now - worker.started < CRASH_WINDOW
        self._failures = self._failures + 1 if crashed else 0
        backoff = min(MAX_BACKOFF, 0.1 * (2 ** max(0, self._failures - 1)))
        if not worker.ready and worker.replaces is not None:
            # A replacement that could not start: the old worker keeps serving.
            old = worker.replaces
            logger.error(
                "worker %d failed to start (%s); worker %d keeps serving",
                worker.pid,
                _describe(code),
                old.pid,
            )
            if old.due is None:
                logger.error("reload abandoned: the new workers cannot start")
                self._reload_started = None
                for w in self._procs.values():
                    w.generation = self._generation
            else:
                old.retry_at = now + backoff
            return
        what = "died" if worker.ready else "failed to start"
        why = f"{what}: {_describe(code)}"
        logger.warning("worker %d %s (%s); restarting", worker.pid, what, _describe(code))
        # If it was being replaced already, that replacement takes its place.
        for w in self._procs.values():
            if w.replaces is worker:
                w.replaces, w.reason, w.since = None, why, now
                return
        delay = backoff if self._failures > 1 else 0.0
        self._vacancies.append(_Vacancy(worker.pid, worker.slot, why, now, now + delay))


def _messages(worker: _Worker, data: bytes) -> list[dict[str, Any]]:
    """The complete JSON lines in what `worker` sent so far; a partial line waits in its buffer."""
    *lines, worker.buf = (worker.buf + data).split(b"\n")
    out = []
    for line in lines:
        try:
            message = json.loads(line)
        except ValueError:
            message = None
        if not isinstance(message, dict):
            logger.warning("worker %d sent %r; ignored", worker.pid, line[:200])
            continue
        out.append(message)
    return out


def _describe(code: int) -> str:
    """`exit 3`, or `killed by SIGKILL`, for logs."""
    if code < 0:
        try:
            return f"killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    return f"exit {code}"


def _bind_tcp(host: str, port: int, backlog: int, *, reuse_port: bool) -> socket.socket:
    family, _, _, _, addr = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if reuse_port:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        if family == socket.AF_INET6:
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        sock.bind(addr)
        sock.listen(backlog)
    except BaseException:
        sock.close()
        raise
    sock.set_inheritable(True)
    return sock


def _bind_unix(path: str, backlog: int) -> socket.socket:
    if os.path.exists(path):
        # Only a stale socket may be replaced, never another kind of file.
        if not stat.S_ISSOCK(os.stat(path).st_mode):
            raise FileExistsError(f"{path} exists and is not a socket")
        os.unlink(path)
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.bind(path)
    sock.listen(backlog)
    sock.set_inheritable(True)
    return sock
