"""A middleware that edits the response's headers the way Starlette/FastAPI users write it:
every edit must reach the wire."""

from __future__ import annotations

from covetpy import App, Request, Response
from covetpy.middleware import CallNext

app = App(openapi_url=None)


@app.middleware
async def edit_headers(request: Request, call_next: CallNext) -> Response:
    response: Response = await call_next(request)
    response.headers["x-a"] = "1"
    del response.headers["x-b"]
    response.headers.append("set-cookie", "first=1; Path=/")
    response.headers.append("set-cookie", "second=2; Path=/")
    response.headers.setdefault("x-kept", "middleware")
    return response


@app.get("/async")
async def async_handler() -> Response:
    return Response("async", headers={"x-b": "gone", "x-kept": "handler", "x-a": "0"})


@app.get("/sync")
def sync_handler() -> Response:
    response = Response("sync", headers={"x-a": "0", "X-Kept": "handler"})
    response.headers.append("x-b", "gone")
    response.headers.append("x-b", "gone too")
    return response
