"""The examples in examples/ work as the README says."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from tests.conftest import RunningServer, running_server


@pytest.fixture(scope="module")
def shop() -> Iterator[RunningServer]:
    with running_server("examples.shop:app") as server:
        yield server


def test_hello() -> None:
    with (
        running_server("examples.hello:app", "--workers", "2") as server,
        httpx.Client(base_url=server.url) as c,
    ):
        assert c.get("/").text == "Hello, World!"
        assert c.get("/users/42").json() == {"id": 42}


def test_shop_crud(shop: RunningServer) -> None:
    with httpx.Client(base_url=shop.url, timeout=10) as c:
        r = c.post("/items", json={"name": "pen", "price": 1.5, "tags": ["office"]})
        assert r.status_code == 201
        item = r.json()
        assert item["name"] == "pen"
        iid = item["id"]
        assert c.get(f"/items/{iid}").json() == item
        assert c.get("/items", params={"tag": "office"}).json() == [item]
        assert c.get("/items", params={"limit": 0}).status_code == 422
        bad = c.post("/items", json={"name": "", "price": "free", "extra": 1})
        assert bad.status_code == 422
        assert bad.headers["content-type"] == "application/problem+json"
        assert c.put(f"/items/{iid}", json={"name": "pencil", "price": 1}).status_code == 422
        r = c.put(f"/items/{iid}", json={"name": "pencil", "price": 1}, headers={"x-token": "no"})
        assert r.status_code == 401
        assert r.headers["www-authenticate"] == "Token"
        r = c.put(
            f"/items/{iid}", json={"name": "pencil", "price": 1}, headers={"x-token": "secret"}
        )
        assert r.json()["name"] == "pencil"
        assert c.post(f"/items/{iid}/buy?quantity=11").status_code == 409
        assert c.post(f"/items/{iid}/buy?quantity=2").json() == {"bought": 2, "item": iid}
        export = c.get("/export")
        assert export.headers["content-type"] == "application/x-ndjson"
        assert export.text.count("\n") >= 1
        report = c.get("/report")
        assert report.headers["content-disposition"].startswith("attachment")
        assert report.text.startswith("id,name,price\n")
        assert c.delete(f"/items/{iid}", headers={"x-token": "secret"}).status_code == 204
        assert c.get(f"/items/{iid}").status_code == 404
        assert c.get("/whoami").json()["client"] == "127.0.0.1"
