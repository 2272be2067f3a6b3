"""The app the end-to-end tests run: one handler per behaviour under test."""

from __future__ import annotations

import asyncio
import os
import sys
import time
import uuid
from collections.abc import AsyncIterator, Iterator

from covetpy import App, HTTPException, Request, Response
from covetpy._core import panic_for_test
from covetpy.responses import StreamingResponse

app = App()
state: dict[str, int] = {"startup": 0}


@app.on_startup
async def started() -> None:
    state["startup"] += 1


@app.get("/")
def root() -> str:
    return "Hello, World!"


@app.get("/json")
def json_() -> dict[str, object]:
    return {"message": "hi", "n": [1, 2, 3]}


@app.get("/bytes")
def raw() -> bytes:
    return b"\x00\x01"


@app.get("/none")
def nothing() -> None:
    return None


@app.get("/users/{user_id:int}")
async def user(user_id: int) -> dict[str, int]:
    return {"id": user_id}


@app.get("/by-annotation/{n}")
def by_annotation(n: float) -> dict[str, float]:
    return {"n": n}


@app.get("/items/{item_id:uuid}")
def item(item_id: uuid.UUID) -> dict[str, str]:
    return {"id": str(item_id), "type": type(item_id).__name__}


@app.get("/files/{rest:path}")
def files(rest: str) -> str:
    return rest


@app.get("/names/{name}")
def names(name: str) -> str:
    return name


@app.route("/echo", methods=["POST", "PUT"])
async def echo(request: Request) -> Response:
    body = await request.body()
    return Response(
        body, media_type=request.headers.get("content-type", "application/octet-stream")
    )


@app.post("/json-echo")
async def json_echo(request: Request) -> object:
    return await request.json()


@app.post("/stream-in")
async def stream_in(request: Request) -> dict[str, int]:
    total = 0
    async for chunk in request.stream():
        total += len(chunk)
    return {"received": total}


@app.get("/inspect")
def inspect_(request: Request) -> dict[str, object]:
    return {
        "method": request.method,
        "path": request.path,
        "query": request.query_params.getlist("q"),
        "query_string": request.query_string,
        "accept": request.headers.getlist("accept"),
        "host": request.headers["HOST"],
        "client": list(request.client) if request.client else None,
        "version": request.http_version,
        "pid": os.getpid(),
    }


@app.get("/params/{a:int}/{b}")
def params(request: Request, a: int, b: str) -> dict[str, object]:
    return {"path_params": request.path_params, "a": a, "b": b}


@app.get("/sleep")
async def sleep() -> str:
    await asyncio.sleep(0.01)
    return "slept"


@app.get("/slow")
async def slow() -> str:
    await asyncio.sleep(1.0)
    return "slow done"


@app.get("/spin")
def spin() -> str:
    # Holds the GIL for two seconds, like a CPU-bound handler would. Logs when it starts and
    # answers the monotonic clock (system-wide on Linux) when it lets go: tests wait for the
    # start and check that other answers came before the end, an ordering rather than a time.
    print("spin started", file=sys.stderr, flush=True)
    end = time.perf_counter() + 2.0
    n = 0
    while time.perf_counter() < end:
        n += 1
    return f"spun {n} until {time.monotonic():.6f}"


@app.get("/error")
def error() -> str:
    raise RuntimeError("boom")


@app.get("/async-error")
async def async_error() -> str:
    await asyncio.sleep(0)
    raise RuntimeError("async boom")


@app.get("/teapot")
def teapot() -> str:
    raise HTTPException(418, "short and stout", headers={"x-tea": "earl grey"})


@app.get("/panic")
def panic() -> str:
    panic_for_test()
    return "unreachable"


@app.get("/custom")
def custom() -> Response:
    return Response(
        "created", status_code=201, headers={"x-custom": "yes"}, media_type="text/plain"
    )


@app.get("/bad-header")
def bad_header() -> Response:
    return Response("x", headers={"x-evil": "a\r\nset-cookie: pwned=1"})


@app.get("/unencodable")
def unencodable() -> object:
    return object()


@app.get("/stream")
def stream() -> StreamingResponse:
    def gen() -> Iterator[bytes]:
        for i in range(5):
            yield f"chunk{i};".encode()

    return StreamingResponse(gen(), media_type="text/plain")


@app.get("/astream")
async def astream() -> StreamingResponse:
    async def gen() -> AsyncIterator[str]:
        for i in range(200):
            await asyncio.sleep(0)
            yield "x" * 1000 + f"{i}\n"

    return StreamingResponse(gen(), media_type="text/plain")


@app.get("/drip")
async def drip() -> StreamingResponse:
    async def gen() -> AsyncIterator[str]:
        for i in range(300):
            await asyncio.sleep(0.001)
            yield f"{i}\n"

    return StreamingResponse(gen(), media_type="text/plain")


@app.get("/stream-fails")
def stream_fails() -> StreamingResponse:
    def gen() -> Iterator[bytes]:
        yield b"partial"
        raise RuntimeError("producer failed")

    return StreamingResponse(gen())


@app.get("/startup-count")
def startup_count() -> dict[str, int]:
    return state


@app.get("/pid")
def pid() -> dict[str, int]:
    return {"pid": os.getpid()}


stream_state: dict[str, int] = {"produced": 0, "closed": 0}


@app.get("/infinite")
async def infinite() -> StreamingResponse:
    async def gen() -> AsyncIterator[bytes]:
        try:
            while True:
                stream_state["produced"] += 1
                yield b"y" * 65536
        finally:
            stream_state["closed"] += 1

    return StreamingResponse(gen())


@app.get("/infinite-state")
def infinite_state() -> dict[str, int]:
    return stream_state


app.add_static("/static", "fixed body", media_type="text/plain", headers={"x-fixed": "1"})
