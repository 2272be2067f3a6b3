"""A JWKS and OpenID Connect discovery endpoint on loopback for the auth tests: keys made
with `cryptography`, rotation scripted by the test, fetches counted, and an outage switch."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import ec

__all__ = ["IdP", "idp"]


class IdP:
    """An identity provider: ES256 keys by kid, a JWKS, a discovery document."""

    def __init__(self) -> None:
        self.keys: dict[str, ec.EllipticCurvePrivateKey] = {}
        self.published: list[str] = []
        self.jwks_fetches = 0
        self.down = False
        self.max_age = 300
        self.url = ""

    @property
    def issuer(self) -> str:
        return self.url + "/"

    def add_key(self, kid: str, publish: bool = True) -> None:
        self.keys[kid] = ec.generate_private_key(ec.SECP256R1())
        if publish:
            self.published.append(kid)

    def jwks(self) -> dict[str, Any]:
        out = []
        for kid in self.published:
            jwk = json.loads(jwt.algorithms.ECAlgorithm.to_jwk(self.keys[kid].public_key()))
            out.append({**jwk, "kid": kid, "use": "sig", "alg": "ES256"})
        return {"keys": out}

    def token(self, kid: str, **claims: Any) -> str:
        import time

        body = {
            "sub": "alice",
            "iss": self.issuer,
            "aud": "shop",
            "exp": int(time.time()) + 600,
            "iat": int(time.time()),
            "scope": "orders:read",
        }
        body.update(claims)
        return jwt.encode(body, self.keys[kid], algorithm="ES256", headers={"kid": kid})


@contextmanager
def idp() -> Iterator[IdP]:
    """Serves an `IdP` on 127.0.0.1 while the block runs."""
    state = IdP()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if state.down:
                self.send_error(503)
                return
            if self.path == "/.well-known/openid-configuration":
                body = {"issuer": state.issuer, "jwks_uri": state.url + "/jwks.json"}
            elif self.path == "/jwks.json":
                state.jwks_fetches += 1
                body = state.jwks()
            else:
                self.send_error(404)
                return
            data = json.dumps(body).encode()
            self.send_response(200)
            self.send_header("content-type", "application/json")
            self.send_header("cache-control", f"max-age={state.max_age}")
            self.send_header("content-length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
