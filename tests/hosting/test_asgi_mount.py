"""ASGI apps mounted behind native routes (`App.mount`): native routes first, the longest
mount prefix next, `root_path` set to the prefix, each mount's lifespan run."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from tests.conftest import RunningServer
from tests.hosting.conftest import covetpy_server


@pytest.fixture(scope="module")
def client() -> Iterator[httpx.Client]:
    server: RunningServer
    with covetpy_server("tests.hosting.apps.asgi_mixed:app") as server:
        with httpx.Client(base_url=server.url, timeout=30) as c:
            yield c


def test_native_route_first(client: httpx.Client) -> None:
    assert client.get("/native/3").json() == {"native": 3}
    assert client.get("/legacy/native").text == "native wins under a mount's prefix"


def test_mount_gets_root_path_and_full_path(client: httpx.Client) -> None:
    # ASGI "root_path": the prefix; "path": the full path, root_path included (as uvicorn).
    doc = client.get("/legacy/sub/where?x=1").json()
    assert doc["root_path"] == "/legacy/sub" and doc["path"] == "/legacy/sub/where"
    assert doc["url"].endswith("/legacy/sub/where?x=1")


def test_url_for_in_a_mounted_app_includes_the_prefix(client: httpx.Client) -> None:
    assert client.get("/legacy/users/3").json()["url"].endswith("/legacy/users/7")


def test_root_mount_is_the_fallback(client: httpx.Client) -> None:
    doc = client.get("/scope/anything").json()
    assert doc["root_path"] == "" and doc["path"] == "/scope/anything"
    # The root mount's lifespan ran inside the App's start-up: its state is in the scope.
    assert doc["state"] == {"started": "yes"}


def test_prefix_matches_whole_segments(client: httpx.Client) -> None:
    # "/legacyx" is not under "/legacy": it goes to the root mount.
    assert client.get("/legacyx/scope").status_code == 404
    assert client.get("/legacyx/scope").text == "not found"
