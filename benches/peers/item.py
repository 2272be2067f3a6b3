"""The typed object every POST scenario validates its ~1 KB JSON body into, as a msgspec
Struct (CovetPy, Litestar, the raw ASGI/RSGI apps, Starlette, socketify.py). The body itself
is `benches.suite.scenarios.POST_BODY`."""

import msgspec


class Item(msgspec.Struct):
    name: str
    price: float
    quantity: int
    description: str
    tags: list[str]
