"""The app of the HTTP/2 and TLS end-to-end tests (tests/http2, tests/tls).

Routes answer what the tests check: the HTTP version and scheme a request arrived with, the
client certificate (`request.peer_identity`), request bodies echoed or counted, streamed and
large responses, and trailers where the framework has them.
"""

from __future__ import annotations

import asyncio
import hashlib
import inspect
import os
from collections.abc import AsyncIterator
from typing import Any

from covetpy import App, Depends, PeerIdentity, Request, Response
from covetpy.mesh import require_identity
from covetpy.responses import StreamingResponse

app = App()

# The SPIFFE id of the client certificate tests/tls/pki.py issues.
CLIENT_SPIFFE_ID = "spiffe://cluster.local/ns/default/sa/client"

# Response trailers (RFC 9113 §8.1) are `Response.trailers` (issue 17's spec): a constructor
# argument or an attribute the server reads. Found by looking, so the app imports either way.
RESPONSE_TRAILERS = "trailers" in inspect.signature(Response.__init__).parameters or (
    "trailers" in getattr(Response, "__slots__", ()) or hasattr(Response, "trailers")
)
REQUEST_TRAILERS = hasattr(Request, "trailers")


@app.get("/")
def root() -> str:
    return "Hello, World!"


@app.get("/json")
def json_() -> dict[str, object]:
    return {"message": "hi", "n": [1, 2, 3]}


@app.get("/info")
def info(request: Request) -> dict[str, object]:
    """How the request arrived."""
    return {
        "version": request.http_version,
        "scheme": request.scheme,
        "method": request.method,
        "path": request.path,
        "query": request.query_string,
        "host": request.host,
        "peer_port": request.peer[1] if request.peer else None,
        "headers": [[k, v] for k, v in request.headers.items()],
    }


@app.route("/echo", methods=["POST", "PUT"])
async def echo(request: Request) -> Response:
    body = await request.body()
    return Response(body, media_type="application/octet-stream")


@app.post("/count")
async def count(request: Request) -> dict[str, object]:
    """Reads the body as it arrives; its size and digest."""
    total, digest = 0, hashlib.sha256()
    async for chunk in request.stream():
        total += len(chunk)
        digest.update(chunk)
    return {"received": total, "sha256": digest.hexdigest()}


@app.get("/big")
def big(n: int = 1 << 20) -> Response:
    """`n` bytes of a known pattern."""
    return Response(pattern(n), media_type="application/octet-stream")


def pattern(n: int) -> bytes:
    unit = bytes(range(256))
    return (unit * (n // 256 + 1))[:n]


@app.get("/stream")
async def stream(chunks: int = 100) -> StreamingResponse:
    async def gen() -> AsyncIterator[bytes]:
        for i in range(chunks):
            await asyncio.sleep(0)
            yield f"chunk {i:04d}\n".encode() * 100

    return StreamingResponse(gen(), media_type="text/plain")


stream_state: dict[str, int] = {"produced": 0, "closed": 0}


@app.get("/infinite")
async def infinite() -> StreamingResponse:
    async def gen() -> AsyncIterator[bytes]:
        try:
            while True:
                stream_state["produced"] += 1
                yield b"y" * 65536
        finally:
            stream_state["closed"] += 1

    return StreamingResponse(gen())


@app.get("/infinite-state")
def infinite_state() -> dict[str, int]:
    return stream_state


@app.get("/slow")
async def slow(request: Request, ms: int = 0) -> dict[str, object]:
    """Answers after `ms` milliseconds: which server (the supervisor's pid) and worker."""
    await asyncio.sleep(ms / 1000)
    return {"server": os.getppid(), "pid": os.getpid(), "version": request.http_version}


@app.get("/identity")
def identity(request: Request) -> dict[str, Any]:
    peer = request.peer_identity
    return {
        "scheme": request.scheme,
        "version": request.http_version,
        "present": peer is not None,
        "spiffe_id": peer and peer.spiffe_id,
        "dns": peer and list(peer.dns),
        "subject": peer and peer.subject,
        "hash": peer and peer.hash,
    }


only_client = require_identity(CLIENT_SPIFFE_ID)


@app.get("/admin")
def admin(peer: PeerIdentity = Depends(only_client)) -> dict[str, Any]:
    return {"spiffe_id": peer.spiffe_id}


@app.get("/trailers")
def with_trailers() -> Response:
    """RFC 9113 §8.1: a body, then a trailer section (HEADERS with END_STREAM)."""
    if not RESPONSE_TRAILERS:
        return Response("no Response.trailers in this build", status_code=501)
    trailers = {"x-checksum": "abc123", "x-items": "3"}
    if "trailers" in inspect.signature(Response.__init__).parameters:
        return Response("with trailers", trailers=trailers)  # type: ignore[call-arg]
    r = Response("with trailers")
    r.trailers = trailers  # type: ignore[attr-defined]
    return r


@app.post("/trailers-in")
async def trailers_in(request: Request) -> dict[str, Any]:
    """The request's trailers (HEADERS after the DATA frames, RFC 9113 §8.1)."""
    body = await request.body()
    got = getattr(request, "trailers", None)
    if got is not None and not isinstance(got, list):
        got = list(got.items()) if hasattr(got, "items") else list(got)
    return {"body": len(body), "trailers": [[k, v] for k, v in (got or [])]}
