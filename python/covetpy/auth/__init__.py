"""Authentication and authorization, verified in Rust before Python (issue 18).

```python
from covetpy import App
from covetpy.auth import JWTAuth, requires, Identity, Auth

app = App(middleware=[JWTAuth(issuer="https://id.example.com/", audience="shop",
                              jwks_url="https://id.example.com/.well-known/jwks.json")])

@app.get("/orders", requires=requires(scopes=["orders:read"]))
async def orders(user: Annotated[Identity, Auth()]) -> list[dict]: ...
```

See docs/auth.md.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from covetpy._lazy import exports

if TYPE_CHECKING:
    from covetpy.auth.basic import BasicAuth
    from covetpy.auth.csrf import csrf_token
    from covetpy.auth.errors import AuthFailed, InsufficientScope
    from covetpy.auth.identity import Identity
    from covetpy.auth.layers import OIDC, APIKeyAuth, AuthLayer, JWTAuth, hash_api_key
    from covetpy.auth.oauth2_scheme import OAuth2
    from covetpy.auth.requires import Auth, Requires, current_user, requires
    from covetpy.auth.sessions import Sessions, login, logout, session_of
    from covetpy.auth.tokens import TokenIssuer

# Imported on first use: importing one submodule does not import them all (adrs/0020).
__getattr__, __dir__ = exports(
    __name__,
    {
        "covetpy.auth.basic": ["BasicAuth"],
        "covetpy.auth.csrf": ["csrf_token"],
        "covetpy.auth.errors": ["AuthFailed", "InsufficientScope"],
        "covetpy.auth.identity": ["Identity"],
        "covetpy.auth.layers": ["OIDC", "APIKeyAuth", "AuthLayer", "JWTAuth", "hash_api_key"],
        "covetpy.auth.oauth2_scheme": ["OAuth2"],
        "covetpy.auth.requires": ["Auth", "Requires", "current_user", "requires"],
        "covetpy.auth.sessions": ["Sessions", "login", "logout", "session_of"],
        "covetpy.auth.tokens": ["TokenIssuer"],
    },
)

__all__ = [
    "OIDC",
    "APIKeyAuth",
    "Auth",
    "AuthFailed",
    "AuthLayer",
    "BasicAuth",
    "Identity",
    "InsufficientScope",
    "JWTAuth",
    "OAuth2",
    "Requires",
    "Sessions",
    "TokenIssuer",
    "csrf_token",
    "current_user",
    "hash_api_key",
    "login",
    "logout",
    "requires",
    "session_of",
]
