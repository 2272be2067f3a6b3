"""Per-request resolution of a plan: values from the request, validated and converted by
msgspec, dependencies called (once per request unless told otherwise), teardowns run.

`build_endpoint` turns a route's plan into the one callable Rust invokes as
`endpoint(request, *path_values)`: a plain function when nothing in the plan can await (the
fast path: no coroutine, no Task), a coroutine function otherwise.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import inspect
import io
from collections.abc import Callable
from typing import Any

import msgspec

from covetpy.background import BackgroundTasks, hand_off
from covetpy.datastructures import UploadFile
from covetpy.exceptions import HTTPException, RequestValidationError
from covetpy.params.errors import ValidationIssue, body_issues, split_msgspec_error
from covetpy.params.markers import Required
from covetpy.params.plan import CallPlan, ParamSpec, is_body_type, plan_call
from covetpy.requests import Request

__all__ = ["Resolver", "parse_cookies"]

_json_decode = msgspec.json.decode
_MISSING = object()
# Parts per multipart body: enough for real forms, bounded so a crafted body cannot make
# the parser build unbounded lists (the body itself is bounded by max_body_size).
_MAX_PARTS = 256


def _media_type(request: Request) -> str:
    ct = request.header("content-type") or ""
    return ct.split(";", 1)[0].strip().lower()


def parse_cookies(header: str | None) -> dict[str, str]:
    """The cookies of a `Cookie` header, the first of each name."""
    out: dict[str, str] = {}
    if header:
        for part in header.split(";"):
            name, sep, value = part.strip().partition("=")
            if sep and name:
                out.setdefault(name, value.strip('"'))
    return out


class _Ctx:
    """What one request's resolution accumulates."""

    __slots__ = (
        "background",
        "cache",
        "cookies",
        "errors",
        "exits",
        "multipart",
        "path",
        "request",
        "websocket",
    )

    def __init__(self, request: Request, path: dict[str, Any], websocket: Any = None) -> None:
        self.request = request
        self.path = path
        self.websocket = websocket
        self.errors: list[ValidationIssue] = []
        self.cache: dict[Callable[..., Any], Any] = {}
        self.exits: list[Any] = []
        self.cookies: dict[str, str] | None = None
        self.multipart: tuple[dict[str, list[str]], dict[str, list[UploadFile]]] | None = None
        self.background: BackgroundTasks | None = None


class Resolver:
    """Resolves plans for one app (its dependency overrides, its thread pool)."""

    def __init__(
        self,
        overrides: dict[Callable[..., Any], Callable[..., Any]],
        executor: Callable[[], Any],
    ) -> None:
        self.overrides = overrides
        self.executor = executor
        # The app's loaded settings of a class (`Depends(Config)`); set by the App.
        self.settings_of: Callable[[Any], Any] = _no_settings
        self._override_plans: dict[Callable[..., Any], CallPlan] = {}

    # -- plain values ------------------------------------------------------------------

    def _value(self, spec: ParamSpec, ctx: _Ctx) -> Any:
        loc = spec.location
        if loc == "path":
            return ctx.path[spec.name]
        if loc == "request":
            return ctx.request
        if loc == "websocket":
            return ctx.websocket
        if loc == "auth":
            return _auth_value(spec, ctx.request)
        if loc == "settings":
            override = self.overrides.get(spec.annotation)
            return override() if override is not None else self.settings_of(spec.annotation)
        if loc == "query":
            qp = ctx.request.query_params
            raw: Any = qp.getlist(spec.key) if spec.multi else qp.get(spec.key)
        elif loc == "header":
            if spec.multi:
                raw = ctx.request.headers.getlist(spec.key)
            else:
                raw = ctx.request.header(spec.key)
        elif loc == "cookie":
            if ctx.cookies is None:
                ctx.cookies = parse_cookies(ctx.request.header("cookie"))
            raw = ctx.cookies.get(spec.key)
        elif loc == "background":
            # Last: only this request's tasks pay for the test (made once, on first use).
            if ctx.background is None:
                ctx.background = BackgroundTasks()
            return ctx.background
        else:
            return self._body(spec, ctx)
        if raw is None or (spec.multi and not raw):
            if spec.default is Required:
                ctx.errors.append(ValidationIssue(f"{loc}.{spec.key}", "field required"))
                return _MISSING
            return spec.default
        try:
            return msgspec.convert(raw, spec.annotation, strict=False)
        except msgspec.ValidationError as exc:
            ctx.errors.append(split_msgspec_error(str(exc), f"{loc}.{spec.key}"))
            return _MISSING

    def _body(self, spec: ParamSpec, ctx: _Ctx) -> Any:
        request = ctx.request
        body: bytes = request.body_bytes
        if not body:
            if spec.default is not Required:
                return spec.default
            ctx.errors.append(ValidationIssue("body", "a request body is required"))
            return _MISSING
        tp = spec.annotation
        if tp in (bytes, bytearray):
            return body
        media = _media_type(request)
        if spec.location == "file":
            if media != "multipart/form-data":
                raise HTTPException(415, "expected multipart/form-data")
            files = self._multipart(ctx)[1].get(spec.key)
            if not files:
                if spec.default is not Required:
                    return spec.default
                ctx.errors.append(ValidationIssue(f"file.{spec.key}", "file required"))
                return _MISSING
            return files if spec.multi else files[0]
        form_types = ("application/x-www-form-urlencoded", "multipart/form-data")
        if spec.location == "form" or media in form_types:
            if media not in form_types:
                raise HTTPException(415, "expected a form (urlencoded or multipart)")
            form: dict[str, Any] = {}
            if media == "multipart/form-data":
                for key, values in self._multipart(ctx)[0].items():
                    form[key] = values if len(values) > 1 else values[0]
            else:
                qp = request.form_params()
                for key in qp.keys():
                    values = qp.getlist(key)
                    form[key] = values if len(values) > 1 else values[0]
            whole = spec.location == "body" or is_body_type(spec.declared)
            data: Any = form if whole else form.get(spec.key, _MISSING)
            root = "form" if whole else f"form.{spec.key}"
            if data is _MISSING:
                if spec.default is not Required:
                    return spec.default
                ctx.errors.append(ValidationIssue(root, "field required"))
                return _MISSING
            try:
                return msgspec.convert(data, tp, strict=False)
            except msgspec.ValidationError as exc:
                ctx.errors.append(split_msgspec_error(str(exc), root))
                return _MISSING
        if media != "application/json" and not media.endswith("+json"):
            raise HTTPException(415, f"expected application/json, got {media or 'no content type'}")
        if tp is str:
            try:
                return body.decode()
            except UnicodeDecodeError:
                raise HTTPException(400, "the body is not valid UTF-8") from None
        try:
            return _json_decode(body, type=tp)
        except msgspec.ValidationError as exc:
            issues = []
            try:
                issues = body_issues(_json_decode(body), tp)
            except msgspec.DecodeError:
                pass
            ctx.errors.extend(issues or [split_msgspec_error(str(exc), "body")])
            return _MISSING
        except msgspec.DecodeError as exc:
            raise HTTPException(400, f"malformed JSON body: {exc}") from None

    @staticmethod
    def _multipart(ctx: _Ctx) -> tuple[dict[str, list[str]], dict[str, list[UploadFile]]]:
        """Parses a multipart body once per request; large files go to temporary files."""
        if ctx.multipart is not None:
            return ctx.multipart
        # Here: the parser imports wsgiref, email and more, which an app without forms never
        # needs (adrs/0020).
        import multipart  # type: ignore[import-untyped]

        request = ctx.request
        _, options = multipart.parse_options_header(request.header("content-type") or "")
        boundary = options.get("boundary")
        if not boundary:
            raise HTTPException(400, "multipart body without a boundary")
        body = request.body_bytes
        fields: dict[str, list[str]] = {}
        files: dict[str, list[UploadFile]] = {}
        try:
            parser = multipart.MultipartParser(
                io.BytesIO(body),
                boundary,
                content_length=len(body),
                spool_limit=UploadFile.SPOOL_LIMIT,
                memory_limit=len(body) + 1,
                part_limit=_MAX_PARTS,
            )
            for part in parser:
                if part.filename is None:
                    fields.setdefault(part.name, []).append(part.value)
                else:
                    part.file.seek(0)
                    upload = UploadFile(part.file, part.filename, part.content_type, part.size)
                    files.setdefault(part.name, []).append(upload)
        except multipart.MultipartError as exc:
            raise HTTPException(400, f"malformed multipart body: {exc}") from None
        ctx.multipart = (fields, files)
        return ctx.multipart

    # -- dependencies and calls -----------------------------------------------------------

    def _kwargs(self, plan: CallPlan, ctx: _Ctx) -> dict[str, Any]:
        """Arguments for `plan` when it has no async dependency (sync resolution)."""
        kwargs: dict[str, Any] = {}
        for spec in plan.pre:
            self._dep_sync(spec, ctx)
        for spec in plan.params:
            if spec.dependency is not None:
                kwargs[spec.name] = self._dep_sync(spec, ctx)
            else:
                kwargs[spec.name] = self._value(spec, ctx)
        return kwargs

    async def _kwargs_async(self, plan: CallPlan, ctx: _Ctx) -> dict[str, Any]:
        kwargs: dict[str, Any] = {}
        for spec in plan.pre:
            await self._dep_async(spec, ctx)
        for spec in plan.params:
            if spec.dependency is not None:
                kwargs[spec.name] = await self._dep_async(spec, ctx)
            else:
                kwargs[spec.name] = self._value(spec, ctx)
        return kwargs

    def _target(self, spec: ParamSpec) -> tuple[Callable[..., Any], CallPlan]:
        assert spec.dependency is not None
        plan = spec.dependency
        override = self.overrides.get(plan.call)
        if override is not None:
            planned = self._override_plans.get(override)
            if planned is None:
                planned = plan_call(override, set(), f"override of {plan.call!r}")
                self._override_plans[override] = planned
            return plan.call, planned
        return plan.call, plan

    def _dep_sync(self, spec: ParamSpec, ctx: _Ctx) -> Any:
        key, plan = self._target(spec)
        if spec.use_cache and key in ctx.cache:
            return ctx.cache[key]
        if plan.needs_async:
            raise RuntimeError("internal: async dependency on the sync path")
        kwargs = self._kwargs(plan, ctx)
        if ctx.errors:
            return _MISSING
        value = self._enter_sync(plan, kwargs, ctx)
        if spec.use_cache:
            ctx.cache[key] = value
        return value

    async def _dep_async(self, spec: ParamSpec, ctx: _Ctx) -> Any:
        key, plan = self._target(spec)
        if spec.use_cache and key in ctx.cache:
            return ctx.cache[key]
        kwargs = await self._kwargs_async(plan, ctx)
        if ctx.errors:
            return _MISSING
        if plan.is_async_generator:
            gen = plan.call(**kwargs)
            value = await gen.__anext__()
            ctx.exits.append(gen)
        elif plan.is_async:
            value = await plan.call(**kwargs)
        elif plan.sync_to_thread:
            value = await self.in_thread(plan.call, kwargs)
        else:
            value = self._enter_sync(plan, kwargs, ctx)
        if spec.use_cache:
            ctx.cache[key] = value
        return value

    def _enter_sync(self, plan: CallPlan, kwargs: dict[str, Any], ctx: _Ctx) -> Any:
        if plan.is_generator:
            gen = plan.call(**kwargs)
            value = next(gen)
            ctx.exits.append(gen)
            return value
        return plan.call(**kwargs)

    async def in_thread(self, fn: Callable[..., Any], kwargs: dict[str, Any]) -> Any:
        """Runs a blocking callable in the app's bounded pool, keeping contextvars."""
        run = functools.partial(contextvars.copy_context().run, fn, **kwargs)
        return await asyncio.get_running_loop().run_in_executor(self.executor(), run)

    # -- teardown -------------------------------------------------------------------------

    @staticmethod
    def _exit_sync(ctx: _Ctx, exc: BaseException | None) -> None:
        for gen in reversed(ctx.exits):
            if exc is None:
                try:
                    next(gen)
                except StopIteration:
                    continue
                raise RuntimeError(f"dependency {gen!r} yielded more than once")
            try:
                gen.throw(exc)
            except StopIteration:
                continue
            except BaseException as raised:
                if raised is not exc:
                    raise

    @staticmethod
    async def _exit_async(ctx: _Ctx, exc: BaseException | None) -> None:
        for gen in reversed(ctx.exits):
            is_async = hasattr(gen, "__anext__")
            try:
                if exc is None:
                    if is_async:
                        await gen.__anext__()
                    else:
                        next(gen)
                    raise RuntimeError(f"dependency {gen!r} yielded more than once")
                if is_async:
                    await gen.athrow(exc)
                else:
                    gen.throw(exc)
            except (StopIteration, StopAsyncIteration):
                continue
            except BaseException as raised:
                if raised is not exc:
                    raise

    # -- calls driven by their caller (WebSocket endpoints) -------------------------------

    async def enter(
        self, plan: CallPlan, request: Request, path: dict[str, Any], websocket: Any = None
    ) -> tuple[dict[str, Any], object]:
        """The arguments of `plan` for one request (dependencies entered), and a token for
        `leave`, which runs the teardowns: for a caller whose call outlives the usual
        request (a WebSocket session). Raises `RequestValidationError` for bad parameters;
        whatever raises here has run its teardowns already."""
        ctx = _Ctx(request, path, websocket)
        try:
            kwargs = await self._kwargs_async(plan, ctx)
            if ctx.errors:
                raise RequestValidationError(ctx.errors)
        except BaseException as exc:
            await self._exit_async(ctx, exc)
            raise
        return kwargs, ctx

    async def leave(self, token: object, exc: BaseException | None) -> None:
        """Runs the teardowns of an `enter` (`exc`: what ended the call, if it failed)."""
        assert isinstance(token, _Ctx)
        await self._exit_async(token, exc)

    # -- endpoints ------------------------------------------------------------------------

    def build_endpoint(
        self,
        plan: CallPlan,
        path_names: list[str],
        finalize: Callable[[Any, Request], Any],
        on_error: Callable[[Request, Exception], Any] | None = None,
        force_async: bool = False,
    ) -> tuple[Callable[..., Any], bool]:
        """The callable Rust invokes as `endpoint(request, *path_values)`, and whether it is
        a coroutine function. `on_error(request, exc)` (the app's exception handlers) returns
        a response, an awaitable of one, or raises."""
        names = tuple(path_names)

        def run_sync(request: Request, values: tuple[Any, ...]) -> Any:
            ctx = _Ctx(request, dict(zip(names, values, strict=True)))
            kwargs = self._kwargs(plan, ctx)
            if ctx.errors:
                raise RequestValidationError(ctx.errors)
            if not ctx.exits:
                result = finalize(plan.call(**kwargs), request)
            else:
                try:
                    result = finalize(plan.call(**kwargs), request)
                except BaseException as exc:
                    self._exit_sync(ctx, exc)
                    raise
                self._exit_sync(ctx, None)
            if ctx.background is not None:
                hand_off(request, ctx.background, self.executor, result)
            return result

        async def run_async(request: Request, values: tuple[Any, ...]) -> Any:
            ctx = _Ctx(request, dict(zip(names, values, strict=True)))
            try:
                kwargs = await self._kwargs_async(plan, ctx)
                if ctx.errors:
                    raise RequestValidationError(ctx.errors)
                if plan.is_async:
                    result = await plan.call(**kwargs)
                elif plan.sync_to_thread:
                    result = await self.in_thread(plan.call, kwargs)
                else:
                    result = plan.call(**kwargs)
                result = finalize(result, request)
            except BaseException as exc:
                await self._exit_async(ctx, exc)
                raise
            await self._exit_async(ctx, None)
            if ctx.background is not None:
                hand_off(request, ctx.background, self.executor, result)
            return result

        if not (plan.needs_async or force_async):
            if on_error is None:
                return (lambda request, *values: run_sync(request, values)), False

            def endpoint(request: Request, *values: Any) -> Any:
                try:
                    return run_sync(request, values)
                except Exception as exc:
                    return on_error(request, exc)

            return endpoint, False

        if on_error is None:

            async def async_endpoint(request: Request, *values: Any) -> Any:
                return await run_async(request, values)

            return async_endpoint, True

        async def guarded_endpoint(request: Request, *values: Any) -> Any:
            try:
                return await run_async(request, values)
            except Exception as exc:
                result = on_error(request, exc)
                if inspect.isawaitable(result):
                    result = await result
                return result

        return guarded_endpoint, True


def _no_settings(cls: Any) -> Any:
    raise RuntimeError(f"{cls.__name__}: settings are resolved by an App")


def _auth_value(spec: ParamSpec, request: Request) -> Any:
    """`request.auth` for an identity parameter: the Identity, or its claims decoded into the
    declared type; 401 without one (unless the parameter has a default)."""
    from covetpy.auth.errors import AuthFailed, bearer_challenge
    from covetpy.auth.identity import Identity

    identity = request.auth
    if identity is None:
        if spec.default is Required:
            raise AuthFailed("missing", "authentication required", bearer_challenge())
        return spec.default
    target = spec.annotation
    if target is Any or (isinstance(target, type) and issubclass(target, Identity)):
        return identity
    try:
        return identity.claims_as(target)
    except (msgspec.ValidationError, msgspec.DecodeError) as exc:
        raise AuthFailed(
            "claim",
            f"the token's claims do not fit: {exc}",
            bearer_challenge(error="invalid_token", description="the token's claims do not fit"),
        ) from None
