"""The app of tests/test_leaks.py: one route per kind of handler, and routes that report the
worker's process id and live Python objects, so the test can watch them over many requests."""

from __future__ import annotations

import asyncio
import gc
import logging
import os
from collections.abc import AsyncIterator, Iterator

from covetpy import App, HTTPException
from covetpy.responses import StreamingResponse

app = App()


class _CountUnhandled(logging.Filter):
    """Counts and drops the "unhandled exception" records of /error.

    The record is still made (with its exception) on every 500, so that path is exercised;
    only formatting and writing a traceback per request is skipped: 200,000 tracebacks would
    be ~100 MB of stderr and would time the logging module, not the server.
    """

    def __init__(self) -> None:
        super().__init__()
        self.dropped = 0

    def filter(self, record: logging.LogRecord) -> bool:
        if record.getMessage() == "unhandled exception in a handler":
            self.dropped += 1
            return False
        return True


unhandled = _CountUnhandled()
logging.getLogger("covetpy").addFilter(unhandled)


@app.get("/sync")
def sync() -> dict[str, str]:
    return {"kind": "sync"}


@app.get("/async")
async def async_() -> dict[str, str]:
    await asyncio.sleep(0)
    return {"kind": "async"}


@app.get("/stream")
def stream() -> StreamingResponse:
    def chunks() -> Iterator[bytes]:
        for i in range(3):
            yield b"chunk %d;" % i

    return StreamingResponse(chunks(), media_type="text/plain")


@app.get("/astream")
async def astream() -> StreamingResponse:
    async def chunks() -> AsyncIterator[str]:
        for i in range(3):
            await asyncio.sleep(0)
            yield f"chunk {i};"

    return StreamingResponse(chunks(), media_type="text/plain")


@app.get("/error")
def error() -> str:
    raise RuntimeError("leak test: unhandled")


@app.get("/missing")
async def missing() -> str:
    raise HTTPException(404, "leak test: not here")


@app.get("/stats")
def stats() -> dict[str, int]:
    """The worker's pid, live objects after a full collection (gc.get_objects() also lists the
    objects frozen at start-up), and how many 500s were logged."""
    gc.collect()
    return {
        "pid": os.getpid(),
        "objects": len(gc.get_objects()),
        "unhandled": unhandled.dropped,
    }
