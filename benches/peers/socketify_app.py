"""Every scenario of the side-by-side suite on socketify.py (uWebSockets), run as a script:

    python -m benches.peers.socketify_app PORT [--middleware]

Sync handlers where nothing awaits; the request is read before the first await (socketify's
request object is only valid until then). socketify validates nothing itself, so the POST
body is decoded into the msgspec Struct, and msgspec is its JSON serializer. `--middleware`
puts five pass-through functions in front of each handler with socketify's `middleware()`.
The upload is counted in `res.on_data` as uWS hands over each chunk (socketify's `get_data`
would gather it whole in a BytesIO); socketify has no gzip middleware (json-10k-gzip: n/a).
"""

import asyncio
import sys
from typing import Any

import msgspec
from socketify import App, middleware

from benches.peers.item import Item
from benches.peers.payloads import BIG, JSON_10K

decode_item = msgspec.json.Decoder(Item).decode
JSON = b"application/json"
# Responses waiting for their body. socketify keeps no strong reference to them (only a cffi
# handle the response itself holds, and a weakly-held task), so the cyclic GC can free one
# while uWS still points at it: "ffi.from_handle() ... garbage collected" and an abort under
# POST load. Holding them here until answered avoids that.
_in_flight: set[Any] = set()


class MsgspecJSON:
    """What `App.json_serializer` takes: an object with `dumps` and `loads`."""

    dumps = staticmethod(lambda value: msgspec.json.encode(value).decode())
    loads = staticmethod(msgspec.json.decode)


def plaintext(res: Any, req: Any, data: Any = None) -> None:
    res.end("Hello, World!")


def json(res: Any, req: Any, data: Any = None) -> None:
    res.send({"message": "Hello, World!"}, content_type=JSON)


def user(res: Any, req: Any, data: Any = None) -> None:
    try:
        user_id = int(req.get_parameter(0))
    except ValueError:
        res.write_status(404).end("Not Found")
        return
    fields = req.get_query("fields") or ""
    res.send({"id": user_id, "fields": fields.split(",") if fields else []}, content_type=JSON)


async def create(res: Any, req: Any, data: Any = None) -> None:
    _in_flight.add(res)
    try:
        body = await res.get_data()
        try:
            item = decode_item(body.getvalue())
        except msgspec.ValidationError as exc:
            res.cork_send(str(exc), status=422)
            return
        res.cork_send({"name": item.name, "tags": len(item.tags)}, content_type=JSON)
    finally:
        _in_flight.discard(res)


async def sleep(res: Any, req: Any, data: Any = None) -> None:
    await asyncio.sleep(0.001)
    res.cork_end("Hello, World!")


def json10k(res: Any, req: Any, data: Any = None) -> None:
    res.send({"items": JSON_10K}, content_type=JSON)


def big(res: Any, req: Any, data: Any = None) -> None:
    res.write_header("Content-Type", "text/plain; charset=utf-8")
    res.end(BIG)


def upload(res: Any, req: Any, data: Any = None) -> None:
    _in_flight.add(res)
    size = 0

    def on_data(res: Any, chunk: bytes | None, is_end: bool) -> None:
        nonlocal size
        if chunk is not None:
            size += len(chunk)
        if is_end:
            _in_flight.discard(res)
            res.cork_end(str(size))

    res.on_aborted(lambda res: _in_flight.discard(res))
    res.on_data(on_data)


def passthrough(res: Any, req: Any, data: Any = None) -> bool:
    return True  # a falsy value would stop the chain


def main() -> None:
    port = int(sys.argv[1])
    wrap = len(sys.argv) > 2 and sys.argv[2] == "--middleware"

    def route(handler: Any) -> Any:
        return middleware(*[passthrough] * 5, handler) if wrap else handler

    app = App()
    app.json_serializer(MsgspecJSON)
    app.get("/plaintext", route(plaintext))
    app.get("/json", route(json))
    app.get("/users/:user_id", route(user))
    app.post("/items", route(create))
    app.get("/sleep", route(sleep))
    app.get("/json10k", route(json10k))
    app.get("/big", route(big))
    app.post("/upload", route(upload))
    app.listen({"port": port, "host": "127.0.0.1"})
    app.run()


if __name__ == "__main__":
    main()
