"""A JSON route behind `JWTAuth`, for benches/auth.py (issue 18):

    BENCH_JWT_ALG=RS256 BENCH_JWT_KEY=/tmp/keys/rs256-public.pem \\
        .venv/bin/covetpy run benches.apps.auth_covetpy:app

- `GET /protected`: the handler takes the caller's `Identity` (`Annotated[Identity, Auth()]`)
  and answers `{"sub": <its subject>, "ok": true}`;
- `GET /plain`: the same bytes without asking for the identity, so that the figure of the
  verification alone can be told from that of handing the identity to the handler.

`BENCH_JWT_ALG` is HS256, RS256 or ES256 (the layer's only allowed algorithm), or `none`: no
auth layer at all, the baseline (`/plain` only; `/protected` then answers 401).
`BENCH_JWT_KEY` names the file of the PEM public key or of the HS256 secret. Both handlers
are `async def`, as the peers' (benches/peers/auth_fastapi.py, auth_litestar.py).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

from covetpy import App
from covetpy.auth import Auth, Identity, JWTAuth

__all__ = ["AUDIENCE", "ISSUER", "app"]

# The same as the tokens benches/auth.py signs and as the peers check.
ISSUER = "https://id.bench.covetpy"
AUDIENCE = "covetpy-bench"
SUBJECT = "user-42"


def _layers() -> list[JWTAuth]:
    alg = os.environ.get("BENCH_JWT_ALG", "none")
    if alg == "none":
        return []
    key = Path(os.environ["BENCH_JWT_KEY"]).read_bytes()
    return [JWTAuth(algorithms=[alg], key=key, issuer=ISSUER, audience=AUDIENCE)]


app = App(middleware=_layers(), openapi_url=None)


@app.get("/protected")
async def protected(user: Annotated[Identity, Auth()]) -> dict[str, object]:
    """The caller's subject, from the identity the layer verified."""
    return {"sub": user.subject, "ok": True}


@app.get("/plain")
async def plain() -> dict[str, object]:
    """The same answer, the identity left unused (the layer still verifies the token)."""
    return {"sub": SUBJECT, "ok": True}
