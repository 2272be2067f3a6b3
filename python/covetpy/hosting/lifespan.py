"""The ASGI lifespan protocol (ASGI spec 2.4, "Lifespan"): an app's start-up and shutdown run
inside the CovetPy app's own.

The app is called once with the `lifespan` scope, as a Task that lives from start-up to
shutdown. Its `state` dict is the lifespan state: after start-up each http and websocket scope
gets a shallow copy (the spec's rule, so a request cannot add keys for the next one).

An app that raises before it receives the first message does not support lifespan (Django's
ASGI handler refuses any scope but http): logged at debug, and serving goes on. A
`lifespan.startup.failed`, or an exception once start-up began, is a `LifespanError` with the
app's message: the server does not start. A shutdown failure is logged, not raised, so the
other mounts and the app's own shutdown still run.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from covetpy.exceptions import CovetError
from covetpy.hosting.asgi_protocol import ASGIProtocolError, broke

__all__ = ["Lifespan", "LifespanError"]

logger = logging.getLogger("covetpy")

# How long shutdown waits for the app's lifespan call to return after `shutdown.complete`
# before cancelling it: Starlette returns at once; longer would only hold up the drain.
_RETURN_GRACE = 5.0


class LifespanError(CovetError):
    """An ASGI app's lifespan start-up failed (`lifespan.startup.failed`, or it raised);
    the message is the app's."""


class Lifespan:
    """Runs one ASGI app's lifespan: `await startup()`, later `await shutdown()`."""

    def __init__(self, app: Any, asgi: dict[str, str]) -> None:
        self.app = app
        self.asgi = asgi
        self.state: dict[str, Any] = {}
        self.supported = False
        """Whether the app received a lifespan message (False until start-up)."""
        self._task: asyncio.Task[None] | None = None
        self._inbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self._reply: asyncio.Future[None] | None = None
        self._phase = "startup"

    async def startup(self, state: dict[str, Any]) -> None:
        """Sends `lifespan.startup` with `state` as the scope's state and waits for the app's
        answer. LifespanError if it failed; returns at once if the app does not do lifespan.
        Each start-up begins afresh: an App may be started again in the same process (tests),
        on another event loop."""
        loop = asyncio.get_running_loop()
        self.state = state
        self.supported = False
        self._phase = "startup"
        self._inbox = asyncio.Queue()
        self._reply = loop.create_future()
        self._inbox.put_nowait({"type": "lifespan.startup"})
        self._task = loop.create_task(self._main(), name="covetpy-asgi-lifespan")
        # Its exception is reported through the reply (or deliberately not: unsupported), so
        # asyncio must not log it again as never retrieved.
        self._task.add_done_callback(_retrieve)
        await self._outcome()

    async def shutdown(self) -> None:
        """Sends `lifespan.shutdown` and waits for the app's answer; a failure is logged."""
        task = self._task
        if task is None or task.done() or not self.supported:
            return
        self._phase = "shutdown"
        self._reply = asyncio.get_running_loop().create_future()
        self._inbox.put_nowait({"type": "lifespan.shutdown"})
        try:
            await self._outcome()
        except LifespanError as exc:
            logger.error("%s", exc)
            return
        done, _ = await asyncio.wait({task}, timeout=_RETURN_GRACE)
        if not done:
            task.cancel()

    async def _outcome(self) -> None:
        reply, task = self._reply, self._task
        assert reply is not None and task is not None
        await asyncio.wait({reply, task}, return_when=asyncio.FIRST_COMPLETED)
        if reply.done():
            reply.result()  # raises the LifespanError of a `*.failed`
            return
        exc = task.exception()
        if exc is None:
            if self.supported:
                logger.warning(
                    "ASGI app's lifespan returned without 'lifespan.%s.complete'", self._phase
                )
            return
        if not self.supported:
            logger.debug("ASGI app does not support lifespan (it raised %r)", exc)
            return
        raise LifespanError(f"ASGI app's lifespan {self._phase} raised {exc!r}") from exc

    async def _main(self) -> None:
        scope = {"type": "lifespan", "asgi": self.asgi, "state": self.state}
        await self.app(scope, self._receive, self._send)

    async def _receive(self) -> dict[str, Any]:
        self.supported = True
        return await self._inbox.get()

    async def _send(self, message: Any) -> None:
        kind = message.get("type") if isinstance(message, dict) else None
        reply = self._reply
        if reply is None or reply.done() or kind not in _ANSWERS[self._phase]:
            raise _lifespan_rule(kind, self._phase)
        if kind.endswith(".failed"):
            said = message.get("message") or "no message given"
            reply.set_exception(LifespanError(f"ASGI app's lifespan {self._phase} failed: {said}"))
        else:
            reply.set_result(None)


def _retrieve(task: asyncio.Task[None]) -> None:
    if not task.cancelled():
        task.exception()


_ANSWERS = {
    "startup": ("lifespan.startup.complete", "lifespan.startup.failed"),
    "shutdown": ("lifespan.shutdown.complete", "lifespan.shutdown.failed"),
}


def _lifespan_rule(kind: Any, phase: str) -> ASGIProtocolError:
    return broke(
        f"during lifespan {phase} the app answers once with "
        f"{' or '.join(repr(k) for k in _ANSWERS[phase])}; got {kind!r}"
    )
