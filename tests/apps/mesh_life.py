"""An app for the mesh lifecycle tests: a readiness check driven by a file, a slow handler,
a streamed answer, and a handler that reports what the server resolved about the request."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path
from typing import Any

from covetpy import App, Request
from covetpy.responses import StreamingResponse

app = App(title="mesh-life")

# The check fails while this file exists (the tests create and remove it).
FLAG = Path(os.environ.get("MESH_LIFE_FLAG", "/nonexistent/covetpy-flag"))


@app.readiness_check
def database() -> bool:
    if FLAG.exists():
        raise ConnectionError("database unreachable")
    return True


@app.get("/")
def index() -> str:
    return "ok"


@app.get("/pid/{n:int}")
def pid(n: int) -> dict[str, int]:
    return {"pid": os.getpid(), "n": n}


@app.get("/stream")
def stream(n: int = 4) -> StreamingResponse:
    """`n` pieces of 7 bytes each ("part 0\n"...), chunked."""
    return StreamingResponse((f"part {i}\n" for i in range(n)), media_type="text/plain")


@app.get("/slow")
async def slow(ms: int = 1000) -> str:
    # A line in the server's log: a test waits for it instead of sleeping.
    print(f"slow {ms} ms started", file=sys.stderr, flush=True)
    await asyncio.sleep(ms / 1000)
    return "done"


@app.post("/slow")
async def slow_post(request: Request, ms: int = 1000) -> str:
    await request.body()
    await asyncio.sleep(ms / 1000)
    return "done"


@app.get("/whoami")
def whoami(request: Request) -> dict[str, Any]:
    return {
        "client": request.client,
        "peer": request.peer,
        "scheme": request.scheme,
        "host": request.host,
        "trace_id": request.trace_id,
        "span_id": request.span_id,
        "parent_span_id": request.parent_span_id,
        "traceparent": request.traceparent,
        "tracestate": request.tracestate,
        "remaining": request.remaining(),
        "request_id": request.request_id,
    }
