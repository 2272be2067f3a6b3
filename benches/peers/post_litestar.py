"""POST /items: the same ~1 KB JSON body validated into a msgspec Struct (Litestar)."""

from litestar import Litestar, post

from benches.peers.item import Item


@post("/items", status_code=200, sync_to_thread=False)
def create(data: Item) -> dict[str, object]:
    return {"name": data.name, "tags": len(data.tags)}


app = Litestar([create], openapi_config=None)
