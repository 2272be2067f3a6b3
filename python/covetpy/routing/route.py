"""A route and its call plan, compiled once at start-up (no per-request `inspect`).

The plan tells Rust which positional arguments to pass: the `Request`, or a path parameter
already converted in Rust (`int`, `float`, `str`, `uuid`, `path`). A path parameter without
a converter in the path takes it from the handler's annotation.
"""

from __future__ import annotations

import inspect
import re
import typing
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from covetpy.exceptions import RouteError
from covetpy.requests import Request

__all__ = ["Route", "compile_route"]

_PARAM = re.compile(r"\{([^{}:]+)(?::([^{}]+))?\}")
_BY_ANNOTATION: dict[Any, str] = {int: "int", float: "float", str: "str", uuid.UUID: "uuid"}

Plan = tuple[tuple[str, str | None], ...]


@dataclass(frozen=True)
class Route:
    """One route: what Rust needs (`methods`, `path`, `endpoint`, `plan`) and what people read."""

    path: str
    """The path as written by the user."""
    methods: tuple[str, ...]
    endpoint: Callable[..., Any]
    name: str
    plan: Plan
    rust_path: str
    """The path with every parameter's converter spelled out."""

    @property
    def is_async(self) -> bool:
        """Whether the handler is a coroutine function."""
        return inspect.iscoroutinefunction(self.endpoint)


def _hints(fn: Callable[..., Any]) -> dict[str, Any]:
    try:
        return typing.get_type_hints(fn)
    except Exception as exc:  # unresolvable forward references
        raise RouteError(f"cannot resolve the annotations of {fn.__qualname__}: {exc}") from exc


def compile_route(
    path: str, methods: Sequence[str], endpoint: Callable[..., Any], name: str | None = None
) -> Route:
    """Checks a handler's signature against its path and builds the call plan."""
    if not callable(endpoint):
        raise RouteError(f"route {path}: handler {endpoint!r} is not callable")
    label = f"{'|'.join(methods)} {path} -> {getattr(endpoint, '__qualname__', endpoint)!s}"
    declared = {m.group(1): m.group(2) for m in _PARAM.finditer(path)}
    hints = _hints(endpoint)
    converters = dict(declared)
    plan: list[tuple[str, str | None]] = []
    optional_seen: str | None = None
    for p in inspect.signature(endpoint).parameters.values():
        ann = hints.get(p.name)
        if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
            continue
        if isinstance(ann, type) and issubclass(ann, Request):
            source: tuple[str, str | None] = ("request", None)
        elif p.name in declared:
            source = ("path", p.name)
            if declared[p.name] is None:
                conv = _BY_ANNOTATION.get(ann, "str" if ann is None else None)
                if conv is None:
                    raise RouteError(
                        f"{label}: path parameter {p.name!r} is annotated {ann!r}; "
                        "use int, float, str or uuid.UUID, or give a converter in the path"
                    )
                converters[p.name] = conv
        elif p.default is not p.empty:
            optional_seen = p.name
            continue
        else:
            raise RouteError(
                f"{label}: parameter {p.name!r} is neither a path parameter nor a Request, "
                "and has no default"
            )
        if p.kind is p.KEYWORD_ONLY:
            raise RouteError(f"{label}: parameter {p.name!r} must not be keyword-only")
        if optional_seen is not None:
            raise RouteError(
                f"{label}: parameter {p.name!r} comes after {optional_seen!r}, which has a "
                "default; put parameters with defaults last"
            )
        plan.append(source)

    def spell(m: re.Match[str]) -> str:
        # Only converters taken from annotations are written in; the rest stays as the user
        # wrote it, so errors from the Rust router quote the user's own path.
        conv = converters[m.group(1)]
        if conv is None or conv == "str" or declared[m.group(1)] is not None:
            return m.group(0)
        return "{" + m.group(1) + ":" + conv + "}"

    rust_path = _PARAM.sub(spell, path)
    upper = tuple(dict.fromkeys(m.upper() for m in methods))
    return Route(
        path=path,
        methods=upper,
        endpoint=endpoint,
        name=name or str(getattr(endpoint, "__name__", path)),
        plan=tuple(plan),
        rust_path=rust_path,
    )
