"""The endpoint Rust calls for a WebSocket route, driven with a stand-in session: refusals
before `accept()` (403, the dependency's HTTPException, 422, the app's exception handlers),
the close codes after it (1000 on return, 1011 on an exception) and teardowns that run after
the close."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import msgspec
import pytest

from covetpy import (
    App,
    Depends,
    HTTPException,
    Query,
    RequestValidationError,
    Response,
    WebSocket,
    WebSocketDisconnect,
)
from tests.websocket.fakes import WAIT, FakeRequest, FakeSession


def endpoint_of(app: App, path: str) -> Callable[..., Any]:
    entries = [e for e in app.route_table() if e.path == path]
    assert len(entries) == 1 and entries[0].websocket, entries
    assert entries[0].plan[0] == ("request", None)
    assert entries[0].timeout == 0.0  # a session lasts as long as it lasts
    return entries[0].endpoint


def call(app: App, path: str, session: FakeSession | None, *values: Any, **kw: Any) -> Any:
    endpoint = endpoint_of(app, path)
    return asyncio.run(endpoint(FakeRequest(session, path, **kw), *values))


def problem(response: Any) -> tuple[int, dict[str, Any]]:
    assert isinstance(response, Response)
    assert response.headers["content-type"].startswith("application/problem+json")
    return response.status_code, msgspec.json.decode(response.body)


def test_returning_before_accept_refuses_with_403() -> None:
    app = App()

    @app.websocket("/ws")
    async def handler(ws: WebSocket) -> None:
        return None

    session = FakeSession()
    status, doc = problem(call(app, "/ws", session))
    assert status == 403
    assert doc["detail"] == "the WebSocket handler did not accept the connection"
    assert session.accepted is None and session.closed_with is None


def test_closing_before_accept_refuses_with_403() -> None:
    app = App()

    @app.websocket("/ws")
    async def handler(ws: WebSocket) -> None:
        await ws.close(1008)

    assert problem(call(app, "/ws", FakeSession()))[0] == 403


def test_a_response_returned_before_accept_is_the_answer() -> None:
    app = App()

    @app.websocket("/ws")
    async def handler(ws: WebSocket) -> Response:
        return Response("busy", status_code=503, headers={"retry-after": "3"})

    response = call(app, "/ws", FakeSession())
    assert (response.status_code, response.body) == (503, b"busy")


def test_http_exception_from_a_dependency_is_raised_for_rust_to_render() -> None:
    app = App()
    entered: list[str] = []

    def auth() -> str:
        raise HTTPException(401, "who are you?")

    @app.websocket("/ws")
    async def handler(ws: WebSocket, user: str = Depends(auth)) -> None:
        entered.append(user)

    with pytest.raises(HTTPException) as info:
        call(app, "/ws", FakeSession())
    assert info.value.status_code == 401
    assert entered == []


def test_a_bad_query_value_is_a_422_before_accept() -> None:
    app = App()

    @app.websocket("/ws")
    async def handler(ws: WebSocket, limit: int = Query()) -> None:
        await ws.accept()

    session = FakeSession()
    with pytest.raises(RequestValidationError) as info:
        call(app, "/ws", session, query=[("limit", "many")])
    assert [e.location for e in info.value.errors] == ["query.limit"]
    assert session.accepted is None


def test_the_apps_exception_handlers_answer_refusals() -> None:
    app = App()

    @app.exception_handler(HTTPException)
    async def teapot(request: Any, exc: HTTPException) -> Response:
        return Response(f"refused: {exc.detail}", status_code=exc.status_code)

    @app.websocket("/ws")
    async def handler(ws: WebSocket) -> None:
        raise HTTPException(409, "room full")

    response = call(app, "/ws", FakeSession())
    assert (response.status_code, response.body) == (409, b"refused: room full")


def test_returning_after_accept_closes_with_1000_then_tears_down() -> None:
    app = App()
    session = FakeSession(["hi", WAIT, 1000])

    async def resource(ws: WebSocket) -> AsyncIterator[str]:
        session.events.append("enter")
        yield "db"
        session.events.append(f"teardown closed={ws.closed}")

    def sync_resource() -> Iterator[int]:
        session.events.append("sync enter")
        yield 1
        session.events.append("sync teardown")

    @app.websocket("/ws/{room}")
    async def handler(
        ws: WebSocket, room: str, db: str = Depends(resource), n: int = Depends(sync_resource)
    ) -> None:
        await ws.accept()
        async for text in ws.iter_text():
            await ws.send_text(f"{room} {db} {n} {text}")
        session.events.append("handler returns")

    assert call(app, "/ws/{room}", session, "r1") is None
    assert session.sent == ["r1 db 1 hi"]
    assert session.events == [
        "enter",
        "sync enter",
        "accept",
        "peer close 1000",
        "handler returns",
        "sync teardown",
        "teardown closed=True",
    ]
    # The peer closed first: nothing more is sent.
    assert session.closed_with is None


def test_a_handler_that_returns_open_gets_closed_with_1000() -> None:
    app = App()

    @app.websocket("/ws")
    async def handler(ws: WebSocket) -> None:
        await ws.accept()
        await ws.send_text("bye")

    session = FakeSession()
    call(app, "/ws", session)
    assert session.closed_with == (1000, "")


def test_an_exception_after_accept_closes_with_1011_and_is_logged(
    caplog: pytest.LogCaptureFixture,
) -> None:
    app = App()
    session = FakeSession()
    seen: list[str] = []

    async def resource() -> AsyncIterator[None]:
        try:
            yield
        except RuntimeError as exc:
            seen.append(f"teardown saw {exc}")
            raise

    @app.websocket("/ws")
    async def handler(ws: WebSocket, _: None = Depends(resource)) -> None:
        await ws.accept()
        raise RuntimeError("boom")

    with caplog.at_level(logging.ERROR, logger="covetpy"):
        assert call(app, "/ws", session) is None
    assert session.closed_with == (1011, "internal error")
    assert seen == ["teardown saw boom"]
    [record] = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert record.getMessage() == "unhandled exception in a WebSocket handler"
    assert record.exc_info is not None and str(record.exc_info[1]) == "boom"


def test_a_disconnect_escaping_the_handler_is_the_normal_end(
    caplog: pytest.LogCaptureFixture,
) -> None:
    app = App()

    @app.websocket("/ws")
    async def handler(ws: WebSocket) -> None:
        await ws.accept()
        while True:
            await ws.receive_text()  # raises WebSocketDisconnect(1006)

    session = FakeSession(["a", 1006])
    with caplog.at_level(logging.ERROR, logger="covetpy"):
        assert call(app, "/ws", session) is None
    assert session.closed_with is None
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


def test_1007_from_a_typed_iterator_reaches_the_peer_and_ends_the_handler() -> None:
    class Msg(msgspec.Struct):
        n: int

    app = App()

    @app.websocket("/ws")
    async def handler(ws: WebSocket) -> None:
        await ws.accept()
        async for m in ws.iter_json(type=Msg):
            await ws.send_json(m.n * 2)

    session = FakeSession(['{"n": 2}', '{"n": "x"}'])
    call(app, "/ws", session)
    assert session.sent == ["4"]
    assert session.closed_with == (1007, "Expected `int`, got `str` - at `$.n`")


def test_cancellation_runs_the_teardown_and_propagates() -> None:
    app = App()
    torn: list[bool] = []

    async def resource() -> AsyncIterator[None]:
        try:
            yield
        finally:
            torn.append(True)

    @app.websocket("/ws")
    async def handler(ws: WebSocket, _: None = Depends(resource)) -> None:
        await ws.accept()
        await asyncio.Event().wait()

    async def main() -> None:
        endpoint = endpoint_of(app, "/ws")
        task = asyncio.ensure_future(endpoint(FakeRequest(FakeSession(), "/ws")))
        await asyncio.sleep(0)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(main())
    assert torn == [True]


def test_dependency_overrides_apply() -> None:
    app = App()

    def real() -> str:
        return "real"

    @app.websocket("/ws")
    async def handler(ws: WebSocket, who: str = Depends(real)) -> None:
        await ws.accept()
        await ws.send_text(who)

    app.dependency_overrides[real] = lambda: "fake"
    session = FakeSession()
    call(app, "/ws", session)
    assert session.sent == ["fake"]


def test_a_request_without_a_session_is_told_to_upgrade() -> None:
    app = App()

    @app.websocket("/ws")
    async def handler(ws: WebSocket) -> None:
        await ws.accept()

    with pytest.raises(HTTPException) as info:
        call(app, "/ws", None)
    assert info.value.status_code == 426
    assert info.value.headers == {"upgrade": "websocket"}


def test_disconnect_from_send_after_the_peer_left() -> None:
    app = App()
    outcome: list[int] = []

    @app.websocket("/ws")
    async def handler(ws: WebSocket) -> None:
        await ws.accept()
        await ws.receive()
        try:
            await ws.send_text("x")
        except WebSocketDisconnect as exc:
            outcome.append(exc.code)

    session = FakeSession(["a"])

    real_receive = session.receive

    def receive() -> str | bytes | int | None:
        message = real_receive()
        session.close_code = 1006  # the TCP connection dropped right after
        return message

    session.receive = receive  # type: ignore[method-assign]
    call(app, "/ws", session)
    assert outcome == [1006]
