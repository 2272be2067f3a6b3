"""One worker process: a uvloop event loop on the main thread running handlers, and the Rust
IO threads that accept, parse and route.

The loop watches the core's eventfd; each wake-up runs every queued request in one call into
Rust (`Server.dispatch`), so the GIL is taken once per batch, not once per request.
"""

from __future__ import annotations

import asyncio
import gc
import json
import logging
import os
import signal
import sys
import time
from collections.abc import Callable
from typing import Any

from covetpy._core import Server
from covetpy.app import App
from covetpy.config import ServerConfig

logger = logging.getLogger("covetpy")

__all__ = ["main", "serve"]


async def serve(
    app: App,
    config: ServerConfig,
    on_ready: Callable[[list[str]], None] | None = None,
    *,
    install_signal_handlers: bool = True,
    stop: asyncio.Event | None = None,
) -> None:
    """Serves `app` in this process until SIGTERM/SIGINT (or until `stop` is set), then drains
    and returns.

    `install_signal_handlers=False` leaves signals alone, so `serve` can run in a thread other
    than the main one (the test client does); `stop` is then the way to end it.
    """
    loop = asyncio.get_running_loop()
    core = Server(config, app.route_table(), app.runtime())
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
    logger.info("worker %d: %s IO driver", os.getpid(), core.io_driver)
    stopped: asyncio.Future[None] = loop.create_future()

    def wake() -> None:
        if core.dispatch() and not stopped.done():
            stopped.set_result(None)

    def drain() -> None:
        logger.info("draining (deadline %.0fs)", config.drain_timeout)
        core.begin_drain()

    async def drain_when_stopped(event: asyncio.Event) -> None:
        await event.wait()
        drain()

    fd = core.fileno()
    loop.add_reader(fd, wake)
    signals = (signal.SIGTERM, signal.SIGINT) if install_signal_handlers else ()
    for sig in signals:
        loop.add_signal_handler(sig, drain)
    watcher = loop.create_task(drain_when_stopped(stop)) if stop is not None else None
    if on_ready is not None:
        on_ready(addresses)
    try:
        await stopped
    finally:
        if watcher is not None:
            watcher.cancel()
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
                "worker %d handled %d events in %d batches (%.1f per wake-up)",
                os.getpid(),
                stats["events"],
                stats["batches"],
                stats["events"] / stats["batches"],
            )
    await app.shutdown()


def _new_loop() -> asyncio.AbstractEventLoop:
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop is a dependency on Linux
        return asyncio.new_event_loop()
    return uvloop.new_event_loop()


def run(
    app: App,
    config: ServerConfig,
    ready_fd: int | None = None,
    imported_at: float | None = None,
) -> int:
    """Runs a worker to completion; the exit code tells the supervisor what happened.
    `imported_at` (`time.time()` once the app was imported) is logged with the ready line, so
    start-up cost can be measured (benches/startup.py)."""

    def on_ready(addresses: list[str]) -> None:
        since = ""
        if imported_at is not None:
            since = f" ({(time.time() - imported_at) * 1000:.1f} ms after importing the app,"
            since += f" imported at {imported_at:.6f})"
        logger.info("worker %d serving on %s%s", os.getpid(), ", ".join(addresses), since)
        if ready_fd is not None:
            os.write(ready_fd, (json.dumps(addresses) + "\n").encode())
            os.close(ready_fd)

    loop = _new_loop()
    try:
        loop.run_until_complete(serve(app, config, on_ready))
    finally:
        loop.run_until_complete(loop.shutdown_asyncgens())
        loop.close()
    return 0


def main() -> None:
    """Entry point of a worker process started by the supervisor."""
    from covetpy._importer import import_from_string
    from covetpy.cli.logs import configure_logging

    spec: dict[str, Any] = json.loads(os.environ["COVETPY_WORKER"])
    config = ServerConfig(**spec["config"])
    configure_logging(config.log_level)
    # The supervisor handles Ctrl-C for the process group; a worker drains on SIGTERM only.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        app = import_from_string(spec["app"])
        imported_at = time.time()
    except Exception:
        logger.exception("cannot load the app %s", spec["app"])
        sys.exit(3)
    if not isinstance(app, App):
        logger.error("%s is a %s, not a covetpy.App", spec["app"], type(app).__name__)
        sys.exit(3)
    try:
        code = run(app, config, spec.get("ready_fd"), imported_at)
    except Exception:
        logger.exception("worker failed")
        sys.exit(3)
    sys.exit(code)


if __name__ == "__main__":
    main()
