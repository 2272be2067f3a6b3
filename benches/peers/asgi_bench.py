"""Every scenario of the side-by-side suite as one raw ASGI callable, for uvicorn (httptools,
uvloop) and granian's ASGI interface: the least a server can be asked to do over ASGI.
`app_mw` is the same app under five pass-through middlewares."""

import asyncio
from typing import Any
from urllib.parse import parse_qs

import msgspec

from benches.peers.asgi_passthrough import stack
from benches.peers.item import Item

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
    return 404, TEXT, b"Not Found"


async def app(scope: Any, receive: Any, send: Any) -> None:
    if scope["type"] != "http":
        return
    status, headers, body = await _answer(scope, receive)
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


app_mw = stack(app)
