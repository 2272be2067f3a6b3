"""Every scenario of the side-by-side suite on Robyn, run as a script:

    BENCH_PORT=8000 [BENCH_MIDDLEWARE=1] python -m benches.peers.robyn_app \
        --processes 1 --workers 1 --log-level WARNING --disable-openapi

Robyn reads its options from the command line when it is imported. Sync handlers where nothing
awaits (Robyn calls them directly), the POST body validated into a pydantic model (Robyn's
native body validation); with BENCH_MIDDLEWARE=1, five global before-request middlewares
that pass the request on. Robyn hands a handler the whole body (`request.body`): the upload
is buffered before the handler runs (its peak RSS shows it); it has no gzip middleware.
"""

import asyncio
import os

from robyn import Request, Robyn

from benches.peers.item_pydantic import Item
from benches.peers.payloads import BIG, JSON_10K

app = Robyn(__file__)

if os.environ.get("BENCH_MIDDLEWARE") == "1":
    for _ in range(5):

        @app.before_request()
        def passthrough(request: Request) -> Request:
            return request


@app.get("/plaintext")
def plaintext() -> str:
    return "Hello, World!"


@app.get("/json")
def json() -> dict[str, str]:
    return {"message": "Hello, World!"}


@app.get("/users/:user_id")
def user(request: Request) -> dict[str, object]:
    user_id = int(request.path_params["user_id"])
    fields = request.query_params.get("fields", "")
    return {"id": user_id, "fields": fields.split(",") if fields else []}


@app.post("/items")
def create(item: Item) -> dict[str, object]:
    return {"name": item.name, "tags": len(item.tags)}


@app.get("/sleep")
async def sleep() -> str:
    await asyncio.sleep(0.001)
    return "Hello, World!"


@app.get("/json10k")
def json10k() -> dict[str, object]:
    return {"items": JSON_10K}


@app.get("/big")
def big() -> str:
    return BIG.decode()


@app.post("/upload")
def upload(request: Request) -> str:
    return str(len(request.body))


if __name__ == "__main__":
    app.start(host="127.0.0.1", port=int(os.environ.get("BENCH_PORT", "8080")))
