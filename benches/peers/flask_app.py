"""The hosted-app scenarios of the side-by-side suite on Flask (a WSGI app: served by gunicorn's
sync worker, granian's and peregrine's WSGI interfaces, and `covetpy run`). Flask validates
nothing itself, so the POST body is decoded into the msgspec Struct, as the Starlette app does;
JSON answers are Flask's own (a returned dict goes through its JSON provider)."""

import msgspec
from flask import Flask, Response, request

from benches.peers.item import Item

decode_item = msgspec.json.Decoder(Item).decode
HELLO = b"Hello, World!"

app = Flask(__name__)


@app.get("/plaintext")
def plaintext() -> Response:
    return Response(HELLO, mimetype="text/plain")


@app.get("/json")
def json() -> dict[str, str]:
    return {"message": "Hello, World!"}


@app.get("/users/<int:user_id>")
def user(user_id: int) -> dict[str, object]:
    fields = request.args.get("fields", "")
    return {"id": user_id, "fields": fields.split(",") if fields else []}


@app.post("/items")
def create() -> Response | dict[str, object]:
    try:
        item = decode_item(request.get_data())
    except msgspec.ValidationError as exc:
        return Response(str(exc), status=422, mimetype="text/plain")
    return {"name": item.name, "tags": len(item.tags)}
