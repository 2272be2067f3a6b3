"""A Flask app (tests/hosting/apps/flask_app.py) served by `covetpy run --interface wsgi`,
and the same requests sent to it under wsgiref: the answers must agree (status, the headers
an app sets, body)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import RunningServer
from tests.hosting.conftest import covetpy_server, wsgiref_server
from tests.hosting.wsgi_compare import Call, compare, fetch

APP = "tests.hosting.apps.flask_app:app"


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("flask")


@pytest.fixture(scope="module")
def covetpy(data_dir: Path) -> Iterator[RunningServer]:
    env = {"FLASK_APP_DIR": str(data_dir)}
    with covetpy_server(APP, "--interface", "wsgi", "--wsgi-threads", "4", env=env) as s:
        yield s


@pytest.fixture(scope="module")
def reference(data_dir: Path) -> Iterator[RunningServer]:
    with wsgiref_server(APP, env={"FLASK_APP_DIR": str(data_dir)}) as s:
        yield s


UPLOAD: dict[str, Any] = {
    "files": {
        "doc": ("notes.txt", b"some notes\n" * 1000, "text/plain"),
        "blob": ("data.bin", bytes(range(256)) * 400, "application/octet-stream"),
    },
    "data": {"title": "two files"},
}

CALLS = [
    Call("GET", "/"),
    Call("GET", "/items/42?q=x&tag=a&tag=b"),
    Call("GET", "/items/nope"),
    Call("GET", "/users/ana/posts/2024/05/hello%20world"),
    Call("POST", "/json", {"json": {"name": "widget", "qty": 3, "tags": ["a", "é"]}}),
    Call(
        "POST", "/json", {"content": b"{not json", "headers": {"content-type": "application/json"}}
    ),
    Call("POST", "/form", {"data": {"a": "1", "b": "two words", "c": "é"}}),
    Call("POST", "/upload", UPLOAD),
    Call("GET", "/stream?n=50"),
    Call("GET", "/missing"),
    Call("GET", "/teapot"),
    Call("GET", "/no/such/route"),
    Call("GET", "/boom"),
    Call("GET", "/file"),
    Call("GET", "/file?big=1"),
    Call("GET", "/cookie/set"),
    Call("GET", "/cookie/get", {"headers": {"cookie": "session_id=abc123; theme=dark"}}),
    Call("GET", "/redirect"),
    Call("PUT", "/methods", {"content": b"x" * 5000}),
    Call("DELETE", "/methods"),
    Call("POST", "/methods"),
    Call("HEAD", "/"),
    Call("OPTIONS", "/methods"),
    Call("GET", "/headers", {"headers": [("x-agent", "tester"), ("x-many", "1, 2")]}),
    Call("GET", "/environ?a=%2F&b=%20"),
]


@pytest.mark.parametrize("call", CALLS, ids=str)
def test_same_answer_as_wsgiref(
    call: Call, covetpy: RunningServer, reference: RunningServer
) -> None:
    compare(call, covetpy, reference)


def test_head_keeps_the_apps_content_length(covetpy: RunningServer) -> None:
    """Werkzeug leaves the body out of a HEAD answer itself and keeps its Content-Length;
    the server says that length, as the GET answer would (RFC 9110 §9.3.2)."""
    assert fetch(covetpy, Call("HEAD", "/")).headers["content-length"] == "16"


def test_streamed_response_arrives_in_pieces(covetpy: RunningServer) -> None:
    with (
        httpx.Client(base_url=covetpy.url) as c,
        c.stream("GET", "/stream?n=2000") as r,
    ):
        assert r.headers.get("transfer-encoding") == "chunked"
        body = b"".join(r.iter_bytes())
    assert body.count(b"\n") == 2000 and body.startswith(b"line 0 of 2000\n")


def test_chunked_upload_reaches_flask(covetpy: RunningServer) -> None:
    def body() -> Iterator[bytes]:
        yield b'{"name": '
        yield b'"chunked"}'

    r = fetch(
        covetpy,
        Call("POST", "/json", {"content": body(), "headers": {"content-type": "application/json"}}),
    )
    assert r.status_code == 201 and r.json()["received"] == {"name": "chunked"}


def test_unhandled_exception_is_logged(covetpy: RunningServer) -> None:
    assert fetch(covetpy, Call("GET", "/boom")).status_code == 500
    # Flask catches it and logs it itself (on wsgi.errors' logger or its own).
    covetpy.wait_for_log("this handler fails")
