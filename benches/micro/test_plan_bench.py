"""Micro-benchmarks of the Python side of a request (pytest-benchmark): planning a handler's
signature, resolving a query plan and a body plan for one request, and encoding typical
return values. Not part of `make test` (pytest's testpaths is tests/); run them with

    make bench-micro        # .venv/bin/python -m pytest benches/micro

The requests are stand-ins with the attributes the resolver reads (`query_params`,
`header()`, `headers`, `body_bytes`), so only Python's share is measured, not the server's.
"""

from __future__ import annotations

import dataclasses
import datetime
import uuid
from collections.abc import Callable
from typing import Annotated, Any

import msgspec
import pytest

from benches.peers.item import Item
from benches.suite.scenarios import POST_BODY
from covetpy import App, Depends, Header, Query
from covetpy._bridge import json_encode
from covetpy.params.plan import plan_call


class FakeQuery:
    """What `Request.query_params` offers the resolver: `get` and `getlist`."""

    def __init__(self, pairs: list[tuple[str, str]]) -> None:
        self._pairs = pairs

    def get(self, key: str, default: Any = None) -> Any:
        values = self.getlist(key)
        return values[-1] if values else default

    def getlist(self, key: str) -> list[str]:
        return [v for k, v in self._pairs if k == key]


class FakeRequest:
    """A request as the resolver sees it, without a server."""

    def __init__(
        self,
        query: list[tuple[str, str]] | None = None,
        headers: dict[str, str] | None = None,
        body: bytes = b"",
    ) -> None:
        self.query_params = FakeQuery(query or [])
        self.headers = FakeQuery(list((headers or {}).items()))
        self._headers = headers or {}
        self.body_bytes = body

    def header(self, name: str, default: str | None = None) -> str | None:
        return self._headers.get(name, default)


def get_store() -> dict[int, str]:
    return {}


def typical(
    item_id: int,
    q: str | None = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 10,
    tags: list[str] | None = None,
    user_agent: str = Header(alias="user-agent"),
    store: dict[int, str] = Depends(get_store),
) -> dict[str, object]:
    return {}


def test_plan_call(benchmark: Any) -> None:
    """Reading a handler with six parameters (path, query, constrained query, list, header,
    dependency) into a plan: done once per route at start-up."""
    plan = benchmark(plan_call, typical, {"item_id"}, "GET /items/{item_id}")
    assert [p.location for p in plan.params] == [
        "path", "query", "query", "query", "header", "dependency",
    ]  # fmt: skip


def _endpoint(app: App, path: str) -> Callable[..., Any]:
    for route in app.route_table():
        if route.path.startswith(path):
            return route.endpoint  # type: ignore[no-any-return]
    raise LookupError(path)


def test_resolve_query_plan(benchmark: Any) -> None:
    """`/users/{id}?fields=a,b&limit=5` (the suite's params scenario plus a constrained int)."""
    app = App(openapi_url=None)

    @app.get("/users/{user_id:int}")
    def user(
        user_id: int, fields: str = "", limit: Annotated[int, Query(ge=1, le=100)] = 10
    ) -> dict[str, object]:
        return {"id": user_id, "fields": fields.split(",") if fields else [], "limit": limit}

    endpoint = _endpoint(app, "/users/")
    request = FakeRequest(query=[("fields", "a,b"), ("limit", "5")])
    result = benchmark(endpoint, request, 42)
    assert result == {"id": 42, "fields": ["a", "b"], "limit": 5}


def test_resolve_body_plan(benchmark: Any) -> None:
    """The suite's POST: ~1 KB of JSON decoded and validated into a msgspec Struct."""
    app = App(openapi_url=None)

    @app.post("/items")
    def create(item: Item) -> dict[str, object]:
        return {"name": item.name, "tags": len(item.tags)}

    endpoint = _endpoint(app, "/items")
    request = FakeRequest(headers={"content-type": "application/json"}, body=POST_BODY)
    assert benchmark(endpoint, request) == {"name": "fountain pen", "tags": 40}


def test_resolve_dependency_and_header(benchmark: Any) -> None:
    """A dependency that reads a header, cached per request, used by the handler."""
    app = App(openapi_url=None)

    def token(authorization: str = Header()) -> str:
        return authorization.removeprefix("Bearer ")

    @app.get("/me")
    def me(tok: str = Depends(token)) -> dict[str, str]:
        return {"token": tok}

    endpoint = _endpoint(app, "/me")
    request = FakeRequest(headers={"authorization": "Bearer abc"})
    assert benchmark(endpoint, request) == {"token": "abc"}


@dataclasses.dataclass
class Order:
    id: int
    created: datetime.datetime
    ref: uuid.UUID
    lines: list[str]


_ITEM = msgspec.json.decode(POST_BODY, type=Item)
RETURN_VALUES: dict[str, Any] = {
    "hello-dict": {"message": "Hello, World!"},
    "users-dict": {"id": 42, "fields": ["a", "b"]},
    "struct-1KB": _ITEM,
    "structs-100": [_ITEM] * 100,
    "dataclass-datetime-uuid": Order(
        7,
        datetime.datetime(2026, 11, 21, 12, 0, tzinfo=datetime.UTC),
        uuid.UUID(int=7),
        ["pen", "ink"],
    ),
}


@pytest.mark.parametrize("value", RETURN_VALUES.values(), ids=RETURN_VALUES.keys())
def test_encode(benchmark: Any, value: Any) -> None:
    """The JSON encoder CovetPy answers dicts, lists, Structs and dataclasses with."""
    out = benchmark(json_encode, value)
    assert msgspec.json.decode(out) is not None
