"""`BasicAuth` (RFC 7617) and `APIKeyLookup` (`APIKeyAuth(keys=callable)`): the Python schemes,
run through the real server by a handler that calls them as the gate does, and as layers in
`App(middleware=[...])` (run by the gate, `covetpy.auth.runtime`)."""

from __future__ import annotations

import base64
from typing import Any

import pytest

from covetpy import App, Request
from covetpy.auth import requires
from covetpy.auth.basic import BasicAuth
from covetpy.auth.errors import AuthFailed
from covetpy.auth.identity import Identity
from covetpy.auth.layers import APIKeyAuth
from covetpy.auth.lookup import APIKeyLookup
from covetpy.exceptions import ConfigError
from covetpy.testing import TestClient

USERS = {"alice": "wonder land", "zoë": "pässwörd:with:colons"}


def verify_sync(username: str, password: str) -> Identity | None:
    if USERS.get(username) != password:
        return None
    return Identity("basic", username, roles=["admin"] if username == "alice" else [])


async def verify_async(username: str, password: str) -> str | bool:
    return username if USERS.get(username) == password else False


def basic(user: str, password: str) -> dict[str, str]:
    token = base64.b64encode(f"{user}:{password}".encode()).decode()
    return {"authorization": f"Basic {token}"}


def scheme_app(scheme: Any) -> App:
    """A handler doing what the gate does: credential, then authenticate."""
    app = App(openapi_url=None)

    @app.get("/who")
    async def who(request: Request) -> dict[str, Any]:
        credential = scheme.credential(request)
        if credential is None:
            raise AuthFailed("missing", "authentication required", scheme.challenge())
        identity = await scheme.authenticate(request, credential)
        return {"scheme": identity.scheme, "sub": identity.subject, "roles": sorted(identity.roles)}

    return app


@pytest.fixture(params=[verify_sync, verify_async], ids=["sync", "async"])
def client(request: pytest.FixtureRequest) -> Any:
    with TestClient(scheme_app(BasicAuth(verify=request.param, realm="admin area"))) as c:
        yield c


def test_good_credentials(client: TestClient) -> None:
    r = client.get("/who", headers=basic("alice", "wonder land"))
    assert r.status_code == 200
    assert r.json()["sub"] == "alice"
    # A password may contain colons; the user name and password are UTF-8 (RFC 7617 §2.1).
    r = client.get("/who", headers=basic("zoë", "pässwörd:with:colons"))
    assert r.status_code == 200, r.text
    assert r.json()["sub"] == "zoë"


def test_scheme_name_is_case_insensitive(client: TestClient) -> None:
    token = base64.b64encode(b"alice:wonder land").decode()
    assert client.get("/who", headers={"authorization": f"bAsIc {token}"}).status_code == 200


def test_bad_credentials(client: TestClient) -> None:
    for user, password in [("alice", "wrong"), ("mallory", "wonder land"), ("alice", "")]:
        r = client.get("/who", headers=basic(user, password))
        assert r.status_code == 401
        assert r.headers["content-type"] == "application/problem+json"
        assert r.headers["www-authenticate"] == 'Basic realm="admin area", charset="UTF-8"'
        assert "wrong" not in r.text


@pytest.mark.parametrize(
    "value",
    [
        "Basic",  # no credentials
        "Basic !!!notbase64!!!",  # not base64
        "Basic " + base64.b64encode(b"no-colon").decode(),  # not user:pass
        "Basic " + base64.b64encode(b"\xff\xfe:x").decode(),  # not UTF-8
        "Basic " + base64.b64encode(b"al\x01ice:pw").decode(),  # a control character
        "Basic " + "QUFB" * 2000,  # oversized
    ],
)
def test_malformed(client: TestClient, value: str) -> None:
    r = client.get("/who", headers={"authorization": value})
    assert r.status_code == 401
    assert "malformed" in r.json()["detail"]
    assert r.headers["www-authenticate"].startswith('Basic realm="admin area"')


def test_missing_or_other_scheme(client: TestClient) -> None:
    for headers in ({}, {"authorization": "Bearer abc.def.ghi"}):
        r = client.get("/who", headers=headers)
        assert r.status_code == 401
        assert r.json()["detail"] == "authentication required"
        assert r.headers["www-authenticate"] == 'Basic realm="admin area", charset="UTF-8"'


def test_verify_returning_identity_keeps_it() -> None:
    with TestClient(scheme_app(BasicAuth(verify=verify_sync))) as client:
        body = client.get("/who", headers=basic("alice", "wonder land")).json()
    assert body == {"scheme": "basic", "sub": "alice", "roles": ["admin"]}


def test_verify_returning_nonsense_is_a_server_error() -> None:
    scheme = BasicAuth(verify=lambda u, p: 42)
    with TestClient(scheme_app(scheme)) as client:
        assert client.get("/who", headers=basic("a", "b")).status_code == 500


def test_declaration() -> None:
    scheme = BasicAuth(verify=verify_sync, realm='say "hi"')
    assert scheme.kind == "basic" and scheme.in_python and not scheme.optional
    assert scheme.scheme_name == "basicAuth"
    assert scheme.openapi_scheme() == {"type": "http", "scheme": "basic"}
    assert scheme.challenge() == 'Basic realm="say \\"hi\\"", charset="UTF-8"'
    assert scheme.spec() == {"kind": "python", "optional": False, "challenge": "basic"}
    with pytest.raises(ConfigError, match="verify"):
        BasicAuth(verify="nope")  # type: ignore[arg-type]


# -- APIKeyAuth(keys=callable) ----------------------------------------------------------------

KEYS = {"s3cr3t-key-ci": "ci"}


async def lookup(key: str) -> Identity | str | None:
    if key == "s3cr3t-key-admin":
        return Identity("api_key", "admin", scopes=["all"])
    return KEYS.get(key)


def test_api_key_lookup_header() -> None:
    layer = APIKeyAuth(keys=lookup, scopes={"ci": ["deploy"]}, roles={"ci": ["robot"]})
    scheme = APIKeyLookup(layer)
    assert scheme.challenge() == 'ApiKey realm="api", header="x-api-key"'
    assert scheme.openapi_scheme() == {"type": "apiKey", "in": "header", "name": "x-api-key"}
    assert scheme.scheme_name == "apiKeyAuth" and not scheme.optional
    with TestClient(scheme_app(scheme)) as client:
        r = client.get("/who", headers={"x-api-key": "s3cr3t-key-ci"})
        assert r.json() == {"scheme": "api_key", "sub": "ci", "roles": ["robot"]}
        r = client.get("/who", headers={"x-api-key": "s3cr3t-key-admin"})
        assert r.json()["sub"] == "admin"
        r = client.get("/who", headers={"x-api-key": "guessed-key-123"})
        assert r.status_code == 401
        assert r.headers["www-authenticate"] == 'ApiKey realm="api", header="x-api-key"'
        assert "guessed-key-123" not in r.text  # never echoed
        assert client.get("/who").json()["detail"] == "authentication required"


def test_api_key_lookup_query_sync() -> None:
    layer = APIKeyAuth(keys=lambda key: KEYS.get(key), header=None, query="api_key")
    scheme = APIKeyLookup(layer)
    assert scheme.challenge() == 'ApiKey realm="api", query="api_key"'
    assert scheme.openapi_scheme() == {"type": "apiKey", "in": "query", "name": "api_key"}
    with TestClient(scheme_app(scheme)) as client:
        assert client.get("/who?api_key=s3cr3t-key-ci").json()["sub"] == "ci"
        r = client.get("/who?api_key=nope")
        assert r.status_code == 401 and "nope" not in r.text
        assert client.get("/who", headers={"x-api-key": "s3cr3t-key-ci"}).status_code == 401


def test_api_key_lookup_needs_a_callable() -> None:
    with pytest.raises(TypeError):
        APIKeyLookup(APIKeyAuth(keys={"ci": "0" * 64}))


# -- as layers, run by the gate (covetpy.auth.runtime) ---------------------------------------


def layered_app(*layers: Any) -> App:
    app = App(middleware=list(layers), openapi_url=None)

    @app.get("/who")
    async def who(request: Request) -> dict[str, Any]:
        identity = request.auth
        return {"sub": None if identity is None else identity.subject}

    return app


def test_basic_layer_end_to_end() -> None:
    with TestClient(layered_app(BasicAuth(verify=verify_async, realm="r"))) as client:
        assert client.get("/who", headers=basic("alice", "wonder land")).json()["sub"] == "alice"
        r = client.get("/who", headers=basic("alice", "nope"))
        assert r.status_code == 401
        assert r.headers["www-authenticate"] == 'Basic realm="r", charset="UTF-8"'
        r = client.get("/who", headers={"authorization": "Basic %%%"})
        assert r.status_code == 401 and "malformed" in r.json()["detail"]
        r = client.get("/who")
        assert r.status_code == 401
        assert r.headers["www-authenticate"] == 'Basic realm="r", charset="UTF-8"'


def test_optional_basic_layer_lets_anonymous_through() -> None:
    app = layered_app(BasicAuth(verify=verify_sync, optional=True))
    with TestClient(app) as client:
        assert client.get("/who").json() == {"sub": None}
        assert client.get("/who", headers=basic("alice", "x")).status_code == 401


def test_api_key_lookup_layer_end_to_end() -> None:
    with TestClient(layered_app(APIKeyAuth(keys=lookup))) as client:
        assert client.get("/who", headers={"x-api-key": "s3cr3t-key-ci"}).json()["sub"] == "ci"
        r = client.get("/who", headers={"x-api-key": "wrong-key"})
        assert r.status_code == 401 and "wrong-key" not in r.text


def test_basic_identity_meets_route_requirements() -> None:
    app = layered_app(BasicAuth(verify=verify_sync))

    @app.get("/admin", requires=requires(roles=["admin"]))
    async def admin(request: Request) -> str:
        return "ok"

    with TestClient(app) as client:
        assert client.get("/admin", headers=basic("alice", "wonder land")).text == "ok"
        r = client.get("/admin", headers=basic("zoë", "pässwörd:with:colons"))
        assert r.status_code == 403 and "admin" in r.json()["detail"]


def test_a_mount_behind_a_python_layer_fails_closed() -> None:
    """The Python gate does not run for mounted apps: a layer that only Python can verify
    must not let anonymous requests through to them."""
    from covetpy import App
    from covetpy.auth import BasicAuth
    from covetpy.testing import TestClient

    async def hosted(scope: dict[str, object], receive: object, send: Any) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"hosted"})

    app = App(middleware=[BasicAuth(verify=lambda user, password: user == "u")])
    app.mount("/legacy", hosted, interface="asgi")
    with TestClient(app) as client:
        assert client.get("/legacy/x").status_code == 401
