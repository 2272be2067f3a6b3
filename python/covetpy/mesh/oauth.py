"""`ClientCredentials`: OAuth 2.0 access tokens for calls this service makes on its own
behalf (the client credentials grant, RFC 6749 §4.4).

```python
tokens = ClientCredentials(
    "https://id.example.com/oauth/token", "orders-service", os.environ["CLIENT_SECRET"],
    scopes=["inventory:read"],
)
async with Client(upstreams={"inventory": "inventory:8000"}, auth=tokens) as client:
    await client.get("http://inventory/items")     # Authorization: Bearer <token>
```

It is an `httpx.Auth`, so it also works with a plain `httpx.AsyncClient(auth=tokens)`.

- The token is fetched on first use and kept until `expires_in - leeway` seconds after it
  arrived (a token without `expires_in` is kept until an upstream refuses it); only one
  fetch runs at a time, and calls that need a token meanwhile wait for that one.
- An upstream answering 401 gets the call once more with a fresh token (the one it refused
  may have been revoked or rotated), unless another call has already replaced it.
- The client authenticates with HTTP Basic (RFC 6749 §2.3.1: `client_secret_basic`), or with
  the credentials in the form body (`client_auth="post"`: `client_secret_post`).
- Neither the secret nor a token appears in a repr, a log line or an error message.
"""

from __future__ import annotations

import asyncio
import base64
import logging
import time
from collections.abc import AsyncGenerator, Generator, Sequence
from typing import Any, Literal
from urllib.parse import quote_plus

from covetpy.exceptions import require
from covetpy.mesh.errors import MeshError

try:
    import httpx

    _Auth = httpx.Auth
except ImportError:  # without the mesh extra the module imports; ClientCredentials() names it
    _Auth = object  # type: ignore[misc,assignment]

__all__ = ["ClientCredentials", "TokenError"]

logger = logging.getLogger("covetpy.mesh.oauth")


class TokenError(MeshError):
    """The token endpoint refused to issue a token (RFC 6749 §5.2: `error` is its code, such
    as `invalid_client` or `invalid_scope`), or answered with something that is not one."""

    def __init__(
        self, error: str, description: str | None = None, status: int | None = None
    ) -> None:
        message = f"token endpoint: {error}"
        if description:
            message += f" ({description})"
        if status is not None:
            message += f" [HTTP {status}]"
        super().__init__(message)
        self.error = error
        self.description = description
        self.status = status


def _form_encode(value: str) -> str:
    # RFC 6749 §2.3.1: the client id and secret are form-urlencoded before Basic encoding.
    return quote_plus(value, safe="")


class ClientCredentials(_Auth):
    """Bearer tokens from `token_url` for the client `client_id` / `client_secret`.

    `scopes` are asked for (`scope`, space-separated), `audience` is sent as `audience` (the
    API the token is for, as Auth0 and others name it). `leeway` seconds before a token
    expires it is replaced. `http` is the client that calls the token endpoint (default: one
    of its own, closed by `aclose()`); `timeout` bounds that call.
    """

    requires_request_body = False
    requires_response_body = False

    def __init__(
        self,
        token_url: str,
        client_id: str,
        client_secret: str,
        scopes: Sequence[str] = (),
        audience: str | None = None,
        leeway: float = 30,
        *,
        client_auth: Literal["basic", "post"] = "basic",
        http: httpx.AsyncClient | None = None,
        timeout: float = 10.0,
    ) -> None:
        require("covetpy.mesh.oauth.ClientCredentials", "mesh", "httpx")
        if isinstance(scopes, str):
            raise TypeError("ClientCredentials(scopes=...) takes a list of scopes, not one string")
        if client_auth not in ("basic", "post"):
            raise ValueError(f"client_auth must be 'basic' or 'post', not {client_auth!r}")
        if leeway < 0:
            raise ValueError(f"leeway must be >= 0 seconds, got {leeway}")
        self.token_url = token_url
        self.client_id = client_id
        self.scopes = tuple(scopes)
        self.audience = audience
        self.leeway = leeway
        self.client_auth = client_auth
        self._secret = client_secret
        self._http = http
        self._own_http = http is None
        self._timeout = timeout
        self._token: str | None = None
        self._expires_at: float | None = None  # time.monotonic(); None: no expiry known
        self._lock = asyncio.Lock()
        self.fetches = 0
        """Tokens fetched so far (for metrics and tests)."""

    def __repr__(self) -> str:
        return (
            f"ClientCredentials(token_url={self.token_url!r}, client_id={self.client_id!r}, "
            f"scopes={list(self.scopes)!r}, audience={self.audience!r})"
        )

    def _valid(self) -> str | None:
        if self._token is None:
            return None
        if self._expires_at is not None and time.monotonic() >= self._expires_at:
            return None
        return self._token

    async def token(self) -> str:
        """A current access token: the cached one, or a new one (one fetch at a time)."""
        token = self._valid()
        if token is not None:
            return token
        async with self._lock:
            token = self._valid()  # fetched by the call this one waited for
            if token is not None:
                return token
            return await self._fetch()

    async def refresh(self, stale: str | None = None) -> str:
        """A new token in place of `stale` (the one an upstream refused); when another call has
        replaced it already, that replacement."""
        async with self._lock:
            if self._token is not None and self._token != stale:
                token = self._valid()
                if token is not None:
                    return token
            return await self._fetch()

    def invalidate(self) -> None:
        """Forgets the cached token: the next call fetches one."""
        self._token = None
        self._expires_at = None

    async def _fetch(self) -> str:
        form = {"grant_type": "client_credentials"}
        if self.scopes:
            form["scope"] = " ".join(self.scopes)
        if self.audience is not None:
            form["audience"] = self.audience
        headers = {"accept": "application/json"}
        if self.client_auth == "basic":
            pair = f"{_form_encode(self.client_id)}:{_form_encode(self._secret)}"
            headers["authorization"] = "Basic " + base64.b64encode(pair.encode()).decode("ascii")
        else:
            form["client_id"] = self.client_id
            form["client_secret"] = self._secret
        if self._http is None:
            self._http = httpx.AsyncClient(timeout=self._timeout)
        started = time.monotonic()
        response = await self._http.post(
            self.token_url, data=form, headers=headers, timeout=self._timeout
        )
        token, expires_in = _parse(response)
        self._token = token
        # Counted from when the request left: the server's clock started no earlier.
        self._expires_at = (
            None if expires_in is None else started + max(0.0, expires_in - self.leeway)
        )
        self.fetches += 1
        logger.debug(
            "fetched an access token for client %r from %s (expires in %s s)",
            self.client_id,
            self.token_url,
            "?" if expires_in is None else f"{expires_in:g}",
        )
        return token

    async def async_auth_flow(
        self, request: httpx.Request
    ) -> AsyncGenerator[httpx.Request, httpx.Response]:
        """Adds `Authorization: Bearer <token>`; on a 401, sends once more with a fresh token.
        A request that already has an `Authorization` header is sent as it is."""
        if "authorization" in request.headers:
            yield request
            return
        token = await self.token()
        request.headers["authorization"] = f"Bearer {token}"
        response = yield request
        if response.status_code != 401:
            return
        fresh = await self.refresh(stale=token)
        request.headers["authorization"] = f"Bearer {fresh}"
        yield request

    def sync_auth_flow(
        self, request: httpx.Request
    ) -> Generator[httpx.Request, httpx.Response, None]:
        """Not supported: the token cache is shared by coroutines."""
        raise RuntimeError("ClientCredentials works with async clients (httpx.AsyncClient)")
        yield request  # pragma: no cover - makes this a generator, as httpx expects

    async def aclose(self) -> None:
        """Closes the token endpoint's client, if this object made it."""
        if self._own_http and self._http is not None:
            await self._http.aclose()
            self._http = None


def _parse(response: httpx.Response) -> tuple[str, float | None]:
    """(access token, expires_in) of a token response (RFC 6749 §5.1), or TokenError."""
    try:
        body: Any = response.json()
    except ValueError:
        body = None
    if response.status_code != 200:
        if isinstance(body, dict) and isinstance(body.get("error"), str):
            description = body.get("error_description")
            raise TokenError(
                body["error"],
                description if isinstance(description, str) else None,
                response.status_code,
            )
        raise TokenError("unexpected_response", None, response.status_code)
    if not isinstance(body, dict) or not isinstance(body.get("access_token"), str):
        raise TokenError("invalid_response", "no access_token in the answer", 200)
    token_type = body.get("token_type")
    if not isinstance(token_type, str) or token_type.lower() != "bearer":
        # RFC 6749 §7.1: a client must not use a token whose type it does not understand.
        raise TokenError("unsupported_token_type", f"token_type {token_type!r}", 200)
    expires_in = body.get("expires_in")
    if isinstance(expires_in, str) and expires_in.isdigit():
        expires_in = int(expires_in)  # some servers send it as a string
    if not isinstance(expires_in, int | float) or isinstance(expires_in, bool):
        expires_in = None
    return body["access_token"], None if expires_in is None else float(expires_in)
