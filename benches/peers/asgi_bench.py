"""Every scenario of the side-by-side suite as one raw ASGI callable, for uvicorn (httptools,
uvloop) and granian's ASGI interface: the least a server can be asked to do over ASGI.
`app_mw` is the same app under five pass-through middlewares. `app_gzip` is the app under
Starlette's GZipMiddleware (pure ASGI, the usual way to gzip an ASGI app; level 5, as
CovetPy's) for json-10k-gzip: raw ASGI servers have no compression of their own (peregrine's
`--compress` aside, left off so every ASGI server runs the same middleware)."""

import asyncio
from typing import Any
from urllib.parse import parse_qs

import msgspec
from starlette.middleware.gzip import GZipMiddleware

from benches.peers.asgi_passthrough import stack
from benches.peers.item import Item
from benches.peers.payloads import BIG, GZIP_LEVEL, JSON_10K

encode = msgspec.json.Encoder().encode
decode_item = msgspec.json.Decoder(Item).decode
TEXT = [(b"content-type", b"text/plain; charset=utf-8")]
JSON = [(b"content-type", b"application/json")]
HELLO = b"Hello, World!"


async def _body(receive: Any) -> bytes:
    chunks = []
    while True:
        message = await receive()
        chunks.append(message.get("body", b""))
        if not message.get("more_body"):
            return b"".join(chunks)


async def _count(receive: Any) -> int:
    """Reads the body message by message and counts its bytes (nothing is kept)."""
    size = 0
    while True:
        message = await receive()
        size += len(message.get("body", b""))
        if not message.get("more_body"):
            return size


async def _answer(scope: Any, receive: Any) -> tuple[int, Any, bytes]:
    path = scope["path"]
    if path == "/plaintext":
        return 200, TEXT, HELLO
    if path == "/json":
        return 200, JSON, encode({"message": "Hello, World!"})
    if path.startswith("/users/"):
        try:
            user_id = int(path[7:])
        except ValueError:
            return 404, TEXT, b"Not Found"
        query = parse_qs(scope["query_string"].decode("latin-1"))
        fields = query.get("fields", [""])[-1]
        return 200, JSON, encode({"id": user_id, "fields": fields.split(",") if fields else []})
    if path == "/items" and scope["method"] == "POST":
        try:
            item = decode_item(await _body(receive))
        except msgspec.ValidationError as exc:
            return 422, TEXT, str(exc).encode()
        return 200, JSON, encode({"name": item.name, "tags": len(item.tags)})
    if path == "/sleep":
        await asyncio.sleep(0.001)
        return 200, TEXT, HELLO
    if path == "/json10k":
        # A fresh header list: GZipMiddleware edits the one it is given in place, and would
        # leave content-encoding and a length on the shared `JSON` for every later answer.
        return 200, [*JSON], encode({"items": JSON_10K})
    if path == "/big":
        return 200, TEXT, BIG
    if path == "/upload" and scope["method"] == "POST":
        return 200, TEXT, str(await _count(receive)).encode()
    return 404, TEXT, b"Not Found"


async def app(scope: Any, receive: Any, send: Any) -> None:
    if scope["type"] != "http":
        return
    status, headers, body = await _answer(scope, receive)
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


app_mw = stack(app)
app_gzip = GZipMiddleware(app, minimum_size=500, compresslevel=GZIP_LEVEL)
