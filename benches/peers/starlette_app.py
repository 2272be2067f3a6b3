"""Every scenario of the side-by-side suite on Starlette (served by uvicorn with httptools and
uvloop). Starlette validates nothing itself, so the POST body is decoded into the msgspec
Struct; `app_mw` stacks five pure-ASGI pass-through middlewares; `app_gzip` has Starlette's
GZipMiddleware (level 5, as CovetPy's). The upload is read with `request.stream()`."""

import asyncio

import msgspec
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.gzip import GZipMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from benches.peers.asgi_passthrough import PassThrough
from benches.peers.item import Item
from benches.peers.payloads import BIG, GZIP_LEVEL, JSON_10K

decode_item = msgspec.json.Decoder(Item).decode


async def plaintext(request: Request) -> Response:
    return PlainTextResponse("Hello, World!")


async def json(request: Request) -> Response:
    return JSONResponse({"message": "Hello, World!"})


async def user(request: Request) -> Response:
    fields = request.query_params.get("fields", "")
    return JSONResponse(
        {"id": request.path_params["user_id"], "fields": fields.split(",") if fields else []}
    )


async def create(request: Request) -> Response:
    try:
        item = decode_item(await request.body())
    except msgspec.ValidationError as exc:
        return PlainTextResponse(str(exc), status_code=422)
    return JSONResponse({"name": item.name, "tags": len(item.tags)})


async def sleep(request: Request) -> Response:
    await asyncio.sleep(0.001)
    return PlainTextResponse("Hello, World!")


async def json10k(request: Request) -> Response:
    return JSONResponse({"items": JSON_10K})


async def big(request: Request) -> Response:
    return PlainTextResponse(BIG)


async def upload(request: Request) -> Response:
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
    return PlainTextResponse(str(size))


routes = [
    Route("/plaintext", plaintext),
    Route("/json", json),
    Route("/users/{user_id:int}", user),
    Route("/items", create, methods=["POST"]),
    Route("/sleep", sleep),
    Route("/json10k", json10k),
    Route("/big", big),
    Route("/upload", upload, methods=["POST"]),
]
app = Starlette(routes=routes)
app_mw = Starlette(routes=routes, middleware=[Middleware(PassThrough) for _ in range(5)])
app_gzip = Starlette(
    routes=routes, middleware=[Middleware(GZipMiddleware, compresslevel=GZIP_LEVEL)]
)
