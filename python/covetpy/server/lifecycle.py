"""What a worker does between serving and exiting, in the order sidecars expect.

On SIGTERM, the service shutting down (designs/mesh.md):

1. readiness fails at once (`/readyz` 503, gRPC health NOT_SERVING, responses carry
   `x-envoy-immediate-health-check-fail`), while requests are still served;
2. after `pre_stop_delay` the listener closes and in-flight requests drain with
   `drain_timeout`, answered with `Connection: close`;
3. meanwhile the gRPC server stops with its grace period, plugins' `on_drain` run and the
   event consumers drain; background tasks of responses already sent (`BackgroundTasks`)
   get the rest of `drain_timeout`, then are cancelled;
4. telemetry is flushed at shutdown;
5. whatever is left when `shutdown_deadline` passes is abandoned: the worker exits.

On SIGUSR1, sent by the supervisor to a worker whose replacement already serves (a reload, a
recycle), the worker drains at once and readiness stays as it is: to a proxy, which sees the
service and not its workers, nothing changed.

Readiness while serving comes from the app's readiness checks, run every
`readiness_interval` seconds off the request path; Rust answers the probes from the flag they
set, so a probe never waits for Python.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Callable, Coroutine
from typing import TYPE_CHECKING, Any

from covetpy import background

if TYPE_CHECKING:
    from covetpy._core import Server
    from covetpy.app import App
    from covetpy.config import ServerConfig

logger = logging.getLogger("covetpy")

__all__ = ["Lifecycle"]


class Lifecycle:
    """Readiness and the shutdown sequence of one worker."""

    def __init__(
        self,
        app: App,
        core: Server,
        config: ServerConfig,
        *,
        hard_exit: Callable[[], None] | None = None,
    ) -> None:
        self.app = app
        self.core = core
        self.config = config
        self.shutting_down = False
        self._hard_exit = hard_exit
        self._tasks: list[asyncio.Task[None]] = []
        self._draining: asyncio.Task[None] | None = None
        self._drain_ends = 0.0
        self._background_ends = 0.0

    async def become_ready(self) -> None:
        """Called once the worker serves (after the plugins' `on_ready`, among which the
        sidecar wait): runs the readiness checks once, then reports started and keeps the
        checks running."""
        ok, why = await self.app.check_readiness()
        self.core.set_ready(ok, why)
        self.core.set_started()
        self.app.set_serving(ok)
        if self.app.readiness_checks:
            self._spawn(self._recheck())

    async def _recheck(self) -> None:
        was = True
        while not self.shutting_down:
            await asyncio.sleep(self.config.readiness_interval)
            if self.shutting_down:
                return
            ok, why = await self.app.check_readiness()
            if self.shutting_down:
                return
            self.core.set_ready(ok, why)
            self.app.set_serving(ok)
            if ok != was:
                log = logger.info if ok else logger.warning
                log("worker %d %s", os.getpid(), "ready" if ok else f"not ready: {why}")
                was = ok

    def begin_shutdown(self, replaced: bool = False) -> None:
        """Step 1 of the sequence; the rest follows on timers. Idempotent.

        `replaced`: another worker already serves this one's socket (a reload, a recycle), so
        the service as a proxy sees it stays ready: no readiness change, no pre-stop delay."""
        if self.shutting_down:
            return
        self.shutting_down = True
        loop = asyncio.get_running_loop()
        cfg = self.config
        delay = 0.0 if replaced else cfg.pre_stop_delay
        deadline = cfg.shutdown_deadline or delay + cfg.drain_timeout + 5.0
        if replaced:
            logger.info("replaced: draining, exiting within %.1f s", deadline)
        else:
            self.core.set_ready(False, "shutting down")
            self.app.set_serving(False)
            logger.info(
                "shutting down: not ready now, closing the listener in %.1f s, "
                "exiting within %.1f s",
                delay,
                deadline,
            )
        if self._hard_exit is not None:
            loop.call_later(deadline, self._expired, deadline)
        if delay > 0:
            loop.call_later(delay, self._drain, delay)
        else:
            self._drain(delay)

    def _drain(self, delay: float) -> None:
        cfg = self.config
        left = cfg.shutdown_deadline - delay if cfg.shutdown_deadline else cfg.drain_timeout
        grace = max(0.0, min(cfg.drain_timeout, left))
        logger.info("draining (deadline %.0fs)", grace)
        self.core.begin_drain()
        # gRPC's grace, plugins' on_drain and the event bus run while HTTP drains.
        # The drain work may run for its grace counted from now, plus 1 s to finish up.
        now = asyncio.get_running_loop().time()
        self._drain_ends = now + grace + 1.0
        self._background_ends = now + grace
        self._draining = self._spawn(self.app.drain(grace=grace))

    async def drained(self) -> None:
        """Waits for step 3 (gRPC, `on_drain`, event consumers) once HTTP has drained: an
        idle worker drains HTTP at once, before that work has even started, and cancelling
        it then would skip the plugins' `on_drain` and drop events being handled. The
        drain's grace bounds the wait (then it is cancelled with the rest), like the shutdown
        deadline does. Then the background tasks of the responses sent (`covetpy.background`)
        get what is left of the grace; those still running are cancelled."""
        if self._draining is None:
            return
        left = max(0.0, self._drain_ends - asyncio.get_running_loop().time())
        done, _ = await asyncio.wait([self._draining], timeout=left)
        if not done:
            logger.warning(
                "drain work (plugins' on_drain, event consumers) outlived the drain's grace: "
                "cancelled"
            )
        # No request is left to queue background tasks: those queued wait no longer than the
        # drain's grace (they have run since their responses were sent, alongside the drain).
        await background.drain(self._background_ends - asyncio.get_running_loop().time())

    def _expired(self, deadline: float) -> None:
        logger.error("shutdown deadline (%.1f s) passed: exiting with work left", deadline)
        assert self._hard_exit is not None
        self._hard_exit()

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> asyncio.Task[None]:
        task = asyncio.get_running_loop().create_task(coro)
        task.add_done_callback(_log_failure)
        self._tasks.append(task)
        return task

    def cancel(self) -> None:
        """Stops the background work (the worker is exiting)."""
        for task in self._tasks:
            task.cancel()


def _log_failure(task: asyncio.Task[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        logger.error("worker lifecycle task failed", exc_info=task.exception())
