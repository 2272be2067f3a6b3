"""The application: collects routes and lifecycle hooks, and hands Rust one route table."""

from __future__ import annotations

import inspect
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from covetpy.routing import Route, compile_route

__all__ = ["App"]

F = TypeVar("F", bound=Callable[..., Any])
Hook = Callable[[], Any]


class App:
    """A CovetPy application.

    ```python
    app = App()

    @app.get("/users/{user_id:int}")
    async def user(user_id: int) -> dict:
        return {"id": user_id}
    ```
    """

    def __init__(self) -> None:
        self._routes: list[Route] = []
        self._startup: list[Hook] = []
        self._shutdown: list[Hook] = []

    # -- routes -----------------------------------------------------------------------------

    def route(
        self, path: str, methods: Sequence[str] = ("GET",), *, name: str | None = None
    ) -> Callable[[F], F]:
        """Registers the decorated sync or async function for `methods` on `path`."""
        if isinstance(methods, str):
            methods = (methods,)

        def decorator(fn: F) -> F:
            self._routes.append(compile_route(path, methods, fn, name))
            return fn

        return decorator

    def get(self, path: str, *, name: str | None = None) -> Callable[[F], F]:
        """GET (and HEAD) on `path`."""
        return self.route(path, ("GET",), name=name)

    def post(self, path: str, *, name: str | None = None) -> Callable[[F], F]:
        """POST on `path`."""
        return self.route(path, ("POST",), name=name)

    def put(self, path: str, *, name: str | None = None) -> Callable[[F], F]:
        """PUT on `path`."""
        return self.route(path, ("PUT",), name=name)

    def patch(self, path: str, *, name: str | None = None) -> Callable[[F], F]:
        """PATCH on `path`."""
        return self.route(path, ("PATCH",), name=name)

    def delete(self, path: str, *, name: str | None = None) -> Callable[[F], F]:
        """DELETE on `path`."""
        return self.route(path, ("DELETE",), name=name)

    @property
    def routes(self) -> list[Route]:
        """The routes in registration order."""
        return list(self._routes)

    def route_table(self) -> list[Any]:
        """What the Rust core receives: objects with `methods`, `path`, `endpoint`, `plan`."""
        return [_RouteDef(r) for r in self._routes]

    # -- lifecycle --------------------------------------------------------------------------

    def on_startup(self, fn: F) -> F:
        """Runs `fn` (sync or async) in each worker before it accepts connections."""
        self._startup.append(fn)
        return fn

    def on_shutdown(self, fn: F) -> F:
        """Runs `fn` (sync or async) in each worker after it has drained."""
        self._shutdown.append(fn)
        return fn

    async def startup(self) -> None:
        """Runs the start-up hooks in order."""
        for hook in self._startup:
            await _call(hook)

    async def shutdown(self) -> None:
        """Runs the shutdown hooks in reverse order; a failing hook does not stop the others."""
        errors: list[Exception] = []
        for hook in reversed(self._shutdown):
            try:
                await _call(hook)
            except Exception as exc:
                errors.append(exc)
        if errors:
            raise ExceptionGroup("shutdown hooks failed", errors) if len(errors) > 1 else errors[0]


class _RouteDef:
    __slots__ = ("endpoint", "methods", "path", "plan")

    def __init__(self, route: Route) -> None:
        self.methods = list(route.methods)
        self.path = route.rust_path
        self.endpoint = route.endpoint
        self.plan = list(route.plan)


async def _call(hook: Hook) -> None:
    result = hook()
    if inspect.isawaitable(result):
        await result
