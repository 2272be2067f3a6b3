"""Python middleware (issue 6): order, responses, contextvars, errors, sync and async, classes.
Served through the real server by TestClient."""

from __future__ import annotations

import asyncio
import contextvars
from collections.abc import AsyncIterator
from typing import Any

import pytest

from covetpy import App, HTTPException, Request, Response, Router
from covetpy.config import ServerConfig
from covetpy.exceptions import RouteError
from covetpy.middleware import CallNext
from covetpy.responses import JSONResponse, StreamingResponse
from covetpy.testing import StartupError, TestClient

user: contextvars.ContextVar[str] = contextvars.ContextVar("user", default="anonymous")


def build() -> tuple[App, list[str]]:
    app = App(openapi_url=None)
    seen: list[str] = []

    @app.middleware
    async def outer(request: Request, call_next: CallNext) -> Response:
        seen.append("outer>")
        user.set(request.header("x-user", "anonymous"))
        response: Response = await call_next(request)
        seen.append("<outer")
        response.set_header("x-outer", "1")
        return response

    @app.middleware
    async def second(request: Request, call_next: CallNext) -> Response:
        seen.append(f"second sees {user.get()}")
        response: Response = await call_next(request)
        response.set_header("x-status-seen", str(response.status_code))
        return response

    api = Router(prefix="/api")

    @api.middleware
    async def router_level(request: Request, call_next: CallNext) -> Response:
        seen.append("router")
        return await call_next(request)  # type: ignore[no-any-return]

    async def route_level(request: Request, call_next: CallNext) -> Response:
        seen.append("route")
        if request.header("x-deny") is not None:
            return JSONResponse({"denied": True}, status_code=401)
        return await call_next(request)  # type: ignore[no-any-return]

    @api.get("/me", middleware=[route_level])
    async def me() -> dict[str, str]:
        await asyncio.sleep(0)  # suspends: the rest runs as a Task, same context
        seen.append("handler")
        return {"user": user.get()}

    @api.get("/teapot")
    def teapot() -> str:
        raise HTTPException(418, "short and stout")

    @api.get("/crash")
    def crash() -> str:
        raise RuntimeError("handler bug")

    @api.get("/stream")
    def stream() -> StreamingResponse:
        async def body() -> AsyncIterator[bytes]:
            for i in range(3):
                yield f"{i};".encode()

        return StreamingResponse(body(), media_type="text/plain")

    app.include_router(api)
    return app, seen


def test_order_is_app_then_router_then_route_and_back() -> None:
    app, seen = build()
    with TestClient(app) as client:
        r = client.get("/api/me", headers={"x-user": "ada"})
    assert r.status_code == 200
    assert r.json() == {"user": "ada"}
    assert r.headers["x-outer"] == "1" and r.headers["x-status-seen"] == "200"
    assert seen == ["outer>", "second sees ada", "router", "route", "handler", "<outer"]


def test_a_middleware_may_answer_without_calling_next() -> None:
    app, seen = build()
    with TestClient(app) as client:
        r = client.get("/api/me", headers={"x-deny": "1"})
    assert (r.status_code, r.json()) == (401, {"denied": True})
    assert "handler" not in seen
    assert r.headers["x-outer"] == "1", "outer middleware still sees the short answer"


def test_errors_reach_middleware_as_responses() -> None:
    app, _ = build()
    with TestClient(app) as client:
        r = client.get("/api/teapot")
        assert r.status_code == 418 and r.headers["x-status-seen"] == "418"
        assert r.json()["detail"] == "short and stout"
        r = client.get("/api/crash")
        assert r.status_code == 500 and r.headers["x-status-seen"] == "500"


def test_streamed_responses_pass_through() -> None:
    app, _ = build()
    with TestClient(app) as client:
        r = client.get("/api/stream")
    assert r.text == "0;1;2;" and r.headers["x-outer"] == "1"


@pytest.mark.parametrize(
    ("kind", "bridge"),
    [("async", "batched"), ("sync", "batched"), ("async", "inline"), ("sync", "inline")],
)
def test_context_set_in_middleware_does_not_leak_to_other_requests(kind: str, bridge: str) -> None:
    # Async chains rely on their Task's own context, sync ones copy it per request; the
    # inline bridge calls from an IO thread, whose Python context lasts one call (checked:
    # it passes without either).
    app = App(openapi_url=None)

    async def sets_async(request: Request, call_next: CallNext) -> Response:
        user.set("set-by-middleware")
        return await call_next(request)  # type: ignore[no-any-return]

    def sets_sync(request: Request, call_next: CallNext) -> Response:
        user.set("set-by-middleware")
        return call_next(request)  # type: ignore[no-any-return]

    @app.get("/with", middleware=[sets_async if kind == "async" else sets_sync])
    def with_() -> str:
        return user.get()

    @app.get("/without")
    def without() -> str:
        return user.get()

    with TestClient(app, config=ServerConfig(bridge=bridge)) as client:
        assert client.get("/with").text == "set-by-middleware"
        assert client.get("/without").text == "anonymous"
        assert client.get("/with").text == "set-by-middleware"
        assert client.get("/without").text == "anonymous"


def test_a_middleware_that_raises_gives_500_and_the_worker_serves_on() -> None:
    app = App(openapi_url=None)

    @app.middleware
    async def broken(request: Request, call_next: CallNext) -> Response:
        if request.path == "/bad":
            raise RuntimeError("middleware bug")
        return await call_next(request)  # type: ignore[no-any-return]

    @app.get("/bad")
    def bad() -> str:
        return "unreachable"

    @app.get("/good")
    def good() -> str:
        return "good"

    with TestClient(app) as client:
        assert client.get("/bad").status_code == 500
        assert client.get("/good").text == "good"


def test_sync_middleware_around_sync_handlers() -> None:
    app = App(openapi_url=None)

    @app.middleware
    def tag(request: Request, call_next: CallNext) -> Response:
        response: Response = call_next(request)
        response.set_header("x-sync", "yes")
        return response

    @app.get("/")
    def root() -> dict[str, int]:
        return {"n": 1}

    with TestClient(app) as client:
        r = client.get("/")
    assert r.json() == {"n": 1} and r.headers["x-sync"] == "yes"


def test_sync_middleware_around_async_code_fails_at_start_up() -> None:
    app = App(openapi_url=None)

    @app.middleware
    def sync_mw(request: Request, call_next: CallNext) -> Any:
        return call_next(request)

    @app.get("/a")
    async def a() -> str:
        return "a"

    with pytest.raises((RouteError, StartupError), match="sync_mw is sync but wraps async"):
        with TestClient(app):
            pass


class AddHeader:
    """A class-based middleware with options."""

    def __init__(self, name: str, value: str) -> None:
        self.name = name
        self.value = value

    async def __call__(self, request: Request, call_next: CallNext) -> Response:
        response: Response = await call_next(request)
        response.set_header(self.name, self.value)
        return response


def test_class_middleware_with_options() -> None:
    app = App(openapi_url=None)
    app.add_middleware(AddHeader, name="x-powered-by", value="covetpy")

    @app.get("/")
    def root() -> str:
        return "hi"

    with TestClient(app) as client:
        r = client.get("/")
    assert r.headers["x-powered-by"] == "covetpy"
    with pytest.raises(TypeError, match="not a class"):
        app.add_middleware(AddHeader("a", "b"), name="x")


def test_exception_handlers_apply_inside_the_chain() -> None:
    app = App(openapi_url=None)

    class Nope(Exception):
        pass

    @app.exception_handler(Nope)
    def nope(request: Request, exc: Nope) -> Response:
        return Response("handled", status_code=409)

    @app.middleware
    async def seen(request: Request, call_next: CallNext) -> Response:
        response: Response = await call_next(request)
        response.set_header("x-seen", str(response.status_code))
        return response

    @app.get("/")
    def root() -> str:
        raise Nope

    with TestClient(app) as client:
        r = client.get("/")
    assert (r.status_code, r.text, r.headers["x-seen"]) == (409, "handled", "409")
