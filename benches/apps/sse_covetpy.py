"""One Server-Sent Events stream per request at `/sse`, one event per second, for
benches/sse_streams.py. `SSE_PING` (seconds, default 15 as in EventSourceResponse; 0: off)."""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import AsyncIterator

from covetpy import App
from covetpy.sse import EventSourceResponse, ServerSentEvent

app = App(openapi_url=None)
PING = float(os.environ.get("SSE_PING", "15"))


@app.get("/sse")
def sse() -> EventSourceResponse:
    async def events() -> AsyncIterator[ServerSentEvent]:
        n = 0
        while True:
            yield ServerSentEvent({"n": n, "t": time.time()}, event="tick", id=str(n))
            n += 1
            await asyncio.sleep(1)

    return EventSourceResponse(events(), ping=PING)
