"""Raw ASGI apps for the lifespan tests (tests/hosting/test_asgi_lifespan.py).

`app` records its start-up and shutdown in the file named by $COVETPY_LIFESPAN_FILE;
`failing` answers start-up with `lifespan.startup.failed`; `crashing` raises once start-up
began; `unsupported` refuses the lifespan scope as Django's handler does."""

from __future__ import annotations

import os
from typing import Any


def _record(line: str) -> None:
    with open(os.environ["COVETPY_LIFESPAN_FILE"], "a") as f:
        f.write(line + "\n")


async def _hello(send: Any, body: bytes) -> None:
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": body})


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                _record("startup")
                scope["state"]["token"] = "t0"
                await send({"type": "lifespan.startup.complete"})
            else:
                _record("shutdown")
                await send({"type": "lifespan.shutdown.complete"})
                return
    await _hello(send, scope["state"]["token"].encode())


async def failing(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] == "lifespan":
        await receive()
        await send({"type": "lifespan.startup.failed", "message": "database unreachable"})
        return
    await _hello(send, b"never")


async def crashing(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] == "lifespan":
        await receive()
        raise RuntimeError("config missing")
    await _hello(send, b"never")


async def unsupported(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] != "http":
        raise ValueError(f"only http, not {scope['type']}")
    await _hello(send, b"served without lifespan")
