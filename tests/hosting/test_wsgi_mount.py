"""WSGI apps mounted under prefixes of a CovetPy App, behind its native routes
(tests/hosting/apps/wsgi_mounted.py): SCRIPT_NAME / PATH_INFO, and native routes first."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from tests.hosting.conftest import covetpy_server


@pytest.fixture(scope="module")
def client() -> Iterator[httpx.Client]:
    with (
        covetpy_server("tests.hosting.apps.wsgi_mounted:app") as server,
        httpx.Client(base_url=server.url, timeout=30) as c,
    ):
        yield c


def test_native_routes_are_matched_first(client: httpx.Client) -> None:
    assert client.get("/native/5").json() == {"native": 5}
    assert client.get("/legacy/items/7").json() == {"moved": 7}


def test_flask_under_a_prefix(client: httpx.Client) -> None:
    r = client.get("/legacy/users/ana/posts/a/b")
    assert r.json() == {
        "name": "ana",
        "rest": "a/b",
        "script_root": "/legacy",
        "path": "/users/ana/posts/a/b",
    }
    assert client.get("/legacy/").text == "hello from flask"
    # Flask builds redirects with the mount's prefix (SCRIPT_NAME).
    r = client.get("/legacy/redirect")
    assert r.status_code == 302 and r.headers["location"] == "/legacy/items/3?q=from-redirect"


def test_raw_environ_under_a_prefix(client: httpx.Client) -> None:
    env = client.get("/raw/environ/x%20y?q=1").json()
    assert (env["SCRIPT_NAME"], env["PATH_INFO"], env["QUERY_STRING"]) == (
        "/raw",
        "/environ/x y",
        "q=1",
    )
    # The prefix itself, without a trailing slash, is the mount's root.
    assert client.get("/raw").text == "not found: "


def test_outside_every_prefix_is_a_404(client: httpx.Client) -> None:
    assert client.get("/rawer").status_code == 404
    assert client.get("/elsewhere").status_code == 404
