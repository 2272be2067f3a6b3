"""The app the OpenAPI tests document and serve: a router of items with every kind of
parameter (path, query with constraints, header, body, form, a dependency with its own
query parameter), a 201 route and a route that returns nothing."""

from __future__ import annotations

import uuid

import msgspec

from covetpy import App, Depends, Form, Header, Query, Router
from covetpy.responses import HTMLResponse


class Item(msgspec.Struct):
    """Something for sale."""

    name: str
    price: float
    tags: list[str] = []


class Page(msgspec.Struct):
    """A page of items."""

    items: list[Item]
    total: int


def pagination(
    offset: int = Query(0, ge=0, description="How many items to skip"),
) -> int:
    return offset


app = App(title="Shop", version="2.1.0", description="Items for sale.")
items = Router(prefix="/items", tags=["items"])
DB: dict[int, Item] = {1: Item("apple", 0.5)}


@items.get("/{item_id:int}")
def read_item(item_id: int) -> Item:
    """Read one item.

    Answers 404 when there is no such item.
    """
    return DB[item_id]


@items.get("")
def list_items(
    limit: int = Query(10, ge=1, le=100),
    q: str | None = Query(None, max_length=50, examples=["apple"]),
    user_agent: str = Header(alias="user-agent"),
    offset: int = Depends(pagination),
) -> Page:
    found = [i for i in DB.values() if q is None or q in i.name]
    return Page(found[offset : offset + limit], len(found))


@items.post("", status_code=201, summary="Create an item")
def create_item(item: Item) -> Item:
    DB[len(DB) + 1] = item
    return item


@items.delete("/{item_id:int}")
def delete_item(item_id: int) -> None:
    DB.pop(item_id, None)


@items.put("/{item_id}")
def rename_item(item_id: int, name: str = Form(min_length=1), note: str = Form("")) -> Item:
    item = DB[item_id]
    DB[item_id] = Item(name, item.price, item.tags)
    return DB[item_id]


app.include_router(items)


@app.get("/files/{rest:path}")
def files(rest: str) -> str:
    return rest


@app.get("/tokens/{token:uuid}", tags=["tokens"])
async def token(token: uuid.UUID, ratio: float = 1.0) -> dict[str, str]:
    return {"token": str(token)}


@app.get("/page", response_class=HTMLResponse)
def page() -> str:
    return "<p>hi</p>"


@app.get("/hidden", include_in_schema=False)
def hidden() -> str:
    return "not documented"


no_docs = App(openapi_url=None)


@no_docs.get("/")
def root() -> str:
    return "hi"


only_json = App(docs_url=None, redoc_url=None)


@only_json.get("/")
def only_root() -> str:
    return "hi"
