"""`Router`: a group of routes with a prefix, tags and dependencies, included into an app (or
another router) with `include_router`. Routes are compiled when the app builds its table, so a
router's prefix and dependencies apply however deeply it is nested."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, TypeVar, Unpack

from covetpy.exceptions import RouteError
from covetpy.routing.options import RouteOptions, check_options

if TYPE_CHECKING:
    from covetpy.responses import Response

__all__ = ["RouteDecl", "Router"]

F = TypeVar("F", bound=Callable[..., Any])


@dataclass(frozen=True)
class RouteDecl:
    """A route as declared, before prefixes and inherited options are applied."""

    path: str
    methods: tuple[str, ...]
    handler: Callable[..., Any]
    options: RouteOptions = field(default_factory=lambda: RouteOptions())
    fixed: Response | None = None
    """A response answered by Rust without calling Python (`App.add_static`)."""
    websocket: bool = False
    """A WebSocket route (`Router.websocket`)."""

    @property
    def name(self) -> str | None:
        """The name given, if any."""
        return self.options.get("name")

    @property
    def include_in_schema(self) -> bool:
        """Whether it appears in the OpenAPI document."""
        return self.options.get("include_in_schema", True)

    def inherit(
        self,
        prefix: str,
        tags: Sequence[str],
        dependencies: Sequence[Any],
        middleware: Sequence[Any] = (),
    ) -> RouteDecl:
        """This route under a router's prefix, after its tags, dependencies and middleware."""
        o = self.options
        options: RouteOptions = {
            **o,
            "tags": (*tags, *o.get("tags", ())),
            "dependencies": (*dependencies, *o.get("dependencies", ())),
            "middleware": (*middleware, *o.get("middleware", ())),
        }
        return replace(self, path=prefix + self.path, options=options)


class Router:
    """Routes under a common `prefix`, with `tags` and `dependencies` for all of them."""

    def __init__(
        self,
        prefix: str = "",
        *,
        tags: Sequence[str] = (),
        dependencies: Sequence[Any] = (),
        middleware: Sequence[Any] = (),
    ) -> None:
        if prefix and (not prefix.startswith("/") or prefix.endswith("/")):
            raise ValueError(f"prefix must start with '/' and not end with one: {prefix!r}")
        self.prefix = prefix
        self.tags = tuple(tags)
        self.dependencies = tuple(dependencies)
        self._middleware: list[Any] = []
        for mw in middleware:
            self.middleware(mw)
        self._decls: list[RouteDecl] = []
        self._changed()

    def _changed(self) -> None:
        """Called when routes change (the app drops its compiled table)."""

    @property
    def declarations(self) -> list[RouteDecl]:
        """The routes with this router's prefix, tags and dependencies applied."""
        own = self._router_middleware()
        return [d.inherit(self.prefix, self.tags, self.dependencies, own) for d in self._decls]

    def _router_middleware(self) -> tuple[Any, ...]:
        """Middleware this router puts around each of its routes (the app keeps its own apart:
        it also wraps the routes the app adds itself, such as the docs)."""
        return tuple(self._middleware)

    def middleware(self, fn: F) -> F:
        """Registers `async def mw(request, call_next) -> Response` (or a sync one around sync
        handlers) around every route of this router; the first registered is outermost."""
        from covetpy.middleware.builtin import NativeMiddleware

        if isinstance(fn, NativeMiddleware):
            raise RouteError(
                f"{type(fn).__name__} runs in Rust for the whole app: add it to the App, "
                "not to a Router"
            )
        self._middleware.append(fn)
        self._changed()
        return fn

    def add_route(
        self,
        path: str,
        handler: Callable[..., Any],
        methods: Sequence[str] = ("GET",),
        **options: Unpack[RouteOptions],
    ) -> None:
        """Registers `handler` for `methods` on `path` (relative to the prefix)."""
        options = check_options(path, options)
        if isinstance(methods, str):
            methods = (methods,)
        if path and not path.startswith("/"):
            raise ValueError(f"route paths start with '/': {path!r}")
        if not path and not self.prefix:
            raise ValueError("an empty route path needs a router prefix")
        self._decls.append(RouteDecl(path, tuple(m.upper() for m in methods), handler, options))
        self._changed()

    def route(
        self, path: str, methods: Sequence[str] = ("GET",), **options: Unpack[RouteOptions]
    ) -> Callable[[F], F]:
        """Registers the decorated sync or async function for `methods` on `path`.

        `status_code` and `response_class` shape the response of plain return values;
        `sync_to_thread=True` runs a blocking sync handler in the app's bounded thread pool;
        `timeout` (seconds; 0 for none) overrides the server's `request_timeout`: past it the
        client gets 504 and an async handler is cancelled; `middleware` wraps this route only
        (inside the app's and the routers'). All options: `covetpy.routing.RouteOptions`.
        """
        check_options(path, options)

        def decorator(fn: F) -> F:
            self.add_route(path, fn, methods, **options)
            return fn

        return decorator

    def get(self, path: str, **options: Unpack[RouteOptions]) -> Callable[[F], F]:
        """GET (and HEAD) on `path`; options as for `route`."""
        return self.route(path, ("GET",), **options)

    def post(self, path: str, **options: Unpack[RouteOptions]) -> Callable[[F], F]:
        """POST on `path`; options as for `route`."""
        return self.route(path, ("POST",), **options)

    def put(self, path: str, **options: Unpack[RouteOptions]) -> Callable[[F], F]:
        """PUT on `path`; options as for `route`."""
        return self.route(path, ("PUT",), **options)

    def patch(self, path: str, **options: Unpack[RouteOptions]) -> Callable[[F], F]:
        """PATCH on `path`; options as for `route`."""
        return self.route(path, ("PATCH",), **options)

    def delete(self, path: str, **options: Unpack[RouteOptions]) -> Callable[[F], F]:
        """DELETE on `path`; options as for `route`."""
        return self.route(path, ("DELETE",), **options)

    def add_websocket_route(
        self,
        path: str,
        handler: Callable[..., Any],
        *,
        name: str | None = None,
        dependencies: Sequence[Any] = (),
    ) -> None:
        """Registers the async `handler` for WebSocket connections on `path` (relative to
        the prefix); see `websocket`."""
        if path and not path.startswith("/"):
            raise ValueError(f"route paths start with '/': {path!r}")
        if not path and not self.prefix:
            raise ValueError("an empty route path needs a router prefix")
        options = check_options(path, RouteOptions(name=name, dependencies=dependencies))
        self._decls.append(RouteDecl(path, ("GET",), handler, options, websocket=True))
        self._changed()

    def websocket(
        self, path: str, *, name: str | None = None, dependencies: Sequence[Any] = ()
    ) -> Callable[[F], F]:
        """Registers the decorated async function for WebSocket connections on `path`.

        Its parameter annotated `covetpy.WebSocket` gets the connection; path parameters,
        `Query`, `Header`, `Cookie` and `Depends` work as on HTTP routes (a dependency's
        teardown runs after the connection closed). Before `ws.accept()` the upgrade can
        be refused: returning or closing answers 403, an `HTTPException` its status.
        Python middleware do not run around WebSocket routes (the built-in ones in Rust
        apply to the upgrade request)."""

        def decorator(fn: F) -> F:
            self.add_websocket_route(path, fn, name=name, dependencies=dependencies)
            return fn

        return decorator

    def include_router(
        self,
        router: Router,
        *,
        prefix: str = "",
        tags: Sequence[str] = (),
        dependencies: Sequence[Any] = (),
    ) -> None:
        """Adds `router`'s routes (as they are now) under `prefix`, with extra tags and
        dependencies."""
        if prefix and (not prefix.startswith("/") or prefix.endswith("/")):
            raise ValueError(f"prefix must start with '/' and not end with one: {prefix!r}")
        for d in router.declarations:
            self._decls.append(d.inherit(prefix, tags, dependencies))
        self._changed()
