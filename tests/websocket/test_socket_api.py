"""`covetpy.WebSocket` against a stand-in session: receiving and sending with their waits,
the close codes it sends for what it cannot take (1003, 1007), how the iterators end, and
the 123-byte reason limit. No server: these pin the Python side's own rules."""

from __future__ import annotations

import asyncio
from typing import Any, cast

import msgspec
import pytest

from covetpy import CovetError, WebSocket, WebSocketDisconnect
from covetpy.websocket.socket import truncate_reason
from tests.websocket.fakes import WAIT, FakeRequest, FakeSession


class Point(msgspec.Struct):
    x: int
    y: int


def socket(session: FakeSession, **path: Any) -> WebSocket:
    return WebSocket(cast(Any, session), cast(Any, FakeRequest(session)), path)


async def accepted(session: FakeSession) -> WebSocket:
    ws = socket(session)
    await ws.accept()
    return ws


def test_disconnect_is_a_covet_error_with_code_and_reason() -> None:
    exc = WebSocketDisconnect(1001, "going away")
    assert isinstance(exc, CovetError)
    assert (exc.code, exc.reason) == (1001, "going away")
    assert str(exc) == "WebSocket closed with 1001: going away"


def test_receive_waits_until_a_message_arrives() -> None:
    async def main() -> None:
        session = FakeSession([WAIT, "hello", WAIT, b"\x00\x01"])
        ws = await accepted(session)
        assert await ws.receive_text() == "hello"
        assert await ws.receive_bytes() == b"\x00\x01"
        assert session.waits == 2

    asyncio.run(main())


def test_receive_after_the_peer_closed_raises_disconnect() -> None:
    async def main() -> None:
        session = FakeSession(["a", 1001])
        ws = await accepted(session)
        assert await ws.receive() == "a"
        with pytest.raises(WebSocketDisconnect) as info:
            await ws.receive()
        assert (info.value.code, info.value.reason) == (1001, "peer closed")
        assert ws.closed and ws.close_code == 1001
        with pytest.raises(WebSocketDisconnect):  # and again: the socket stays closed
            await ws.receive_text()

    asyncio.run(main())


@pytest.mark.parametrize(
    ("message", "method", "reason"),
    [
        (b"raw", "receive_text", "expected a text message, got a binary one"),
        ("text", "receive_bytes", "expected a binary message, got a text one"),
    ],
)
def test_the_wrong_kind_of_message_closes_with_1003(
    message: str | bytes, method: str, reason: str
) -> None:
    async def main() -> None:
        session = FakeSession([message])
        ws = await accepted(session)
        with pytest.raises(WebSocketDisconnect) as info:
            await getattr(ws, method)()
        assert (info.value.code, info.value.reason) == (1003, reason)
        assert session.closed_with == (1003, reason)

    asyncio.run(main())


def test_receive_json_plain_and_typed() -> None:
    async def main() -> None:
        session = FakeSession(['{"a": [1, 2]}', b'{"x": 1, "y": 2}'])
        ws = await accepted(session)
        assert await ws.receive_json() == {"a": [1, 2]}
        assert await ws.receive_json(type=Point) == Point(1, 2)

    asyncio.run(main())


@pytest.mark.parametrize(
    ("message", "reason"),
    [
        ('{"x": 1, "y": "two"}', "Expected `int`, got `str` - at `$.y`"),
        ('{"x": 1', "Input data was truncated"),
    ],
)
def test_json_that_does_not_validate_closes_with_1007(message: str, reason: str) -> None:
    async def main() -> None:
        session = FakeSession([message])
        ws = await accepted(session)
        with pytest.raises(WebSocketDisconnect) as info:
            await ws.receive_json(type=Point)
        assert info.value.code == 1007
        assert info.value.reason == reason
        assert session.closed_with == (1007, reason)

    asyncio.run(main())


def test_a_long_validation_reason_is_cut_at_a_character_boundary() -> None:
    long_field = "é" * 100  # 200 bytes of UTF-8

    async def main() -> None:
        session = FakeSession([f'{{"x": 1, "y": 2, "{long_field}": 1}}'])
        ws = await accepted(session)
        with pytest.raises(WebSocketDisconnect):
            await ws.receive_json(type=dict[str, str])
        assert session.closed_with is not None
        sent = session.closed_with[1]
        assert len(sent.encode()) <= 123
        assert sent.startswith("Expected `str`, got `int`")

    asyncio.run(main())
    assert truncate_reason("ab") == "ab"
    cut = truncate_reason("é" * 100)
    assert cut == "é" * 61  # 122 bytes: the 62nd two-byte character would not fit in 123


@pytest.mark.parametrize("code", [1000, 1001, 1005])
def test_iterators_end_quietly_on_a_normal_close(code: int) -> None:
    async def main() -> None:
        session = FakeSession(["a", WAIT, "b", code])
        ws = await accepted(session)
        assert [t async for t in ws.iter_text()] == ["a", "b"]
        session = FakeSession([b"a", code])
        ws = await accepted(session)
        assert [b async for b in ws.iter_bytes()] == [b"a"]
        session = FakeSession(['{"x": 1, "y": 2}', code])
        ws = await accepted(session)
        assert [p async for p in ws.iter_json(type=Point)] == [Point(1, 2)]

    asyncio.run(main())


@pytest.mark.parametrize("code", [1006, 1009, 1011])
def test_iterators_raise_on_an_abnormal_close(code: int) -> None:
    async def main() -> None:
        ws = await accepted(FakeSession(["a", code]))
        seen = []
        with pytest.raises(WebSocketDisconnect) as info:
            async for text in ws.iter_text():
                seen.append(text)
        assert seen == ["a"]
        assert info.value.code == code

    asyncio.run(main())


def test_a_typed_iterator_raises_after_closing_with_1007() -> None:
    async def main() -> None:
        session = FakeSession(['{"x": 1, "y": 2}', '{"x": "no"}', '{"x": 3, "y": 4}'])
        ws = await accepted(session)
        seen = []
        with pytest.raises(WebSocketDisconnect) as info:
            async for p in ws.iter_json(type=Point):
                seen.append(p)
        assert seen == [Point(1, 2)]
        assert info.value.code == 1007
        assert session.closed_with is not None and session.closed_with[0] == 1007

    asyncio.run(main())


def test_send_kinds_and_json() -> None:
    async def main() -> None:
        session = FakeSession()
        ws = await accepted(session)
        await ws.send_text("t")
        await ws.send_bytes(b"b")
        await ws.send_bytes(bytearray(b"ba"))
        await ws.send_json({"k": [1, None]})
        await ws.send_json({"k": 1}, mode="binary")
        assert session.sent == ["t", b"b", b"ba", '{"k":[1,null]}', b'{"k":1}']
        with pytest.raises(TypeError):
            await ws.send_text(b"x")  # type: ignore[arg-type]
        with pytest.raises(TypeError):
            await ws.send_bytes("x")  # type: ignore[arg-type]

    asyncio.run(main())


def test_send_waits_while_the_queue_is_full() -> None:
    async def main() -> None:
        session = FakeSession(full_sends=3)
        ws = await accepted(session)
        await ws.send_text("after three waits")
        assert session.waits == 3
        assert session.sent == ["after three waits"]

    asyncio.run(main())


def test_send_after_close_raises_disconnect() -> None:
    async def main() -> None:
        session = FakeSession([1001])
        ws = await accepted(session)
        with pytest.raises(WebSocketDisconnect):
            await ws.receive()
        with pytest.raises(WebSocketDisconnect) as info:
            await ws.send_text("too late")
        assert info.value.code == 1001

    asyncio.run(main())


def test_receive_or_send_before_accept_is_a_mistake() -> None:
    async def main() -> None:
        ws = socket(FakeSession(["x"]))
        with pytest.raises(RuntimeError, match="accept"):
            await ws.receive()
        with pytest.raises(RuntimeError, match="accept"):
            await ws.send_text("x")

    asyncio.run(main())


def test_accept_passes_subprotocol_and_headers() -> None:
    async def main() -> None:
        session = FakeSession(subprotocols=("a", "b"))
        ws = socket(session)
        assert ws.subprotocols == ("a", "b")
        await ws.accept("b", {"x-one": "1"})
        assert session.accepted == ("b", [("x-one", "1")])
        assert ws.accepted
        other = FakeSession()
        ws = socket(other)
        await ws.accept(headers=[("x-two", "2")])
        assert other.accepted == (None, [("x-two", "2")])

    asyncio.run(main())


def test_close_is_idempotent_and_before_accept_refuses() -> None:
    async def main() -> None:
        session = FakeSession()
        ws = await accepted(session)
        await ws.close(4000, "done")
        await ws.close(1000)
        assert session.events == ["accept", "close 4000"]
        refused = FakeSession()
        ws = socket(refused)
        await ws.close()
        assert ws.closed and refused.events == []  # nothing reaches the wire: a 403 will
        with pytest.raises(RuntimeError, match="refused"):
            await ws.accept()

    asyncio.run(main())


def test_the_upgrade_request_and_state() -> None:
    session = FakeSession()
    request = FakeRequest(
        session,
        "/rooms/7",
        query=[("a", "1"), ("a", "2")],
        headers=[("Cookie", "sid=abc; theme=dark"), ("X-Agent", "t")],
    )
    ws = WebSocket(cast(Any, session), cast(Any, request), {"room": 7})
    assert ws.path_params == {"room": 7}
    assert ws.query_params.getlist("a") == ["1", "2"]
    assert ws.headers.get("x-agent") == "t"
    assert ws.cookies == {"sid": "abc", "theme": "dark"}
    assert ws.client == ("127.0.0.1", 50000)
    assert ws.path == "/rooms/7"
    assert ws.url == "ws://testserver/rooms/7?a=1&a=2"
    assert ws.request is cast(Any, request)
    ws.state.user = "ann"
    assert ws.state.user == "ann"
    assert not hasattr(socket(FakeSession()).state, "user")  # per socket


def test_subscribe_and_unsubscribe_reach_the_session() -> None:
    session = FakeSession()
    ws = socket(session)
    ws.subscribe("room:1")
    ws.subscribe("room:2")
    ws.unsubscribe("room:1")
    assert session.topics == {"room:2"}
