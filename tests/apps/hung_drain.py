"""An app whose plugin's on_drain never returns, for tests/test_plugins.py."""

from __future__ import annotations

import asyncio

from covetpy import App


class Stuck:
    name = "stuck"

    async def on_drain(self) -> None:
        await asyncio.sleep(3600)


app = App(openapi_url=None, plugins=[Stuck()])


@app.get("/")
def index() -> str:
    return "ok"
