"""The built-in middleware that run in Rust (issue 6): what they answer without Python, the
headers they add, compression of full and streamed bodies, order. Through the real server."""

from __future__ import annotations

import gzip
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import brotli
import pytest
import zstandard

from covetpy import App, Request, Response, Router
from covetpy.exceptions import RouteError
from covetpy.middleware import CallNext
from covetpy.middleware.builtin import (
    CORS,
    BodyLimit,
    Compression,
    RateLimit,
    RequestId,
    SecurityHeaders,
    ServerTiming,
    TrustedHosts,
)
from covetpy.responses import StreamingResponse
from covetpy.testing import TestClient

ROOT = Path(__file__).resolve().parent.parent
calls: list[str] = []


def build() -> App:
    app = App(
        openapi_url=None,
        middleware=[
            TrustedHosts(["testserver", "*.example.com"]),
            RequestId(),
            CORS(allow_origins=["https://app.example.com"], allow_credentials=True),
            SecurityHeaders(hsts_seconds=600),
            Compression(minimum_size=64),
            ServerTiming(),
            BodyLimit(1000),
        ],
    )

    @app.get("/text")
    def text(request: Request) -> Response:
        calls.append("text")
        return Response(
            "hello " * 100, media_type="text/plain", headers={"x-frame-options": "SAMEORIGIN"}
        )

    @app.get("/small")
    def small() -> str:
        return "tiny"

    @app.get("/png")
    def png() -> Response:
        return Response(b"\x89PNG" * 100, media_type="image/png")

    @app.get("/rid")
    def rid(request: Request) -> str:
        return request.request_id or ""

    @app.post("/upload")
    async def upload(request: Request) -> str:
        calls.append("upload")
        return str(len(await request.body()))

    @app.get("/stream")
    def stream() -> StreamingResponse:
        async def body() -> AsyncIterator[bytes]:
            for i in range(50):
                yield f"line {i}\n".encode()

        return StreamingResponse(body(), media_type="text/plain")

    return app


@pytest.fixture(scope="module")
def client() -> Iterator[TestClient]:
    with TestClient(build()) as c:
        yield c


@pytest.mark.parametrize(
    ("coding", "decode"),
    [("gzip", gzip.decompress), ("br", brotli.decompress), ("zstd", zstandard.decompress)],
)
def test_full_bodies_are_compressed_by_accept_encoding(
    client: TestClient, coding: str, decode: object
) -> None:
    with client.stream("GET", "/text", headers={"accept-encoding": coding}) as r:
        raw = b"".join(r.iter_raw())  # as sent, not decoded by httpx
    assert r.headers["content-encoding"] == coding
    assert "accept-encoding" in r.headers["vary"]
    assert decode(raw) == ("hello " * 100).encode()  # type: ignore[operator]
    assert int(r.headers["content-length"]) == len(raw) < 600


def test_compression_skips_small_bodies_other_types_and_identity(client: TestClient) -> None:
    assert (
        "content-encoding" not in client.get("/small", headers={"accept-encoding": "gzip"}).headers
    )
    assert "content-encoding" not in client.get("/png", headers={"accept-encoding": "gzip"}).headers
    r = client.get("/text", headers={"accept-encoding": "gzip;q=0, identity"})
    assert "content-encoding" not in r.headers and r.content == ("hello " * 100).encode()


def test_streamed_bodies_are_compressed_chunk_by_chunk(client: TestClient) -> None:
    with client.stream("GET", "/stream", headers={"accept-encoding": "gzip"}) as r:
        raw = b"".join(r.iter_raw())
    assert r.headers["content-encoding"] == "gzip"
    assert r.headers["transfer-encoding"] == "chunked"
    assert gzip.decompress(raw) == b"".join(f"line {i}\n".encode() for i in range(50))


def test_request_id_is_generated_accepted_echoed_and_seen_by_python(client: TestClient) -> None:
    r = client.get("/rid")
    made = r.headers["x-request-id"]
    assert len(made) >= 16 and r.text == made
    r = client.get("/rid", headers={"x-request-id": "abc-123"})
    assert r.headers["x-request-id"] == "abc-123" and r.text == "abc-123"
    r = client.get("/rid", headers={"x-request-id": "has space"})
    assert r.headers["x-request-id"] != "has space"


def test_security_headers_and_timing(client: TestClient) -> None:
    r = client.get("/text")
    assert r.headers["x-content-type-options"] == "nosniff"
    assert r.headers["x-frame-options"] == "SAMEORIGIN", "the handler's own value wins"
    assert r.headers["strict-transport-security"] == "max-age=600"
    assert r.headers["server-timing"].startswith("total;dur=")


def test_cors_preflight_is_answered_in_rust(client: TestClient) -> None:
    calls.clear()
    r = client.options(
        "/text",
        headers={"origin": "https://app.example.com", "access-control-request-method": "GET"},
    )
    assert r.status_code == 204
    assert r.headers["access-control-allow-origin"] == "https://app.example.com"
    assert r.headers["access-control-allow-credentials"] == "true"
    assert calls == [], "a preflight never reaches Python"
    denied = client.options(
        "/text", headers={"origin": "https://evil.test", "access-control-request-method": "GET"}
    )
    assert denied.status_code == 403
    r = client.get("/text", headers={"origin": "https://app.example.com"})
    assert r.headers["access-control-allow-origin"] == "https://app.example.com"
    assert (
        "access-control-allow-origin"
        not in client.get("/text", headers={"origin": "https://evil.test"}).headers
    )


def test_untrusted_hosts_and_big_bodies_never_reach_python(client: TestClient) -> None:
    calls.clear()
    r = client.get("/text", headers={"host": "attacker.test"})
    assert r.status_code == 400 and r.headers["content-type"] == "application/problem+json"
    assert client.get("/text", headers={"host": "api.example.com"}).status_code == 200
    r = client.post("/upload", content=b"x" * 5000)
    assert r.status_code == 413
    assert client.post("/upload", content=b"x" * 10).text == "10"
    assert calls == ["text", "upload"]


def test_rate_limit_per_client_and_by_python_key() -> None:
    app = App(openapi_url=None, middleware=[RateLimit(rate=0.5, burst=2)])

    @app.get("/")
    def root() -> str:
        return "ok"

    with TestClient(app) as c:
        codes = [c.get("/").status_code for _ in range(3)]
        assert codes == [200, 200, 429]
        r = c.get("/")
        assert r.status_code == 429 and int(r.headers["retry-after"]) >= 1

    keyed = App(openapi_url=None)
    keyed.add_middleware(
        RateLimit(rate=0.5, burst=1, key=lambda request: request.header("x-user", ""))
    )

    @keyed.get("/")
    def root2() -> str:
        return "ok"

    with TestClient(keyed) as c:
        assert c.get("/", headers={"x-user": "a"}).status_code == 200
        assert c.get("/", headers={"x-user": "a"}).status_code == 429
        assert c.get("/", headers={"x-user": "b"}).status_code == 200


def test_order_is_explicit() -> None:
    app = App(openapi_url=None)

    async def python_mw(request: Request, call_next: CallNext) -> Response:
        response: Response = await call_next(request)
        return response

    app.add_middleware(python_mw)
    with pytest.raises(RouteError, match="CORS runs in Rust, outside every Python middleware"):
        app.add_middleware(CORS())
    with pytest.raises(RouteError, match="for the whole app"):
        Router(middleware=[Compression()])
    cmd = [sys.executable, "-m", "covetpy", "routes", f"{__name__}:ordered", "--middleware"]
    out = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    lines = [line.strip() for line in out.stdout.splitlines()]
    assert lines[:3] == [
        "built-in (Rust), outermost first:",
        "1. [rust] RequestId(header='x-request-id')",
        "2. [rust] ServerTiming()",
    ]


ordered = App(openapi_url=None, middleware=[RequestId(), ServerTiming()])


@ordered.get("/")
def ordered_root() -> str:
    return "ok"
