"""A trivial pure-ASGI middleware that only calls the next app: the middleware scenario
stacks five of them (raw ASGI, Starlette and FastAPI all take pure ASGI middleware; it is
the fastest kind they support, unlike Starlette's BaseHTTPMiddleware)."""

from typing import Any


class PassThrough:
    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        await self.app(scope, receive, send)


def stack(app: Any, depth: int = 5) -> Any:
    """`app` wrapped in `depth` pass-through layers."""
    for _ in range(depth):
        app = PassThrough(app)
    return app
