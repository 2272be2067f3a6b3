"""The OpenAPI document's security: `components.securitySchemes` from the auth layers and
`App(security_schemes=...)`, each operation's `security` and its 401/403 responses, and the
Swagger UI settings that make "Authorize" work (the browser test drives it for real)."""

from __future__ import annotations

from typing import Annotated, Any

import pytest
from openapi_spec_validator import OpenAPIV31SpecValidator, validate

from covetpy import App, Depends, Router
from covetpy.auth.basic import BasicAuth
from covetpy.auth.identity import Identity
from covetpy.auth.layers import OIDC, APIKeyAuth, JWTAuth
from covetpy.auth.oauth2_scheme import OAuth2
from covetpy.auth.requires import Auth, current_user, requires
from covetpy.exceptions import ConfigError
from covetpy.openapi import docs_routes, openapi_schema
from covetpy.openapi.pages import SWAGGER_UI_INIT_JS
from covetpy.openapi.security import scheme_object

KEY = b"k" * 32
PROBLEM = {"$ref": "#/components/schemas/Problem"}
ORDERS = OAuth2(
    token_url="https://id.example.com/oauth/token",
    scopes={"orders:read": "Read orders", "orders:write": "Place orders"},
)


def _app(*layers: Any, schemes: tuple[Any, ...] = (), **kwargs: Any) -> App:
    return App(title="t", middleware=list(layers), security_schemes=schemes, **kwargs)


def _doc(app: App) -> dict[str, Any]:
    doc = openapi_schema(app)
    validate(doc, cls=OpenAPIV31SpecValidator)
    return doc


def _op(doc: dict[str, Any], path: str, method: str = "get") -> dict[str, Any]:
    op: dict[str, Any] = doc["paths"][path][method]
    return op


# -- security schemes ---------------------------------------------------------------------


def test_schemes_come_from_the_layers_and_the_declared_schemes() -> None:
    async def verify(user: str, password: str) -> None:
        return None

    app = _app(
        JWTAuth(key=KEY, algorithms=["HS256"]),
        OIDC(issuer="https://id.example.com/"),
        APIKeyAuth(keys={}, header="X-Token"),
        APIKeyAuth(keys={}, header=None, query="api_key", scheme_name="queryKey"),
        BasicAuth(verify=verify),
        schemes=(ORDERS,),
    )

    @app.get("/x")
    async def x() -> None: ...

    assert _doc(app)["components"]["securitySchemes"] == {
        "bearerAuth": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"},
        "openIdConnect": {
            "type": "openIdConnect",
            "openIdConnectUrl": "https://id.example.com/.well-known/openid-configuration",
        },
        "apiKeyAuth": {"type": "apiKey", "in": "header", "name": "X-Token"},
        "queryKey": {"type": "apiKey", "in": "query", "name": "api_key"},
        "basicAuth": {"type": "http", "scheme": "basic"},
        "oauth2": {
            "type": "oauth2",
            "flows": {
                "clientCredentials": {
                    "tokenUrl": "https://id.example.com/oauth/token",
                    "scopes": {"orders:read": "Read orders", "orders:write": "Place orders"},
                }
            },
        },
    }


def test_a_layers_own_openapi_scheme_wins() -> None:
    class Custom(JWTAuth):
        def openapi_scheme(self) -> dict[str, Any]:
            return {"type": "http", "scheme": "bearer", "description": "ours"}

    assert scheme_object(Custom(key=KEY, algorithms=["HS256"]))["description"] == "ours"
    assert scheme_object(
        OIDC(issuer="https://id.example.com", discovery_url="https://id.example.com/conf")
    ) == {"type": "openIdConnect", "openIdConnectUrl": "https://id.example.com/conf"}
    with pytest.raises(TypeError, match="openapi_scheme"):
        scheme_object(object())


def test_scheme_names_are_unique_and_identical_layers_share_one() -> None:
    app = _app(
        JWTAuth(key=KEY, algorithms=["HS256"]),
        JWTAuth(jwks_url="https://id.example.com/jwks"),
        APIKeyAuth(keys={}, scheme_name="key"),
        APIKeyAuth(keys={}, header=None, query="key", scheme_name="key"),
    )

    @app.get("/x")
    async def x() -> None: ...

    doc = _doc(app)
    assert list(doc["components"]["securitySchemes"]) == ["bearerAuth", "key", "key_2"]
    assert doc["components"]["securitySchemes"]["key_2"]["in"] == "query"
    assert _op(doc, "/x")["security"] == [{"bearerAuth": []}, {"key": []}, {"key_2": []}]


def test_oauth2_flows_and_their_checks() -> None:
    code = OAuth2(
        token_url="/token",
        authorization_url="/authorize",
        refresh_url="/refresh",
        flow="authorizationCode",
        scopes={"a": "A"},
        description="Sign in",
    )
    assert code.openapi_scheme() == {
        "type": "oauth2",
        "description": "Sign in",
        "flows": {
            "authorizationCode": {
                "authorizationUrl": "/authorize",
                "tokenUrl": "/token",
                "refreshUrl": "/refresh",
                "scopes": {"a": "A"},
            }
        },
    }
    assert OAuth2(token_url="/t", flow="password").openapi_scheme() == {
        "type": "oauth2",
        "flows": {"password": {"tokenUrl": "/t", "scopes": {}}},
    }
    with pytest.raises(ConfigError, match="authorization_url= is required"):
        OAuth2(token_url="/t", flow="authorizationCode")
    with pytest.raises(ConfigError, match="no authorization endpoint"):
        OAuth2(token_url="/t", authorization_url="/a")
    with pytest.raises(ConfigError, match="not one of"):
        OAuth2(token_url="/t", flow="implicit")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="mapping"):
        OAuth2(token_url="/t", scopes="orders:read")  # type: ignore[arg-type]
    scopes = {"a": "A"}
    scheme = OAuth2(token_url="/t", scopes=scopes)
    scopes["b"] = "B"
    assert scheme.openapi_scheme()["flows"]["clientCredentials"]["scopes"] == {"a": "A"}


def test_no_layers_no_security() -> None:
    app = _app()

    @app.get("/x", requires=requires(scopes=["a"]))
    async def x() -> None: ...

    doc = _doc(app)
    assert "securitySchemes" not in doc.get("components", {})
    assert "security" not in _op(doc, "/x")
    assert "401" not in _op(doc, "/x")["responses"]


# -- operation security -------------------------------------------------------------------


def test_requirements_from_options_dependencies_routers_and_the_app() -> None:
    app = _app(
        JWTAuth(key=KEY, algorithms=["HS256"]),
        schemes=(ORDERS,),
        dependencies=[Depends(requires(roles=["staff"]))],
    )
    admin = Router(prefix="/admin", dependencies=[Depends(requires(permissions=["admin:*"]))])

    @app.get("/orders", requires=requires(scopes=["orders:read"]))
    async def orders() -> None: ...

    @app.post(
        "/orders",
        requires=[requires(scopes=["orders:write"]), requires(scopes=["orders:read"])],
    )
    async def place() -> None: ...

    @admin.delete("/orders/{id}", dependencies=[Depends(requires(scopes=["orders:write"]))])
    async def drop(id: int) -> None: ...

    app.include_router(admin)
    doc = _doc(app)
    # OAuth scopes for the oauth2 scheme; for the bearer scheme every name the route needs
    # ("role names", OpenAPI 3.1 §4.8.30).
    assert _op(doc, "/orders")["security"] == [
        {"bearerAuth": ["orders:read", "staff"]},
        {"oauth2": ["orders:read"]},
    ]
    assert _op(doc, "/orders", "post")["security"] == [
        {"bearerAuth": ["orders:write", "orders:read", "staff"]},
        {"oauth2": ["orders:write", "orders:read"]},
    ]
    assert _op(doc, "/admin/orders/{id}", "delete")["security"] == [
        {"bearerAuth": ["staff", "admin:*", "orders:write"]},
        {"oauth2": ["orders:write"]},
    ]


def test_any_of_becomes_alternatives() -> None:
    app = _app(JWTAuth(key=KEY, algorithms=["HS256"]))
    either = requires(
        scopes=["orders:read"],
        any_of=[requires(roles=["admin"]), requires(scopes=["orders:all"])],
    )

    @app.get("/orders", requires=either)
    async def orders() -> None: ...

    assert _op(_doc(app), "/orders")["security"] == [
        {"bearerAuth": ["orders:read", "admin"]},
        {"bearerAuth": ["orders:read", "orders:all"]},
    ]


def test_authenticated_only_routes_list_no_names_and_cannot_be_forbidden() -> None:
    app = _app(JWTAuth(key=KEY, algorithms=["HS256"], optional=True))

    @app.get("/me")
    async def me(user: Identity = Depends(current_user)) -> None: ...

    @app.get("/claims")
    async def claims(user: Annotated[Identity, Auth()]) -> None: ...

    @app.get("/any", requires=requires())
    async def any_() -> None: ...

    doc = _doc(app)
    for path in ("/me", "/claims", "/any"):
        op = _op(doc, path)
        assert op["security"] == [{"bearerAuth": []}], path
        assert "401" in op["responses"] and "403" not in op["responses"], path


def test_unprotected_routes_follow_the_layers() -> None:
    strict = _app(JWTAuth(key=KEY, algorithms=["HS256"]), schemes=(ORDERS,))
    lenient = _app(JWTAuth(key=KEY, algorithms=["HS256"], optional=True), schemes=(ORDERS,))
    only_declared = _app(schemes=(ORDERS,))
    for app in (strict, lenient, only_declared):

        @app.get("/x")
        async def x() -> None: ...

        @app.get("/health", public=True)
        async def health() -> None: ...

        @app.get("/public-but-scoped", public=True, requires=requires(scopes=["orders:read"]))
        async def scoped() -> None: ...

    # A layer that is not optional refuses anonymous calls; an optional one (or a scheme
    # that is only declared) lets them through: `{}` says no credential is fine.
    assert _op(_doc(strict), "/x")["security"] == [{"bearerAuth": []}, {"oauth2": []}]
    assert _op(_doc(lenient), "/x")["security"] == [{}, {"bearerAuth": []}, {"oauth2": []}]
    assert _op(_doc(only_declared), "/x")["security"] == [{}, {"oauth2": []}]
    for app in (strict, lenient, only_declared):
        doc = _doc(app)
        op = _op(doc, "/health")
        assert op["security"] == []
        assert "401" not in op["responses"]
        # `public` lifts the layers' refusal of anonymous calls, not a route's requirement.
        assert {"oauth2": ["orders:read"]} in _op(doc, "/public-but-scoped")["security"]


def test_protected_operations_document_401_and_403() -> None:
    app = _app(JWTAuth(key=KEY, algorithms=["HS256"]))

    @app.get("/orders", requires=requires(scopes=["orders:read"]))
    async def orders() -> list[int]:
        return []

    responses = _op(_doc(app), "/orders")["responses"]
    assert list(responses) == ["200", "401", "403", "default"]
    for status in ("401", "403"):
        response = responses[status]
        assert response["content"] == {"application/problem+json": {"schema": PROBLEM}}
        assert response["headers"]["WWW-Authenticate"]["schema"] == {"type": "string"}


def test_docs_routes_are_public() -> None:
    app = _app(JWTAuth(key=KEY, algorithms=["HS256"]))
    decls = docs_routes(app)
    assert decls and all(d.options.get("public") for d in decls)
    assert all(r.public for r in app.routes if r.path.startswith(("/docs", "/redoc", "/openapi")))


def test_swagger_ui_keeps_the_authorization() -> None:
    assert b"persistAuthorization: true" in SWAGGER_UI_INIT_JS
