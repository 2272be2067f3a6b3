"""`GET /protected` on Litestar behind its own `JWTAuth` (litestar.security.jwt, PyJWT
underneath), for benches/auth.py (uvicorn, httptools, uvloop). The same checks as CovetPy's
`JWTAuth` in benches/apps/auth_covetpy.py: one allowed algorithm (`BENCH_JWT_ALG`), `iss`,
`aud`, `exp` and `sub` required. `token_secret` is the HS256 secret or the PEM public key as
text, as Litestar documents it (a `str`): PyJWT then parses the PEM on every request, which
is part of what Litestar's JWTAuth costs.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from litestar import Litestar, Request, get
from litestar.connection import ASGIConnection
from litestar.security.jwt import JWTAuth, Token

__all__ = ["app"]

ISSUER = "https://id.bench.covetpy"
AUDIENCE = "covetpy-bench"


async def retrieve_user(token: Token, connection: ASGIConnection[Any, Any, Any, Any]) -> str:
    """The user is the token's subject (no lookup: the bench measures the token check)."""
    return token.sub


jwt_auth = JWTAuth[str, Token](
    retrieve_user_handler=retrieve_user,
    token_secret=Path(os.environ["BENCH_JWT_KEY"]).read_text(),
    algorithm=os.environ.get("BENCH_JWT_ALG", "HS256"),
    accepted_issuers=[ISSUER],
    accepted_audiences=[AUDIENCE],
    require_claims=["exp", "sub"],
)


@get("/protected")
async def protected(request: Request[str, Token, Any]) -> dict[str, object]:
    """The caller's subject."""
    return {"sub": request.user, "ok": True}


app = Litestar([protected], on_app_init=[jwt_auth.on_app_init], openapi_config=None)
