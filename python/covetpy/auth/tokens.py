"""Issuing tokens, for services that sign their own (`TokenIssuer`), and the public JWKS to
publish beside them. Signing runs in Rust with the same crate that verifies.

```python
issuer = TokenIssuer(key=open("signing.pem", "rb").read(), algorithm="ES256", kid="2026-12",
                     issuer="https://shop.example.com", audience="shop", ttl=900)
token = issuer.issue("user-42", scopes=["orders:read"], roles=["customer"])

@app.get("/.well-known/jwks.json", public=True)
def jwks() -> dict: return issuer.jwks()
```
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import msgspec

from covetpy._core import public_jwk, sign_jwt

__all__ = ["TokenIssuer"]


class TokenIssuer:
    """Signs JWTs with one key (a PEM private key, or an HMAC secret of at least 32 bytes
    for HS*), naming `kid` in their header."""

    def __init__(
        self,
        *,
        key: str | bytes,
        algorithm: str = "ES256",
        kid: str | None = None,
        issuer: str | None = None,
        audience: str | Sequence[str] | None = None,
        ttl: float = 900.0,
    ) -> None:
        self._key = key.encode() if isinstance(key, str) else bytes(key)
        need = {"HS256": 32, "HS384": 48, "HS512": 64}.get(algorithm, 0)
        if len(self._key) < need:
            raise ValueError(f"an {algorithm} secret needs at least {need} bytes (RFC 7518 §3.2)")
        self.algorithm = algorithm
        self.kid = kid
        self.issuer = issuer
        self.audience = audience
        self.ttl = ttl
        # A bad key fails here, not at the first issue.
        sign_jwt(algorithm, self._key, b"{}", kid)

    def issue(
        self,
        subject: str,
        *,
        scopes: Iterable[str] = (),
        roles: Iterable[str] = (),
        ttl: float | None = None,
        **claims: Any,
    ) -> str:
        """A signed token for `subject` with `iat`, `exp` (now + ttl), `iss`/`aud` when
        configured, `scope` (space-separated) and `roles` when given, and `claims`."""
        now = int(time.time())
        body: dict[str, Any] = {"sub": subject, "iat": now, "exp": now + int(ttl or self.ttl)}
        if self.issuer is not None:
            body["iss"] = self.issuer
        if self.audience is not None:
            body["aud"] = self.audience if isinstance(self.audience, str) else list(self.audience)
        scopes = list(scopes)
        if scopes:
            body["scope"] = " ".join(scopes)
        roles = list(roles)
        if roles:
            body["roles"] = roles
        body.update(claims)
        return sign_jwt(self.algorithm, self._key, msgspec.json.encode(body), self.kid)

    def jwks(self) -> dict[str, Any]:
        """The public JWKS of the key (`{"keys": [jwk]}`): what verifiers fetch. HMAC keys
        are secrets and have none."""
        if self.algorithm.startswith("HS"):
            raise ValueError("an HMAC key is a shared secret: it has no public JWKS")
        jwk: Mapping[str, Any] = json.loads(public_jwk(self.algorithm, self._key, self.kid))
        return {"keys": [{**jwk, "use": "sig", "alg": self.algorithm}]}

    def __repr__(self) -> str:
        return f"TokenIssuer(algorithm={self.algorithm!r}, kid={self.kid!r}, key=<secret>)"
