"""Overlapping routes and methods, end to end (issue 13, point 5): a request the most specific
route cannot take (no such method, or a converter refuses the value) falls through to the next
route that matches its path; 405 lists the methods of every route matching the path; a `path`
parameter matches an empty rest (`/` against `/{rest:path}`). The rules: rust/router/table.rs."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from covetpy import App
from covetpy.testing import TestClient


def catch_all_app() -> App:
    app = App(openapi_url=None)

    @app.route("/{rest:path}", methods=["POST", "PUT"])
    def catch_all(rest: str) -> dict[str, str]:
        return {"route": "catch-all", "rest": rest}

    @app.get("/")
    def root() -> str:
        return "root"

    @app.get("/users/{user_id:int}")
    def user(user_id: int) -> dict[str, object]:
        return {"route": "user", "id": user_id}

    @app.get("/files/")
    def file_index() -> str:
        return "index"

    return app


def converter_app() -> App:
    app = App(openapi_url=None)

    @app.get("/users/{user_id:int}")
    def user(user_id: int) -> dict[str, object]:
        return {"route": "user", "id": user_id}

    @app.route("/{kind}/{name}", methods=["GET", "DELETE"])
    def named(kind: str, name: str) -> dict[str, str]:
        return {"route": "named", "kind": kind, "name": name}

    return app


@pytest.fixture(scope="module")
def client() -> Iterator[TestClient]:
    with TestClient(catch_all_app()) as c:
        yield c


def test_a_method_the_static_route_lacks_reaches_the_catch_all(client: TestClient) -> None:
    r = client.post("/")
    assert r.status_code == 200, r.text
    assert r.json() == {"route": "catch-all", "rest": ""}
    assert client.get("/").text == "root"
    assert client.head("/").status_code == 200


def test_the_most_specific_route_still_wins_for_its_methods(client: TestClient) -> None:
    assert client.get("/users/7").json() == {"route": "user", "id": 7}
    assert client.put("/users/7").json() == {"route": "catch-all", "rest": "users/7"}
    assert client.get("/files/").text == "index"
    assert client.post("/files/").json() == {"route": "catch-all", "rest": "files/"}


def test_405_only_when_no_route_takes_the_method_and_allow_is_the_union(
    client: TestClient,
) -> None:
    r = client.delete("/")
    assert r.status_code == 405
    assert r.headers["allow"] == "GET, HEAD, POST, PUT"
    r = client.delete("/users/7")
    assert r.status_code == 405
    assert r.headers["allow"] == "GET, HEAD, POST, PUT"
    r = client.delete("/a/b/c")
    assert r.status_code == 405
    assert r.headers["allow"] == "POST, PUT"


def test_a_value_the_converter_refuses_falls_through() -> None:
    with TestClient(converter_app()) as c:
        assert c.get("/users/7").json() == {"route": "user", "id": 7}
        assert c.get("/users/bob").json() == {"route": "named", "kind": "users", "name": "bob"}
        assert c.delete("/users/7").json() == {"route": "named", "kind": "users", "name": "7"}
        r = c.patch("/users/7")
        assert r.status_code == 405
        assert r.headers["allow"] == "DELETE, GET, HEAD"


def test_a_path_parameter_takes_an_empty_rest_only_after_its_slash() -> None:
    app = App(openapi_url=None)

    @app.get("/static/{p:path}")
    def static(p: str) -> dict[str, str]:
        return {"p": p}

    with TestClient(app) as c:
        assert c.get("/static/").json() == {"p": ""}
        assert c.get("/static/a/b").json() == {"p": "a/b"}
        assert c.get("/static").status_code == 404


def test_a_route_without_the_method_is_a_405_even_beside_one_that_refuses_the_value() -> None:
    """Found by the router fuzzer: `GET /users/me` with `GCET /users/me` and `GET
    /users/{id:int}` was a 404 although `/users/me` is a route; it is a 405 naming GCET (the
    refusing route had GET, so GET is not listed)."""
    app = App(openapi_url=None)

    @app.route("/users/me", methods=["PATCH"])
    def me() -> str:
        return "me"

    @app.get("/users/{user_id:int}")
    def user(user_id: int) -> int:
        return user_id

    @app.get("/items/{item_id:int}")
    def item(item_id: int) -> int:
        return item_id

    with TestClient(app) as c:
        r = c.get("/users/me")
        assert r.status_code == 405
        assert r.headers["allow"] == "PATCH"
        assert c.get("/users/7").json() == 7
        assert c.get("/items/x").status_code == 404  # only a refusing route matches
