"""OpenAPI 3.1: the document built from routes (validated against the OpenAPI 3.1 schema),
the docs routes, and the Swagger UI / ReDoc pages served offline by a real server."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

import httpx
import jsonschema
import msgspec
import pytest
from openapi_spec_validator import OpenAPIV31SpecValidator, validate

from covetpy import App, Body, Depends, Form, HTTPException, Query, Response
from covetpy.openapi import docs_routes, openapi_schema
from covetpy.openapi import routes as docs_module
from covetpy.openapi.assets import Asset
from covetpy.openapi.document import openapi_path
from covetpy.routing.router import RouteDecl
from tests.apps import openapi_app
from tests.conftest import StartServer

PROBLEM = {"$ref": "#/components/schemas/Problem"}
VALIDATION_PROBLEM = {"$ref": "#/components/schemas/ValidationProblem"}


@pytest.fixture(scope="module")
def doc() -> dict[str, Any]:
    return openapi_schema(openapi_app.app)


def _refs(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        for k, v in node.items():
            if k == "$ref":
                yield v
            else:
                yield from _refs(v)
    elif isinstance(node, list):
        for v in node:
            yield from _refs(v)


def _params(op: dict[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
    return {(p["in"], p["name"]): p for p in op.get("parameters", [])}


def _decl(decls: list[RouteDecl], name: str) -> RouteDecl:
    return next(d for d in decls if d.name == name)


# -- the document -----------------------------------------------------------------------


def test_document_is_valid_openapi_3_1(doc: dict[str, Any]) -> None:
    validate(doc, cls=OpenAPIV31SpecValidator)
    assert doc["openapi"] == "3.1.0"
    assert doc["info"] == {"title": "Shop", "version": "2.1.0", "description": "Items for sale."}
    # It is plain JSON (what /openapi.json serves).
    assert json.loads(json.dumps(doc)) == doc


def test_paths_use_openapi_templates_and_leave_out_hidden_and_docs_routes(
    doc: dict[str, Any],
) -> None:
    assert set(doc["paths"]) == {
        "/items",
        "/items/{item_id}",
        "/files/{rest}",
        "/tokens/{token}",
        "/page",
    }
    assert set(doc["paths"]["/items/{item_id}"]) == {"get", "delete", "put"}
    assert set(doc["paths"]["/items"]) == {"get", "post"}
    assert [t["name"] for t in doc["tags"]] == ["items", "tokens"]


def test_openapi_path_strips_converters() -> None:
    assert openapi_path("/users/{user_id:int}") == "/users/{user_id}"
    assert openapi_path("/f/{rest:path}/x/{id}") == "/f/{rest}/x/{id}"


def test_operation_ids_are_unique(doc: dict[str, Any]) -> None:
    ids = [op["operationId"] for item in doc["paths"].values() for op in item.values()]
    assert len(ids) == len(set(ids))
    assert doc["paths"]["/items"]["get"]["operationId"] == "list_items_get"


def test_summary_description_and_tags(doc: dict[str, Any]) -> None:
    read = doc["paths"]["/items/{item_id}"]["get"]
    assert read["summary"] == "Read one item."
    assert read["description"] == "Answers 404 when there is no such item."
    assert read["tags"] == ["items"]
    assert doc["paths"]["/items"]["post"]["summary"] == "Create an item"
    # No docstring, no summary=: the name, readable.
    assert doc["paths"]["/items"]["get"]["summary"] == "List items"
    assert "tags" not in doc["paths"]["/files/{rest}"]["get"]


def test_path_parameters_are_typed_by_their_converter(doc: dict[str, Any]) -> None:
    def schema(path: str, name: str, method: str = "get") -> dict[str, Any]:
        p = _params(doc["paths"][path][method])[("path", name)]
        assert p["required"] is True
        return dict(p["schema"])

    assert schema("/items/{item_id}", "item_id") == {"type": "integer"}
    # The converter came from the annotation (`item_id: int`), not the path.
    assert schema("/items/{item_id}", "item_id", "put") == {"type": "integer"}
    assert schema("/tokens/{token}", "token") == {"type": "string", "format": "uuid"}
    assert schema("/files/{rest}", "rest") == {"type": "string"}


def test_query_header_and_dependency_parameters(doc: dict[str, Any]) -> None:
    params = _params(doc["paths"]["/items"]["get"])
    assert set(params) == {
        ("query", "limit"),
        ("query", "q"),
        ("header", "user-agent"),
        ("query", "offset"),  # read by the `pagination` dependency
    }
    limit = params[("query", "limit")]
    assert limit["required"] is False
    assert limit["schema"] == {"type": "integer", "minimum": 1, "maximum": 100, "default": 10}
    q = params[("query", "q")]
    assert q["schema"] == {
        "anyOf": [{"type": "string", "maxLength": 50}, {"type": "null"}],
        "default": None,
    }
    assert q["examples"] == {"example1": {"value": "apple"}}
    ua = params[("header", "user-agent")]
    assert ua["required"] is True
    assert ua["schema"] == {"type": "string"}
    offset = params[("query", "offset")]
    assert offset["description"] == "How many items to skip"
    assert offset["schema"] == {"type": "integer", "minimum": 0, "default": 0}
    ratio = _params(doc["paths"]["/tokens/{token}"]["get"])[("query", "ratio")]
    assert ratio["schema"] == {"type": "number", "default": 1.0}


def test_request_bodies(doc: dict[str, Any]) -> None:
    create = doc["paths"]["/items"]["post"]
    assert create["requestBody"] == {
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Item"}}},
        "required": True,
    }
    rename = doc["paths"]["/items/{item_id}"]["put"]["requestBody"]
    assert rename["required"] is True
    assert rename["content"] == {
        "application/x-www-form-urlencoded": {
            "schema": {
                "type": "object",
                "properties": {
                    "name": {"type": "string", "minLength": 1},
                    "note": {"type": "string", "default": ""},
                },
                "required": ["name"],
            }
        }
    }
    assert "requestBody" not in doc["paths"]["/items"]["get"]


def test_responses(doc: dict[str, Any]) -> None:
    def json_schema(response: dict[str, Any]) -> Any:
        return response["content"]["application/json"]["schema"]

    item = {"$ref": "#/components/schemas/Item"}
    read = doc["paths"]["/items/{item_id}"]["get"]["responses"]
    assert set(read) == {"200", "default"}  # only a path parameter: no 422
    assert json_schema(read["200"]) == item
    assert read["default"]["content"]["application/problem+json"]["schema"] == PROBLEM

    listed = doc["paths"]["/items"]["get"]["responses"]
    assert set(listed) == {"200", "422", "default"}
    assert json_schema(listed["200"]) == {"$ref": "#/components/schemas/Page"}
    problem = listed["422"]["content"]["application/problem+json"]["schema"]
    assert problem == VALIDATION_PROBLEM

    created = doc["paths"]["/items"]["post"]["responses"]
    assert set(created) == {"201", "422", "default"}
    assert json_schema(created["201"]) == item

    deleted = doc["paths"]["/items/{item_id}"]["delete"]["responses"]
    assert deleted["204"] == {"description": "No Content"}
    assert "200" not in deleted

    text = doc["paths"]["/files/{rest}"]["get"]["responses"]["200"]["content"]
    assert text == {"text/plain": {"schema": {"type": "string"}}}
    html = doc["paths"]["/page"]["get"]["responses"]["200"]["content"]
    assert html == {"text/html": {"schema": {"type": "string"}}}
    token = doc["paths"]["/tokens/{token}"]["get"]["responses"]["200"]
    assert json_schema(token) == {"type": "object", "additionalProperties": {"type": "string"}}


def test_component_schemas(doc: dict[str, Any]) -> None:
    schemas = doc["components"]["schemas"]
    assert {"Item", "Page", "Problem", "ValidationProblem", "ValidationIssue"} <= set(schemas)
    assert schemas["Item"]["description"] == "Something for sale."
    assert schemas["Item"]["required"] == ["name", "price"]
    assert schemas["Page"]["properties"]["items"] == {
        "type": "array",
        "items": {"$ref": "#/components/schemas/Item"},
    }
    errors = schemas["ValidationProblem"]["properties"]["errors"]
    assert errors == {"type": "array", "items": {"$ref": "#/components/schemas/ValidationIssue"}}
    for ref in _refs(doc):
        assert ref.removeprefix("#/components/schemas/") in schemas, ref


# -- edge cases, on small apps ----------------------------------------------------------


class Note(msgspec.Struct):
    text: str


def test_methods_ids_and_return_types() -> None:
    app = App()

    @app.route("/ping", methods=["GET", "HEAD", "POST"])
    def ping() -> str:
        return "pong"

    @app.route("/only-head", methods=["HEAD"])
    def only_head() -> None:
        return None

    app.add_route("/ping2", ping, name="ping")

    @app.get("/raw")
    def raw() -> bytes:
        return b""

    @app.get("/custom")
    def custom() -> Response:
        return Response("x")

    @app.get("/opaque")
    def opaque() -> object:
        return {}

    @app.post("/accepted", status_code=202)
    def accepted() -> None:
        return None

    doc = openapi_schema(app)
    validate(doc, cls=OpenAPIV31SpecValidator)
    assert set(doc["paths"]["/ping"]) == {"get", "post"}
    assert set(doc["paths"]["/only-head"]) == {"head"}
    assert doc["paths"]["/ping"]["get"]["operationId"] == "ping_get"
    assert doc["paths"]["/ping2"]["get"]["operationId"] == "ping_get_2"
    assert doc["paths"]["/raw"]["get"]["responses"]["200"]["content"] == {
        "application/octet-stream": {}
    }
    assert "content" not in doc["paths"]["/custom"]["get"]["responses"]["200"]
    assert "content" not in doc["paths"]["/opaque"]["get"]["responses"]["200"]
    assert doc["paths"]["/accepted"]["post"]["responses"]["202"] == {"description": "Accepted"}


def test_bodies_dependencies_and_hidden_parameters() -> None:
    def auth(token: str = Query(description="API token")) -> str:
        return token

    app = App(dependencies=[Depends(auth)])

    @app.post("/notes")
    def add(
        note: Note = Body(description="The note", examples=[{"text": "hi"}]),
        token: str = Depends(auth),
        debug: bool = Query(False, include_in_schema=False),
    ) -> Note:
        return note

    @app.post("/whole-form")
    def whole_form(note: Note = Form()) -> str:
        return note.text

    @app.post("/upload")
    def upload(data: bytes) -> int:
        return len(data)

    @app.post("/optional-body")
    def optional_body(note: Note | None = Body(None)) -> str:
        return "ok"

    doc = openapi_schema(app)
    validate(doc, cls=OpenAPIV31SpecValidator)
    add_op = doc["paths"]["/notes"]["post"]
    # The app-level dependency's parameter appears once though two dependencies read it.
    assert list(_params(add_op)) == [("query", "token")]
    assert add_op["parameters"][0]["description"] == "API token"
    body = add_op["requestBody"]
    assert body["description"] == "The note"
    assert body["content"]["application/json"]["examples"] == {
        "example1": {"value": {"text": "hi"}}
    }
    form = doc["paths"]["/whole-form"]["post"]["requestBody"]["content"]
    assert form == {
        "application/x-www-form-urlencoded": {"schema": {"$ref": "#/components/schemas/Note"}}
    }
    upload_body = doc["paths"]["/upload"]["post"]["requestBody"]
    assert upload_body == {"content": {"application/octet-stream": {}}, "required": True}
    optional = doc["paths"]["/optional-body"]["post"]["requestBody"]
    assert optional["required"] is False


# -- docs routes, in process ------------------------------------------------------------


def test_docs_routes_follow_the_app_urls() -> None:
    assert docs_routes(openapi_app.no_docs) == []
    assert all(not r.path.startswith(("/docs", "/redoc")) for r in openapi_app.no_docs.routes)
    only = docs_routes(openapi_app.only_json)
    assert [(d.path, d.methods) for d in only] == [("/openapi.json", ("GET",))]
    decls = docs_routes(openapi_app.app)
    assert all(not d.include_in_schema for d in decls)
    paths = {d.path for d in decls}
    assert {"/openapi.json", "/docs", "/redoc", "/redoc/redoc.standalone.js"} <= paths
    assert {"/docs/swagger-ui-bundle.js", "/docs/swagger-ui.css"} <= paths


def test_document_route_is_computed_once() -> None:
    handler = _decl(docs_routes(openapi_app.app), "openapi").handler
    first, second = handler(), handler()
    assert first.body is second.body
    assert first.headers["content-type"] == "application/json"
    assert json.loads(first.body) == json.loads(json.dumps(openapi_schema(openapi_app.app)))


def test_pages_reference_only_local_urls() -> None:
    decls = docs_routes(openapi_app.app)
    paths = {d.path for d in decls}
    for name in ("swagger_ui", "redoc"):
        html = _decl(decls, name).handler().body.decode()
        assert "http://" not in html and "https://" not in html
        urls = re.findall(r'(?:src|href|spec-url|data-openapi-url)="([^"]+)"', html)
        assert urls
        for url in urls:
            assert url.split("?")[0] in paths, url


def test_missing_asset_package_answers_404(monkeypatch: pytest.MonkeyPatch) -> None:
    gone = (Asset("covetpy_no_such_package", "redoc.standalone.js", "text/javascript"),)
    monkeypatch.setattr(docs_module, "REDOC_ASSETS", gone)
    decls = docs_routes(openapi_app.app)
    for name in ("redoc", "redoc:redoc.standalone.js"):
        with pytest.raises(HTTPException) as info:
            _decl(decls, name).handler()
        assert info.value.status_code == 404
        assert "pip install openapi-ui-bundles" in info.value.detail
    # Swagger UI is unaffected.
    assert _decl(decls, "swagger_ui").handler().status_code == 200


# -- a real server ----------------------------------------------------------------------


def test_served_document_pages_and_assets(start_server: StartServer) -> None:
    server = start_server("tests.apps.openapi_app:app")
    with httpx.Client(base_url=server.url, timeout=10) as client:
        r = client.get("/openapi.json")
        assert r.status_code == 200
        assert r.headers["content-type"] == "application/json"
        doc = r.json()
        assert doc == json.loads(json.dumps(openapi_schema(openapi_app.app)))
        validate(doc, cls=OpenAPIV31SpecValidator)

        for page in ("/docs", "/redoc"):
            r = client.get(page)
            assert r.status_code == 200
            assert r.headers["content-type"] == "text/html; charset=utf-8"
            assert "http://" not in r.text and "https://" not in r.text
            for url in re.findall(r'(?:src|href)="([^"]+)"', r.text):
                asset = client.get(url)
                assert asset.status_code == 200, url
                assert asset.content, url
                assert "max-age=31536000" in asset.headers["cache-control"]
                if url.split("?")[0].endswith(".js"):
                    assert asset.headers["content-type"].startswith("text/javascript")

        r = client.get("/redoc/redoc.standalone.js")
        assert r.status_code == 200
        assert r.headers["content-type"] == "text/javascript; charset=utf-8"
        assert len(r.content) > 100_000

        # The documented error and success shapes are what the server sends.
        def check(body: Any, schema: dict[str, Any]) -> None:
            jsonschema.validate(body, {**schema, "components": doc["components"]})

        r = client.get("/items", params={"limit": 0}, headers={"user-agent": "t"})
        assert r.status_code == 422
        assert r.headers["content-type"] == "application/problem+json"
        check(r.json(), VALIDATION_PROBLEM)
        r = client.get("/items", headers={"user-agent": "t"})
        assert r.status_code == 200
        check(
            r.json(),
            doc["paths"]["/items"]["get"]["responses"]["200"]["content"]["application/json"][
                "schema"
            ],
        )
        r = client.post("/items", json={"name": "pear", "price": 1.5})
        assert r.status_code == 201
        check(r.json(), {"$ref": "#/components/schemas/Item"})
        r = client.get("/items/12345")
        assert r.status_code == 500
        check(r.json(), PROBLEM)
