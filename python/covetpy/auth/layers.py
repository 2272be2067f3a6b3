"""The authentication layers: declared in `App(middleware=[...])` like the other built-in
middleware, verified in Rust (`rust/auth/`) after routing and before Python.

```python
app = App(middleware=[
    JWTAuth(issuer="https://id.example.com/", audience="shop", jwks_url="https://id.example.com/jwks"),
    APIKeyAuth(keys={"ci": "9f86d081884c7d65..."}),   # SHA-256 hex digests, never the keys
])
```

A request that carries a credential a layer reads is verified by that layer (the first one,
in declaration order, that finds its credential); a bad credential is answered 401 without
calling Python. A request with no credential is anonymous: routes that `requires(...)` answer
401, and so does every route that is not `public=True` when a layer is not `optional`.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from covetpy.exceptions import ConfigError
from covetpy.middleware.builtin import NativeMiddleware

__all__ = ["OIDC", "APIKeyAuth", "AuthLayer", "JWTAuth", "hash_api_key"]

_ALGORITHMS = frozenset(
    {
        "HS256",
        "HS384",
        "HS512",
        "RS256",
        "RS384",
        "RS512",
        "PS256",
        "PS384",
        "PS512",
        "ES256",
        "ES384",
        "EdDSA",
    }
)


def hash_api_key(key: str) -> str:
    """The SHA-256 hex digest `APIKeyAuth(keys=...)` stores for `key`."""
    return hashlib.sha256(key.encode()).hexdigest()


class AuthLayer(NativeMiddleware):
    """Base of the authentication layers (verified in Rust unless `in_python`)."""

    optional: bool = False
    scheme_name: str = ""

    @property
    def in_python(self) -> bool:
        """Whether this layer needs Python to verify a credential (a callable lookup)."""
        return False


def _tuple(values: Sequence[str] | str) -> tuple[str, ...]:
    return (values,) if isinstance(values, str) else tuple(values)


@dataclass(frozen=True)
class JWTAuth(AuthLayer):
    """Bearer JSON Web Tokens (RFC 7519) verified in Rust.

    - `algorithms`: the allow-list; a token whose `alg` is not in it (`none` never is) is
      refused, and a key only verifies the family it belongs to (no HS256 signed with an RSA
      public key).
    - `key`: a PEM public key (RS/PS/ES/EdDSA) or a shared secret (HS*; `str` or `bytes`);
      or `jwks_url`: a JSON Web Key Set fetched at start-up, cached per `Cache-Control`,
      refreshed on an unknown `kid` at most once per `jwks_cooldown` seconds.
    - `issuer`, `audience`: when set, `iss` / `aud` must match; `leeway` seconds of clock skew
      on `exp`, `nbf` and `iat`; `required_claims` must be present.
    - Where the token is read: `header` (`Authorization: Bearer ...`), else `cookie` (a
      cookie name), else `websocket_protocol`: a `Sec-WebSocket-Protocol` entry
      `<prefix><token>` (browsers cannot set headers on a WebSocket).
    - `scopes_claim` (space-separated string or list: `scope`, then `scp`), `roles_claim`.
    - `optional`: a request without a token goes on anonymous (routes that `requires(...)`
      still answer 401).
    """

    kind = "jwt"
    issuer: str | Sequence[str] | None = None
    audience: str | Sequence[str] | None = None
    algorithms: Sequence[str] = ("RS256", "ES256", "EdDSA")
    jwks_url: str | None = None
    key: str | bytes | None = None
    leeway: int = 30
    required_claims: Sequence[str] = ("exp", "sub")
    header: str = "authorization"
    cookie: str | None = None
    websocket_protocol: str | None = "bearer."
    optional: bool = False
    scopes_claim: str = "scope"
    roles_claim: str = "roles"
    jwks_cooldown: float = 30.0
    max_token_bytes: int = 8192
    realm: str = ""
    scheme_name: str = "bearerAuth"

    def __post_init__(self) -> None:
        for name in ("algorithms", "required_claims"):
            object.__setattr__(self, name, _tuple(getattr(self, name)))
        for name in ("issuer", "audience"):
            value = getattr(self, name)
            if value is not None:
                object.__setattr__(self, name, _tuple(value))
        if not self.algorithms:
            raise ConfigError("JWTAuth algorithms: needs at least one algorithm")
        bad = [a for a in self.algorithms if a not in _ALGORITHMS]
        if bad:
            raise ConfigError(
                f"JWTAuth algorithms: {', '.join(map(repr, bad))} not supported "
                f"(one of {', '.join(sorted(_ALGORITHMS))}; 'none' is never allowed)"
            )
        if (self.key is None) == (self.jwks_url is None) and type(self) is JWTAuth:
            raise ConfigError("JWTAuth: give exactly one of key= and jwks_url=")
        hs = {a for a in self.algorithms if a.startswith("HS")}
        if hs and len(hs) != len(self.algorithms):
            raise ConfigError(
                "JWTAuth algorithms: HS* (a shared secret) cannot be mixed with public-key "
                "algorithms in one layer; declare two layers"
            )
        if self.leeway < 0:
            raise ConfigError(f"JWTAuth leeway must be >= 0, got {self.leeway}")
        if self.max_token_bytes < 64:
            raise ConfigError(f"JWTAuth max_token_bytes must be >= 64, got {self.max_token_bytes}")
        unknown = set(self.required_claims) - {"exp", "nbf", "iat", "iss", "aud", "sub"}
        if unknown:
            raise ConfigError(
                f"JWTAuth required_claims: {sorted(unknown)} are not registered claims "
                "(exp, nbf, iat, iss, aud, sub)"
            )

    def spec(self) -> dict[str, Any]:
        key = self.key.encode() if isinstance(self.key, str) else self.key
        return {
            "kind": self.kind,
            "issuer": list(self.issuer or ()),
            "audience": list(self.audience or ()),
            "algorithms": list(self.algorithms),
            "key": key,
            "jwks": None,  # filled in by the worker (covetpy.auth.jwks) before the server starts
            "leeway": self.leeway,
            "required_claims": list(self.required_claims),
            "header": self.header.lower(),
            "cookie": self.cookie,
            "websocket_protocol": self.websocket_protocol,
            "optional": self.optional,
            "scopes_claim": self.scopes_claim,
            "roles_claim": self.roles_claim,
            "jwks_cooldown": self.jwks_cooldown,
            "max_token_bytes": self.max_token_bytes,
            "realm": self.realm,
        }

    def describe(self) -> str:
        source = f"jwks_url={self.jwks_url!r}" if self.jwks_url else "key=<configured>"
        return (
            f"[rust] {type(self).__name__}(issuer={self.issuer!r}, audience={self.audience!r}, "
            f"algorithms={self.algorithms!r}, {source}, optional={self.optional})"
        )


@dataclass(frozen=True)
class OIDC(JWTAuth):
    """`JWTAuth` for an OpenID Connect provider: `jwks_uri` is found by discovery
    (`{issuer}/.well-known/openid-configuration`, OpenID Connect Discovery 1.0 §4) at
    start-up; the discovered `issuer` must equal the one given."""

    discovery_url: str | None = None
    scheme_name: str = "openIdConnect"

    def __post_init__(self) -> None:
        if not self.issuer:
            raise ConfigError("OIDC: issuer= is required")
        super().__post_init__()
        if self.key is not None:
            raise ConfigError("OIDC: the keys come from discovery; do not give key=")

    @property
    def configuration_url(self) -> str:
        """Where discovery reads the provider's configuration."""
        if self.discovery_url:
            return self.discovery_url
        assert self.issuer
        return str(self.issuer[0]).rstrip("/") + "/.well-known/openid-configuration"


@dataclass(frozen=True)
class APIKeyAuth(AuthLayer):
    """API keys from a header (`x-api-key`) or a query parameter (`query="api_key"`).

    `keys`: a mapping of name -> SHA-256 hex digest of the key (`hash_api_key`), checked in
    Rust in constant time (the name becomes `request.auth.subject`); or a callable
    `lookup(key) -> Identity | None` (sync or async), which runs in Python. `scopes` and
    `roles` map a key's name to what it may do."""

    kind = "api_key"
    keys: Mapping[str, str] | Callable[[str], Any] = field(default_factory=dict)
    header: str | None = "x-api-key"
    query: str | None = None
    scopes: Mapping[str, Sequence[str]] = field(default_factory=dict)
    roles: Mapping[str, Sequence[str]] = field(default_factory=dict)
    optional: bool = False
    scheme_name: str = "apiKeyAuth"

    def __post_init__(self) -> None:
        if self.header is None and self.query is None:
            raise ConfigError("APIKeyAuth: give header= or query=")
        if self.header is not None and self.query is not None:
            raise ConfigError("APIKeyAuth: give one of header= and query=, not both")
        if not callable(self.keys):
            for name, digest in self.keys.items():
                if len(digest) != 64 or any(c not in "0123456789abcdef" for c in digest.lower()):
                    raise ConfigError(
                        f"APIKeyAuth keys[{name!r}]: expected the key's SHA-256 hex digest "
                        "(hash_api_key(key)), never the key itself"
                    )

    @property
    def in_python(self) -> bool:
        return callable(self.keys)

    def spec(self) -> dict[str, Any]:
        keys = {} if callable(self.keys) else {n: d.lower() for n, d in self.keys.items()}
        return {
            "kind": self.kind,
            "keys": keys,
            "python": callable(self.keys),
            "header": self.header.lower() if self.header else None,
            "query": self.query,
            "scopes": {n: list(v) for n, v in self.scopes.items()},
            "roles": {n: list(v) for n, v in self.roles.items()},
            "optional": self.optional,
        }

    def describe(self) -> str:
        where = f"header={self.header!r}" if self.header else f"query={self.query!r}"
        keys = "lookup=<python>" if callable(self.keys) else f"{len(self.keys)} keys"
        return f"[rust] APIKeyAuth({where}, {keys}, optional={self.optional})"
