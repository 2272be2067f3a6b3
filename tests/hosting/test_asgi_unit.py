"""The ASGI adapter's rules without a server: `ASGIMount` driven with stand-ins for what Rust
hands it (a `Request` with the body-chunk API, a `Responder`, the stream sender its pump
writes to), in the order the hosting spec gives them. The end-to-end tests
(test_asgi_raw.py and the differential ones) check the same rules through real sockets."""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Callable, Coroutine
from typing import Any

import pytest

from covetpy import _bridge
from covetpy.hosting.asgi import ASGIMount, ClientDisconnected
from covetpy.hosting.lifespan import LifespanError
from covetpy.responses import Response
from tests.websocket.fakes import WAIT, FakeSession

Scope = dict[str, Any]
App = Callable[[Scope, Any, Any], Coroutine[Any, Any, None]]

_jobs = iter(range(1, 1_000_000))


class FakeRequest:
    """A mounted request: `chunks` is the body as it arrives (`arrive` adds more)."""

    def __init__(
        self, chunks: list[bytes] | None = None, *, ended: bool = True, ws: Any = None
    ) -> None:
        self.job = next(_jobs)
        self.websocket = ws
        self.pending = list(chunks or [])
        self.ended = ended
        self.error: BaseException | None = None
        self.waiter: asyncio.Future[None] | None = None
        self.discarded = False
        self.reads = 0

    def asgi_scope(self, template: Scope) -> Scope:
        scope = dict(template)
        kind = "http" if self.websocket is None else "websocket"
        scope.update(type=kind, path="/p", raw_path=b"/p", query_string=b"", headers=[])
        return scope

    def read_chunk(self) -> bytes | None:
        self.reads += 1
        if self.error is not None:
            raise self.error
        if self.pending:
            return self.pending.pop(0)
        return b"" if self.ended else None

    def wait_chunk(self, future: asyncio.Future[None]) -> None:
        self.waiter = future

    def arrive(self, chunk: bytes | None = None, *, end: bool = False) -> None:
        if chunk is not None:
            self.pending.append(chunk)
        self.ended = self.ended or end
        self._wake()

    def cut(self) -> None:
        self.error = ConnectionResetError("client gone")
        self._wake()

    def _wake(self) -> None:
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_result(None)

    def discard_body(self) -> None:
        self.discarded = True


class FakeSender:
    """The `StreamSender` the pump writes to; `room` False makes it wait for `make_room`."""

    def __init__(self) -> None:
        self.chunks: list[bytes] = []
        self.finished = False
        self.aborted = False
        self.gone = False
        self.room = True
        self.waiter: asyncio.Future[None] | None = None

    def send(self, chunk: bytes) -> bool:
        if self.gone:
            raise ConnectionResetError("gone")
        if not self.room:
            return False
        self.chunks.append(chunk)
        return True

    def finish(self) -> bool:
        self.finished = True
        return True

    def abort(self) -> None:
        self.aborted = True

    def wait(self, future: asyncio.Future[None]) -> None:
        self.waiter = future

    def make_room(self) -> None:
        self.room = True
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_result(None)


class FakeResponder:
    """Records the answer; a streamed one is pumped by the real `_bridge._pump`."""

    def __init__(self) -> None:
        self.sent: list[Any] = []
        self.failed: list[BaseException] = []
        self.sender = FakeSender()
        self.pump: asyncio.Task[None] | None = None

    def send(self, value: Any) -> None:
        self.sent.append(value)
        if len(self.sent) == 1 and not self.failed and isinstance(value, Response):
            if value.body_iterator is not None:
                self.pump = asyncio.get_running_loop().create_task(
                    _bridge._pump(value.body_iterator, self.sender)  # type: ignore[arg-type]
                )

    def fail(self, exc: BaseException) -> None:
        self.failed.append(exc)

    @property
    def answer(self) -> Any:
        """What the client got: the first send or fail (later ones are ignored by Rust)."""
        return (self.failed + self.sent)[0] if self.failed or self.sent else None


def start(
    app: App, request: FakeRequest | None = None, mount: ASGIMount | None = None
) -> tuple[FakeRequest, FakeResponder, asyncio.Task[None]]:
    request = request or FakeRequest()
    responder = FakeResponder()
    (mount or ASGIMount(app))(request, responder)  # type: ignore[arg-type]
    return request, responder, _bridge._running[request.job]


async def settle() -> None:
    for _ in range(10):
        await asyncio.sleep(0)


def status(r: Any) -> int:
    assert isinstance(r, Response), r
    return r.status_code


async def hello(scope: Scope, receive: Any, send: Any) -> None:
    await send({"type": "http.response.start", "status": 200, "headers": [(b"x-a", b"1")]})
    await send({"type": "http.response.body", "body": b"hi"})


# -- the scope and the answer ----------------------------------------------------------------


async def test_scope_template_and_one_response() -> None:
    seen: list[Scope] = []

    async def app(scope: Scope, receive: Any, send: Any) -> None:
        seen.append(scope)
        await hello(scope, receive, send)

    mount = ASGIMount(app, root_path="/api")
    mount.set_server(("127.0.0.1", 8000))
    request, responder, task = start(app, mount=mount)
    await task
    scope = seen[0]
    assert scope["asgi"] == {"version": "3.0", "spec_version": "2.4"}
    assert scope["root_path"] == "/api" and scope["server"] == ("127.0.0.1", 8000)
    assert "http.response.pathsend" in scope["extensions"]
    assert "state" not in scope  # no lifespan state
    r = responder.answer
    assert (r.status_code, r.raw_headers, r.body) == (200, [(b"x-a", b"1")], b"hi")
    assert request.job not in _bridge._running and request.job not in _bridge.on_disconnect
    # GET never read: Rust is told to stop reading the body.
    assert request.discarded


async def test_response_goes_out_before_the_app_returns() -> None:
    # Starlette runs BackgroundTasks after the body, inside the same app call.
    go_on = asyncio.Event()

    async def app(scope: Scope, receive: Any, send: Any) -> None:
        await hello(scope, receive, send)
        await go_on.wait()

    _, responder, task = start(app)
    await settle()
    assert status(responder.answer) == 200 and not task.done()
    go_on.set()
    await task


# -- receive ---------------------------------------------------------------------------------


async def test_body_chunks_with_read_ahead() -> None:
    got: list[Any] = []

    async def app(scope: Scope, receive: Any, send: Any) -> None:
        while True:
            msg = await receive()
            got.append(msg)
            if not msg.get("more_body"):
                break
        await hello(scope, receive, send)

    request, _, task = start(app, FakeRequest([b"ab"], ended=False))
    await settle()
    # "ab" is held until the next chunk or the end says whether more follows.
    assert got == [{"type": "http.request", "body": b"ab", "more_body": True}]
    request.arrive(b"cd", end=True)
    await task
    assert got[1] == {"type": "http.request", "body": b"cd", "more_body": False}
    assert not request.discarded  # read to the end


async def test_a_body_all_there_is_one_message() -> None:
    got: list[Any] = []

    async def app(scope: Scope, receive: Any, send: Any) -> None:
        got.append(await receive())
        await hello(scope, receive, send)

    _, _, task = start(app, FakeRequest([b"whole"]))
    await task
    assert got == [{"type": "http.request", "body": b"whole", "more_body": False}]


async def test_empty_body() -> None:
    got: list[Any] = []

    async def app(scope: Scope, receive: Any, send: Any) -> None:
        got.append(await receive())
        await hello(scope, receive, send)

    request, _, task = start(app)
    await task
    assert got == [{"type": "http.request", "body": b"", "more_body": False}]
    assert request.reads == 1


async def test_receive_after_body_waits_for_response_then_disconnect() -> None:
    # ASGI HTTP spec, http.disconnect: "receive called after a response has been sent".
    got: list[Any] = []

    async def listener(receive: Any) -> None:
        await receive()
        got.append(await receive())

    async def app(scope: Scope, receive: Any, send: Any) -> None:
        t = asyncio.ensure_future(listener(receive))
        await settle()
        assert not got  # still waiting: no disconnect, no response yet
        await hello(scope, receive, send)
        await t
        got.append(await receive())

    _, _, task = start(app)
    await task
    assert got == [{"type": "http.disconnect"}] * 2


async def test_client_gone_reading_body_is_disconnect() -> None:
    got: list[Any] = []

    async def app(scope: Scope, receive: Any, send: Any) -> None:
        got.append(await receive())
        with pytest.raises(OSError):
            await send({"type": "http.response.start", "status": 200})

    request, _, task = start(app, FakeRequest(ended=False))
    await settle()
    request.cut()
    await task
    assert got == [{"type": "http.disconnect"}]


async def test_disconnect_hook_tells_the_app_and_does_not_cancel() -> None:
    got: list[Any] = []

    async def app(scope: Scope, receive: Any, send: Any) -> None:
        await receive()
        got.append(await receive())
        try:
            await hello(scope, receive, send)
        except OSError as exc:
            got.append(exc)

    request, responder, task = start(app)
    await settle()
    _bridge.cancel(request.job, "disconnected")
    await task
    assert not task.cancelled()
    assert got[0] == {"type": "http.disconnect"}
    assert isinstance(got[1], ClientDisconnected) and isinstance(got[1], OSError)
    assert responder.answer is None  # nobody to answer


async def test_timeout_cancels_the_app() -> None:
    async def app(scope: Scope, receive: Any, send: Any) -> None:
        await asyncio.Event().wait()

    request, _, task = start(app)
    await settle()
    _bridge.cancel(request.job, "timeout")
    with pytest.raises(asyncio.CancelledError):
        await task
    assert request.job not in _bridge.on_disconnect


# -- streamed responses ----------------------------------------------------------------------


async def test_streamed_body_with_backpressure() -> None:
    progress: list[int] = []

    async def app(scope: Scope, receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": []})
        for i in range(4):
            await send({"type": "http.response.body", "body": b"%d" % i, "more_body": True})
            progress.append(i)
        await send({"type": "http.response.body", "body": b"", "more_body": False})

    _, responder, task = start(app)
    responder.sender.room = False  # the client reads nothing yet
    await settle()
    # The pump holds one chunk waiting for room, one more is parked: the app waits.
    assert len(progress) <= 2 and not task.done()
    responder.sender.make_room()
    await task
    assert responder.pump is not None
    await responder.pump
    assert b"".join(responder.sender.chunks) == b"0123" and responder.sender.finished


async def test_client_gone_mid_stream_send_raises_oserror() -> None:
    raised: list[BaseException] = []

    async def app(scope: Scope, receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 200})
        try:
            while True:
                await send({"type": "http.response.body", "body": b"x", "more_body": True})
        except OSError as exc:
            raised.append(exc)

    request, responder, task = start(app)
    await settle()
    responder.sender.gone = True
    _bridge.cancel(request.job, "disconnected")
    await task
    assert isinstance(raised[0], ClientDisconnected)


async def test_exception_mid_stream_cuts(caplog: pytest.LogCaptureFixture) -> None:
    async def app(scope: Scope, receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 200})
        await send({"type": "http.response.body", "body": b"x", "more_body": True})
        raise ValueError("boom")

    _, responder, task = start(app)
    await task
    assert responder.pump is not None
    await responder.pump
    assert not responder.sender.finished and not responder.failed
    assert "raised mid-body; the connection is cut" in caplog.text


async def test_pathsend(tmp_path: Any) -> None:
    f = tmp_path / "f.bin"
    f.write_bytes(b"z" * 200_000)

    async def app(scope: Scope, receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 200})
        await send({"type": "http.response.pathsend", "path": str(f)})

    _, responder, task = start(app)
    await task
    assert responder.pump is not None
    await responder.pump
    assert b"".join(responder.sender.chunks) == f.read_bytes() and responder.sender.finished
    # Rust sends the file itself when it can; the chunks above are the fallback.
    assert responder.answer.sendfile == (str(f), 0, 200_000)


# -- errors and protocol violations ----------------------------------------------------------


async def test_exception_before_start_is_rendered() -> None:
    async def app(scope: Scope, receive: Any, send: Any) -> None:
        raise KeyError("x")

    _, responder, task = start(app)
    await task
    assert isinstance(responder.answer, KeyError)


async def test_exception_after_start_before_body_is_still_a_500() -> None:
    async def app(scope: Scope, receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 201})
        raise KeyError("x")

    _, responder, task = start(app)
    await task
    assert isinstance(responder.answer, KeyError)


@pytest.mark.parametrize(
    ("messages", "rule"),
    [
        ([{"type": "http.response.body", "body": b""}], "first message must be"),
        ([{"status": 200}], "must be a dict with a 'type'"),
        ([{"type": "http.response.start"}], "needs 'status'"),
        ([{"type": "http.response.start", "status": "200"}], "needs 'status'"),
        ([{"type": "http.response.start", "status": 101}], "needs 'status'"),
        (
            [{"type": "http.response.start", "status": 200, "headers": 42}],
            "[bytes, bytes]",
        ),
        (
            [{"type": "http.response.start", "status": 200}, {"type": "http.response.start"}],
            "comes a body",
        ),
        (
            [
                {"type": "http.response.start", "status": 200},
                {"type": "http.response.body", "body": "s"},
            ],
            "must be bytes",
        ),
    ],
)
async def test_protocol_error_before_body_is_500(
    messages: list[Any], rule: str, caplog: pytest.LogCaptureFixture
) -> None:
    caught: list[BaseException] = []

    async def app(scope: Scope, receive: Any, send: Any) -> None:
        try:
            for m in messages:
                await send(m)
        except RuntimeError as exc:
            caught.append(exc)
            raise

    _, responder, task = start(app)
    await task
    assert status(responder.answer) == 500 and caught
    assert "ASGI app broke the protocol" in caplog.text and rule in caplog.text
    assert caplog.text.count("broke the protocol") == 1


async def test_send_after_body_finished(caplog: pytest.LogCaptureFixture) -> None:
    async def app(scope: Scope, receive: Any, send: Any) -> None:
        await hello(scope, receive, send)
        await send({"type": "http.response.body", "body": b"more"})

    _, responder, task = start(app)
    await task
    assert status(responder.answer) == 200 and len(responder.sent) == 1
    assert "sent after the response body ended" in caplog.text


async def test_returned_without_response(caplog: pytest.LogCaptureFixture) -> None:
    async def app(scope: Scope, receive: Any, send: Any) -> None:
        return None

    _, responder, task = start(app)
    await task
    assert status(responder.answer) == 500
    assert "returned without sending 'http.response.start'" in caplog.text


async def test_returned_mid_stream_cuts(caplog: pytest.LogCaptureFixture) -> None:
    async def app(scope: Scope, receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 200})
        await send({"type": "http.response.body", "body": b"x", "more_body": True})

    _, responder, task = start(app)
    await task
    assert responder.pump is not None
    await responder.pump
    assert not responder.sender.finished
    assert "returned before its body ended" in caplog.text


# -- lifespan --------------------------------------------------------------------------------


async def test_lifespan_state_copied_into_scopes() -> None:
    events: list[str] = []
    seen: list[Scope] = []

    async def app(scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            while True:
                msg = await receive()
                events.append(msg["type"])
                if msg["type"] == "lifespan.startup":
                    scope["state"]["db"] = "conn"
                    await send({"type": "lifespan.startup.complete"})
                else:
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        seen.append(scope)
        scope["state"]["mine"] = 1
        await hello(scope, receive, send)

    mount = ASGIMount(app)
    await mount.startup()
    for _ in range(2):
        _, _, task = start(app, mount=mount)
        await task
    await mount.shutdown()
    assert events == ["lifespan.startup", "lifespan.shutdown"]
    assert seen[0]["state"] == {"db": "conn", "mine": 1}
    assert seen[1]["state"] == {"db": "conn", "mine": 1}
    assert seen[0]["state"] is not seen[1]["state"]


def test_lifespan_runs_again_on_another_loop() -> None:
    # An App started twice in one process (tests do) runs its mounts' lifespans twice, each
    # on its own event loop, each with a fresh state.
    starts: list[dict[str, Any]] = []

    async def app(scope: Scope, receive: Any, send: Any) -> None:
        await receive()
        starts.append(scope["state"])
        scope["state"]["n"] = len(starts)
        await send({"type": "lifespan.startup.complete"})
        await receive()
        await send({"type": "lifespan.shutdown.complete"})

    mount = ASGIMount(app)

    async def cycle() -> None:
        await mount.startup()
        await mount.shutdown()

    asyncio.run(cycle())
    asyncio.run(cycle())
    assert starts == [{"n": 1}, {"n": 2}]


async def test_lifespan_startup_failed() -> None:
    async def app(scope: Scope, receive: Any, send: Any) -> None:
        await receive()
        await send({"type": "lifespan.startup.failed", "message": "no database"})

    with pytest.raises(LifespanError, match="no database"):
        await ASGIMount(app).startup()


async def test_lifespan_raising_after_startup_began() -> None:
    async def app(scope: Scope, receive: Any, send: Any) -> None:
        await receive()
        raise OSError("db down")

    with pytest.raises(LifespanError, match="db down"):
        await ASGIMount(app).startup()


async def test_lifespan_unsupported(caplog: pytest.LogCaptureFixture) -> None:
    async def app(scope: Scope, receive: Any, send: Any) -> None:
        assert scope["type"] == "http", "only http"
        await hello(scope, receive, send)

    mount = ASGIMount(app)
    with caplog.at_level(logging.DEBUG, "covetpy"):
        await mount.startup()
        await mount.shutdown()
    assert "does not support lifespan" in caplog.text
    _, _, task = start(app, mount=mount)
    await task


async def test_lifespan_shutdown_failed_is_logged(caplog: pytest.LogCaptureFixture) -> None:
    async def app(scope: Scope, receive: Any, send: Any) -> None:
        await receive()
        await send({"type": "lifespan.startup.complete"})
        await receive()
        await send({"type": "lifespan.shutdown.failed", "message": "flush failed"})

    mount = ASGIMount(app)
    await mount.startup()
    await mount.shutdown()
    assert "flush failed" in caplog.text


# -- websocket -------------------------------------------------------------------------------


def ws_start(
    app: App, session: FakeSession
) -> tuple[FakeRequest, FakeResponder, asyncio.Task[None]]:
    return start(app, FakeRequest(ws=session))


async def test_websocket_echo_and_peer_close() -> None:
    got: list[Any] = []

    async def app(scope: Scope, receive: Any, send: Any) -> None:
        assert scope["type"] == "websocket"
        got.append(await receive())
        await send({"type": "websocket.accept", "subprotocol": "chat", "headers": [(b"x-w", b"1")]})
        while True:
            msg = await receive()
            got.append(msg)
            if msg["type"] == "websocket.disconnect":
                return
            if "text" in msg:
                await send({"type": "websocket.send", "text": msg["text"]})
            else:
                await send({"type": "websocket.send", "bytes": msg["bytes"]})

    session = FakeSession(["a", WAIT, b"b", 1001], subprotocols=("chat",))
    _, responder, task = ws_start(app, session)
    await task
    assert got[0] == {"type": "websocket.connect"}
    assert session.accepted == ("chat", [("x-w", "1")])
    assert session.sent == ["a", b"b"]
    assert got[-1] == {"type": "websocket.disconnect", "code": 1001, "reason": "peer closed"}
    assert responder.sent == [None]


async def test_websocket_close_before_accept_is_403() -> None:
    async def app(scope: Scope, receive: Any, send: Any) -> None:
        await receive()
        await send({"type": "websocket.close", "code": 1000})

    _, responder, task = ws_start(app, FakeSession())
    await task
    assert status(responder.answer) == 403


async def test_websocket_denial_response() -> None:
    async def app(scope: Scope, receive: Any, send: Any) -> None:
        await receive()
        await send(
            {
                "type": "websocket.http.response.start",
                "status": 401,
                "headers": [(b"www-authenticate", b"Bearer")],
            }
        )
        await send({"type": "websocket.http.response.body", "body": b"no", "more_body": True})
        await send({"type": "websocket.http.response.body", "body": b"pe"})

    _, responder, task = ws_start(app, FakeSession())
    await task
    r = responder.answer
    assert (r.status_code, r.raw_headers, r.body) == (
        401,
        [("www-authenticate", "Bearer")],
        b"nope",
    )


async def test_websocket_app_close_and_raise(caplog: pytest.LogCaptureFixture) -> None:
    async def closes(scope: Scope, receive: Any, send: Any) -> None:
        await receive()
        await send({"type": "websocket.accept"})
        await send({"type": "websocket.close", "code": 4000, "reason": "bye"})

    session = FakeSession()
    _, _, task = ws_start(closes, session)
    await task
    assert session.closed_with == (4000, "bye")

    async def raises(scope: Scope, receive: Any, send: Any) -> None:
        await receive()
        await send({"type": "websocket.accept"})
        raise ValueError("bad")

    session = FakeSession()
    _, _, task = ws_start(raises, session)
    await task
    assert session.closed_with == (1011, "internal error")
    assert "ASGI WebSocket app raised" in caplog.text


async def test_websocket_returned_without_accept_is_500(caplog: pytest.LogCaptureFixture) -> None:
    async def app(scope: Scope, receive: Any, send: Any) -> None:
        await receive()

    _, responder, task = ws_start(app, FakeSession())
    await task
    assert status(responder.answer) == 500
    assert "returned without accepting or closing" in caplog.text


async def test_websocket_send_after_peer_closed_raises_oserror() -> None:
    raised: list[BaseException] = []

    async def app(scope: Scope, receive: Any, send: Any) -> None:
        await receive()
        await send({"type": "websocket.accept"})
        msg = await receive()
        assert msg["type"] == "websocket.disconnect"
        try:
            await send({"type": "websocket.send", "text": "late"})
        except OSError as exc:
            raised.append(exc)

    _, _, task = ws_start(app, FakeSession([1000]))
    await task
    assert isinstance(raised[0], ClientDisconnected)


def _sync(test: Callable[..., Coroutine[Any, Any, None]]) -> Callable[..., None]:
    @functools.wraps(test)
    def run(*args: Any, **kwargs: Any) -> None:
        asyncio.run(test(*args, **kwargs))

    return run


# Each `async def test_*` above runs in a fresh event loop (the suite has no asyncio plugin);
# `functools.wraps` keeps the signature, so fixtures still reach them.
for _name, _test in list(globals().items()):
    if _name.startswith("test_") and asyncio.iscoroutinefunction(_test):
        globals()[_name] = _sync(_test)
