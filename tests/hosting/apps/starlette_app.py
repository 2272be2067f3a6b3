"""A Starlette app: routes, a mounted sub-app (root_path), `BaseHTTPMiddleware` and GZip
middleware, forms, a streamed request body, background tasks, `url_for` and a WebSocket.
Served by covetpy and uvicorn in tests/hosting/test_asgi_starlette.py."""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator
from typing import Any

from starlette.applications import Starlette
from starlette.background import BackgroundTask
from starlette.middleware import Middleware
from starlette.middleware.base import BaseHTTPMiddleware, RequestResponseEndpoint
from starlette.middleware.gzip import GZipMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response, StreamingResponse
from starlette.routing import Mount, Route, WebSocketRoute
from starlette.websockets import WebSocket

DONE: list[str] = []


class Stamp(BaseHTTPMiddleware):
    async def dispatch(self, request: Request, call_next: RequestResponseEndpoint) -> Response:
        response = await call_next(request)
        response.headers["x-stamp"] = request.url.path
        return response


async def home(request: Request) -> Response:
    return PlainTextResponse("starlette home")


async def user(request: Request) -> Response:
    return JSONResponse(
        {
            "id": request.path_params["user_id"],
            "query": dict(request.query_params),
            "url": str(request.url_for("user", user_id=7)),
        }
    )


async def form(request: Request) -> Response:
    data = await request.form()
    return JSONResponse({k: str(v) for k, v in data.items()})


async def digest(request: Request) -> Response:
    h, n = hashlib.sha256(), 0
    async for chunk in request.stream():
        h.update(chunk)
        n += len(chunk)
    return JSONResponse({"bytes": n, "sha256": h.hexdigest()})


async def big(request: Request) -> Response:
    # Compressible: the GZip middleware compresses it when asked.
    return PlainTextResponse("all work and no play " * 2000)


async def numbers(request: Request) -> Response:
    async def gen() -> AsyncIterator[str]:
        for i in range(100):
            yield f"{i},"

    return StreamingResponse(gen(), media_type="text/csv")


async def cookies(request: Request) -> Response:
    r = PlainTextResponse(f"cookie a={request.cookies.get('a')}")
    # No max_age nor delete_cookie: Starlette writes an `expires` from the clock for those,
    # which differs between the two servers across a second boundary.
    r.set_cookie("b", "2", httponly=True, samesite="strict")
    return r


async def later(request: Request) -> Response:
    return PlainTextResponse("queued", background=BackgroundTask(DONE.append, "later"))


async def done(request: Request) -> Response:
    return JSONResponse(DONE)


async def inner(request: Request) -> Response:
    return JSONResponse(
        {
            "root_path": request.scope.get("root_path"),
            "path": request.url.path,
            "url": str(request.url),
        }
    )


async def echo(websocket: WebSocket) -> None:
    await websocket.accept(subprotocol="v1" if "v1" in websocket.scope["subprotocols"] else None)
    async for text in websocket.iter_text():
        await websocket.send_text(text.upper())


async def bad_method(request: Request) -> Any:
    return PlainTextResponse("only POST", status_code=200)


sub = Starlette(routes=[Route("/where", inner)])

app = Starlette(
    routes=[
        Route("/", home),
        Route("/users/{user_id:int}", user, name="user"),
        Route("/form", form, methods=["POST"]),
        Route("/digest", digest, methods=["POST"]),
        Route("/big", big),
        Route("/numbers", numbers),
        Route("/cookies", cookies),
        Route("/later", later),
        Route("/done", done),
        Route("/post-only", bad_method, methods=["POST"]),
        Mount("/sub", app=sub),
        WebSocketRoute("/ws", echo),
    ],
    middleware=[Middleware(Stamp), Middleware(GZipMiddleware, minimum_size=500)],
)
