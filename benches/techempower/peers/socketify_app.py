"""The TechEmpower test types on socketify.py (uWebSockets), run as a script:

    python -m benches.techempower.peers.socketify_app PORT

socketify runs its own asyncio loop beside uWS's; the pool is created in the `on_start` hook
(run on that loop before it listens). The query string is read before the first await (the
request object is only valid until then) and the answer sent with `cork_send`/`cork_end`, as
socketify asks of an answer written from a coroutine. orjson is its JSON serializer.
"""

from __future__ import annotations

import sys
from typing import Any

import orjson
from socketify import App

from benches.techempower.peers import common

JSON, HTML, TEXT = common.JSON.encode(), common.HTML.encode(), common.TEXT.encode()
# Responses waiting for the database. socketify keeps no strong reference to them, so the
# cyclic GC could free one while uWS still points at it (see benches/peers/socketify_app.py).
_in_flight: set[Any] = set()
pool: Any = None


class OrjsonSerializer:
    """What `App.json_serializer` takes: an object with `dumps` and `loads`."""

    dumps = staticmethod(lambda value: orjson.dumps(value).decode())
    loads = staticmethod(orjson.loads)


async def start() -> None:
    global pool
    pool = await common.create_pool()
    await common.fill_cache(pool)


def json(res: Any, req: Any) -> None:
    res.send({"message": common.HELLO}, content_type=JSON)


def plaintext(res: Any, req: Any) -> None:
    res.send(common.HELLO, content_type=TEXT)


async def db(res: Any, req: Any) -> None:
    _in_flight.add(res)
    try:
        res.cork_send(await common.single_query(pool), content_type=JSON)
    finally:
        _in_flight.discard(res)


async def queries(res: Any, req: Any) -> None:
    count = common.clamp(req.get_query("queries"))
    _in_flight.add(res)
    try:
        res.cork_send(await common.multiple_queries(pool, count), content_type=JSON)
    finally:
        _in_flight.discard(res)


async def updates(res: Any, req: Any) -> None:
    count = common.clamp(req.get_query("queries"))
    _in_flight.add(res)
    try:
        res.cork_send(await common.updates(pool, count), content_type=JSON)
    finally:
        _in_flight.discard(res)


async def fortunes(res: Any, req: Any) -> None:
    _in_flight.add(res)
    try:
        res.cork_send(await common.fortunes(pool), content_type=HTML)
    finally:
        _in_flight.discard(res)


def cached_queries(res: Any, req: Any) -> None:
    count = common.clamp(req.get_query("count"))
    res.send(common.cached_queries(count), content_type=JSON)


def main() -> None:
    app = App()
    app.json_serializer(OrjsonSerializer)
    app.on_start(start)
    app.get("/json", json)
    app.get("/db", db)
    app.get("/queries", queries)
    app.get("/fortunes", fortunes)
    app.get("/updates", updates)
    app.get("/cached-queries", cached_queries)
    app.get("/plaintext", plaintext)
    app.listen({"port": int(sys.argv[1]), "host": "127.0.0.1"})
    app.run()


if __name__ == "__main__":
    main()
