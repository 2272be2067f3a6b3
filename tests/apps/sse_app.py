"""Server-Sent Events for tests/test_sse.py, behind the built-in compression."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import AsyncIterator, Iterator

from covetpy import App, Request
from covetpy.middleware.builtin import Compression
from covetpy.sse import EventSourceResponse, ServerSentEvent, last_event_id

app = App(openapi_url=None, middleware=[Compression(minimum_size=1)])

# Set by a producer's `finally`; threading events, so sync producers can set them too.
CLOSED: dict[str, threading.Event] = {}


def closed(tag: str) -> threading.Event:
    return CLOSED.setdefault(tag, threading.Event())


@app.get("/events")
def events() -> EventSourceResponse:
    async def produce() -> AsyncIterator[object]:
        yield ServerSentEvent("a\nb\r\nc\rd", event="multi", id="7", retry=2500)
        yield ServerSentEvent(comment="just a comment")
        yield {"n": 1, "s": "x"}
        yield "plain"
        yield b"bytes"
        yield ServerSentEvent("")

    return EventSourceResponse(produce())


@app.get("/sync")
def sync() -> EventSourceResponse:
    def produce() -> Iterator[object]:
        for n in range(3):
            time.sleep(0.001)  # blocks a pool thread, not the loop
            yield ServerSentEvent(str(n), id=str(n))

    return EventSourceResponse(produce())


@app.get("/idle/{tag}")
def idle(tag: str) -> EventSourceResponse:
    async def produce() -> AsyncIterator[str]:
        try:
            yield "hello"
            await asyncio.Event().wait()  # never set: idle until the client leaves
        finally:
            closed(tag).set()

    return EventSourceResponse(produce(), ping=0.05)


@app.get("/sync-idle/{tag}")
def sync_idle(tag: str) -> EventSourceResponse:
    def produce() -> Iterator[object]:
        try:
            yield "hello"
            # A sync producer blocks a pool thread between events (and is closed at its next
            # `yield` once the client is gone: a thread cannot be interrupted).
            while True:
                time.sleep(0.05)
                yield ServerSentEvent(comment="tick")
        finally:
            closed(tag).set()

    return EventSourceResponse(produce(), ping=0.02)


@app.get("/closed/{tag}")
async def was_closed(tag: str) -> dict[str, bool]:
    ok = await asyncio.to_thread(closed(tag).wait, 30)
    return {"closed": ok}


@app.get("/last-id")
def last_id(request: Request) -> EventSourceResponse:
    async def produce() -> AsyncIterator[ServerSentEvent]:
        yield ServerSentEvent(last_event_id(request) or "none")
        yield ServerSentEvent(request.headers.get("last-event-id") or "none")

    return EventSourceResponse(produce())


@app.get("/text")
def text() -> str:
    return "compressible " * 100
