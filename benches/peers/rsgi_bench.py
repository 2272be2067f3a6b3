"""Every scenario of the side-by-side suite as one RSGI app (granian's own interface, its
fastest). `app_mw` is the same app under five pass-through layers, RSGI's equivalent of a
middleware (RSGI defines no middleware API of its own). The upload is read by iterating the protocol
object, chunk by chunk; json-10k-gzip is n/a here: neither RSGI nor granian compresses."""

import asyncio
from typing import Any
from urllib.parse import parse_qs

import msgspec

from benches.peers.item import Item
from benches.peers.payloads import BIG, JSON_10K

encode = msgspec.json.Encoder().encode
decode_item = msgspec.json.Decoder(Item).decode
TEXT = [("content-type", "text/plain; charset=utf-8")]
JSON = [("content-type", "application/json")]
HELLO = "Hello, World!"


async def app(scope: Any, proto: Any) -> None:
    path = scope.path
    if path == "/plaintext":
        proto.response_str(200, TEXT, HELLO)
    elif path == "/json":
        proto.response_bytes(200, JSON, encode({"message": "Hello, World!"}))
    elif path.startswith("/users/"):
        try:
            user_id = int(path[7:])
        except ValueError:
            proto.response_str(404, TEXT, "Not Found")
            return
        fields = parse_qs(scope.query_string).get("fields", [""])[-1]
        body = encode({"id": user_id, "fields": fields.split(",") if fields else []})
        proto.response_bytes(200, JSON, body)
    elif path == "/items" and scope.method == "POST":
        try:
            item = decode_item(await proto())
        except msgspec.ValidationError as exc:
            proto.response_str(422, TEXT, str(exc))
            return
        proto.response_bytes(200, JSON, encode({"name": item.name, "tags": len(item.tags)}))
    elif path == "/sleep":
        await asyncio.sleep(0.001)
        proto.response_str(200, TEXT, HELLO)
    elif path == "/big":
        proto.response_bytes(200, TEXT, BIG)
    elif path == "/json10k":
        proto.response_bytes(200, JSON, encode({"items": JSON_10K}))
    elif path == "/upload" and scope.method == "POST":
        size = 0
        async for chunk in proto:
            size += len(chunk)
        proto.response_str(200, TEXT, str(size))
    else:
        proto.response_str(404, TEXT, "Not Found")


class PassThrough:
    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, proto: Any) -> None:
        await self.app(scope, proto)


app_mw: Any = app
for _ in range(5):
    app_mw = PassThrough(app_mw)
