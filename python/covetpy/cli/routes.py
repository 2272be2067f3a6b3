"""`covetpy routes module:app`: the route table as Rust will see it."""

from __future__ import annotations

from covetpy._importer import import_from_string
from covetpy.app import App
from covetpy.exceptions import CovetError
from covetpy.middleware import describe


def print_routes(app_ref: str, middleware: bool = False) -> int:
    """Prints one line per route: methods (`WS` for a WebSocket route), path (with
    converters), handler, then one per mount (`MOUNT`, its prefix, the hosted app); with
    `middleware`, the chain around each route, outermost first, under it."""
    try:
        app = import_from_string(app_ref)
    except CovetError as exc:
        print(f"covetpy: {exc}")
        return 2
    if not isinstance(app, App):
        print(f"covetpy: {app_ref} is not a covetpy.App")
        return 2
    rows = [
        (
            "WS" if r.websocket else ",".join(r.methods),
            r.rust_path,
            f"{r.endpoint.__module__}.{r.endpoint.__qualname__}",
        )
        for r in app.routes
    ]
    width_m = max((len(m) for m, _, _ in rows), default=6)
    width_p = max((len(p) for _, p, _ in rows), default=4)
    # Mounts come after every route: Rust tries them only when no route takes a request.
    mounts = [
        ("MOUNT", (m.prefix or "/") + "*", f"{m.kind.upper()} {_name(m.endpoint.app)}")
        for m in app.mounts
    ]
    width_m = max([width_m, *(len(m) for m, _, _ in mounts)])
    width_p = max([width_p, *(len(p) for _, p, _ in mounts)])
    if middleware:
        native = [m.describe() for m in app.native_middleware]
        print("built-in (Rust), outermost first:")
        for i, line in enumerate(native or ["(none)"], 1):
            print(f"  {i}. {line}" if native else f"  {line}")
        print()
    print(f"{'METHODS':<{width_m}}  {'PATH':<{width_p}}  HANDLER")
    for (m, p, h), route in zip(rows, app.routes, strict=True):
        print(f"{m:<{width_m}}  {p:<{width_p}}  {h}")
        if middleware and route.fixed is not None:
            print(f"{'':<{width_m}}    (static: answered in Rust, no Python middleware)")
        elif middleware and route.websocket:
            print(f"{'':<{width_m}}    (WebSocket: no Python middleware)")
        elif middleware:
            chain = describe(app.route_middleware(route))
            for i, name in enumerate(chain, 1):
                print(f"{'':<{width_m}}    {i}. {name}")
            if not chain:
                print(f"{'':<{width_m}}    (no middleware)")
    for m, p, h in mounts:
        print(f"{m:<{width_m}}  {p:<{width_p}}  {h}")
    return 0


def _name(app: object) -> str:
    kind = type(app)
    if kind.__name__ == "function":
        return f"{getattr(app, '__module__', '?')}.{getattr(app, '__qualname__', '?')}"
    return f"{kind.__module__}.{kind.__qualname__}"
