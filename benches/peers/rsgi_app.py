"""The hello app for granian's RSGI interface: `/` and `/users/{user_id:int}`, the same work
CovetPy's examples/hello.py does (msgspec for JSON, 404 for a non-integer id)."""

from typing import Any

import msgspec

encode = msgspec.json.Encoder().encode
TEXT = [("content-type", "text/plain; charset=utf-8")]
JSON = [("content-type", "application/json")]


async def app(scope: Any, proto: Any) -> None:
    path = scope.path
    if path == "/":
        proto.response_str(200, TEXT, "Hello, World!")
        return
    if path.startswith("/users/"):
        try:
            user_id = int(path[7:])
        except ValueError:
            pass
        else:
            proto.response_bytes(200, JSON, encode({"id": user_id}))
            return
    proto.response_bytes(404, TEXT, b"Not Found")
