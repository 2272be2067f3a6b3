"""CovetPy serving every scenario of the side-by-side suite (benches/suite/scenarios.py).

Sync handlers where nothing awaits (CovetPy's fast path: called inline on the worker's
Python thread), async only for the handler that sleeps. No middleware variant: CovetPy has no
middleware API yet, so the suite reports that cell as not applicable.
"""

import asyncio

from benches.peers.item import Item
from covetpy import App

app = App(openapi_url=None)


@app.get("/plaintext")
def plaintext() -> str:
    return "Hello, World!"


@app.get("/json")
def json() -> dict[str, str]:
    return {"message": "Hello, World!"}


@app.get("/users/{user_id:int}")
def user(user_id: int, fields: str = "") -> dict[str, object]:
    return {"id": user_id, "fields": fields.split(",") if fields else []}


@app.post("/items")
def create(item: Item) -> dict[str, object]:
    return {"name": item.name, "tags": len(item.tags)}


@app.get("/sleep")
async def sleep() -> str:
    await asyncio.sleep(0.001)
    return "Hello, World!"
