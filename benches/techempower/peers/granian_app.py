"""The TechEmpower test types as a Granian RSGI app (`granian --interface rsgi
benches.techempower.peers.granian_app:app`): RSGI hands the app the raw path and query
string and takes the whole body in one call (`response_bytes`/`response_str`), so the app
is a dispatch on the path. The pool is created in `__rsgi_init__`, which Granian calls with
the worker's loop before it serves (the loop is not running yet, so it can be driven here)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import orjson

from benches.techempower.peers import common

JSON = [("content-type", common.JSON)]
HTML = [("content-type", common.HTML)]
TEXT = [("content-type", common.TEXT)]
NOT_FOUND = [("content-type", common.TEXT)]


class App:
    """The RSGI application object: `__rsgi__` per request, `__rsgi_init__` once."""

    def __init__(self) -> None:
        self.pool: Any = None
        self.routes: dict[str, Callable[[Any, Any], Awaitable[None]]] = {
            "/json": self.json,
            "/db": self.db,
            "/queries": self.queries,
            "/fortunes": self.fortunes,
            "/updates": self.updates,
            "/cached-queries": self.cached_queries,
            "/plaintext": self.plaintext,
        }

    def __rsgi_init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.pool = loop.run_until_complete(common.create_pool())
        loop.run_until_complete(common.fill_cache(self.pool))

    def __rsgi_del__(self, loop: asyncio.AbstractEventLoop) -> None:
        loop.run_until_complete(self.pool.close())

    async def __rsgi__(self, scope: Any, proto: Any) -> None:
        handler = self.routes.get(scope.path)
        if handler is None:
            proto.response_bytes(404, NOT_FOUND, b"Not Found")
            return
        await handler(scope, proto)

    async def json(self, scope: Any, proto: Any) -> None:
        proto.response_bytes(200, JSON, orjson.dumps({"message": common.HELLO}))

    async def db(self, scope: Any, proto: Any) -> None:
        proto.response_bytes(200, JSON, orjson.dumps(await common.single_query(self.pool)))

    async def queries(self, scope: Any, proto: Any) -> None:
        count = common.clamp(common.query_param(scope.query_string, "queries"))
        rows = await common.multiple_queries(self.pool, count)
        proto.response_bytes(200, JSON, orjson.dumps(rows))

    async def fortunes(self, scope: Any, proto: Any) -> None:
        proto.response_str(200, HTML, await common.fortunes(self.pool))

    async def updates(self, scope: Any, proto: Any) -> None:
        count = common.clamp(common.query_param(scope.query_string, "queries"))
        rows = await common.updates(self.pool, count)
        proto.response_bytes(200, JSON, orjson.dumps(rows))

    async def cached_queries(self, scope: Any, proto: Any) -> None:
        count = common.clamp(common.query_param(scope.query_string, "count"))
        proto.response_bytes(200, JSON, orjson.dumps(common.cached_queries(count)))

    async def plaintext(self, scope: Any, proto: Any) -> None:
        proto.response_str(200, TEXT, common.HELLO)


app = App()
