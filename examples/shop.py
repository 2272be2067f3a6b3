"""A small but real service: CRUD over an in-memory store with validation, dependencies,
errors, streaming and a file download.

    .venv/bin/covetpy run examples.shop:app --port 8000
    curl -s localhost:8000/items -H 'content-type: application/json' \\
         -d '{"name": "pen", "price": 1.5}'
    open http://localhost:8000/docs
"""

from __future__ import annotations

import asyncio
import itertools
import tempfile
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Annotated

import msgspec

from covetpy import App, Depends, Header, HTTPException, Query, Request, Response, Router
from covetpy.responses import FileResponse, JSONResponse, StreamingResponse


class ItemIn(msgspec.Struct, forbid_unknown_fields=True):
    """What a client sends to create or replace an item."""

    name: Annotated[str, msgspec.Meta(min_length=1, max_length=100)]
    price: float
    tags: list[str] = []


class Item(msgspec.Struct):
    """An item as stored and returned."""

    id: int
    name: str
    price: float
    tags: list[str] = []


class Store:
    """The in-memory store (a real service would hold a database pool here)."""

    def __init__(self) -> None:
        self.items: dict[int, Item] = {}
        self.ids = itertools.count(1)

    def add(self, data: ItemIn) -> Item:
        item = Item(next(self.ids), data.name, data.price, data.tags)
        self.items[item.id] = item
        return item


STORE = Store()


def get_store() -> Store:
    return STORE


def get_item(item_id: int, store: Store = Depends(get_store)) -> Item:
    item = store.items.get(item_id)
    if item is None:
        raise HTTPException(404, f"no item {item_id}")
    return item


def require_token(x_token: str = Header(alias="x-token")) -> Iterator[str]:
    """A generator dependency: the code after `yield` runs after the handler."""
    if x_token != "secret":
        raise HTTPException(401, "bad token", headers={"www-authenticate": "Token"})
    yield x_token


app = App(title="shop", version="1.0", description="An example CovetPy service.")
items = Router(prefix="/items", tags=["items"])


@items.get("")
def list_items(
    store: Store = Depends(get_store),
    limit: int = Query(20, ge=1, le=100),
    tag: str | None = None,
) -> list[Item]:
    """List items, optionally by tag."""
    found = [i for i in store.items.values() if tag is None or tag in i.tags]
    return found[:limit]


@items.get("/{item_id:int}")
def read_item(item: Item = Depends(get_item)) -> Item:
    """One item."""
    return item


@items.post("", status_code=201)
def create_item(data: ItemIn, store: Store = Depends(get_store)) -> Item:
    """Create an item."""
    return store.add(data)


@items.put("/{item_id:int}", dependencies=[Depends(require_token)])
def replace_item(item_id: int, data: ItemIn, store: Store = Depends(get_store)) -> Item:
    """Replace an item (needs `x-token: secret`)."""
    if item_id not in store.items:
        raise HTTPException(404, f"no item {item_id}")
    store.items[item_id] = Item(item_id, data.name, data.price, data.tags)
    return store.items[item_id]


@items.delete("/{item_id:int}", status_code=204, dependencies=[Depends(require_token)])
def delete_item(item: Item = Depends(get_item), store: Store = Depends(get_store)) -> None:
    """Delete an item (needs `x-token: secret`)."""
    del store.items[item.id]


app.include_router(items)


@app.get("/export")
async def export(store: Store = Depends(get_store)) -> StreamingResponse:
    """All items as JSON lines, streamed."""

    async def lines() -> AsyncIterator[bytes]:
        for item in list(store.items.values()):
            yield msgspec.json.encode(item) + b"\n"
            await asyncio.sleep(0)

    return StreamingResponse(lines(), media_type="application/x-ndjson")


@app.get("/report")
def report(store: Store = Depends(get_store)) -> FileResponse:
    """A CSV report as a file download (ranges and conditional requests supported)."""
    path = Path(tempfile.gettempdir()) / "covetpy-shop-report.csv"
    rows = ["id,name,price"] + [f"{i.id},{i.name},{i.price}" for i in store.items.values()]
    path.write_text("\n".join(rows) + "\n")
    return FileResponse(path, media_type="text/csv", filename="report.csv")


@app.get("/whoami")
def whoami(
    request: Request, user_agent: str = Header("unknown", alias="user-agent")
) -> dict[str, str]:
    """Who is asking."""
    client = request.client
    return {"client": client[0] if client else "unix", "user_agent": user_agent}


class OutOfStock(Exception):
    """Raised by business logic; turned into a 409 by the handler below."""


@app.exception_handler(OutOfStock)
def out_of_stock(request: Request, exc: OutOfStock) -> Response:
    return JSONResponse({"error": str(exc)}, status_code=409)


@app.post("/items/{item_id:int}/buy")
def buy(item: Item = Depends(get_item), quantity: int = Query(1, ge=1)) -> dict[str, object]:
    """Buy an item (anything over 10 is out of stock)."""
    if quantity > 10:
        raise OutOfStock(f"only 10 of {item.name} left")
    return {"bought": quantity, "item": item.id}
