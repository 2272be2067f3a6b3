"""Differential checks for ASGI apps: one request sent to CovetPy and to uvicorn, the answers
compared on what the app decides (status, the headers it set, the body).

Not a conftest: assertions here carry their own messages (pytest rewrites only test modules
and conftests)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import httpx

from tests.conftest import RunningServer

# What a server decides itself: framing, dates, its name, keep-alive.
SERVER_OWNED = {"date", "server", "connection", "keep-alive", "transfer-encoding", "content-length"}


@dataclass(frozen=True)
class Call:
    """One request: `httpx.Client.request(method, path, **kwargs)`."""

    method: str
    path: str
    kwargs: dict[str, Any] = field(default_factory=dict)

    def __str__(self) -> str:
        return f"{self.method} {self.path}"


def fetch(server: RunningServer, call: Call) -> httpx.Response:
    with httpx.Client(base_url=server.url, timeout=60, follow_redirects=False) as c:
        return c.request(call.method, call.path, **call.kwargs)


def app_headers(r: httpx.Response) -> list[tuple[str, str]]:
    """The headers the app set, names lower-cased, sorted, repeats kept."""
    return sorted(
        (k.lower(), v) for k, v in r.headers.multi_items() if k.lower() not in SERVER_OWNED
    )


def _body(r: httpx.Response, server: RunningServer) -> bytes:
    # An app that echoes its URL or Host names the server's port.
    return r.content.replace(f"127.0.0.1:{server.port}".encode(), b"127.0.0.1:PORT")


def compare(call: Call, covetpy: RunningServer, reference: RunningServer) -> httpx.Response:
    """Asserts CovetPy answers `call` as uvicorn does; CovetPy's response."""
    ours, theirs = fetch(covetpy, call), fetch(reference, call)
    assert ours.status_code == theirs.status_code, (str(call), ours.text, theirs.text)
    ours_h, theirs_h = app_headers(ours), app_headers(theirs)
    assert ours_h == theirs_h, f"{call}: headers differ\n ours:   {ours_h}\n theirs: {theirs_h}"
    ours_b, theirs_b = _body(ours, covetpy), _body(theirs, reference)
    assert ours_b == theirs_b, (
        f"{call}: bodies differ\n ours:   {ours_b[:500]!r}\n theirs: {theirs_b[:500]!r}"
    )
    # A body framed by length under both servers has the same length (CovetPy streams a
    # multi-part ASGI body with chunked coding, where uvicorn keeps the app's length).
    if "content-length" in ours.headers and "content-length" in theirs.headers:
        assert ours.headers["content-length"] == theirs.headers["content-length"], str(call)
    return ours
