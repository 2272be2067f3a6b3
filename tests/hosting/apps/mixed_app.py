"""A CovetPy App with native routes in front of a mounted ASGI app (the migration pattern):
`/items/{item_id:int}` moved onto a native route, everything else served by the legacy app,
whose lifespan state shows that its start-up ran inside the App's."""

from __future__ import annotations

from typing import Any

from covetpy import App

Scope = dict[str, Any]


async def legacy(scope: Scope, receive: Any, send: Any) -> None:
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                scope["state"]["legacy"] = "started"
                await send({"type": "lifespan.startup.complete"})
            else:
                await send({"type": "lifespan.shutdown.complete"})
                return
    size = 0
    while True:
        message = await receive()
        size += len(message.get("body", b""))
        if not message.get("more_body"):
            break
    text = f"legacy {scope['method']} {scope['path']} {size} {scope['state'].get('legacy')}"
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [(b"content-type", b"text/plain"), (b"x-served-by", b"legacy")],
        }
    )
    await send({"type": "http.response.body", "body": text.encode()})


app = App(title="mixed", openapi_url=None, docs_url=None, redoc_url=None)
app.mount("/", legacy)


@app.get("/items/{item_id:int}")
def read_item(item_id: int) -> dict[str, Any]:
    return {"item_id": item_id, "served_by": "native"}
