"""Hosting the apps people already have on the Rust core: ASGI 3 (`asgi.py`) and WSGI
(`wsgi.py`) apps mounted under a prefix of an `App` (`App.mount`), or served alone by
`covetpy run module:app`, which mounts them at the root of an empty `App`.

A mount is one entry of the route table (`RouteEntry(mount=True)`): Rust matches the app's
own routes first and hands every other request under the prefix to the mount's endpoint,
`endpoint(request, responder)`, with the body streamed (designs/hosting.md).
"""

from __future__ import annotations

import inspect
from typing import TYPE_CHECKING, Any, Literal

from covetpy._bridge import RouteEntry
from covetpy.exceptions import ConfigError

if TYPE_CHECKING:
    from covetpy.app import App

__all__ = ["Interface", "Mounted", "detect", "hosted_app", "load_app", "mounted"]

Interface = Literal["asgi", "wsgi"]


def _callable_of(obj: Any) -> Any:
    """The function that runs when `obj` is called (a class instance's `__call__`)."""
    if inspect.isfunction(obj) or inspect.ismethod(obj):
        return obj
    call = getattr(type(obj), "__call__", None)  # noqa: B004 - the type's, not the object's
    return getattr(obj, "__call__", None) if call is not None else None  # noqa: B004


def _positional(fn: Any) -> int | None:
    """How many positional arguments `fn` takes (None when it takes *args or is opaque)."""
    try:
        sig = inspect.signature(fn)
    except (TypeError, ValueError):
        return None
    count = 0
    for p in sig.parameters.values():
        if p.kind is p.VAR_POSITIONAL:
            return None
        if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD):
            count += 1
    return count


def detect(obj: Any) -> Literal["covetpy", "asgi", "wsgi"]:
    """What `obj` is: a CovetPy `App`, an ASGI 3 app (`async (scope, receive, send)`) or a
    WSGI app (`(environ, start_response)`); ConfigError when it is none of them."""
    from covetpy.app import App

    if isinstance(obj, App):
        return "covetpy"
    fn = _callable_of(obj)
    if fn is None:
        raise ConfigError(f"{type(obj).__name__} is not callable: not an App, ASGI or WSGI app")
    n = _positional(fn)
    if inspect.iscoroutinefunction(fn) or inspect.iscoroutinefunction(obj):
        if n in (3, None):
            return "asgi"
        if n == 1:
            raise ConfigError(
                "this looks like an ASGI 2 app (`app(scope)` returning a coroutine "
                "function); CovetPy hosts ASGI 3 apps: wrap it with "
                "asgiref.compatibility.guarantee_single_callable"
            )
    elif n == 2:
        return "wsgi"
    raise ConfigError(
        f"cannot tell what {type(obj).__name__} is (an async callable of 3 arguments is "
        "ASGI 3, a callable of 2 is WSGI): say it with --interface asgi|wsgi"
    )


class Mounted:
    """One hosted app under a prefix: its route-table entry and its lifecycle."""

    def __init__(self, prefix: str, kind: Interface, endpoint: Any) -> None:
        self.prefix = prefix
        self.kind = kind
        self.endpoint = endpoint

    def entry(self) -> RouteEntry:
        return RouteEntry((), self.prefix, self.endpoint, (), None, None, False, mount=True)

    def serving(self, address: str) -> None:
        """The worker listens on `address` (`host:port`, `[v6]:port` or a socket path): an
        ASGI app's scopes name it as `server` (a WSGI app's `SERVER_NAME`/`SERVER_PORT`, when
        its mount takes it)."""
        setter = getattr(self.endpoint, "set_server", None)
        if setter is None:
            return
        host, sep, port = address.rpartition(":")
        server: tuple[str, int | None]
        if sep and port.isdigit():
            server = (host.strip("[]"), int(port))
        else:
            server = (address.removeprefix("unix:"), None)
        setter(server)

    async def startup(self) -> None:
        """An ASGI app's lifespan start-up (a WSGI app has none)."""
        if self.kind == "asgi":
            await self.endpoint.startup()

    async def shutdown(self) -> None:
        """An ASGI app's lifespan shutdown; a WSGI app's threads stop."""
        if self.kind == "asgi":
            await self.endpoint.shutdown()
        else:
            self.endpoint.close()


def _prefix(prefix: str) -> str:
    if prefix in ("", "/"):
        return ""
    if not prefix.startswith("/") or prefix.endswith("/"):
        raise ConfigError(f"a mount prefix starts with / and has no trailing /, got {prefix!r}")
    if any(c in prefix for c in "{}?#") or "//" in prefix:
        raise ConfigError(f"a mount prefix is a plain path, got {prefix!r}")
    return prefix


def mounted(prefix: str, app: Any, interface: str, wsgi_threads: int) -> Mounted:
    """The mount of `app` at `prefix` (`App.mount`)."""
    root = _prefix(prefix)
    found = detect(app) if interface == "auto" else None
    if found == "covetpy":
        raise ConfigError("a CovetPy App is not mounted: use app.include_router(...)")
    kind = found or interface
    if kind == "asgi":
        if interface == "asgi" and detect_quietly(app) == "wsgi":
            raise ConfigError(_wrong(app, "asgi", "wsgi"))
        from covetpy.hosting.asgi import ASGIMount

        return Mounted(root, "asgi", ASGIMount(app, root))
    if kind == "wsgi":
        if interface == "wsgi" and detect_quietly(app) == "asgi":
            raise ConfigError(_wrong(app, "wsgi", "asgi"))
        if wsgi_threads < 1:
            raise ConfigError(f"wsgi_threads must be at least 1, got {wsgi_threads}")
        from covetpy.hosting.wsgi import WSGIMount

        return Mounted(root, "wsgi", WSGIMount(app, root, wsgi_threads))
    raise ConfigError(f"interface must be auto, asgi or wsgi, not {interface!r}")


def detect_quietly(app: Any) -> str | None:
    try:
        return detect(app)
    except ConfigError:
        return None


def _wrong(app: Any, said: str, seen: str) -> str:
    shapes = {
        "asgi": "an async callable (scope, receive, send)",
        "wsgi": "a callable (environ, start_response)",
    }
    return (
        f"--interface {said}, but {type(app).__name__} is {shapes[seen]}: a {seen.upper()} "
        f"app (leave --interface at auto, or say {seen})"
    )


def hosted_app(obj: Any, interface: str = "auto", wsgi_threads: int = 16) -> App:
    """What `covetpy run` serves for `obj`: the App itself, or an empty App (no docs
    routes) with `obj` mounted at the root."""
    from covetpy.app import App

    kind = detect(obj) if interface == "auto" else interface
    if kind == "covetpy":
        if not isinstance(obj, App):
            raise ConfigError(
                f"--interface covetpy, but the app is a {type(obj).__name__}, not a covetpy.App"
            )
        return obj
    if isinstance(obj, App):
        raise ConfigError(f"--interface {kind}, but the app is a covetpy.App (say covetpy)")
    title = getattr(obj, "title", None)
    app = App(
        title=title if isinstance(title, str) and title else type(obj).__name__,
        openapi_url=None,
        docs_url=None,
        redoc_url=None,
    )
    app.mount("/", obj, interface=kind, wsgi_threads=wsgi_threads)
    return app


def load_app(ref: str, interface: str = "auto", wsgi_threads: int = 16) -> App:
    """Imports `module:attribute` and returns the App to serve (`hosted_app`)."""
    from covetpy._importer import import_from_string

    return hosted_app(import_from_string(ref), interface, wsgi_threads)
