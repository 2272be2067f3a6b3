"""`Sessions(csrf=True)`: unsafe requests carrying the session cookie must come from the app's
own pages (Sec-Fetch-Site, else Origin/Referer, else the double-submit `x-csrf-token`).
End to end through the real server (`TestClient`, whose origin is http://testserver)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from covetpy import App, Request
from covetpy.auth.csrf import csrf_token, normalize_origin
from covetpy.auth.sessions import Sessions, login
from covetpy.testing import TestClient

KEY = "csrf-test-" + "k" * 40
PARTNER = "https://partner.example"


def make_app(**options: Any) -> tuple[App, list[str]]:
    app = App(openapi_url=None)
    app.add_middleware(
        Sessions(secret_keys=[KEY], secure=False, trusted_origins=[PARTNER], **options)
    )
    done: list[str] = []

    @app.get("/token")
    async def token(request: Request) -> dict[str, str]:
        return {"token": csrf_token(request)}

    @app.post("/login")
    async def sign_in(request: Request) -> None:
        login(request, "alice")

    @app.post("/transfer")
    async def transfer(request: Request) -> dict[str, bool]:
        done.append(request.method)
        return {"done": True}

    @app.get("/transfer")
    async def look(request: Request) -> dict[str, bool]:
        return {"done": False}

    app.add_route("/transfer", transfer, methods=["PUT", "PATCH", "DELETE"])

    return app, done


@pytest.fixture
def app_done() -> tuple[App, list[str]]:
    return make_app()


@pytest.fixture
def client(app_done: tuple[App, list[str]]) -> Iterator[TestClient]:
    with TestClient(app_done[0]) as c:
        c.get("/token")  # the client now carries the session cookie
        assert "session" in c.cookies
        yield c


def refused(response: Any, check: str) -> None:
    assert response.status_code == 403, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert check in response.json()["detail"]


def test_cross_site_post_with_the_cookie_is_refused(
    client: TestClient, app_done: tuple[App, list[str]]
) -> None:
    for site in ("cross-site", "same-site"):
        r = client.post(
            "/transfer", headers={"sec-fetch-site": site, "origin": "https://evil.example"}
        )
        refused(r, f"Sec-Fetch-Site is {site}")
        # Sec-Fetch-Site wins over an Origin that claims to be this site.
        r = client.post(
            "/transfer", headers={"sec-fetch-site": site, "origin": "http://testserver"}
        )
        refused(r, "Sec-Fetch-Site")
    for method in ("PUT", "PATCH", "DELETE"):
        r = client.request(method, "/transfer", headers={"sec-fetch-site": "cross-site"})
        refused(r, "Sec-Fetch-Site")
    assert app_done[1] == []  # the handler never ran


def test_same_origin_post_is_allowed(client: TestClient) -> None:
    for site in ("same-origin", "none"):
        r = client.post("/transfer", headers={"sec-fetch-site": site})
        assert r.status_code == 200, r.text


def test_trusted_origin_may_post_cross_site(client: TestClient) -> None:
    r = client.post("/transfer", headers={"sec-fetch-site": "cross-site", "origin": PARTNER})
    assert r.status_code == 200
    r = client.post("/transfer", headers={"origin": PARTNER + ":443"})  # default port
    assert r.status_code == 200


def test_safe_methods_are_not_checked(client: TestClient) -> None:
    r = client.get("/transfer", headers={"sec-fetch-site": "cross-site"})
    assert r.status_code == 200


def test_origin_check_without_fetch_metadata(client: TestClient) -> None:
    assert client.post("/transfer", headers={"origin": "http://testserver"}).status_code == 200
    assert client.post("/transfer", headers={"origin": "HTTP://TestServer:80"}).status_code == 200
    for origin in (
        "https://evil.example",
        "http://testserver.evil.example",
        "null",
        "https://testserver",
    ):
        refused(client.post("/transfer", headers={"origin": origin}), "Origin")


def test_referer_check_without_origin(client: TestClient) -> None:
    r = client.post("/transfer", headers={"referer": "http://testserver/transfer?x=1"})
    assert r.status_code == 200
    refused(client.post("/transfer", headers={"referer": "https://evil.example/page"}), "Referer")


def test_double_submit_token_when_no_browser_headers(client: TestClient) -> None:
    refused(client.post("/transfer"), "x-csrf-token header is missing")
    refused(
        client.post("/transfer", headers={"x-csrf-token": "guess"}),
        "does not match the session token",
    )
    token = client.get("/token").json()["token"]
    assert client.get("/token").json()["token"] == token  # kept in the session
    assert client.post("/transfer", headers={"x-csrf-token": token}).status_code == 200


def test_login_rotates_the_token(client: TestClient) -> None:
    token = client.get("/token").json()["token"]
    r = client.post("/login", headers={"x-csrf-token": token})
    assert r.status_code == 204
    refused(client.post("/transfer", headers={"x-csrf-token": token}), "does not match")
    new = client.get("/token").json()["token"]
    assert new != token
    assert client.post("/transfer", headers={"x-csrf-token": new}).status_code == 200


def test_requests_without_the_session_cookie_are_not_checked(
    app_done: tuple[App, list[str]],
) -> None:
    with TestClient(app_done[0]) as client:
        r = client.post("/transfer", headers={"sec-fetch-site": "cross-site"})
        assert r.status_code == 200


def test_csrf_off() -> None:
    app, _ = make_app(csrf=False)
    with TestClient(app) as client:
        client.get("/token")
        r = client.post("/transfer", headers={"sec-fetch-site": "cross-site"})
        assert r.status_code == 200


def test_normalize_origin() -> None:
    assert normalize_origin("https://Example.COM:443") == "https://example.com"
    assert normalize_origin("http://example.com:8080/path?q") == "http://example.com:8080"
    assert normalize_origin("http://[::1]:80") == "http://[::1]"
    for value in ("null", "example.com", "ftp://example.com", "http://", "http://x:99999"):
        assert normalize_origin(value) is None
