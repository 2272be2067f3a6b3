"""The app the Swagger UI browser test drives: one route behind `JWTAuth` (an HS256 key),
answering with the subject of the token it verified and the `Authorization` header it got."""

from __future__ import annotations

from covetpy import App, Request
from covetpy.auth.layers import JWTAuth
from covetpy.auth.requires import requires

SECRET = b"swagger-ui-test-secret-of-32-bytes!"

app = App(
    title="Swagger auth",
    middleware=[JWTAuth(key=SECRET, algorithms=["HS256"], realm="swagger")],
)


@app.get("/whoami", requires=requires())
async def whoami(request: Request) -> dict[str, str | None]:
    """Who the token says the caller is."""
    assert request.auth is not None
    return {"subject": request.auth.subject, "authorization": request.header("authorization")}
