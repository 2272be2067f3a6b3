"""Declaring WebSocket routes: what is refused at start-up, routers, the route table entry,
`covetpy routes`, and the OpenAPI document leaving them out."""

from __future__ import annotations

import asyncio
from typing import Any

import msgspec
import pytest

from covetpy import App, Body, Depends, RouteError, Router, WebSocket
from covetpy.cli.routes import print_routes
from covetpy.openapi.document import openapi_schema
from tests.websocket.fakes import FakeRequest, FakeSession


class Item(msgspec.Struct):
    name: str


def test_a_sync_handler_is_refused() -> None:
    app = App()

    @app.websocket("/ws")
    def handler(ws: WebSocket) -> None:
        pass

    with pytest.raises(RouteError, match=r"WS /ws -> .*handler: .* must be an async function"):
        app.route_table()


def test_a_body_parameter_is_refused() -> None:
    app = App()

    @app.websocket("/ws")
    async def handler(ws: WebSocket, item: Item) -> None:
        pass

    with pytest.raises(RouteError, match="has no body to read a body parameter"):
        app.route_table()

    app = App()

    @app.websocket("/ws")
    async def explicit(ws: WebSocket, text: str = Body()) -> None:
        pass

    with pytest.raises(RouteError, match="no body"):
        app.route_table()


def test_a_websocket_parameter_on_an_http_route_is_refused() -> None:
    app = App()

    def needs_socket(ws: WebSocket) -> None:
        pass

    @app.get("/http")
    async def handler(x: None = Depends(needs_socket)) -> None:
        pass

    with pytest.raises(RouteError, match="a WebSocket parameter on an HTTP route"):
        app.route_table()


def test_the_route_table_marks_websocket_routes() -> None:
    app = App(openapi_url=None)

    @app.get("/http/{n:int}")
    def http(n: int) -> int:
        return n

    @app.websocket("/ws/{room}/{n:int}")
    async def ws_route(ws: WebSocket, room: str, n: int) -> None:
        pass

    by_path = {e.path: e for e in app.route_table()}
    assert by_path["/http/{n:int}"].websocket is False
    entry = by_path["/ws/{room}/{n:int}"]
    assert entry.websocket is True
    assert entry.methods == ("GET",)
    assert entry.plan == (("request", None), ("path", "room"), ("path", "n"))
    assert entry.fixed is None
    assert asyncio.iscoroutinefunction(entry.endpoint)
    assert app.registrations().routes == ("GET /http/{n:int}", "WS /ws/{room}/{n:int}")


def test_converters_from_annotations_are_written_into_the_path() -> None:
    app = App(openapi_url=None)

    @app.websocket("/ws/{n}")
    async def handler(ws: WebSocket, n: int) -> None:
        pass

    assert [e.path for e in app.route_table()] == ["/ws/{n:int}"]


def test_routers_prefix_and_dependencies_and_url_for() -> None:
    calls: list[str] = []

    def router_dep() -> None:
        calls.append("router")

    def route_dep() -> None:
        calls.append("route")

    router = Router("/chat", dependencies=[Depends(router_dep)])

    @router.websocket("/{room}", name="chat_room", dependencies=[Depends(route_dep)])
    async def room(ws: WebSocket, room: str) -> None:
        await ws.accept()
        await ws.send_text(room)

    app = App(openapi_url=None)
    app.include_router(router, prefix="/v1")
    assert app.url_for("chat_room", room="a b") == "/v1/chat/a%20b"
    [entry] = app.route_table()
    session = FakeSession()
    asyncio.run(entry.endpoint(FakeRequest(session, "/v1/chat/x"), "x"))
    assert calls == ["router", "route"]
    assert session.sent == ["x"]


def test_add_websocket_route() -> None:
    app = App(openapi_url=None)

    async def handler(ws: WebSocket) -> None:
        pass

    app.add_websocket_route("/ws", handler, name="sock")
    [route] = app.routes
    assert (route.websocket, route.name, route.path) == (True, "sock", "/ws")
    with pytest.raises(ValueError, match="start with '/'"):
        app.add_websocket_route("ws", handler)


def test_python_middleware_do_not_run_for_websocket_routes() -> None:
    app = App(openapi_url=None)
    ran: list[str] = []

    @app.middleware
    async def mw(request: Any, call_next: Any) -> Any:
        ran.append(request.path)
        return await call_next(request)

    @app.websocket("/ws")
    async def handler(ws: WebSocket) -> None:
        await ws.accept()

    [entry] = app.route_table()
    session = FakeSession()
    asyncio.run(entry.endpoint(FakeRequest(session, "/ws")))
    assert session.accepted is not None
    assert ran == []


def test_covetpy_routes_lists_websocket_routes(capsys: pytest.CaptureFixture[str]) -> None:
    assert print_routes("tests.websocket.app:app", middleware=True) == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    echo = next(line for line in lines if " /echo " in line)
    assert echo.split() == ["WS", "/echo", "tests.websocket.app.echo"]
    params = next(line for line in lines if "/params/" in line)
    assert params.split()[:2] == ["WS", "/params/{room}/{n:int}"]
    assert "(WebSocket: no Python middleware)" in out
    assert next(line for line in lines if " /log " in line).split()[0] == "GET"


def test_openapi_leaves_websocket_routes_out() -> None:
    from tests.websocket.app import app

    paths = openapi_schema(app)["paths"]
    assert list(paths) == ["/log"]


def test_the_inline_bridge_refuses_websocket_routes() -> None:
    from covetpy._core import Server
    from covetpy.config import ServerConfig
    from covetpy.exceptions import ConfigError

    app = App()

    @app.websocket("/ws")
    async def ws(ws: WebSocket) -> None:
        await ws.accept()

    with pytest.raises(ConfigError, match="bridge=batched"):
        Server(ServerConfig(bridge="inline"), app.route_table(), app.runtime())
