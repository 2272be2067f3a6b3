"""`covetpy.mesh.ClientCredentials` against a token endpoint and an upstream on loopback: the
grant's request (RFC 6749 §4.4.2, client authentication §2.3.1), the token cache, one fetch
at a time, expiry, the retry after a 401, and secrets kept out of reprs and logs."""

from __future__ import annotations

import asyncio
import base64
import itertools
import json
import logging
from dataclasses import dataclass, field
from urllib.parse import parse_qsl, unquote_plus

import httpx
import pytest

from covetpy.mesh import ClientCredentials, TokenError
from covetpy.mesh.client import Client
from tests.mesh._upstreams import Reply, Seen, Upstream

pytestmark = pytest.mark.anyio

CLIENT_ID = "orders:svc"
SECRET = "s3cr3t p@ss:w/rd"


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@dataclass
class Issuer:
    """A token endpoint: checks the client's credentials and hands out `tok-1`, `tok-2`, ...
    with `expires_in` (left out when None); `gate`, when set, holds answers until it opens."""

    expires_in: int | None = 3600
    gate: asyncio.Event | None = None
    issued: list[str] = field(default_factory=list)
    _numbers: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    async def __call__(self, seen: Seen) -> Reply:
        if self.gate is not None:
            await self.gate.wait()
        form = dict(parse_qsl(seen.body.decode()))
        client = _client_of(seen, form)
        if client != (CLIENT_ID, SECRET):
            return _json(401, {"error": "invalid_client", "error_description": "unknown client"})
        if form.get("grant_type") != "client_credentials":
            return _json(400, {"error": "unsupported_grant_type"})
        token = f"tok-{next(self._numbers)}"
        self.issued.append(token)
        body: dict[str, object] = {"access_token": token, "token_type": "Bearer"}
        if self.expires_in is not None:
            body["expires_in"] = self.expires_in
        return _json(200, body)


def _client_of(seen: Seen, form: dict[str, str]) -> tuple[str, str] | None:
    header = seen.headers.get("authorization", "")
    if header.startswith("Basic "):
        pair = base64.b64decode(header[6:]).decode()
        user, _, password = pair.partition(":")
        return unquote_plus(user), unquote_plus(password)
    if "client_secret" in form:
        return form.get("client_id", ""), form["client_secret"]
    return None


def _json(status: int, body: object) -> Reply:
    return Reply(status, {"content-type": "application/json"}, json.dumps(body).encode())


class Api:
    """An upstream that answers 200 to a bearer token it accepts and 401 to others."""

    def __init__(self, revoked: set[str] | None = None, refuse_all: bool = False) -> None:
        self.revoked = revoked or set()
        self.refuse_all = refuse_all

    async def __call__(self, seen: Seen) -> Reply:
        token = seen.headers.get("authorization", "").removeprefix("Bearer ")
        if self.refuse_all or not token.startswith("tok-") or token in self.revoked:
            return Reply(401, {"www-authenticate": 'Bearer error="invalid_token"'}, b"")
        return Reply(200, {}, token.encode())


def _bearers(up: Upstream) -> list[str | None]:
    return [s.headers.get("authorization") for s in up.seen]


def _tokens_for(issuer: Upstream, **options: object) -> ClientCredentials:
    return ClientCredentials(f"{issuer.url}/oauth/token", CLIENT_ID, SECRET, **options)  # type: ignore[arg-type]


async def test_the_grant_request_and_the_cached_token() -> None:
    async with Upstream(Issuer()) as idp, Upstream(Api()) as api:
        tokens = _tokens_for(idp, scopes=["inventory:read", "inventory:write"], audience="inv")
        async with Client(upstreams={"inventory": api.address}, auth=tokens) as client:
            for _ in range(3):
                r = await client.get("http://inventory/items")
                assert r.status_code == 200
                assert r.text == "tok-1"
        await tokens.aclose()
    assert len(idp.seen) == tokens.fetches == 1
    grant = idp.seen[0]
    assert (grant.method, grant.path) == ("POST", "/oauth/token")
    assert grant.headers["content-type"] == "application/x-www-form-urlencoded"
    assert dict(parse_qsl(grant.body.decode())) == {
        "grant_type": "client_credentials",
        "scope": "inventory:read inventory:write",
        "audience": "inv",
    }
    # RFC 6749 §2.3.1: id and secret form-urlencoded, then Basic.
    basic = base64.b64decode(grant.headers["authorization"].removeprefix("Basic ")).decode()
    assert basic == "orders%3Asvc:s3cr3t+p%40ss%3Aw%2Frd"
    assert _bearers(api) == ["Bearer tok-1"] * 3


async def test_client_secret_post() -> None:
    async with Upstream(Issuer()) as idp:
        tokens = _tokens_for(idp, client_auth="post")
        assert await tokens.token() == "tok-1"
        await tokens.aclose()
    assert "authorization" not in idp.seen[0].headers
    form = dict(parse_qsl(idp.seen[0].body.decode()))
    assert form["client_id"] == CLIENT_ID and form["client_secret"] == SECRET
    assert "scope" not in form and "audience" not in form


async def test_concurrent_calls_share_one_fetch() -> None:
    issuer = Issuer(gate=asyncio.Event())
    async with Upstream(issuer) as idp, Upstream(Api()) as api:
        tokens = _tokens_for(idp)
        async with httpx.AsyncClient(auth=tokens, base_url=api.url) as client:
            calls = [asyncio.create_task(client.get("/items")) for _ in range(10)]
            while not idp.seen:  # the first fetch has reached the endpoint
                await asyncio.sleep(0.001)
            for _ in range(50):  # every other call gets to wait for it
                await asyncio.sleep(0)
            assert issuer.gate is not None
            issuer.gate.set()
            answers = await asyncio.gather(*calls)
        await tokens.aclose()
    assert [r.text for r in answers] == ["tok-1"] * 10
    assert len(idp.seen) == tokens.fetches == 1


async def test_an_expired_token_is_replaced() -> None:
    # expires_in no more than the leeway: stale as soon as it arrives, so every call fetches.
    async with Upstream(Issuer(expires_in=30)) as idp, Upstream(Api()) as api:
        tokens = _tokens_for(idp, leeway=30)
        async with httpx.AsyncClient(auth=tokens, base_url=api.url) as client:
            assert [(await client.get("/")).text for _ in range(3)] == ["tok-1", "tok-2", "tok-3"]
        await tokens.aclose()
    assert tokens.fetches == 3


async def test_a_token_without_expiry_is_kept_until_refused() -> None:
    api_handler = Api()
    async with Upstream(Issuer(expires_in=None)) as idp, Upstream(api_handler) as api:
        tokens = _tokens_for(idp)
        async with httpx.AsyncClient(auth=tokens, base_url=api.url) as client:
            assert [(await client.get("/")).text for _ in range(2)] == ["tok-1", "tok-1"]
            api_handler.revoked.add("tok-1")
            assert (await client.get("/")).text == "tok-2"
        await tokens.aclose()
    assert tokens.fetches == 2


async def test_a_401_is_retried_once_with_a_fresh_token() -> None:
    async with Upstream(Issuer()) as idp, Upstream(Api(revoked={"tok-1"})) as api:
        tokens = _tokens_for(idp)
        async with Client(upstreams={"svc": api.address}, auth=tokens, retry=None) as client:
            r = await client.post("http://svc/orders", json={"n": 1})
        await tokens.aclose()
    assert r.status_code == 200 and r.text == "tok-2"
    assert _bearers(api) == ["Bearer tok-1", "Bearer tok-2"]
    assert [s.body for s in api.seen] == [b'{"n":1}'] * 2  # the body is sent again


async def test_an_upstream_that_keeps_refusing_gets_one_retry() -> None:
    async with Upstream(Issuer()) as idp, Upstream(Api(refuse_all=True)) as api:
        tokens = _tokens_for(idp)
        async with Client(upstreams={"svc": api.address}, auth=tokens) as client:
            r = await client.get("http://svc/x")
        await tokens.aclose()
    assert r.status_code == 401
    assert _bearers(api) == ["Bearer tok-1", "Bearer tok-2"]
    assert tokens.fetches == 2


async def test_concurrent_401s_refresh_once() -> None:
    async with Upstream(Issuer()) as idp, Upstream(Api(revoked={"tok-1"})) as api:
        tokens = _tokens_for(idp)
        assert await tokens.token() == "tok-1"
        async with httpx.AsyncClient(auth=tokens, base_url=api.url) as client:
            answers = await asyncio.gather(*(client.get("/") for _ in range(5)))
        await tokens.aclose()
    assert [r.text for r in answers] == ["tok-2"] * 5
    assert tokens.fetches == 2


async def test_a_caller_given_authorization_is_left_alone() -> None:
    async with Upstream(Issuer()) as idp, Upstream(Api()) as api:
        tokens = _tokens_for(idp)
        async with Client(upstreams={"svc": api.address}, auth=tokens) as client:
            r = await client.get("http://svc/", headers={"authorization": "Bearer tok-mine"})
        await tokens.aclose()
    assert r.text == "tok-mine"
    assert tokens.fetches == 0 and not idp.seen


async def test_token_endpoint_errors() -> None:
    async with Upstream(Issuer()) as idp:
        wrong = ClientCredentials(f"{idp.url}/oauth/token", CLIENT_ID, "not-the-secret")
        with pytest.raises(TokenError) as caught:
            await wrong.token()
        await wrong.aclose()
    assert caught.value.error == "invalid_client"
    assert caught.value.status == 401
    assert "not-the-secret" not in str(caught.value)

    async def not_bearer(_: Seen) -> Reply:
        return _json(200, {"access_token": "x", "token_type": "mac"})

    async def not_json(_: Seen) -> Reply:
        return Reply(502, {}, b"<html>bad gateway</html>")

    for handler, error in (
        (not_bearer, "unsupported_token_type"),
        (not_json, "unexpected_response"),
    ):
        async with Upstream(handler) as idp:
            tokens = _tokens_for(idp)
            with pytest.raises(TokenError, match=error):
                await tokens.token()
            await tokens.aclose()


async def test_secrets_stay_out_of_reprs_and_logs(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    async with Upstream(Issuer()) as idp, Upstream(Api(revoked={"tok-1"})) as api:
        tokens = _tokens_for(idp, scopes=["a"])
        async with Client(upstreams={"svc": api.address}, auth=tokens) as client:
            assert (await client.get("http://svc/")).status_code == 200
        await tokens.aclose()
    assert "fetched an access token" in caplog.text  # the log is on, and says what happened
    shown = repr(tokens) + str(vars(client)) + caplog.text
    assert CLIENT_ID in repr(tokens)
    for secret in (SECRET, "tok-1", "tok-2", base64.b64encode(SECRET.encode()).decode()):
        assert secret not in shown


def test_arguments_are_checked() -> None:
    with pytest.raises(TypeError, match="list of scopes"):
        ClientCredentials("http://idp/token", "c", "s", scopes="a b")
    with pytest.raises(ValueError, match="client_auth"):
        ClientCredentials("http://idp/token", "c", "s", client_auth="jwt")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="leeway"):
        ClientCredentials("http://idp/token", "c", "s", leeway=-1)
    with (
        httpx.Client(auth=ClientCredentials("http://idp/token", "c", "s")) as sync_client,
        pytest.raises(RuntimeError, match="async"),
    ):
        sync_client.get("http://x/")
