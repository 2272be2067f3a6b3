"""`/plaintext` under `$BENCH_MIDDLEWARE` pass-through middlewares (benches/middleware.py)."""

import os

from covetpy import App, Request, Response
from covetpy.middleware import CallNext

app = App(openapi_url=None)


async def passthrough(request: Request, call_next: CallNext) -> Response:
    response: Response = await call_next(request)
    return response


def plain(request: Request, call_next: CallNext) -> Response:
    response: Response = call_next(request)
    return response


KIND = os.environ.get("BENCH_MIDDLEWARE_KIND", "async")
for _ in range(int(os.environ.get("BENCH_MIDDLEWARE", "0"))):
    app.add_middleware(passthrough if KIND == "async" else plain)


@app.get("/plaintext")
def plaintext() -> str:
    return "Hello, World!"
