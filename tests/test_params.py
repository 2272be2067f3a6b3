"""Parameters, bodies, validation errors, dependencies, responses and error handling, through a
real server. Each bad input is checked for its exact status and problem document."""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pydantic
import pytest

from tests.conftest import RunningServer, running_server


@pytest.fixture(scope="module")
def srv() -> Iterator[RunningServer]:
    with running_server("tests.apps.params_app:app") as server:
        yield server


@pytest.fixture(scope="module")
def client(srv: RunningServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=srv.url, timeout=10) as c:
        yield c


def problem(r: httpx.Response, status: int) -> dict[str, Any]:
    assert r.status_code == status, r.text
    assert r.headers["content-type"] == "application/problem+json"
    body: dict[str, Any] = r.json()
    assert body["status"] == status
    return body


def locations(r: httpx.Response) -> dict[str, str]:
    return {e["location"]: e["reason"] for e in problem(r, 422)["errors"]}


# -- query -----------------------------------------------------------------------------------


def test_query_defaults(client: httpx.Client) -> None:
    assert client.get("/query").json() == {
        "q": None, "n": 1, "f": 0.5, "flag": False, "color": "red", "when": None,
        "ident": None, "tag": [], "limit": 10, "name": "x",
    }  # fmt: skip


def test_query_conversions(client: httpx.Client) -> None:
    r = client.get(
        "/query",
        params=[
            ("q", "hello"), ("n", "42"), ("f", "2.5"), ("flag", "true"), ("color", "blue"),
            ("when", "2024-05-06T07:08:09Z"), ("ident", "6F9619FF-8B86-D011-B42D-00CF4FC964FF"),
            ("tag", "a"), ("tag", "b"), ("limit", "100"), ("the-name", "abcde"),
        ],
    )  # fmt: skip
    assert r.json() == {
        "q": "hello", "n": 42, "f": 2.5, "flag": True, "color": "blue",
        "when": "2024-05-06T07:08:09Z", "ident": "6f9619ff-8b86-d011-b42d-00cf4fc964ff",
        "tag": ["a", "b"], "limit": 100, "name": "abcde",
    }  # fmt: skip


def test_every_bad_query_value_is_listed(client: httpx.Client) -> None:
    r = client.get(
        "/query",
        params={"n": "x", "flag": "maybe", "color": "green", "limit": "0", "the-name": "toolong"},
    )
    errs = locations(r)
    assert set(errs) == {"query.n", "query.flag", "query.color", "query.limit", "query.the-name"}
    assert ">= 1" in errs["query.limit"]
    assert "length <= 5" in errs["query.the-name"]


def test_missing_required_query(client: httpx.Client) -> None:
    assert locations(client.get("/required")) == {"query.needed": "field required"}
    assert client.get("/required?needed=3").json() == 3


# -- headers and cookies -----------------------------------------------------------------------


def test_headers_and_cookies(client: httpx.Client) -> None:
    r = client.get(
        "/headers",
        headers=[("user-agent", "ua/1"), ("x-count", "3"), ("x-multi", "a"), ("x-multi", "b"),
                 ("cookie", "other=1; session=abc")],
    )  # fmt: skip
    assert r.json() == {"ua": "ua/1", "count": 3, "multi": ["a", "b"], "session": "abc"}


def test_bad_header_value(client: httpx.Client) -> None:
    r = client.get("/headers", headers={"x-count": "many"})
    assert set(locations(r)) == {"header.x-count"}


# -- bodies ----------------------------------------------------------------------------------


def test_struct_body_and_status_code(client: httpx.Client) -> None:
    r = client.post("/struct", json={"name": "pen", "price": 1.5})
    assert r.status_code == 201
    assert r.json() == {"name": "pen", "price": 1.5, "tags": []}


def test_every_bad_body_field_is_listed(client: httpx.Client) -> None:
    r = client.post("/struct", json={"price": "cheap", "tags": [1]})
    assert locations(r) == {
        "body.name": "field required",
        "body.price": "Expected `float`, got `str`",
        "body.tags[0]": "Expected `str`, got `int`",
    }


@pytest.mark.parametrize(
    ("path", "payload", "expected"),
    [
        ("/dataclass", {"x": 1, "y": 2}, {"x": 1, "y": 2}),
        ("/typeddict", {"title": "Alien", "year": 1979}, {"title": "Alien", "year": 1979}),
        ("/dict", {"a": 1}, {"a": 1}),
        ("/list", [{"name": "a", "price": 1}, {"name": "b", "price": 2}], 2),
    ],
)
def test_body_types(client: httpx.Client, path: str, payload: Any, expected: Any) -> None:
    r = client.post(path, json=payload)
    assert r.status_code == 200, r.text
    assert r.json() == expected


@pytest.mark.parametrize(
    ("path", "payload", "location"),
    [
        ("/dataclass", {"x": "a", "y": 2}, "body.x"),
        ("/typeddict", {"title": "Alien"}, "body"),
        ("/dict", {"a": "one"}, "body[...]"),
        ("/list", [{"name": "a"}], "body[0]"),
    ],
)
def test_bad_body_types_are_422(
    client: httpx.Client, path: str, payload: Any, location: str
) -> None:
    errs = locations(client.post(path, json=payload))
    assert any(loc.startswith(location) for loc in errs), errs


def test_raw_bytes_and_text_bodies(client: httpx.Client) -> None:
    assert client.post("/bytes", content=b"\x00\x01\x02").json() == {"len": 3}
    r = client.post("/text", content='"shout"', headers={"content-type": "application/json"})
    assert r.text == '"SHOUT"'


def test_malformed_json_is_400(client: httpx.Client) -> None:
    body = problem(
        client.post("/struct", content=b"{nope", headers={"content-type": "application/json"}),
        400,
    )
    assert "malformed JSON" in body["detail"]


def test_wrong_content_type_is_415(client: httpx.Client) -> None:
    problem(client.post("/struct", content=b"name=x", headers={"content-type": "text/plain"}), 415)
    problem(client.post("/struct", content=b'{"name":"x","price":1}'), 415)


def test_missing_body(client: httpx.Client) -> None:
    assert locations(client.post("/struct")) == {"body": "a request body is required"}
    assert client.post("/optional-body").json() == {"item": None}


def test_form_bodies(client: httpx.Client) -> None:
    assert client.post("/form", data={"name": "ann", "age": "33"}).json() == {
        "name": "ann",
        "age": 33,
    }
    assert set(locations(client.post("/form", data={"name": "ann", "age": "old"}))) == {"form.age"}
    assert client.post("/form-struct", data={"x": "1", "y": "2"}).json() == {"x": 1, "y": 2}
    problem(client.post("/form", json={"name": "ann", "age": 3}), 415)


def test_path_query_and_body_together(client: httpx.Client) -> None:
    r = client.post("/mixed/5?q=2", json={"name": "a", "price": 1})
    assert r.json() == {"item_id": 5, "item": {"name": "a", "price": 1.0, "tags": []}, "q": 2}
    assert client.post("/mixed/x", json={}).status_code == 404


def test_request_alongside_body(client: httpx.Client) -> None:
    r = client.post("/request-and-body", json={"name": "a", "price": 1})
    assert r.json() == {"ct": "application/json", "name": "a"}


# -- dependencies ------------------------------------------------------------------------------


def test_dependencies_are_cached_and_torn_down_in_order(client: httpx.Client) -> None:
    client.get("/events")
    r = client.get("/deps", headers={"x-token": "t1"})
    assert r.json() == {
        "user": "user:t1", "db": "db", "session": "session", "settings": {"env": "prod"},
    }  # fmt: skip
    ev = client.get("/events").json()
    assert ev["db_calls"] == 1  # shared by get_user and the handler: cached per request
    assert ev["events"] == [
        "db open", "user from db", "session open", "handler", "session close", "db close",
    ]  # fmt: skip


def test_sync_dependencies(client: httpx.Client) -> None:
    assert client.get("/deps-sync").text == "db prod"
    assert client.get("/events").json()["events"] == ["db open", "db close"]


def test_teardown_runs_when_the_handler_fails(client: httpx.Client) -> None:
    problem(client.get("/deps-fail"), 409)
    assert client.get("/events").json()["events"] == ["db open", "db close"]


def test_router_dependencies_prefixes_and_url_for(client: httpx.Client) -> None:
    problem(client.get("/admin/stats"), 422)  # x-key header missing
    problem(client.get("/admin/stats", headers={"x-key": "wrong"}), 403)
    assert client.get("/admin/stats", headers={"x-key": "secret"}).json() == {"users": 3}
    r = client.get("/admin/inner/9/detail", headers={"x-key": "secret"})
    assert r.json() == {"thing": 9}
    assert client.get("/url-for").json() == {
        "stats": "/admin/stats",
        "detail": "/admin/inner/7/detail",
    }


# -- responses ---------------------------------------------------------------------------------


def test_response_class_and_status(client: httpx.Client) -> None:
    r = client.get("/html")
    assert r.headers["content-type"] == "text/html; charset=utf-8"
    assert r.text == "<p>hi</p>"
    r = client.get("/created")
    assert (r.status_code, r.json()) == (201, {"ok": True})
    r = client.get("/accepted-none")
    assert (r.status_code, r.content) == (202, b"")
    r = client.get("/json-response")
    assert (r.status_code, r.json(), r.headers["x-a"]) == (202, {"a": 1}, "1")


def test_msgspec_encodes_datetimes_uuids_dataclasses(client: httpx.Client) -> None:
    assert client.get("/encoded").json() == {
        "when": "2024-01-02T03:04:05Z",
        "id": "6f9619ff-8b86-d011-b42d-00cf4fc964ff",
        "point": {"x": 1, "y": 2},
    }


def test_unhandled_exceptions_are_500_without_details(client: httpx.Client) -> None:
    body = problem(client.get("/raise-key"), 500)
    assert "secret-detail" not in str(body)
    problem(client.get("/raise-teapot"), 500)  # no handler in this app


# -- blocking handlers -------------------------------------------------------------------------


def test_sync_to_thread_does_not_stall_other_requests(srv: RunningServer) -> None:
    done: list[float] = []

    def slow() -> None:
        with httpx.Client(base_url=srv.url, timeout=10) as c:
            assert c.get("/blocking").text == "slept"
            done.append(time.monotonic())

    t = threading.Thread(target=slow)
    blocked = srv.log.count("blocking started")
    start = time.monotonic()
    t.start()
    srv.wait_for_log("blocking started", count=blocked + 1)
    with httpx.Client(base_url=srv.url, timeout=30) as c:
        assert c.get("/quick").text == "GET"
    quick_at = time.monotonic()
    t.join(30)
    srv.wait_for_log("blocking returns at ", count=blocked + 1)
    returned = float(re.findall(r"blocking returns at ([\d.]+)", srv.log)[-1])
    # An ordering, not a duration: answered while the blocking handler was still asleep.
    assert quick_at < returned, "the quick request waited for the blocking one"
    assert done and done[0] - start >= 3.0


# -- exception handlers and debug (their own servers) -----------------------------------------


def test_exception_handlers_sync_and_async() -> None:
    with (
        running_server("tests.apps.params_app_handlers:app") as server,
        httpx.Client(base_url=server.url, timeout=10) as c,
    ):
        r = c.get("/raise-teapot")
        assert (r.status_code, r.json()) == (418, {"teapot": "short", "path": "/raise-teapot"})
        r = c.get("/raise-async-teapot")
        assert (r.status_code, r.json()) == (418, {"teapot": "stout"})
        problem(c.get("/raise-key"), 500)
        # Plain routes still work through the guarded endpoints.
        assert c.get("/query?n=2").json()["n"] == 2
        assert c.get("/deps-sync").text == "db prod"


def test_debug_shows_the_traceback() -> None:
    with (
        running_server("tests.apps.debug_app:app") as server,
        httpx.Client(base_url=server.url, timeout=10) as c,
    ):
        body = problem(c.get("/boom"), 500)
        assert "ValueError: visible in debug" in body["detail"]
        assert "Traceback" in body["detail"]


def test_constraints_on_optional_query(client: httpx.Client) -> None:
    """Regression: Meta on `str | None` used to be applied to the union (500)."""
    assert client.get("/optional-constrained").json() == {"q": None}
    assert client.get("/optional-constrained?q=abc").json() == {"q": "abc"}
    assert set(locations(client.get("/optional-constrained?q=abcd"))) == {"query.q"}


def test_pep604_optional_body(client: httpx.Client) -> None:
    """Regression: `Item | None` was taken for a query parameter."""
    assert client.post("/pep604-body").json() == {"item": None}
    r = client.post("/pep604-body", json={"name": "a", "price": 1})
    assert r.json() == {"item": {"name": "a", "price": 1.0, "tags": []}}


def test_multipart_upload_small_and_large(client: httpx.Client) -> None:
    r = client.post(
        "/upload", files={"file": ("a.txt", b"hello world", "text/plain")}, data={"note": "n1"}
    )
    assert r.json() == {
        "name": "a.txt", "size": 11, "ct": "text/plain", "note": "n1", "in_memory": True,
        "head": "hello",
    }  # fmt: skip
    big = b"x" * (2 * 1024 * 1024)  # over the 1 MiB spool limit: goes to a temporary file
    r = client.post("/upload", files={"file": ("big.bin", big, "application/octet-stream")})
    data = r.json()
    assert (data["size"], data["in_memory"], data["note"]) == (len(big), False, "none")


def test_multiple_files_and_missing_file(client: httpx.Client) -> None:
    files = [("files", ("a", b"1", "text/plain")), ("files", ("b", b"22", "text/plain"))]
    assert client.post("/uploads", files=files).json() == [1, 2]
    r = client.post("/upload", files={"other": ("a", b"1")})
    assert locations(r) == {"file.file": "file required"}
    problem(client.post("/upload", json={"a": 1}), 415)


def test_malformed_multipart_is_400(client: httpx.Client) -> None:
    r = client.post(
        "/upload",
        content=b"--XX\r\nbroken",
        headers={"content-type": "multipart/form-data; boundary=XX"},
    )
    problem(r, 400)


def test_a_pydantic_model_parameter_is_refused_at_start_up() -> None:
    """pydantic models are not decoded (msgspec Structs are): a parameter annotated with one
    would otherwise be read as a query value and every request would get 422."""
    from covetpy import App
    from covetpy.exceptions import RouteError

    app = App(openapi_url=None)

    @app.post("/items")
    def create(item: PydanticItem) -> dict[str, str]:
        return {"name": item.name}

    with pytest.raises(RouteError, match="pydantic model"):
        app.route_table()


class PydanticItem(pydantic.BaseModel):
    name: str
