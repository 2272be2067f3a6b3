"""Stand-ins for what Rust hands a WebSocket endpoint (`Request` with `.websocket`, the
`WsSession`), so the Python side's rules are tested without a server: the same calls, in
the order core_api.md gives them."""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Iterable
from typing import Any

# An item of `FakeSession(incoming=...)`: receive() answers None once (nothing yet), and the
# next item arrives when the endpoint waits for it.
WAIT = object()


class FakeSession:
    """A `WsSession` that plays back `incoming` (str, bytes, WAIT, or an int: the peer
    closes with that code) and records what is sent."""

    def __init__(
        self,
        incoming: Iterable[object] = (),
        *,
        subprotocols: tuple[str, ...] = (),
        full_sends: int = 0,
    ) -> None:
        self.incoming: deque[object] = deque(incoming)
        self.subprotocols = subprotocols
        self.close_code: int | None = None
        self.close_reason = ""
        self.accepted: tuple[str | None, list[tuple[str, str]]] | None = None
        self.sent: list[str | bytes] = []
        self.closed_with: tuple[int, str] | None = None
        self.topics: set[str] = set()
        self.waits = 0
        self.full_sends = full_sends
        self.events: list[str] = []

    def accept(self, subprotocol: str | None, headers: list[tuple[str, str]]) -> None:
        if self.accepted is not None or self.close_code is not None:
            raise RuntimeError("accepted twice or already closed")
        if subprotocol is not None and subprotocol not in self.subprotocols:
            raise ValueError(f"subprotocol {subprotocol!r} was not offered")
        self.accepted = (subprotocol, list(headers))
        self.events.append("accept")

    def receive(self) -> str | bytes | int | None:
        if self.close_code is not None:
            return self.close_code
        if not self.incoming:
            return None
        item = self.incoming[0]
        if item is WAIT:
            return None
        self.incoming.popleft()
        if isinstance(item, int):
            self.close_code, self.close_reason = item, "peer closed"
            self.events.append(f"peer close {item}")
            return item
        assert isinstance(item, str | bytes)
        return item

    def wait_receive(self, future: asyncio.Future[None]) -> None:
        self.waits += 1
        if self.incoming and self.incoming[0] is WAIT:
            self.incoming.popleft()
        future.get_loop().call_soon(future.set_result, None)

    def send(self, data: str | bytes) -> bool:
        if self.close_code is not None:
            raise ConnectionResetError("closed")
        if self.full_sends:
            self.full_sends -= 1
            return False
        self.sent.append(data)
        return True

    def wait_send(self, future: asyncio.Future[None]) -> None:
        self.waits += 1
        future.get_loop().call_soon(future.set_result, None)

    def close(self, code: int = 1000, reason: str = "") -> None:
        if len(reason.encode()) > 123:
            raise ValueError("reason over 123 bytes")
        if code < 1000 or code in (1004, 1005, 1006, 1015):
            raise ValueError(f"close code {code} is not allowed on the wire")
        self.closed_with = (code, reason)
        self.close_code, self.close_reason = code, reason
        self.events.append(f"close {code}")

    def subscribe(self, topic: str) -> None:
        self.topics.add(topic)

    def unsubscribe(self, topic: str) -> None:
        self.topics.discard(topic)


class _Multi:
    def __init__(self, pairs: list[tuple[str, str]], fold: bool) -> None:
        self._pairs = [(k.lower() if fold else k, v) for k, v in pairs]
        self._fold = fold

    def _key(self, key: str) -> str:
        return key.lower() if self._fold else key

    def get(self, key: str, default: Any = None) -> Any:
        return next((v for k, v in self._pairs if k == self._key(key)), default)

    def getlist(self, key: str) -> list[str]:
        return [v for k, v in self._pairs if k == self._key(key)]

    def items(self) -> list[tuple[str, str]]:
        return list(self._pairs)


class FakeRequest:
    """The upgrade `Request`: the parts the resolver and `WebSocket` read."""

    def __init__(
        self,
        session: FakeSession | None,
        path: str = "/",
        *,
        query: list[tuple[str, str]] | None = None,
        headers: list[tuple[str, str]] | None = None,
    ) -> None:
        self.websocket = session
        self.path = path
        self.query_params = _Multi(query or [], fold=False)
        self.query_string = "&".join(f"{k}={v}" for k, v in query or [])
        self.headers = _Multi(headers or [], fold=True)
        self.scheme = "http"
        self.host = "testserver"
        self.client = ("127.0.0.1", 50000)
        self.body_bytes = b""

    def header(self, name: str, default: str | None = None) -> str | None:
        value: str | None = self.headers.get(name, default)
        return value
