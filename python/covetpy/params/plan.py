"""Reading a handler's (or dependency's) signature once, at start-up, into a plan.

Where each parameter comes from:
- annotated `Request` -> the request;
- annotated `BackgroundTasks` -> the request's one instance (`covetpy.background`);
- annotated `WebSocket` -> the connection (WebSocket routes only);
- named like a path parameter -> the path (converted in Rust);
- default `Depends(fn)` -> a dependency, itself planned the same way;
- a `covetpy.Settings` subclass, annotated or in `Depends(Config)` -> the app's loaded instance;
- default `Query(...)`, `Header(...)`, `Cookie(...)`, `Body(...)`, `Form(...)` -> there;
- a body-like annotation (msgspec.Struct, dataclass, TypedDict, dict, list, bytes) -> the body;
- anything else (str, int, float, bool, enum, UUID, datetime, Optional, list of those) -> query.
"""

from __future__ import annotations

import dataclasses
import inspect
import types
import typing
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Annotated, Any, Union, get_args, get_origin

import msgspec

from covetpy.background import BackgroundTasks
from covetpy.datastructures import UploadFile
from covetpy.exceptions import RouteError
from covetpy.params.markers import Param, Required, _Depends
from covetpy.requests import Request
from covetpy.websocket.socket import WebSocket

__all__ = ["CallPlan", "ParamSpec", "plan_call"]

BODY_LOCATIONS = ("body", "form", "file")


@dataclass
class ParamSpec:
    """One parameter of a handler or dependency."""

    name: str
    location: str
    key: str
    annotation: Any
    """The type values are converted to, with constraints (Annotated[..., Meta]) applied."""
    declared: Any
    """The annotation as written (for OpenAPI)."""
    default: Any = Required
    multi: bool = False
    marker: Param | None = None
    dependency: CallPlan | None = None
    use_cache: bool = True

    @property
    def required(self) -> bool:
        return self.default is Required


@dataclass
class CallPlan:
    """How to call one callable per request."""

    call: Callable[..., Any]
    params: list[ParamSpec] = field(default_factory=list)
    pre: list[ParamSpec] = field(default_factory=list)
    """Dependencies run first for their effect (route, router and app `dependencies=`)."""
    is_async: bool = False
    is_generator: bool = False
    is_async_generator: bool = False
    sync_to_thread: bool = False

    @property
    def needs_async(self) -> bool:
        """Whether resolving this plan (with its dependencies) may have to await."""
        if self.is_async or self.is_async_generator or self.sync_to_thread:
            return True
        return any(
            p.dependency is not None and p.dependency.needs_async for p in (*self.pre, *self.params)
        )

    def walk(self) -> list[ParamSpec]:
        """Every parameter of this plan and of its dependencies, depth first."""
        out: list[ParamSpec] = []
        for p in (*self.pre, *self.params):
            if p.dependency is not None:
                out.extend(p.dependency.walk())
            out.append(p)
        return out


def _is_union(tp: Any) -> bool:
    return get_origin(tp) in (Union, types.UnionType)


def _strip_optional(tp: Any) -> Any:
    if _is_union(tp):
        args = [a for a in get_args(tp) if a is not type(None)]
        if len(args) == 1:
            return args[0]
    return tp


def _is_auth(declared: Any, ann: Any) -> bool:
    """Whether a parameter asks for the caller's identity: `Annotated[T, Auth()]`, or an
    `Identity` (optional or not)."""
    from covetpy.auth.identity import Identity
    from covetpy.auth.requires import Auth

    if get_origin(declared) is Annotated and any(
        isinstance(m, Auth) for m in get_args(declared)[1:]
    ):
        return True
    base = _strip_optional(ann)
    return isinstance(base, type) and issubclass(base, Identity)


def _strip_annotated(tp: Any) -> Any:
    return get_args(tp)[0] if get_origin(tp) is Annotated else tp


def is_body_type(tp: Any) -> bool:
    """Whether an annotation describes a request body rather than a query value."""
    base = _strip_optional(_strip_annotated(tp))
    origin = get_origin(base)
    if base in (bytes, bytearray, dict, list) or origin is dict:
        return True
    if origin is list:
        # list[Item] is a body; list[int] is a multi-valued query parameter.
        args = get_args(base)
        return bool(args) and is_body_type(args[0])
    if isinstance(base, type):
        return (
            issubclass(base, msgspec.Struct)
            or dataclasses.is_dataclass(base)
            or typing.is_typeddict(base)
        )
    return False


def _is_pydantic(tp: Any) -> bool:
    """A pydantic model (pydantic is not a dependency: told by its classes' module)."""
    base = _strip_optional(_strip_annotated(tp))
    if get_origin(base) is list and get_args(base):
        base = get_args(base)[0]
    return isinstance(base, type) and any(
        c.__module__.split(".", 1)[0] == "pydantic" for c in base.__mro__[1:]
    )


def _is_upload(tp: Any) -> bool:
    base = _strip_optional(_strip_annotated(tp))
    if get_origin(base) is list and get_args(base):
        base = get_args(base)[0]
    return isinstance(base, type) and issubclass(base, UploadFile)


def _is_multi(tp: Any) -> bool:
    base = _strip_optional(_strip_annotated(tp))
    return get_origin(base) in (list, tuple, set, frozenset) or base in (list, tuple, set)


def _with_meta(tp: Any, marker: Param | None) -> Any:
    meta = marker.meta() if marker is not None else None
    if meta is None:
        return tp
    inner = _strip_optional(tp)
    if inner is not tp:
        # Constraints apply to the value, not to None: Optional[Annotated[X, meta]].
        return Annotated[inner, meta] | None
    return Annotated[tp, meta]


def _hints(fn: Callable[..., Any]) -> dict[str, Any]:
    target: Any = fn
    if inspect.isclass(fn):
        target = fn.__init__  # a class dependency: its constructor's parameters
    elif not (inspect.isfunction(fn) or inspect.ismethod(fn)):
        target = type(fn).__call__  # a callable instance
    try:
        return typing.get_type_hints(target, include_extras=True)
    except Exception as exc:  # unresolvable forward references
        name = getattr(fn, "__qualname__", repr(fn))
        raise RouteError(f"cannot resolve the annotations of {name}: {exc}") from exc


def plan_call(
    fn: Callable[..., Any],
    path_params: set[str],
    label: str,
    *,
    sync_to_thread: bool = False,
    _seen: tuple[Callable[..., Any], ...] = (),
) -> CallPlan:
    """Plans `fn`; `path_params` are the names the route's path declares."""
    if fn in _seen:
        raise RouteError(f"{label}: dependency cycle through {getattr(fn, '__qualname__', fn)}")
    hints = _hints(fn)
    unwrapped = inspect.unwrap(fn)
    call_target = fn if inspect.isroutine(fn) or inspect.isclass(fn) else fn.__call__  # type: ignore[operator]
    plan = CallPlan(
        call=fn,
        is_async=inspect.iscoroutinefunction(unwrapped) or inspect.iscoroutinefunction(call_target),
        is_generator=inspect.isgeneratorfunction(unwrapped),
        is_async_generator=inspect.isasyncgenfunction(unwrapped),
        sync_to_thread=sync_to_thread,
    )
    for p in inspect.signature(fn).parameters.values():
        if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
            continue
        declared = hints.get(p.name, Any)
        ann = _strip_annotated(declared)
        default = p.default
        settings = _settings_class(default.dependency if isinstance(default, _Depends) else ann)
        if settings is not None:
            # Loaded once per app (covetpy.settings.runtime), never per request.
            plan.params.append(ParamSpec(p.name, "settings", p.name, settings, declared))
            continue
        if isinstance(default, _Depends):
            sub = plan_call(
                default.dependency,
                path_params,
                label,
                sync_to_thread=default.sync_to_thread,
                _seen=(*_seen, fn),
            )
            plan.params.append(
                ParamSpec(
                    p.name,
                    "dependency",
                    p.name,
                    ann,
                    declared,
                    Required,
                    dependency=sub,
                    use_cache=default.use_cache,
                )
            )
            continue
        if isinstance(ann, type) and issubclass(ann, Request):
            plan.params.append(ParamSpec(p.name, "request", p.name, ann, declared))
            continue
        if isinstance(ann, type) and issubclass(ann, BackgroundTasks):
            # One per request, shared with its dependencies; made only when declared.
            plan.params.append(ParamSpec(p.name, "background", p.name, ann, declared))
            continue
        if _is_auth(declared, ann):
            # `request.auth` (Annotated[Identity, Auth()], or a claims Struct with Auth()).
            value_default = Required if default is p.empty else default
            plan.params.append(
                ParamSpec(p.name, "auth", p.name, _strip_optional(ann), declared, value_default)
            )
            continue
        if isinstance(ann, type) and issubclass(ann, WebSocket):
            plan.params.append(ParamSpec(p.name, "websocket", p.name, ann, declared))
            continue
        if _is_pydantic(ann):
            raise RouteError(
                f"{label}: parameter {p.name!r} is a pydantic model, which CovetPy does not "
                "decode: use a msgspec.Struct (or take a dict and call "
                "Model.model_validate(body); docs/migrating-from-fastapi.md)"
            )
        marker = default if isinstance(default, Param) else None
        value_default = (
            marker.default if marker is not None else (Required if default is p.empty else default)
        )
        if marker is not None:
            location = marker.location
        elif _is_upload(ann):
            location = "file"
        elif p.name in path_params:
            location = "path"
        elif is_body_type(ann):
            location = "body"
        else:
            location = "query"
        if location == "path":
            plan.params.append(ParamSpec(p.name, "path", p.name, ann, declared))
            continue
        key = marker.alias if marker is not None and marker.alias else p.name
        if location == "header":
            key = (marker.alias if marker and marker.alias else p.name.replace("_", "-")).lower()
        plan.params.append(
            ParamSpec(
                p.name,
                location,
                key,
                _with_meta(ann, marker),
                declared,
                value_default,
                multi=_is_multi(ann) and location in ("query", "header", "file"),
                marker=marker,
            )
        )
    bodies = [p for p in plan.params if p.location in BODY_LOCATIONS]
    if len(bodies) > 1 and any(p.location == "body" for p in bodies):
        # Form fields and files share one multipart body; a JSON body cannot be split.
        names = ", ".join(p.name for p in bodies)
        raise RouteError(f"{label}: more than one body parameter ({names}); use one type for it")
    return plan


def _settings_class(tp: Any) -> Any:
    """`tp` if it is a `covetpy.Settings` subclass, else None."""
    from covetpy.settings.model import Settings

    return tp if isinstance(tp, type) and issubclass(tp, Settings) else None


def plan_dependency(dep: Any, path_params: set[str], label: str) -> ParamSpec:
    """A `Depends(...)` given in a `dependencies=[...]` list, as a parameter to run first."""
    if not isinstance(dep, _Depends):
        raise RouteError(f"{label}: dependencies= takes Depends(...) values, not {dep!r}")
    sub = plan_call(dep.dependency, path_params, label, sync_to_thread=dep.sync_to_thread)
    name = getattr(dep.dependency, "__name__", "dependency")
    return ParamSpec(name, "dependency", name, Any, Any, dependency=sub, use_cache=dep.use_cache)
