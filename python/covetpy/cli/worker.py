"""`covetpy worker module:app --queues emails,default --concurrency 32`: runs the app's task
consumers without HTTP.

The app starts as it does under `covetpy run` (its start-up hooks and plugins: the database
pools its tasks use), then consumes. SIGTERM or SIGINT drains: no new task is taken, the
running ones get `--drain-timeout` seconds, the rest go back to the broker for another worker;
then the shutdown hooks run and the process exits 0.
"""

from __future__ import annotations

import argparse
import gc
import logging
import signal

from covetpy.cli.logs import configure_logging
from covetpy.exceptions import CovetError

__all__ = ["add_arguments", "run"]

logger = logging.getLogger("covetpy")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("app", help="the app as module:attribute")
    parser.add_argument(
        "--queues", default="", help="comma-separated queues to consume (default: every queue "
        "a registered task uses)",
    )  # fmt: skip
    parser.add_argument(
        "--concurrency", type=int, default=32, help="task runs at once (default: 32)"
    )
    parser.add_argument(
        "--drain-timeout", type=float, default=30.0,
        help="seconds running tasks get to finish on SIGTERM before they go back to the broker "
        "(default: 30)",
    )  # fmt: skip
    parser.add_argument("--log-level", default="info", help="debug, info, warning or error")
    parser.add_argument("--log-format", default="text", help="text or json")


def run(args: argparse.Namespace) -> int:
    # Here, not at the top: `covetpy run` builds this parser too and needs neither.
    import asyncio

    from covetpy.hosting import load_app

    configure_logging(args.log_level, args.log_format)
    if args.concurrency < 1:
        print("covetpy: --concurrency must be at least 1")
        return 2
    if args.drain_timeout < 0:
        print("covetpy: --drain-timeout must not be negative")
        return 2
    try:
        app = load_app(args.app)
    except CovetError as exc:
        logger.error("%s: %s", args.app, exc)
        return 2
    queues = [q for q in args.queues.split(",") if q] or None
    try:
        import uvloop

        factory = uvloop.new_event_loop
    except ImportError:  # pragma: no cover - uvloop is a dependency on Linux
        factory = None
    with asyncio.Runner(loop_factory=factory) as runner:
        return runner.run(_serve(app, queues, args.concurrency, args.drain_timeout))


async def _serve(app: object, queues: list[str] | None, concurrency: int, grace: float) -> int:
    import asyncio

    from covetpy.app import App

    if not isinstance(app, App):
        logger.error("covetpy worker needs a covetpy App (tasks are declared with @app.task)")
        return 2
    app._tasks.consume = (queues, concurrency)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    try:
        await app.startup()
    except Exception as exc:
        logger.error("start-up failed: %r", exc)
        return 1
    # As the HTTP workers do: what start-up made lives as long as the process; frozen, the
    # collector's full passes skip it (they otherwise scan every module and app object: the
    # worker's longest pauses, and its enqueue-to-start p99).
    gc.freeze()
    try:
        await app.ready()
        logger.info("worker ready (pid %d)", __import__("os").getpid())
        await stop.wait()
        logger.info("worker draining (%gs)", grace)
        await app.drain(grace)
    finally:
        await app.shutdown()
    logger.info("worker stopped")
    return 0
