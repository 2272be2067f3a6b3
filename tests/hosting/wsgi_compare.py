"""Differential checks for WSGI apps: one request sent to CovetPy and to the reference
server (wsgiref), the answers compared on what the app decides.

Not a conftest: assertions here carry their own messages (pytest rewrites only test modules
and conftests)."""

from __future__ import annotations

import httpx

from tests.conftest import RunningServer

# The request, its sending and the headers a server owns are the ASGI comparisons' own.
from tests.hosting.asgi_compare import SERVER_OWNED, Call, fetch

__all__ = ["SERVER_OWNED", "Call", "compare", "fetch"]


def _value(name: str, value: str) -> str:
    # Werkzeug writes Allow from a set: its order changes with the process's hash seed.
    if name == "allow":
        return ", ".join(sorted(v.strip() for v in value.split(",")))
    return value


def app_headers(r: httpx.Response) -> list[tuple[str, str]]:
    """The headers the app set, names lower-cased, sorted, repeats kept."""
    return sorted(
        (k.lower(), _value(k.lower(), v))
        for k, v in r.headers.multi_items()
        if k.lower() not in SERVER_OWNED
    )


def _body(r: httpx.Response, server: RunningServer) -> bytes:
    # An app that echoes its Host names the server's port.
    return r.content.replace(f"127.0.0.1:{server.port}".encode(), b"127.0.0.1:PORT")


def compare(call: Call, covetpy: RunningServer, reference: RunningServer) -> None:
    """Asserts CovetPy answers `call` as the reference server does."""
    ours, theirs = fetch(covetpy, call), fetch(reference, call)
    assert ours.status_code == theirs.status_code, (call, ours.text, theirs.text)
    ours_h, theirs_h = app_headers(ours), app_headers(theirs)
    assert ours_h == theirs_h, f"{call}: headers differ\n ours:   {ours_h}\n theirs: {theirs_h}"
    ours_b, theirs_b = _body(ours, covetpy), _body(theirs, reference)
    assert ours_b == theirs_b, (
        f"{call}: bodies differ\n ours:   {ours_b[:500]!r}\n theirs: {theirs_b[:500]!r}"
    )
    if call.method == "HEAD":
        return  # see test_head_keeps_the_apps_content_length
    # Where the reference framed the body with a length, ours has the same one (or streams).
    if "content-length" in theirs.headers and "content-length" in ours.headers:
        assert ours.headers["content-length"] == theirs.headers["content-length"]
