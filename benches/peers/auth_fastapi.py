"""`GET /protected` on FastAPI behind an `HTTPBearer` dependency that verifies the token with
PyJWT, the way FastAPI's security tutorial does it, for benches/auth.py (uvicorn, httptools,
uvloop). The same checks as CovetPy's `JWTAuth` in benches/apps/auth_covetpy.py: one allowed
algorithm (`BENCH_JWT_ALG`), `iss`, `aud`, `exp` and `sub` required, 30 s leeway. The key
(`BENCH_JWT_KEY`: a PEM public key or the HS256 secret) is loaded once at start-up, not per
request. The dependency is `async def`: a `def` one would go through the thread pool.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Any

import jwt
from cryptography.hazmat.primitives.serialization import load_pem_public_key
from fastapi import Depends, FastAPI, HTTPException
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

__all__ = ["app"]

ISSUER = "https://id.bench.covetpy"
AUDIENCE = "covetpy-bench"

ALGORITHM = os.environ.get("BENCH_JWT_ALG", "HS256")
_raw = Path(os.environ["BENCH_JWT_KEY"]).read_bytes()
KEY: Any = _raw if ALGORITHM.startswith("HS") else load_pem_public_key(_raw)

bearer = HTTPBearer()


async def claims(
    credentials: Annotated[HTTPAuthorizationCredentials, Depends(bearer)],
) -> dict[str, Any]:
    """The verified claims of the bearer token; 401 with an RFC 6750 challenge otherwise."""
    try:
        decoded: dict[str, Any] = jwt.decode(
            credentials.credentials,
            KEY,
            algorithms=[ALGORITHM],
            audience=AUDIENCE,
            issuer=ISSUER,
            leeway=30,
            options={"require": ["exp", "sub"]},
        )
    except jwt.InvalidTokenError as exc:
        raise HTTPException(
            status_code=401,
            detail=str(exc),
            headers={"WWW-Authenticate": 'Bearer error="invalid_token"'},
        ) from exc
    return decoded


app = FastAPI(openapi_url=None, docs_url=None, redoc_url=None)


@app.get("/protected")
async def protected(user: Annotated[dict[str, Any], Depends(claims)]) -> dict[str, object]:
    """The caller's subject."""
    return {"sub": user["sub"], "ok": True}
