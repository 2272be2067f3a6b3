"""The hello app as a raw ASGI callable (for uvicorn with httptools and uvloop, and granian's
ASGI interface): the same work as CovetPy's examples/hello.py."""

from typing import Any

import msgspec

encode = msgspec.json.Encoder().encode
TEXT = [(b"content-type", b"text/plain; charset=utf-8")]
JSON = [(b"content-type", b"application/json")]


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] != "http":
        return
    path = scope["path"]
    status, headers, body = 404, TEXT, b"Not Found"
    if path == "/":
        status, body = 200, b"Hello, World!"
    elif path.startswith("/users/"):
        try:
            user_id = int(path[7:])
        except ValueError:
            pass
        else:
            status, headers, body = 200, JSON, encode({"id": user_id})
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
