"""POST /items: a ~1 KB JSON body validated into a msgspec Struct (CovetPy)."""

import msgspec

from covetpy import App


class Item(msgspec.Struct):
    name: str
    price: float
    quantity: int
    description: str
    tags: list[str]


app = App(openapi_url=None)


@app.post("/items")
def create(item: Item) -> dict[str, object]:
    return {"name": item.name, "tags": len(item.tags)}
