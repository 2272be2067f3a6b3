"""One worker process: a uvloop event loop on the main thread running handlers, and the Rust
IO threads that accept, parse and route.

The loop watches the core's eventfd; each wake-up runs every queued request in one call into
Rust (`Server.dispatch`), so the GIL is taken once per batch, not once per request.

Under the supervisor a worker reports on a Unix socket (its channel), one JSON line per
event: `{"ready": [addresses]}` once it serves, and `{"recycle": reason, "detail": text}` once
it is due for replacement (`--max-requests`, `--max-worker-memory`); it keeps serving until the
supervisor, with the replacement ready, sends SIGTERM. A standby worker imports the app, says
`{"standby": true}`, and waits for the listening socket to arrive on the channel (SCM_RIGHTS)
before it starts serving (adrs/0006).

Before it serves (or stands by) a worker checks what the supervisor checked before adrs/0020:
the app imports, its settings validate, its route table builds with these options. If one
fails it reports `{"fatal": message}` and exits 3; the supervisor prints the first such
message once. Without a supervisor the worker prints it itself.
"""

from __future__ import annotations

import asyncio
import gc
import json
import logging
import os
import random
import shutil
import signal
import socket
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, NoReturn

from covetpy._core import Server
from covetpy.config import ServerConfig
from covetpy.exceptions import ConfigError, CovetError, MissingExtra
from covetpy.server.lifecycle import Lifecycle

if TYPE_CHECKING:
    from covetpy.app import App

logger = logging.getLogger("covetpy")

__all__ = ["main", "serve"]

# How often a worker compares its request count and RSS with the recycling limits. A check is
# a counter read and one read of /proc/self/statm; a worker overshoots --max-requests by at
# most this much traffic.
RECYCLE_CHECK = 0.5
_PAGE = os.sysconf("SC_PAGE_SIZE")


async def serve(
    app: App,
    config: ServerConfig,
    on_ready: Callable[[list[str]], None] | None = None,
    *,
    install_signal_handlers: bool = True,
    stop: asyncio.Event | None = None,
    on_recycle: Callable[[str, str], None] | None = None,
) -> None:
    """Serves `app` in this process until SIGTERM/SIGINT (or until `stop` is set), then drains
    and returns.

    `install_signal_handlers=False` leaves signals alone, so `serve` can run in a thread other
    than the main one (the test client does); `stop` is then the way to end it.
    `on_recycle(reason, detail)` is called once when the worker passes `config.max_requests`
    (plus jitter) or `config.max_worker_memory`; serving goes on until the drain.
    """
    loop = asyncio.get_running_loop()
    config, own_metrics_dir = _with_metrics(config)
    # The plugins see the run's config: tracing, the metrics endpoint, the mesh context.
    app.prepare(config)
    core = Server(config, app.route_table(), app.runtime())
    app.attach_server(core)  # `app.broadcast` fans out through it
    await app.startup()
    # Everything alive now (modules, the app, start-up state) lives as long as the worker:
    # moving it out of the collector's reach keeps full collections from scanning it on the
    # request path (they showed as 50 ms stalls at p99.9 before this).
    gc.collect()
    gc.freeze()
    try:
        addresses = core.start()
    except BaseException:
        await app.shutdown()  # start-up hooks ran: pair them even though serving failed
        raise
    for mount in app.mounts:
        mount.serving(addresses[0])  # an ASGI scope's `server`
    logger.info("worker %d: %s IO driver", os.getpid(), core.io_driver)
    stopped: asyncio.Future[None] = loop.create_future()

    def wake() -> None:
        if core.dispatch() and not stopped.done():
            stopped.set_result(None)

    lifecycle = Lifecycle(
        app, core, config, hard_exit=_hard_exit if install_signal_handlers else None
    )

    def drain() -> None:
        lifecycle.begin_shutdown()

    def replaced() -> None:
        lifecycle.begin_shutdown(replaced=True)

    async def drain_when_stopped(event: asyncio.Event) -> None:
        await event.wait()
        drain()

    fd = core.fileno()
    loop.add_reader(fd, wake)
    signals: tuple[signal.Signals, ...] = (
        (signal.SIGTERM, signal.SIGINT) if install_signal_handlers else ()
    )
    for sig in signals:
        loop.add_signal_handler(sig, drain)
    if install_signal_handlers:
        loop.add_signal_handler(signal.SIGUSR1, replaced)
        signals += (signal.SIGUSR1,)
    tasks = [loop.create_task(drain_when_stopped(stop))] if stop is not None else []
    if on_recycle is not None and (config.max_requests or config.max_worker_memory):
        tasks.append(loop.create_task(_watch_limits(core, config, on_recycle)))
    try:
        # The worker serves now: plugins' on_ready (a failure stops the worker, drained).
        await app.ready()
        # Probes: /startupz and /readyz turn 200 here (after the sidecar, awaited in on_ready).
        await lifecycle.become_ready()
        if on_ready is not None:
            on_ready(addresses)
        await stopped
        await lifecycle.drained()
    finally:
        lifecycle.cancel()
        for task in tasks:
            task.cancel()
        loop.remove_reader(fd)
        for sig in signals:
            loop.remove_signal_handler(sig)
        if stopped.cancelled() or not stopped.done():
            # Cancelled (which cancels `stopped` too) before the drain completed: without a
            # drain the IO threads never exit and join() would block forever.
            core.begin_drain()
        core.join()
        stats = core.stats()
        if stats["batches"]:
            logger.info(
                "worker %d handled %d events in %d batches (%.1f per wake-up); "
                "%d requests refused by admission control",
                os.getpid(),
                stats["events"],
                stats["batches"],
                stats["events"] / stats["batches"],
                stats["refused"],
            )
    await app.shutdown()
    if own_metrics_dir is not None:
        shutil.rmtree(own_metrics_dir, ignore_errors=True)


def _with_metrics(config: ServerConfig) -> tuple[ServerConfig, str | None]:
    """With --metrics: the config naming the directory of the metrics files (the
    supervisor's, or one of this worker's own when it runs alone), and that own directory
    (removed when the worker ends). The built-in observability plugin serves them."""
    if not config.metrics:
        return config, None
    own = None
    if config.metrics_dir is None:
        shm = "/dev/shm" if os.path.isdir("/dev/shm") else None
        own = tempfile.mkdtemp(prefix="covetpy-metrics-", dir=shm)
        config = config.replace(metrics_dir=own)
    return config, own


def _hard_exit() -> None:
    """The shutdown deadline passed: leave now, whatever is still running."""
    logging.shutdown()
    os._exit(1)


async def _watch_limits(
    core: Server, config: ServerConfig, notify: Callable[[str, str], None]
) -> None:
    """Calls `notify` once the worker is due for recycling."""
    requests = 0
    if config.max_requests:
        # Jitter spreads workers started together, so they do not all recycle at once.
        requests = config.max_requests + random.randint(0, config.max_requests_jitter)
    rss_limit = config.max_worker_memory * 1024 * 1024
    while True:
        await asyncio.sleep(RECYCLE_CHECK)
        if requests and (served := core.stats()["requests"]) >= requests:
            notify("max-requests", f"{served} requests served, limit {requests}")
            return
        if rss_limit and (rss := _rss()) > rss_limit:
            limit = config.max_worker_memory
            notify("memory", f"RSS {rss / 2**20:.0f} MB, limit {limit} MB")
            return


def _rss() -> int:
    """This process's resident set size in bytes (one read of /proc/self/statm)."""
    with open("/proc/self/statm", "rb") as f:
        return int(f.read().split()[1]) * _PAGE


def _new_loop() -> asyncio.AbstractEventLoop:
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop is a dependency on Linux
        return asyncio.new_event_loop()
    return uvloop.new_event_loop()


def _report(channel: int | None, message: dict[str, Any]) -> None:
    """One JSON line to the supervisor, if there is one."""
    if channel is None:
        return
    try:
        os.write(channel, (json.dumps(message) + "\n").encode())
    except OSError as exc:  # EPIPE: the supervisor is gone or has let go of this worker
        logger.warning("cannot report %s to the supervisor: %s", message, exc)


def _stand_by(config: ServerConfig, channel: int) -> ServerConfig | None:
    """Waits, with the app imported, until the supervisor hands over the listening socket;
    returns the config to serve it with, or None if the supervisor closed the channel."""
    try:  # the event loop's module too, so that activation costs little more than a start
        import uvloop  # noqa: F401
    except ImportError:  # pragma: no cover
        pass
    # Stopped before it served: nothing to drain.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    logger.info("worker %d standing by", os.getpid())
    _report(channel, {"standby": True})
    sock = socket.socket(fileno=channel)
    try:
        message, fds, _, _ = socket.recv_fds(sock, 4096, 1)
    except ConnectionResetError:
        # The supervisor closed the channel with data unread (it shut down meanwhile):
        # let go, like an empty message.
        message, fds = b"", []
    finally:
        sock.detach()  # the descriptor stays open: run() reports on it
    if not message:
        for fd in fds:
            os.close(fd)
        return None
    # No descriptor when the workers bind their own sockets (COVETPY_LISTEN=worker).
    return config.replace(fd=fds[0], uds=None) if fds else config


def run(
    app: App,
    config: ServerConfig,
    channel: int | None = None,
    imported_at: float | None = None,
    *,
    activated_at: float | None = None,
) -> int:
    """Runs a worker to completion; the exit code tells the supervisor what happened.
    `channel` is the supervisor's socket (see the module docstring). `imported_at` (`time.time()`
    once the app was imported) is logged with the ready line, so start-up cost can be measured
    (benches/startup.py); for a standby, `activated_at` (when it got its socket) instead."""

    def report(message: dict[str, Any]) -> None:
        _report(channel, message)

    def on_ready(addresses: list[str]) -> None:
        if config.fd is not None:
            # The IO threads accept on duplicates of the inherited socket; without this copy
            # the socket closes when they stop accepting (the supervisor keeps its own).
            os.close(config.fd)
        since = ""
        if activated_at is not None:
            since = f" ({(time.time() - activated_at) * 1000:.1f} ms after its activation)"
        elif imported_at is not None:
            since = f" ({(time.time() - imported_at) * 1000:.1f} ms after importing the app,"
            since += f" imported at {imported_at:.6f})"
        logger.info("worker %d serving on %s%s", os.getpid(), ", ".join(addresses), since)
        report({"ready": addresses})

    def on_recycle(reason: str, detail: str) -> None:
        logger.info("worker %d is due for replacement (%s: %s)", os.getpid(), reason, detail)
        report({"recycle": reason, "detail": detail})

    loop = _new_loop()
    try:
        loop.run_until_complete(serve(app, config, on_ready, on_recycle=on_recycle))
    finally:
        loop.run_until_complete(loop.shutdown_asyncgens())
        loop.close()
    return 0


@dataclass(frozen=True)
class Fatal:
    """Why the app cannot be served, in the words `covetpy run` has always used: `printed` on
    stderr as is (a settings report), else logged as an error."""

    message: str
    printed: bool = False


def check(app_ref: str, config: ServerConfig) -> tuple[App, float] | Fatal:
    """Loads `app_ref` and checks it as it will be served: its settings, and its route table
    built by the core with `config` (conflicts, options the core refuses), without binding.
    Returns the app and when it was imported (`time.time()`), or why it cannot serve."""
    from covetpy.hosting import load_app
    from covetpy.settings import SettingsError
    from covetpy.settings.runtime import check_app

    try:
        app = load_app(app_ref, config.interface, config.wsgi_threads)
        imported_at = time.time()
    except CovetError as exc:
        return Fatal(f"{app_ref}: {exc}")
    except Exception:  # the module itself raised: its traceback is the message
        return Fatal(f"cannot load the app {app_ref}:\n{traceback.format_exc().rstrip()}")
    try:
        check_app(app)  # the app's settings, from the sources the supervisor was given
    except SettingsError as exc:
        return Fatal(f"covetpy: {exc}", printed=True)
    except CovetError as exc:
        return Fatal(f"{type(exc).__name__}: {exc}")
    try:
        Server(config, app.route_table(), app.runtime())
    except CovetError as exc:
        return Fatal(f"{type(exc).__name__}: {exc}")
    return app, imported_at


def _fail(fatal: Fatal, channel: int | None) -> NoReturn:
    """Tells the supervisor why this worker cannot serve (it says it once for all workers),
    or says it here when there is no supervisor; then exits 3."""
    if channel is not None:
        _report(channel, {"fatal": fatal.message, "printed": fatal.printed})
    elif fatal.printed:
        print(fatal.message, file=sys.stderr, flush=True)
    else:
        logger.error("%s", fatal.message)
    sys.exit(3)


def main() -> None:
    """Entry point of a worker process started by the supervisor."""
    from covetpy.cli.logs import configure_logging

    spec: dict[str, Any] = json.loads(os.environ["COVETPY_WORKER"])
    config = ServerConfig(**spec["config"])
    configure_logging(config.log_level, config.log_format)
    # The supervisor handles Ctrl-C and SIGHUP (reload) for the process group, which a
    # terminal hang-up or `kill -HUP -PGID` also reaches; a worker drains on SIGTERM only.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    channel: int | None = spec.get("channel_fd")
    checked = check(spec["app"], config)
    if isinstance(checked, Fatal):
        _fail(checked, channel)
    app, imported_at = checked
    activated_at = None
    if spec.get("standby") and channel is not None:
        activated = _stand_by(config, channel)
        if activated is None:
            sys.exit(0)  # let go without being needed
        config, activated_at = activated, time.time()
    try:
        code = run(app, config, channel, imported_at, activated_at=activated_at)
    except (ConfigError, MissingExtra) as exc:
        # What the user must change (an option, an extra to install) says so in one line.
        logger.error("worker failed to start: %s", exc)
        sys.exit(3)
    except Exception:
        logger.exception("worker failed")
        sys.exit(3)
    sys.exit(code)


if __name__ == "__main__":
    main()
