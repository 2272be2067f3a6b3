"""A Django project served over ASGI by `covetpy run` answers as it does under uvicorn (a
differential test). Django's handler refuses the lifespan scope: served without lifespan."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.conftest import RunningServer
from tests.hosting.asgi_compare import Call, compare
from tests.hosting.conftest import covetpy_server, uvicorn_server

APP = "tests.hosting.apps.django_site.asgi:app"
BODY = bytes(range(256)) * 600

CALLS = [
    Call("GET", "/"),
    Call("HEAD", "/"),
    Call("GET", "/sync/5/?q=a&q=b"),
    Call("POST", "/sync/5/"),
    Call("GET", "/async/?x=%20y"),
    Call("GET", "/sync/5"),  # CommonMiddleware's APPEND_SLASH redirect
    Call("POST", "/echo/", {"content": BODY}),
    Call("POST", "/form/", {"data": {"a": "1", "b": "two words"}}),
    Call("GET", "/cookie/", {"headers": {"cookie": "a=1"}}),
    Call("GET", "/stream/"),
    Call("GET", "/go/"),
    Call("GET", "/meta/?k=v", {"headers": {"x-one": "1"}}),
    Call("POST", "/meta/", {"content": b"{}", "headers": {"content-type": "application/json"}}),
    Call("GET", "/crash/"),
    Call("GET", "/missing/"),
]


@pytest.fixture(scope="module")
def servers() -> Iterator[tuple[RunningServer, RunningServer]]:
    with covetpy_server(APP) as ours, uvicorn_server(APP) as theirs:
        yield ours, theirs


@pytest.mark.parametrize("call", CALLS, ids=str)
def test_same_answer_as_uvicorn(servers: tuple[RunningServer, RunningServer], call: Call) -> None:
    compare(call, *servers)


def test_lifespan_unsupported_is_not_an_error(servers: tuple[RunningServer, RunningServer]) -> None:
    ours, _ = servers
    assert "ERROR" not in "".join(line for line in ours.lines if "lifespan" in line)
