"""A Django project's WSGI handler (tests/hosting/apps/django_site) served by `covetpy run`
and by wsgiref: the same requests must get the same answers."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import RunningServer
from tests.hosting.conftest import covetpy_server, wsgiref_server
from tests.hosting.wsgi_compare import Call, compare, fetch

APP = "tests.hosting.apps.django_site.wsgi:application"


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("django")


@pytest.fixture(scope="module")
def covetpy(data_dir: Path) -> Iterator[RunningServer]:
    env = {"DJANGO_APP_DIR": str(data_dir)}
    with covetpy_server(APP, "--interface", "wsgi", "--wsgi-threads", "4", env=env) as s:
        yield s


@pytest.fixture(scope="module")
def reference(data_dir: Path) -> Iterator[RunningServer]:
    with wsgiref_server(APP, env={"DJANGO_APP_DIR": str(data_dir)}) as s:
        yield s


MULTIPART: dict[str, Any] = {
    "files": {"doc": ("notes.txt", b"some notes\n" * 10000, "text/plain")},
    "data": {"title": "with a file", "tag": "é"},
}

# The routes of helper A's project (shared with test_asgi_django.py); the WSGI side adds
# nothing to it, so each request here is one an ASGI test also makes.
CALLS = [
    Call("GET", "/"),
    Call("GET", "/sync/42/?q=a&q=b"),
    Call("GET", "/sync/nope/"),
    Call("GET", "/sync/1"),  # CommonMiddleware: 301 to the slashed path
    Call("POST", "/echo/", {"content": bytes(range(256)) * 300}),
    Call("POST", "/echo/", {"content": b""}),
    Call("POST", "/form/", {"data": {"a": "1", "b": "two words", "c": "é"}}),
    Call("POST", "/form/", MULTIPART),
    Call("GET", "/cookie/", {"headers": {"cookie": "a=1"}}),
    Call("GET", "/stream/"),
    Call("GET", "/go/"),
    # With a Content-Type: wsgiref makes up "text/plain" when there is none (PEP 3333 does
    # not; test_meta_under_wsgi pins that CovetPy leaves it out).
    Call("GET", "/meta/?a=%2F&b=%20", {"headers": {"x-one": "1", "content-type": "text/x"}}),
    Call("POST", "/meta/", {"json": {"x": 1}}),
    Call("GET", "/crash/"),
    Call("GET", "/caf%C3%A9/"),
    Call("PUT", "/echo/", {"content": b"x" * 70000}),
]


@pytest.mark.parametrize("call", CALLS, ids=str)
def test_same_answer_as_wsgiref(
    call: Call, covetpy: RunningServer, reference: RunningServer
) -> None:
    compare(call, covetpy, reference)


def test_meta_under_wsgi(covetpy: RunningServer) -> None:
    r = fetch(covetpy, Call("GET", "/meta/?q=1", {"headers": {"x-one": "one"}}))
    assert r.json() == {
        "REQUEST_METHOD": "GET",
        "PATH_INFO": "/meta/",
        "SCRIPT_NAME": "",
        "QUERY_STRING": "q=1",
        "CONTENT_TYPE": None,
        "HTTP_X_ONE": "one",
        "scheme": "http",
    }
