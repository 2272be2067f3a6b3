"""The app of the auth end-to-end tests run by `covetpy run`: an HS256 JWT layer (header,
cookie, WebSocket subprotocol) and hashed API keys, WebSocket and HTTP routes, an app mounted
under /legacy (auth covers it too)."""

from __future__ import annotations

from typing import Annotated, Any

from covetpy import App, WebSocket
from covetpy.auth import APIKeyAuth, Auth, Identity, JWTAuth, hash_api_key, requires

SECRET = "e2e-secret-" + "x" * 32
KEYS = {"ci": hash_api_key("ci-key-1"), "ops": hash_api_key("ops-key-1")}

app = App(
    title="auth-e2e",
    middleware=[
        JWTAuth(
            key=SECRET,
            algorithms=["HS256"],
            issuer="https://id",
            audience="shop",
            cookie="access_token",
            realm="shop",
        ),
        APIKeyAuth(keys=KEYS, scopes={"ci": ["deploy"]}),
    ],
)


@app.get("/me")
def me(user: Annotated[Identity, Auth()]) -> dict[str, Any]:
    return {"scheme": user.scheme, "sub": user.subject, "scopes": sorted(user.scopes)}


@app.post("/deploy", requires=requires(scopes=["deploy"]))
def deploy() -> dict[str, bool]:
    return {"deployed": True}


@app.get("/health", public=True)
def health() -> str:
    return "ok"


@app.websocket("/ws")
async def ws(socket: WebSocket, user: Annotated[Identity, Auth()]) -> None:
    # The token's own entry is never chosen: the app picks its real protocol.
    await socket.accept(subprotocol="chat" if "chat" in socket.subprotocols else None)
    await socket.send_text(f"hello {user.subject}")
    await socket.close()


async def legacy(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """A bare ASGI app: what is mounted is protected like the routes."""
    if scope["type"] != "http":
        return
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"legacy"})


app.mount("/legacy", legacy, interface="asgi")
