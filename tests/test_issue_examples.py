"""The snippets the issues give, run as written (completed where they say so)."""

from __future__ import annotations

from typing import Any

import msgspec

from covetpy import App, Cookie, Depends, Header, HTTPException, Query, Request, Router
from covetpy.responses import (
    FileResponse,
    HTMLResponse,
    JSONResponse,
    PlainTextResponse,
    RedirectResponse,
    StreamingResponse,
)
from covetpy.testing import AsyncTestClient, TestClient

# Imported as the issue does; the response classes are each exercised in test_responses.py.
_ = (Cookie, Query, Request, FileResponse, HTMLResponse, JSONResponse, PlainTextResponse)
_ = (RedirectResponse, StreamingResponse)


class Item(msgspec.Struct):
    name: str
    price: float
    tags: list[str] = []


STORE: dict[int, Item] = {1: Item("pen", 1.5)}


def get_store() -> dict[int, Item]:
    return STORE


def build_app() -> App:
    app = App(title="shop", version="1.0")
    items = Router(prefix="/items", tags=["items"])

    @items.get("/{item_id:int}")
    async def read_item(
        item_id: int, store: dict[int, Item] = Depends(get_store), verbose: bool = False
    ) -> Item:
        if item_id not in store:
            raise HTTPException(404, "no such item")
        return store[item_id]

    @items.post("", status_code=201)
    async def create_item(item: Item, user_agent: str = Header(alias="user-agent")) -> Item:
        STORE[max(STORE) + 1] = item
        return item

    app.include_router(items)
    return app


def test_issue_3_snippet() -> None:
    app = build_app()
    client = TestClient(app)
    try:
        assert client.get("/items/1").json() == {"name": "pen", "price": 1.5, "tags": []}
        r = client.post("/items", json={"name": "x", "price": "cheap"})
        assert r.status_code == 422 and r.headers["content-type"] == "application/problem+json"
        r = client.post("/items", json={"name": "x", "price": 2})
        assert r.status_code == 201
        assert client.get("/items/99").status_code == 404
        assert client.get("/openapi.json").json()["info"] == {"title": "shop", "version": "1.0"}
    finally:
        client.close()


def test_dependency_overrides() -> None:
    app = build_app()
    fake: dict[int, Item] = {1: Item("fake", 9.0)}
    app.dependency_overrides[get_store] = lambda: fake
    with TestClient(app) as client:
        assert client.get("/items/1").json()["name"] == "fake"


async def _async_flow() -> Any:
    app = build_app()
    async with AsyncTestClient(app) as client:
        r = await client.get("/items/1")
        return r.json()


def test_async_test_client() -> None:
    import asyncio

    assert asyncio.run(_async_flow())["name"] in ("pen", "fake")
