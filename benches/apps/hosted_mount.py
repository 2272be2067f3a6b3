"""The migration set-up of issue 16: a CovetPy App with native routes and the suite's FastAPI
app mounted at "/" behind them. The scenarios' paths (/plaintext, /json, /users/42, /items)
are not native here, so every measured request is first looked up in the native table, misses
it, and goes to the mounted FastAPI app: the cell minus FastAPI served alone by `covetpy run`
is what the mount costs.

The native routes have the shapes a half-migrated service has (static, parametrised, a POST),
and some share a first segment with the FastAPI paths, so the lookup walks past a partial match
before it falls through to the mount."""

from benches.peers.fastapi_app import app as fastapi_app
from benches.peers.item import Item
from covetpy import App

app = App(openapi_url=None)


@app.get("/v2/plaintext")
def plaintext() -> str:
    return "Hello, World!"


@app.get("/users/{user_id:int}/profile")
def profile(user_id: int) -> dict[str, int]:
    return {"id": user_id}


@app.post("/v2/items")
def create(item: Item) -> dict[str, object]:
    return {"name": item.name, "tags": len(item.tags)}


@app.get("/items/{item_id:int}")
def read_item(item_id: int) -> dict[str, int]:
    return {"id": item_id}


app.mount("/", fastapi_app)
