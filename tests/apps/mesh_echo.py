"""The upstream app of the mesh tests (tests/mesh): says which server answered and echoes the
headers it received, so a test can see what the proxy in front added (x-request-id,
x-forwarded-client-cert, x-envoy-expected-rq-timeout-ms, traceparent, ...).

`server` is the pid of the `covetpy run` supervisor (the parent of every worker), so it tells
two `covetpy run` processes apart however many workers each has; `pid` is the worker's.
"""

from __future__ import annotations

import asyncio
import os

from covetpy import App, Request

app = App()


def _who() -> dict[str, int]:
    return {"server": os.getppid(), "pid": os.getpid()}


@app.get("/")
def echo(request: Request) -> dict[str, object]:
    """Who answered, and every header received (names lower-case; repeated ones joined)."""
    headers: dict[str, str] = {}
    for name, value in request.headers.items():
        name = name.lower()
        headers[name] = f"{headers[name]}, {value}" if name in headers else value
    return {**_who(), "headers": headers}


@app.get("/slow")
async def slow(ms: int = 0) -> dict[str, int]:
    """Answers after `ms` milliseconds, without holding the event loop."""
    await asyncio.sleep(ms / 1000)
    return _who()
