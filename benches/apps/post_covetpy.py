"""POST /items: a ~1 KB JSON body validated into a msgspec Struct (CovetPy)."""

from benches.peers.item import Item
from covetpy import App

app = App(openapi_url=None)


@app.post("/items")
def create(item: Item) -> dict[str, object]:
    return {"name": item.name, "tags": len(item.tags)}
