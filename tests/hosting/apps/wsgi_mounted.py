"""A CovetPy App with native routes and two WSGI apps mounted under prefixes: the Flask app
at /legacy and the raw WSGI app at /raw (test_wsgi_mount.py)."""

from __future__ import annotations

from covetpy import App
from tests.hosting.apps.flask_app import app as flask_app
from tests.hosting.apps.wsgi_raw import app as raw_app

app = App()


@app.get("/native/{n:int}")
def native(n: int) -> dict[str, int]:
    return {"native": n}


@app.get("/legacy/items/{item_id:int}")
def moved(item_id: int) -> dict[str, object]:
    """An endpoint moved off the Flask app: served natively, in front of the mount."""
    return {"moved": item_id}


app.mount("/legacy", flask_app, wsgi_threads=2)
app.mount("/raw", raw_app, interface="wsgi", wsgi_threads=2)
