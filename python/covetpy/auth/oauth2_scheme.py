"""`OAuth2`: documents where clients get their tokens, for the OpenAPI document only.

```python
app = App(
    middleware=[JWTAuth(issuer="https://id.example.com/", jwks_url="https://id.example.com/jwks")],
    security_schemes=[OAuth2(
        token_url="https://id.example.com/oauth/token",
        scopes={"orders:read": "Read orders", "orders:write": "Place orders"},
    )],
)
```

It verifies nothing: the tokens it describes are checked by a layer (`JWTAuth`, `OIDC`). It
is not middleware, so it goes in `App(security_schemes=[...])`, and each protected operation
lists it next to the layers' schemes, with the scopes the route requires.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from covetpy.exceptions import ConfigError

__all__ = ["OAuth2", "OAuth2Flow"]

OAuth2Flow = Literal["clientCredentials", "password", "authorizationCode"]
"""The OAuth 2.0 grants an `OAuth2` scheme may describe (OpenAPI 3.1 §4.8.29). The implicit
grant is left out: OAuth 2.0 Security BCP (RFC 9700 §2.1.2) says not to use it."""

_FLOWS = ("clientCredentials", "password", "authorizationCode")


@dataclass(frozen=True)
class OAuth2:
    """An OAuth 2.0 security scheme (OpenAPI `type: oauth2`) with one flow.

    - `token_url`: the token endpoint; `scopes`: scope name -> description;
    - `flow`: `"clientCredentials"` (machine clients), `"password"`, or
      `"authorizationCode"`, which also needs `authorization_url`;
    - `refresh_url`, `description`: optional; `scheme_name`: its `securitySchemes` key.
    """

    token_url: str
    scopes: Mapping[str, str] = field(default_factory=dict)
    flow: OAuth2Flow = "clientCredentials"
    authorization_url: str | None = None
    refresh_url: str | None = None
    description: str | None = None
    scheme_name: str = "oauth2"

    def __post_init__(self) -> None:
        if self.flow not in _FLOWS:
            raise ConfigError(f"OAuth2 flow: {self.flow!r} is not one of {', '.join(_FLOWS)}")
        if not self.token_url:
            raise ConfigError("OAuth2: token_url= is required")
        if self.flow == "authorizationCode" and not self.authorization_url:
            raise ConfigError("OAuth2 flow 'authorizationCode': authorization_url= is required")
        if self.flow != "authorizationCode" and self.authorization_url:
            raise ConfigError(
                f"OAuth2 flow {self.flow!r} has no authorization endpoint: "
                "authorization_url= is for flow='authorizationCode'"
            )
        if isinstance(self.scopes, str) or not isinstance(self.scopes, Mapping):
            raise ConfigError("OAuth2 scopes: expected a mapping of scope name -> description")
        # A copy: the scheme does not change when the caller's dict does.
        object.__setattr__(self, "scopes", dict(self.scopes))

    def openapi_scheme(self) -> dict[str, Any]:
        """The OpenAPI `securitySchemes` entry."""
        flow: dict[str, Any] = {}
        if self.authorization_url:
            flow["authorizationUrl"] = self.authorization_url
        flow["tokenUrl"] = self.token_url
        if self.refresh_url:
            flow["refreshUrl"] = self.refresh_url
        flow["scopes"] = dict(self.scopes)
        scheme: dict[str, Any] = {"type": "oauth2"}
        if self.description:
            scheme["description"] = self.description
        scheme["flows"] = {self.flow: flow}
        return scheme
