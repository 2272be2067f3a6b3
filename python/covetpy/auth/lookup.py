"""`APIKeyAuth(keys=lookup)`: API keys checked by a function of the app's, in Python.

```python
async def lookup(key: str) -> Identity | None:
    row = await db.api_keys.get(hash_api_key(key))
    return None if row is None else Identity("api_key", row.name, scopes=row.scopes)

app = App(middleware=[APIKeyAuth(keys=lookup)])
```

The key is a secret: it is passed to `lookup` and nowhere else (never logged, never in an
error message or a challenge).
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass
from typing import Any

from covetpy.auth.errors import AuthFailed
from covetpy.auth.identity import Identity
from covetpy.auth.layers import APIKeyAuth
from covetpy.requests import Request

__all__ = ["APIKeyLookup"]

# Longer keys are refused without calling the lookup (it may hit a database).
_MAX_KEY = 1024


@dataclass(frozen=True)
class APIKeyLookup:
    """The Python scheme of an `APIKeyAuth` whose `keys` is a callable `lookup(key)` (sync or
    async) returning an `Identity`, or a str (the key's name: the layer's `scopes` and `roles`
    for that name apply), or None for an unknown key (401 `unknown_key`)."""

    layer: APIKeyAuth

    def __post_init__(self) -> None:
        if not callable(self.layer.keys):
            raise TypeError(
                "APIKeyLookup is for APIKeyAuth(keys=callable); a mapping of "
                "digests is checked in Rust"
            )

    @property
    def scheme_name(self) -> str:
        """The OpenAPI `securitySchemes` key."""
        return self.layer.scheme_name

    @property
    def optional(self) -> bool:
        """Whether a request without a key goes on anonymous."""
        return self.layer.optional

    def credential(self, request: Request) -> str | None:
        """The key from the layer's header or query parameter; None when absent."""
        if self.layer.header is not None:
            return request.header(self.layer.header)
        assert self.layer.query is not None
        return request.query_params.get(self.layer.query)

    async def authenticate(self, request: Request, credential: Any) -> Identity:
        """The identity the lookup gives for the key; raises AuthFailed."""
        key = str(credential).strip()
        if not key or len(key) > _MAX_KEY:
            raise AuthFailed("malformed", "malformed API key", self.challenge())
        lookup = self.layer.keys
        assert callable(lookup)
        result = lookup(key)
        if inspect.isawaitable(result):
            result = await result
        if isinstance(result, Identity):
            return result
        if isinstance(result, str) and result:
            return Identity(
                "api_key",
                result,
                scopes=self.layer.scopes.get(result, ()),
                roles=self.layer.roles.get(result, ()),
            )
        if result is None or result is False or result == "":
            raise AuthFailed("unknown_key", "unknown API key", self.challenge())
        raise TypeError(
            f"APIKeyAuth keys lookup must return an Identity, a str, or None, "
            f"not {type(result).__name__}"
        )

    def challenge(self) -> str:
        """`ApiKey realm="api", header="x-api-key"` (or `query="..."`): where the key goes."""
        if self.layer.header is not None:
            return f'ApiKey realm="api", header="{self.layer.header.lower()}"'
        return f'ApiKey realm="api", query="{self.layer.query}"'

    def openapi_scheme(self) -> dict[str, Any]:
        """The OpenAPI `securitySchemes` entry."""
        if self.layer.header is not None:
            return {"type": "apiKey", "in": "header", "name": self.layer.header}
        return {"type": "apiKey", "in": "query", "name": self.layer.query}
