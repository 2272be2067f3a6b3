"""A raw ASGI 3 app (no framework) with one path per scope field or message rule that
tests/hosting/test_asgi_raw.py pins. Served by `covetpy run tests.hosting.apps.raw_asgi:app`
(and by uvicorn for the differential checks). What the app saw that the client cannot
(a `send` that raised, an `http.disconnect`) is kept in `EVENTS`, read back at `/events`."""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import tempfile
from typing import Any

Scope = dict[str, Any]

EVENTS: list[str] = []
CHUNK = 64 * 1024
# A file for `http.response.pathsend`, written once at import.
PATHSEND_FILE = os.path.join(tempfile.gettempdir(), f"covetpy-pathsend-{os.getpid()}.bin")
PATHSEND_BODY = bytes(range(256)) * 1024  # 256 KiB
with open(PATHSEND_FILE, "wb") as _f:
    _f.write(PATHSEND_BODY)


async def reply(
    send: Any, status: int, body: bytes, headers: list[tuple[bytes, bytes]] | None = None
) -> None:
    await send({"type": "http.response.start", "status": status, "headers": headers or []})
    await send({"type": "http.response.body", "body": body})


async def json_reply(send: Any, doc: Any) -> None:
    await reply(send, 200, json.dumps(doc).encode(), [(b"content-type", b"application/json")])


async def lifespan(scope: Scope, receive: Any, send: Any) -> None:
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            scope["state"]["started"] = "yes"
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return


def scope_doc(scope: Scope) -> dict[str, Any]:
    """The scope as JSON: bytes as latin-1 strings, tuples as lists."""
    return {
        "type": scope["type"],
        "asgi": scope["asgi"],
        "http_version": scope["http_version"],
        "method": scope.get("method"),
        "scheme": scope["scheme"],
        "path": scope["path"],
        "raw_path": scope["raw_path"].decode("latin-1")
        if scope.get("raw_path") is not None
        else None,
        "root_path": scope.get("root_path", ""),
        "query_string": scope["query_string"].decode("latin-1"),
        "headers": [[k.decode("latin-1"), v.decode("latin-1")] for k, v in scope["headers"]],
        "header_types": sorted(
            {f"{type(k).__name__},{type(v).__name__}" for k, v in scope["headers"]}
        ),
        "client": list(scope["client"]) if scope.get("client") else None,
        "client_types": [type(x).__name__ for x in scope.get("client") or ()],
        "server": list(scope["server"]) if scope.get("server") else None,
        "state": scope.get("state"),
        "extensions": sorted(scope.get("extensions") or {}),
        "subprotocols": scope.get("subprotocols"),
    }


async def read_body(receive: Any) -> tuple[bytes, list[bool]]:
    body, flags = [], []
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise OSError("client went away")
        body.append(message["body"])
        flags.append(message.get("more_body", False))
        if not message.get("more_body", False):
            return b"".join(body), flags


async def upload(receive: Any, send: Any) -> None:
    """Hashes the body as it streams in, holding one chunk at a time."""
    digest, size, chunks, biggest = hashlib.sha256(), 0, 0, 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            EVENTS.append("upload-disconnect")
            return
        data = message["body"]
        digest.update(data)
        size += len(data)
        chunks += 1
        biggest = max(biggest, len(data))
        if not message.get("more_body", False):
            break
    await json_reply(
        send, {"bytes": size, "sha256": digest.hexdigest(), "chunks": chunks, "biggest": biggest}
    )


async def stream_forever(send: Any) -> None:
    """Streams until the client goes away: ASGI 2.4, `send` then raises OSError."""
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [(b"content-type", b"application/octet-stream")],
        }
    )
    try:
        while True:
            await send({"type": "http.response.body", "body": b"x" * CHUNK, "more_body": True})
    except OSError as exc:
        EVENTS.append(f"stream-oserror:{type(exc).__name__}")


async def stream_and_listen(receive: Any, send: Any) -> None:
    """Streams slowly while another task waits on `receive` for `http.disconnect`."""

    async def listen() -> None:
        while (message := await receive())["type"] == "http.request":
            pass
        EVENTS.append(f"listen:{message['type']}")

    listener = asyncio.ensure_future(listen())
    await send({"type": "http.response.start", "status": 200, "headers": []})
    try:
        while not listener.done():
            await send({"type": "http.response.body", "body": b"tick\n", "more_body": True})
            await asyncio.sleep(0.02)
    except OSError:
        EVENTS.append("listen-stream-oserror")
    await listener


async def sized_stream(send: Any, total: int) -> None:
    """`total` bytes in 64 KiB chunks; the app records when it finished."""
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [(b"content-type", b"application/octet-stream")],
        }
    )
    sent = 0
    block = b"s" * CHUNK
    try:
        while sent < total:
            n = min(CHUNK, total - sent)
            await send({"type": "http.response.body", "body": block[:n], "more_body": True})
            sent += n
        await send({"type": "http.response.body", "body": b"", "more_body": False})
        EVENTS.append(f"sized-done:{sent}")
    except OSError:
        EVENTS.append(f"sized-oserror:{sent}")


async def http(scope: Scope, receive: Any, send: Any) -> None:
    path = scope["path"].removeprefix(scope.get("root_path", "")) or "/"
    query = scope["query_string"].decode()
    if path in ("/", "/scope") or path.startswith("/scope/"):
        await json_reply(send, scope_doc(scope))
    elif path == "/echo":
        body, flags = await read_body(receive)
        await reply(
            send,
            200,
            body,
            [
                (b"content-type", b"application/octet-stream"),
                (b"x-messages", str(len(flags)).encode()),
            ],
        )
    elif path == "/upload":
        await upload(receive, send)
    elif path == "/events":
        await json_reply(send, EVENTS)
    elif path == "/headers":
        await reply(
            send,
            201,
            b"made",
            [
                (b"content-type", b"text/plain"),
                (b"set-cookie", b"a=1; Path=/"),
                (b"set-cookie", b"b=2; Path=/"),
                (b"x-custom", b"yes"),
            ],
        )
    elif path == "/chunks":
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [(b"content-type", b"text/plain")],
            }
        )
        for part in (b"one,", b"two,", b""):
            await send({"type": "http.response.body", "body": part, "more_body": True})
        await send({"type": "http.response.body", "body": b"three", "more_body": False})
    elif path == "/stream-forever":
        await stream_forever(send)
    elif path == "/stream-listen":
        await stream_and_listen(receive, send)
    elif path == "/sized":
        await sized_stream(send, int(query or "0"))
    elif path == "/long-poll":
        # Reads the body, then waits: only the client going away ends the wait.
        await read_body(receive)
        EVENTS.append("long-poll-waiting")
        message = await receive()
        EVENTS.append(f"long-poll:{message['type']}")
    elif path == "/after-response":
        await reply(send, 200, b"done")
        message = await receive()
        EVENTS.append(f"after-response:{message['type']}")
    elif path == "/pathsend":
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [(b"content-type", b"application/octet-stream")],
            }
        )
        if "http.response.pathsend" in scope.get("extensions", {}):
            await send({"type": "http.response.pathsend", "path": PATHSEND_FILE})
        else:
            await send({"type": "http.response.body", "body": PATHSEND_BODY})
    elif path == "/trailers":
        await send({"type": "http.response.start", "status": 200, "headers": [], "trailers": True})
        await send({"type": "http.response.body", "body": b"with trailers"})
        await send({"type": "http.response.trailers", "headers": [(b"x-t", b"1")]})
    elif path == "/error-before":
        raise RuntimeError("failed before the response")
    elif path == "/error-after-start":
        await send({"type": "http.response.start", "status": 200, "headers": []})
        raise RuntimeError("failed after http.response.start")
    elif path == "/error-mid-body":
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"partial", "more_body": True})
        raise RuntimeError("failed mid-body")
    elif path == "/error-after-body":
        await reply(send, 200, b"sent")
        raise RuntimeError("failed after the body")
    elif path == "/no-response":
        return
    elif path == "/wrong-first":
        await send({"type": "http.response.body", "body": b"no start"})
    elif path == "/bad-status":
        await send({"type": "http.response.start", "status": "200", "headers": []})
    elif path == "/bad-headers":
        await send({"type": "http.response.start", "status": 200, "headers": 42})
    elif path == "/bad-header-value":
        await reply(send, 200, b"never", [(b"x-injected", b"a\r\nset-cookie: evil=1")])
    elif path == "/bad-header-stream":
        await send({"type": "http.response.start", "status": 200, "headers": [(b"x-bad", b"a\nb")]})
        try:
            await send({"type": "http.response.body", "body": b"part", "more_body": True})
        except RuntimeError as exc:
            EVENTS.append(f"bad-header-stream:{type(exc).__name__}")
    elif path == "/no-type":
        await send({"status": 200})
    elif path == "/body-after-end":
        await reply(send, 200, b"first")
        try:
            await send({"type": "http.response.body", "body": b"second"})
        except RuntimeError:
            EVENTS.append("body-after-end:raised")
    else:
        await reply(send, 404, b"not found")


async def websocket(scope: Scope, receive: Any, send: Any) -> None:
    path = scope["path"]
    connect = await receive()
    assert connect["type"] == "websocket.connect", connect
    if path == "/ws/deny":
        await send(
            {
                "type": "websocket.http.response.start",
                "status": 401,
                "headers": [(b"x-denied", b"yes")],
            }
        )
        await send({"type": "websocket.http.response.body", "body": b"go away"})
        return
    if path == "/ws/close-first":
        await send({"type": "websocket.close"})
        return
    if path == "/ws/scope":
        await send({"type": "websocket.accept"})
        await send({"type": "websocket.send", "text": json.dumps(scope_doc(scope))})
        await send({"type": "websocket.close", "code": 1000})
        return
    subprotocol = scope["subprotocols"][0] if scope["subprotocols"] else None
    await send(
        {"type": "websocket.accept", "subprotocol": subprotocol, "headers": [(b"x-accepted", b"1")]}
    )
    while True:
        message = await receive()
        if message["type"] == "websocket.disconnect":
            EVENTS.append(f"ws-disconnect:{message['code']}")
            return
        text = message.get("text")
        if text == "close-4001":
            await send({"type": "websocket.close", "code": 4001, "reason": "asked"})
            return
        if text is not None:
            await send({"type": "websocket.send", "text": text})
        else:
            await send({"type": "websocket.send", "bytes": message["bytes"]})


async def app(scope: Scope, receive: Any, send: Any) -> None:
    if scope["type"] == "lifespan":
        await lifespan(scope, receive, send)
    elif scope["type"] == "http":
        await http(scope, receive, send)
    else:
        await websocket(scope, receive, send)
