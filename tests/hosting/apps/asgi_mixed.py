"""A CovetPy app with native routes, a Starlette app mounted at /legacy and the raw ASGI app
mounted at the root as the fallback (tests/hosting/test_asgi_mount.py)."""

from covetpy import App
from tests.hosting.apps.raw_asgi import app as raw_app
from tests.hosting.apps.starlette_app import app as starlette_app

app = App(openapi_url=None, docs_url=None, redoc_url=None)


@app.get("/native/{n:int}")
def native(n: int) -> dict[str, int]:
    return {"native": n}


@app.get("/legacy/native")
def shadowing() -> str:
    return "native wins under a mount's prefix"


app.mount("/legacy", starlette_app)
app.mount("/", raw_app)
