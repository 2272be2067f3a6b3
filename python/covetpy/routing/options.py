"""The options of a route, declared once: every verb (`get`, `post`, ...), `route`,
`add_route` and the compiler take them as `**options: Unpack[RouteOptions]`."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, TypedDict

__all__ = ["RouteOptions", "check_options"]


class RouteOptions(TypedDict, total=False):
    """What a route may say besides its path, methods and handler; all optional."""

    name: str | None
    """The route's name (`url_for`, the OpenAPI operation id); default: the handler's."""
    status_code: int | None
    """The status of plain return values."""
    response_class: type[Any] | None
    """The response class plain return values are wrapped in."""
    tags: Sequence[str]
    """OpenAPI tags (after the routers')."""
    dependencies: Sequence[Any]
    """Dependencies run before the handler (after the routers')."""
    sync_to_thread: bool
    """Run a blocking sync handler in the app's bounded thread pool."""
    include_in_schema: bool
    """Whether the route appears in the OpenAPI document (default True)."""
    summary: str | None
    """OpenAPI summary; default: the docstring's first line."""
    description: str | None
    """OpenAPI description; default: the rest of the docstring."""
    timeout: float | None
    """Seconds the handler may take (504 after; 0 for none); None: `request_timeout`."""
    middleware: Sequence[Any]
    """Middleware around this route only (inside the app's and the routers')."""
    requires: Any
    """What the caller must have: a `covetpy.auth.requires(...)`, or a sequence of them."""
    public: bool
    """Served to anonymous callers even when an authentication layer is not optional."""


_KEYS = frozenset(RouteOptions.__annotations__)


def check_options(path: str, options: RouteOptions) -> RouteOptions:
    """`options` checked (an unknown key is a TypeError, as for any keyword) and with its
    sequences made tuples, so a declaration is not changed by its caller afterwards."""
    unknown = set(options) - _KEYS
    if unknown:
        raise TypeError(f"route {path}: unknown option(s) {', '.join(sorted(unknown))}")
    timeout = options.get("timeout")
    if timeout is not None and not timeout >= 0:
        raise ValueError(f"route {path}: timeout must be >= 0 seconds, got {timeout!r}")
    out = options.copy()
    for key in ("tags", "dependencies", "middleware"):
        if key in out:
            out[key] = tuple(out[key])
    if "requires" in out:
        required = out["requires"]
        out["requires"] = tuple(required) if isinstance(required, Sequence) else (required,)
    return out
