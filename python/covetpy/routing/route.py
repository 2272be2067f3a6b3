"""A route: its handler's plan compiled once at start-up (no per-request `inspect`), and the
one callable Rust will invoke.

Handlers that take only path parameters and/or the `Request` are called by Rust directly
with converted path values (the fast path). Anything else (query, headers, cookies, bodies,
dependencies, `status_code=`, exception handlers) goes through an endpoint built by
`covetpy.params.resolve.Resolver`, which Rust calls with the `Request` and the path values.
"""

from __future__ import annotations

import inspect
import re
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, get_type_hints

from covetpy.exceptions import RouteError
from covetpy.params.plan import CallPlan, ParamSpec, plan_call, plan_dependency

__all__ = ["Route", "compile_route", "split_path"]

_PARAM = re.compile(r"\{([^{}:]+)(?::([^{}]+))?\}")
_BY_ANNOTATION: dict[Any, str] = {int: "int", float: "float", str: "str", uuid.UUID: "uuid"}


def split_path(path: str) -> list[tuple[str, str | None]]:
    """The parameters a path declares, in order, with their converter if written."""
    return [(m.group(1), m.group(2)) for m in _PARAM.finditer(path)]


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

    @property
    def endpoint(self) -> Callable[..., Any]:
        """The handler (kept for `covetpy routes`)."""
        return self.handler

    @property
    def is_async(self) -> bool:
        """Whether the handler is a coroutine function."""
        return inspect.iscoroutinefunction(self.handler)

    def fast_plan(self) -> list[tuple[str, str | None]] | None:
        """The Rust call plan when the handler needs nothing but path values and the Request."""
        if self.plan.pre or self.status_code is not None or self.response_class is not None:
            return None
        if self.sync_to_thread:
            return None
        out: list[tuple[str, str | None]] = []
        seen_default = False
        for p in inspect.signature(self.handler).parameters.values():
            spec = next((s for s in self.plan.params if s.name == p.name), None)
            if spec is None:
                continue
            if spec.location not in ("path", "request"):
                return None
            if p.kind is p.KEYWORD_ONLY or seen_default:
                return None
            if p.default is not p.empty:
                seen_default = True
            out.append(("request", None) if spec.location == "request" else ("path", p.name))
        return out


def compile_route(
    path: str,
    methods: Sequence[str],
    handler: Callable[..., Any],
    *,
    name: str | None = None,
    status_code: int | None = None,
    response_class: type[Any] | None = None,
    tags: Sequence[str] = (),
    dependencies: Sequence[Any] = (),
    sync_to_thread: bool = False,
    include_in_schema: bool = True,
    summary: str | None = None,
    description: str | None = None,
) -> Route:
    """Checks a handler's signature against its path and plans its parameters."""
    if not callable(handler):
        raise RouteError(f"route {path}: handler {handler!r} is not callable")
    if isinstance(methods, str):
        methods = (methods,)
    label = f"{'|'.join(methods)} {path} -> {getattr(handler, '__qualname__', handler)!s}"
    declared = dict(split_path(path))
    plan = plan_call(handler, set(declared), label, sync_to_thread=sync_to_thread)
    plan.pre = [plan_dependency(d, set(declared), label) for d in dependencies]
    converters = dict(declared)
    for spec in [s for s in plan.walk() if s.location == "path"]:
        _check_path_param(spec, declared, converters, label)

    def spell(m: re.Match[str]) -> str:
        # Only converters taken from annotations are written in; the rest stays as written, so
        # errors from the Rust router quote the user's own path.
        conv = converters[m.group(1)]
        if conv is None or conv == "str" or declared[m.group(1)] is not None:
            return m.group(0)
        return "{" + m.group(1) + ":" + conv + "}"

    doc = inspect.getdoc(handler) or ""
    return Route(
        path=path,
        methods=tuple(dict.fromkeys(m.upper() for m in methods)),
        handler=handler,
        name=name or str(getattr(handler, "__name__", path)),
        plan=plan,
        rust_path=_PARAM.sub(spell, path),
        path_names=list(declared),
        status_code=status_code,
        response_class=response_class,
        tags=list(tags),
        sync_to_thread=sync_to_thread,
        include_in_schema=include_in_schema,
        summary=summary or (doc.splitlines()[0] if doc else None),
        description=description or ("\n".join(doc.splitlines()[1:]).strip() or None),
    )


def _check_path_param(
    spec: ParamSpec, declared: dict[str, str | None], converters: dict[str, str | None], label: str
) -> None:
    if declared.get(spec.name) is not None:
        return
    ann = spec.annotation
    conv = _BY_ANNOTATION.get(ann, "str" if ann is Any else None)
    if conv is None:
        raise RouteError(
            f"{label}: path parameter {spec.name!r} is annotated {ann!r}; "
            "use int, float, str or uuid.UUID, or give a converter in the path"
        )
    if converters.get(spec.name) not in (None, conv):
        raise RouteError(
            f"{label}: path parameter {spec.name!r} is typed differently in two places"
        )
    converters[spec.name] = conv


def return_annotation(handler: Callable[..., Any]) -> Any:
    """The handler's return annotation, or None."""
    try:
        return get_type_hints(handler).get("return")
    except Exception:
        return None
