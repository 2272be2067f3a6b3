"""A route: its handler's plan compiled once at start-up (no per-request `inspect`) by
`covetpy.routing.compile`.

Handlers that take only path parameters and/or the `Request` are called by Rust directly
with converted path values (the fast path). Anything else (query, headers, cookies, bodies,
dependencies, `status_code=`, exception handlers) goes through an endpoint built by
`covetpy.params.resolve.Resolver`, which Rust calls with the `Request` and the path values.
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, get_type_hints

from covetpy._bridge import PlanItem
from covetpy.params.plan import CallPlan

__all__ = ["PARAM", "Route", "return_annotation", "split_path"]

PARAM = re.compile(r"\{([^{}:]+)(?::([^{}]+))?\}")


def split_path(path: str) -> list[tuple[str, str | None]]:
    """The parameters a path declares, in order, with their converter if written."""
    return [(m.group(1), m.group(2)) for m in PARAM.finditer(path)]


@dataclass
class Route:
    """One route as declared, with its compiled plan."""

    path: str
    """The full path as written (prefixes included)."""
    methods: tuple[str, ...]
    handler: Callable[..., Any]
    name: str
    plan: CallPlan
    rust_path: str
    """The path with converters taken from annotations written in."""
    path_names: list[str]
    status_code: int | None = None
    response_class: type[Any] | None = None
    tags: list[str] = field(default_factory=list)
    sync_to_thread: bool = False
    include_in_schema: bool = True
    summary: str | None = None
    description: str | None = None
    fixed: Any = None
    """A `Response` fixed at start-up and answered by Rust without calling Python."""
    timeout: float | None = None
    """Seconds the handler may take (504 after); None: the server's `request_timeout`."""
    middleware: tuple[Any, ...] = ()
    """Its routers' and its own middleware, outermost first (the app's come before these)."""
    websocket: bool = False
    """A WebSocket route (`Router.websocket`): Python middleware do not run around it."""
    requires: tuple[Any, ...] = ()
    """The `requires=` option: `covetpy.auth.Requires` the caller's identity must meet."""
    public: bool = False
    """The `public=` option: anonymous callers pass even a layer that is not optional."""
    dependencies: tuple[Any, ...] = ()
    """Its app's, routers' and own dependencies, as declared (the plan holds them resolved)."""

    @property
    def endpoint(self) -> Callable[..., Any]:
        """The handler (kept for `covetpy routes`)."""
        return self.handler

    @property
    def is_async(self) -> bool:
        """Whether the handler is a coroutine function."""
        return inspect.iscoroutinefunction(self.handler)

    def fast_plan(self) -> tuple[PlanItem, ...] | None:
        """The Rust call plan when the handler needs nothing but path values and the Request."""
        if self.plan.pre or self.status_code is not None or self.response_class is not None:
            return None
        if self.websocket:
            return None
        if self.sync_to_thread:
            return None
        out: list[PlanItem] = []
        seen_default = False
        for p in inspect.signature(self.handler).parameters.values():
            spec = next((s for s in self.plan.params if s.name == p.name), None)
            if spec is None:
                continue
            if spec.location == "auth" and _identity_arg(spec):
                # Rust passes the identity it verified (401 when there is none).
                if p.kind is p.KEYWORD_ONLY or seen_default:
                    return None
                out.append(("auth", None))
                continue
            if spec.location not in ("path", "request"):
                return None
            if p.kind is p.KEYWORD_ONLY or seen_default:
                return None
            if p.default is not p.empty:
                seen_default = True
            out.append(("request", None) if spec.location == "request" else ("path", p.name))
        return tuple(out)


def _identity_arg(spec: Any) -> bool:
    """A required parameter that takes the `Identity` itself (not claims decoded into a
    type): Rust can pass it."""
    from covetpy.auth.identity import Identity
    from covetpy.params.markers import Required

    return spec.default is Required and spec.annotation is Identity


def return_annotation(handler: Callable[..., Any]) -> Any:
    """The handler's return annotation, or None."""
    try:
        return get_type_hints(handler).get("return")
    except Exception:
        return None
