"""`Sessions`: signed cookies (forgery, tampering, expiry, key rotation), server-side stores
(memory, Redis: a replayed cookie after logout finds nothing), `login`/`logout` and
`request.auth`. End to end through the real server (`TestClient`)."""

from __future__ import annotations

import asyncio
import base64
import logging
import sys
import time
from collections.abc import Iterator
from typing import Any

import msgspec
import pytest

from covetpy import App, Request, Response
from covetpy.auth.identity import Identity
from covetpy.auth.session_stores import MemoryStore, RedisStore, SessionStore, store_from
from covetpy.auth.sessions import Session, Sessions, SessionSigner, login, logout, session_of
from covetpy.exceptions import ConfigError, MissingExtra
from covetpy.middleware import CallNext
from covetpy.testing import TestClient

K1 = "k1-" + "a" * 40
K2 = "k2-" + "b" * 40


def make_app(sessions: Sessions, outer: Any = None) -> App:
    app = App(openapi_url=None)
    if outer is not None:
        app.add_middleware(outer)
    app.add_middleware(sessions)
    app.on_shutdown(sessions.aclose)  # the Redis store's connections

    @app.get("/get")
    async def get(request: Request) -> dict[str, Any]:
        identity = request.auth
        return {
            "data": dict(request.state.session),
            "sub": None if identity is None else identity.subject,
            "scheme": None if identity is None else identity.scheme,
        }

    @app.post("/set")
    async def set_(request: Request) -> None:
        for key, value in request.query_params.items():
            request.state.session[key] = value

    @app.post("/big")
    async def big(request: Request) -> None:
        request.state.session["blob"] = "x" * 5000

    @app.post("/login")
    async def sign_in(request: Request) -> dict[str, Any]:
        identity = login(request, request.query_params.get("user", "alice"), roles=["admin"])
        assert request.auth == identity
        return {"sub": identity.subject, "roles": sorted(identity.roles)}

    @app.post("/logout")
    async def sign_out(request: Request) -> dict[str, Any]:
        logout(request)
        return {"auth": request.auth is not None}

    return app


def sessions(**options: Any) -> Sessions:
    options.setdefault("secret_keys", [K1])
    options.setdefault("secure", False)  # the test client speaks http
    options.setdefault("csrf", False)  # test_csrf.py covers it
    return Sessions(**options)


def set_cookies(response: Any) -> list[str]:
    return [v for k, v in response.headers.multi_items() if k == "set-cookie"]


def cookie_value(response: Any, name: str = "session") -> str:
    [header] = set_cookies(response)
    assert header.startswith(name + "=")
    return header.split(";")[0].split("=", 1)[1]


def fresh(client: TestClient, cookie: str | None, path: str = "/get") -> Any:
    """A request with exactly this cookie (not the client's jar)."""
    client.cookies.clear()
    headers = {} if cookie is None else {"cookie": f"session={cookie}"}
    return client.get(path, headers=headers)


# -- the signed cookie ------------------------------------------------------------------------


def test_signer_round_trip_and_rejections() -> None:
    signer = SessionSigner([K1.encode()], "session")
    value = signer.sign(b'{"d":{}}')
    assert signer.unsign(value, 60) == (b'{"d":{}}', "ok")
    body, issued, mac = value.split(".")
    assert signer.unsign(f"{body}.{int(issued) + 1}.{mac}", 60)[1] == "bad_signature"
    assert signer.unsign(f"{body}x.{issued}.{mac}", 60)[1] == "bad_signature"
    assert signer.unsign("garbage", 60)[1] == "malformed"
    # Signed for another cookie name: not valid here.
    other = SessionSigner([K1.encode()], "other").sign(b'{"d":{}}')
    assert signer.unsign(other, 60)[1] == "bad_signature"
    old = signer.sign(b"{}", issued=int(time.time()) - 120)
    assert signer.unsign(old, 60)[1] == "expired"
    assert signer.unsign(old, 600)[1] == "ok"


def test_set_then_read_and_no_cookie_when_unchanged() -> None:
    with TestClient(make_app(sessions())) as client:
        r = client.get("/get")
        assert r.json()["data"] == {} and set_cookies(r) == []  # nothing to save
        r = client.post("/set?cart=apple&color=red")
        [header] = set_cookies(r)
        assert "HttpOnly" in header and "samesite=lax" in header.lower() and "Path=/" in header
        assert f"Max-Age={14 * 24 * 3600}" in header and "Secure" not in header
        r = client.get("/get")
        assert r.json()["data"] == {"cart": "apple", "color": "red"}
        assert set_cookies(r) == []  # unchanged: the cookie is not sent again


def test_secure_cookie_attributes() -> None:
    app = make_app(sessions(secure=True, cookie="__Host-s", same_site="strict", max_age=600))
    with TestClient(app) as client:
        [header] = set_cookies(client.post("/set?a=1"))
        assert header.startswith("__Host-s=")
        assert "Secure" in header and "samesite=strict" in header.lower()
        assert "Max-Age=600" in header


def test_forged_cookie_gives_an_empty_session() -> None:
    forged = [
        "not-a-session",
        SessionSigner([("x" * 40).encode()], "session").sign(b'{"d":{"admin":true}}'),
        "e30.0.AAAA",
        "." * 10,
        "a" * 5000,
    ]
    with TestClient(make_app(sessions())) as client:
        for value in forged:
            r = fresh(client, value)
            assert r.status_code == 200
            assert r.json() == {"data": {}, "sub": None, "scheme": None}
            # The bad cookie is expired, so it is not sent again.
            [header] = set_cookies(r)
            assert header.startswith('session=""') or header.startswith("session=;")
            assert "Max-Age=0" in header


def test_tampered_payload_is_refused() -> None:
    with TestClient(make_app(sessions())) as client:
        value = cookie_value(client.post("/set?role=user"))
        body, issued, mac = value.split(".")
        payload = msgspec.json.decode(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
        assert payload["d"] == {"role": "user"}  # signed, not encrypted
        payload["d"]["role"] = "admin"
        forged = base64.urlsafe_b64encode(msgspec.json.encode(payload)).rstrip(b"=").decode()
        assert fresh(client, f"{forged}.{issued}.{mac}").json()["data"] == {}
        assert fresh(client, value).json()["data"] == {"role": "user"}


def test_expired_cookie_gives_an_empty_session() -> None:
    signer = SessionSigner([K1.encode()], "session")
    payload = b'{"d":{"a":"1"},"a":{"s":"alice","sc":[],"r":[]}}'
    with TestClient(make_app(sessions(max_age=3600))) as client:
        assert fresh(client, signer.sign(payload)).json()["sub"] == "alice"
        stale = signer.sign(payload, issued=int(time.time()) - 3601 - 5)
        r = fresh(client, stale)
        assert r.json() == {"data": {}, "sub": None, "scheme": None}
        assert "Max-Age=0" in set_cookies(r)[0]


def test_key_rotation() -> None:
    with TestClient(make_app(sessions(secret_keys=[K1]))) as client:
        old = cookie_value(client.post("/set?a=1"))
    with TestClient(make_app(sessions(secret_keys=[K2, K1]))) as client:
        r = fresh(client, old)
        assert r.json()["data"] == {"a": "1"}  # the old key still verifies
        assert set_cookies(r) == []  # and the cookie is not rewritten for it
        client.cookies.clear()
        new = cookie_value(client.post("/set?b=2", headers={"cookie": f"session={old}"}))
    only_new = SessionSigner([K2.encode()], "session")
    only_old = SessionSigner([K1.encode()], "session")
    assert only_new.unsign(new, 60)[1] == "ok"  # new cookies use the new key
    assert only_old.unsign(new, 60)[1] == "bad_signature"
    with TestClient(make_app(sessions(secret_keys=[K2]))) as client:
        assert fresh(client, old).json()["data"] == {}  # the old key is gone: refused
        assert fresh(client, new).json()["data"] == {"a": "1", "b": "2"}


def test_cookie_too_large_for_a_browser_is_a_server_error() -> None:
    with TestClient(make_app(sessions())) as client:
        assert client.post("/big").status_code == 500
    with TestClient(make_app(sessions(store="memory"))) as client:
        assert client.post("/big").status_code == 204  # with a store the cookie is small


# -- login, logout, request.auth -----------------------------------------------------------------


def test_login_sets_request_auth_on_later_requests() -> None:
    with TestClient(make_app(sessions())) as client:
        assert client.get("/get").json()["sub"] is None
        assert client.post("/login?user=bob").json() == {"sub": "bob", "roles": ["admin"]}
        assert client.get("/get").json() == {"data": {}, "sub": "bob", "scheme": "session"}
        assert client.post("/logout").json() == {"auth": False}
        assert client.get("/get").json()["sub"] is None


def test_a_token_identity_is_not_replaced_by_the_session() -> None:
    async def token(request: Request, call_next: CallNext) -> Response:
        if request.header("x-token"):
            request.auth = Identity("jwt", "token-user")
        return await call_next(request)  # type: ignore[no-any-return]

    with TestClient(make_app(sessions(), outer=token)) as client:
        client.post("/login?user=bob")
        assert client.get("/get").json()["sub"] == "bob"
        assert client.get("/get", headers={"x-token": "1"}).json()["sub"] == "token-user"


@pytest.fixture(scope="module")
def redis_url() -> Iterator[str]:
    from covetpy.events.testing import redis_server

    try:
        server = redis_server(appendonly=False)
        with server as running:
            yield running.url
    except FileNotFoundError as exc:
        pytest.skip(str(exc))


@pytest.fixture(params=["memory", "redis"])
def store(request: pytest.FixtureRequest) -> SessionStore:
    if request.param == "memory":
        return MemoryStore()
    return RedisStore(request.getfixturevalue("redis_url"), prefix="test:")


def test_replayed_cookie_after_logout_finds_nothing(store: SessionStore) -> None:
    with TestClient(make_app(sessions(store=store))) as client:
        client.post("/set?cart=apple")
        before_login = client.cookies["session"]
        client.post("/login?user=alice")
        after_login = client.cookies["session"]
        assert after_login != before_login
        # Fixation: the id from before login no longer names a session.
        assert fresh(client, before_login).json()["data"] == {}
        r = fresh(client, after_login)
        assert r.json() == {"data": {"cart": "apple"}, "sub": "alice", "scheme": "session"}
        # The data is in the store: the cookie holds only the signed id.
        assert b"apple" not in base64.urlsafe_b64decode(after_login.split(".")[0] + "===")
        client.cookies.clear()
        r = client.post("/logout", headers={"cookie": f"session={after_login}"})
        assert "Max-Age=0" in set_cookies(r)[0]
        # A copy of the cookie taken before logout is worthless.
        assert fresh(client, after_login).json() == {"data": {}, "sub": None, "scheme": None}


def test_store_keeps_the_data_for_max_age(redis_url: str) -> None:
    import redis.asyncio as aioredis

    store = RedisStore(redis_url, prefix="ttl:")
    with TestClient(make_app(sessions(store=store, max_age=900))) as client:
        client.post("/set?a=1")

    async def ttls() -> list[int]:
        client = aioredis.from_url(redis_url)
        try:
            keys = await client.keys("ttl:*")
            return [await client.ttl(k) for k in keys]
        finally:
            await client.aclose()

    [ttl] = asyncio.run(ttls())
    assert 0 < ttl <= 900


# -- the stores ----------------------------------------------------------------------------------


def test_memory_store_expiry_and_bound() -> None:
    async def run() -> None:
        store = MemoryStore(max_entries=3)
        await store.save("a", b"1", 60)
        assert await store.load("a") == b"1"
        await store.save("gone", b"x", 0)  # expires at once
        assert await store.load("gone") is None
        for key in "bcde":
            await store.save(key, key.encode(), 60)
        assert len(store) == 3
        assert await store.load("a") is None and await store.load("b") is None  # oldest out
        assert await store.load("e") == b"e"
        await store.delete("e")
        assert await store.load("e") is None

    asyncio.run(run())


def test_session_object() -> None:
    session = Session({"a": 1})
    assert not session.modified and dict(session) == {"a": 1}
    session.setdefault("b", 2)
    assert session.modified and session.get("b") == 2
    session.modified = False
    session.clear()
    assert session.modified and session.empty and session.identity is None
    assert "1" not in repr(Session({"secret": 1}))  # keys only
    assert Session.decode(b"[1]") is None and Session.decode(b"{") is None
    assert Session.decode(b'{"d":{},"a":{"s":3}}') is None


def test_configuration_errors() -> None:
    with pytest.raises(ConfigError, match="32"):
        Sessions(secret_keys=["short"])
    with pytest.raises(ConfigError, match="at least one"):
        Sessions(secret_keys=[])
    with pytest.raises(ConfigError, match="Secure"):
        Sessions(secret_keys=[K1], same_site="none", secure=False)
    with pytest.raises(ConfigError, match="__Host-"):
        Sessions(secret_keys=[K1], cookie="__Host-s", path="/app")
    with pytest.raises(ConfigError, match="cookie name"):
        Sessions(secret_keys=[K1], cookie="bad name")
    with pytest.raises(ConfigError, match="store"):
        Sessions(secret_keys=[K1], store="memcached://x")
    with pytest.raises(ConfigError, match="trusted_origins"):
        Sessions(secret_keys=[K1], trusted_origins=["example.com"])
    assert isinstance(store_from("memory"), MemoryStore)


def test_redis_store_without_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "redis", None)
    monkeypatch.setitem(sys.modules, "redis.asyncio", None)
    with pytest.raises(MissingExtra, match=r"covetpy\[events\]"):
        Sessions(secret_keys=[K1], store="redis://127.0.0.1:1")


def test_session_of_without_middleware() -> None:
    app = App(openapi_url=None)

    @app.get("/")
    async def index(request: Request) -> str:
        try:
            session_of(request)
        except RuntimeError as exc:
            return str(exc)
        return "no error"

    with TestClient(app) as client:
        assert "Sessions(" in client.get("/").text


def test_rejected_cookie_is_logged_without_its_value(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="covetpy.auth")
    with TestClient(make_app(sessions())) as client:
        fresh(client, "forged-value-123.1.abc")
    assert "session cookie rejected: bad_signature" in caplog.text
    assert "forged-value-123" not in caplog.text


# -- a session login and route requirements ------------------------------------------------------


@pytest.mark.parametrize("with_jwt", [False, True])
def test_a_session_login_passes_requires_and_anonymous_is_refused(with_jwt: bool) -> None:
    from covetpy.auth import JWTAuth, requires

    s = sessions()
    app = make_app(s)
    if with_jwt:
        app.add_middleware(JWTAuth(key="j" * 32, algorithms=["HS256"], optional=True))

    @app.get("/admin", requires=requires(roles=["admin"]))
    async def admin(request: Request) -> dict[str, Any]:
        return {"by": request.auth.subject}

    @app.get("/ops", requires=requires(roles=["ops"]))
    async def ops() -> str:
        return "ops"

    with TestClient(app) as client:
        # Anonymous: refused before the handler, with or without a JWT layer beside.
        assert client.get("/admin").status_code == 401
        client.post("/login?user=bob")
        assert client.get("/admin").json() == {"by": "bob"}
        r = client.get("/ops")
        assert r.status_code == 403 and "role" in r.json()["detail"]
        client.post("/logout")
        assert client.get("/admin").status_code == 401
