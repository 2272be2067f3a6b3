"""`covetpy routes module:app`: the route table as Rust will see it."""

from __future__ import annotations

from covetpy._importer import import_from_string
from covetpy.app import App
from covetpy.exceptions import CovetError


def print_routes(app_ref: str) -> int:
    """Prints one line per route: methods, path (with converters), handler."""
    try:
        app = import_from_string(app_ref)
    except CovetError as exc:
        print(f"covetpy: {exc}")
        return 2
    if not isinstance(app, App):
        print(f"covetpy: {app_ref} is not a covetpy.App")
        return 2
    rows = [
        (",".join(r.methods), r.rust_path, f"{r.endpoint.__module__}.{r.endpoint.__qualname__}")
        for r in app.routes
    ]
    width_m = max((len(m) for m, _, _ in rows), default=6)
    width_p = max((len(p) for _, p, _ in rows), default=4)
    print(f"{'METHODS':<{width_m}}  {'PATH':<{width_p}}  HANDLER")
    for m, p, h in rows:
        print(f"{m:<{width_m}}  {p:<{width_p}}  {h}")
    return 0
