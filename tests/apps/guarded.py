"""The app of the admission, timeout and disconnect tests: slow handlers that record how they
ended, so a test can see that a handler was cancelled and why."""

from __future__ import annotations

import asyncio
import sys
import time
from collections.abc import AsyncIterator

from covetpy import App, Request
from covetpy.responses import StreamingResponse

app = App()
# How each slow handler ended, by the `tag` query parameter: "done", "cancelled" or
# "cancelled-disconnected".
ended: dict[str, str] = {}


def mark(what: str) -> None:
    """A line on stderr (the server's log) a test can wait for: a readiness event, not a sleep."""
    print(what, file=sys.stderr, flush=True)


@app.get("/fast")
def fast() -> str:
    return "fast"


@app.get("/async-sleep")
async def async_sleep(request: Request, seconds: float = 1.0, tag: str = "") -> str:
    mark(f"handler {tag} started")
    try:
        await asyncio.sleep(seconds)
    except asyncio.CancelledError:
        gone = await request.is_disconnected()
        ended[tag] = "cancelled-disconnected" if gone else "cancelled"
        raise
    ended[tag] = "done"
    return "slept"


@app.get("/async-sleep-limited", timeout=0.5)
async def async_sleep_limited(request: Request, seconds: float = 2.0, tag: str = "") -> str:
    return await async_sleep(request, seconds, tag)


@app.get("/async-sleep-unlimited", timeout=0)
async def async_sleep_unlimited(request: Request, seconds: float = 2.0, tag: str = "") -> str:
    return await async_sleep(request, seconds, tag)


@app.get("/block")
def block(seconds: float = 1.0, tag: str = "") -> str:
    """Holds the Python thread (and the GIL's event loop) for `seconds`; logs when it starts
    and the monotonic clock (system-wide on Linux) when it lets go, for ordering checks."""
    mark(f"handler {tag} started")
    time.sleep(seconds)
    mark(f"handler {tag} returns at {time.monotonic():.6f}")
    return "unblocked"


@app.get("/ended")
def ended_() -> dict[str, str]:
    return ended


@app.get("/stream")
def stream(chunks: int = 5, every: float = 0.2) -> StreamingResponse:
    async def body() -> AsyncIterator[bytes]:
        for i in range(chunks):
            await asyncio.sleep(every)
            yield f"chunk {i}\n".encode()

    return StreamingResponse(body(), media_type="text/plain")
