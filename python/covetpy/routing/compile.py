"""The compile step: declarations become `Route`s (handlers checked against their paths,
parameters planned), and routes become the `RouteEntry` table Rust receives (endpoints with
their middleware chains). Runs once per app at start-up, never per request."""

from __future__ import annotations

import inspect
import re
import uuid
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, Unpack

from covetpy._bridge import PlanItem, RouteEntry
from covetpy.auth.requires import Requires
from covetpy.exceptions import RouteError
from covetpy.middleware.pipeline import bind_route, compile_chain
from covetpy.params.plan import BODY_LOCATIONS, CallPlan, ParamSpec, plan_call, plan_dependency
from covetpy.responses import JSONResponse, PlainTextResponse, Response
from covetpy.routing.options import RouteOptions
from covetpy.routing.route import PARAM, Route, return_annotation, split_path
from covetpy.websocket.endpoint import websocket_endpoint

if TYPE_CHECKING:
    from covetpy.params.resolve import Resolver
    from covetpy.requests import Request

__all__ = ["compile_route", "route_table"]

_BY_ANNOTATION: dict[Any, str] = {int: "int", float: "float", str: "str", uuid.UUID: "uuid"}


def compile_route(
    path: str,
    methods: Sequence[str],
    handler: Callable[..., Any],
    *,
    fixed: Response | None = None,
    websocket: bool = False,
    **options: Unpack[RouteOptions],
) -> Route:
    """Checks a handler's signature against its path and plans its parameters
    (`websocket=True`: a WebSocket route's handler)."""
    if not callable(handler):
        raise RouteError(f"route {path}: handler {handler!r} is not callable")
    if isinstance(methods, str):
        methods = (methods,)
    verbs = "WS" if websocket else "|".join(methods)
    label = f"{verbs} {path} -> {getattr(handler, '__qualname__', handler)!s}"
    declared = dict(split_path(path))
    sync_to_thread = options.get("sync_to_thread", False)
    plan = plan_call(handler, set(declared), label, sync_to_thread=sync_to_thread)
    # `requires(...)` among the dependencies is checked in Rust (and by the auth gate for
    # identities Python verified), not called per request.
    plan.pre = [
        plan_dependency(d, set(declared), label)
        for d in options.get("dependencies", ())
        if not isinstance(d, Requires)
    ]
    _check_kind(plan, websocket, label)
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
        name=options.get("name") or str(getattr(handler, "__name__", path)),
        plan=plan,
        rust_path=PARAM.sub(spell, path),
        path_names=list(declared),
        status_code=options.get("status_code"),
        response_class=options.get("response_class"),
        tags=list(options.get("tags", ())),
        sync_to_thread=sync_to_thread,
        include_in_schema=options.get("include_in_schema", True),
        summary=options.get("summary") or (doc.splitlines()[0] if doc else None),
        description=options.get("description") or ("\n".join(doc.splitlines()[1:]).strip() or None),
        fixed=fixed,
        timeout=options.get("timeout"),
        middleware=tuple(options.get("middleware", ())),
        websocket=websocket,
        requires=tuple(options.get("requires", ())),
        dependencies=tuple(options.get("dependencies", ())),
        public=options.get("public", False),
    )


def _check_kind(plan: CallPlan, websocket: bool, label: str) -> None:
    """A WebSocket handler is a coroutine function and reads no body; an HTTP one takes no
    `WebSocket`."""
    locations = {s.location for s in plan.walk()}
    if not websocket:
        if "websocket" in locations:
            raise RouteError(
                f"{label}: a WebSocket parameter on an HTTP route; declare it with "
                "@app.websocket(path)"
            )
        return
    if not plan.is_async:
        raise RouteError(f"{label}: a WebSocket handler must be an async function")
    if "background" in locations:
        raise RouteError(
            f"{label}: BackgroundTasks run after an HTTP response, which a WebSocket session "
            "does not have; start a Task from the handler instead"
        )
    bodies = locations & set(BODY_LOCATIONS)
    if bodies:
        raise RouteError(
            f"{label}: a WebSocket upgrade has no body to read a {sorted(bodies)[0]} "
            "parameter from; receive messages from the WebSocket instead"
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


def route_table(
    routes: Sequence[Route],
    *,
    chain_of: Callable[[Route], list[Any]],
    resolver: Resolver,
    on_error: Callable[[Request, Exception], Any] | None,
    force_async: bool,
    render_exception: Callable[[BaseException], Response],
) -> list[RouteEntry]:
    """One `RouteEntry` per route. `chain_of(route)` is its middleware, outermost first;
    `on_error` the app's exception handlers (None: none, and routes may take the fast path);
    `force_async` makes resolved endpoints coroutines (an async exception handler or
    dependency override). Route-aware middleware (`for_route`) learn their route's template."""
    table = []
    for route in routes:
        if route.websocket:
            table.append(_websocket_entry(route, resolver, on_error, render_exception))
            continue
        if route.fixed is not None:
            table.append(
                RouteEntry(
                    route.methods, route.rust_path, route.handler, (), route.fixed, None, False
                )
            )
            continue
        chain = chain_of(route)
        fast = None if on_error is not None or _needs_prepare(route) else route.fast_plan()
        if fast is not None and not chain:
            table.append(
                RouteEntry(
                    route.methods, route.rust_path, route.handler, fast, None, route.timeout, False
                )
            )
            continue
        if fast is not None:
            # Inside a chain, a handler that needs no parameter resolution is still called
            # directly, as the fast path would.
            endpoint = _direct(route.handler, fast, route.path_names)
            endpoint_async = inspect.iscoroutinefunction(route.handler)
        else:
            endpoint, endpoint_async = resolver.build_endpoint(
                route.plan, route.path_names, _finalizer(route), on_error, force_async
            )
        if chain:
            label = f"{'|'.join(route.methods)} {route.path}"
            chain = bind_route(chain, route.path, endpoint_async)
            endpoint, _ = compile_chain(chain, endpoint, endpoint_async, render_exception, label)
        plan: tuple[PlanItem, ...] = (("request", None),)
        plan += tuple(("path", n) for n in route.path_names)
        table.append(
            RouteEntry(route.methods, route.rust_path, endpoint, plan, None, route.timeout, False)
        )
    return table


def _websocket_entry(
    route: Route,
    resolver: Resolver,
    on_error: Callable[[Request, Exception], Any] | None,
    render_exception: Callable[[BaseException], Response],
) -> RouteEntry:
    """A WebSocket route's entry: no Python middleware (they wrap one request and one
    response; the built-in ones in Rust apply to the upgrade) and no timeout (a session
    lasts as long as its peers keep it open)."""
    endpoint = websocket_endpoint(
        route.plan, route.path_names, resolver, on_error, render_exception, route.path
    )
    plan: tuple[PlanItem, ...] = (("request", None),)
    plan += tuple(("path", n) for n in route.path_names)
    return RouteEntry(route.methods, route.rust_path, endpoint, plan, None, 0.0, websocket=True)


def _needs_prepare(route: Route) -> bool:
    """Whether the route's responses need the request to be finished (files: ranges, 304)."""
    target = route.response_class or return_annotation(route.handler)
    return isinstance(target, type) and hasattr(target, "prepare")


def _direct(
    handler: Callable[..., Any], fast: tuple[PlanItem, ...], path_names: list[str]
) -> Callable[..., Any]:
    """`endpoint(request, *path_values)` calling `handler` with the arguments of its fast plan
    (the Request and path values in the handler's order)."""
    if any(kind == "auth" for kind, _ in fast):
        from covetpy.auth.requires import current_user

        def pick(request: Request, values: tuple[Any, ...], kind: str, name: Any) -> Any:
            if kind == "request":
                return request
            if kind == "auth":
                return current_user(request)  # 401 without an identity
            return values[path_names.index(str(name))]

        return lambda request, *values: handler(*[pick(request, values, k, n) for k, n in fast])
    picks = [-1 if kind == "request" else path_names.index(str(name)) for kind, name in fast]
    if not picks:
        return lambda request, *values: handler()
    if picks == list(range(len(path_names))):
        return lambda request, *values: handler(*values)
    return lambda request, *values: handler(*[request if i < 0 else values[i] for i in picks])


def _finalizer(route: Route) -> Callable[[Any, Request], Any]:
    status = route.status_code
    cls = route.response_class

    def finalize(value: Any, request: Request) -> Any:
        if isinstance(value, Response):
            prepare = getattr(value, "prepare", None)
            return prepare(request) if prepare is not None else value
        if status is None and cls is None:
            return value
        if cls is not None:
            response = cls(value, status_code=status or 200)
        elif isinstance(value, str):
            response = PlainTextResponse(value, status_code=status or 200)
        elif value is None or isinstance(value, bytes):
            response = Response(value, status_code=status or 200)
        else:
            response = JSONResponse(value, status_code=status or 200)
        prepare = getattr(response, "prepare", None)
        return prepare(request) if prepare is not None else response

    return finalize
