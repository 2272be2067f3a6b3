"""POST /items: the same ~1 KB JSON body validated into a pydantic model (FastAPI)."""

from fastapi import FastAPI

from benches.peers.item_pydantic import Item

app = FastAPI(openapi_url=None, docs_url=None, redoc_url=None)


@app.post("/items")
async def create(item: Item) -> dict[str, object]:
    return {"name": item.name, "tags": len(item.tags)}
