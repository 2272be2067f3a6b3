"""`RustTransport`: httpx's transport for plain http:// on CovetPy's Rust HTTP/1.1 client.

httpx keeps its model (URL, headers, cookies, decoding); the connection pool, the socket I/O
and the HTTP/1.1 framing run on the Rust client's own thread, so an outbound call costs the
event loop one future instead of httpcore's and anyio's coroutines and socket calls
(`benches/mesh_client.py`). https:// and other schemes go to an `httpx.AsyncHTTPTransport`.

Timeouts: httpx's `connect` bounds opening a connection; `read` (or `write` when `read` is
None) bounds the whole request, connect included. That is stricter than httpx's per-read
bound, and the same for a response that arrives in one read. `pool` has no meaning: the
number of connections is not capped.
"""

from __future__ import annotations

import asyncio
from typing import Any

from covetpy._core import HttpClient, HttpClientError
from covetpy.exceptions import require

__all__ = ["RustTransport"]

try:
    import httpx

    _Transport = httpx.AsyncBaseTransport

    # httpx exception per `HttpClientError` kind; mesh.Client's retries and its endpoint
    # ejection look at these types (retry.py, client.py).
    _ERRORS: dict[str, type[httpx.TransportError]] = {
        "connect": httpx.ConnectError,
        "connect_timeout": httpx.ConnectTimeout,
        "write_timeout": httpx.WriteTimeout,
        "read_timeout": httpx.ReadTimeout,
        "write_error": httpx.WriteError,
        "read_error": httpx.ReadError,
        "protocol": httpx.RemoteProtocolError,
        "closed": httpx.RemoteProtocolError,
        "body_too_large": httpx.RemoteProtocolError,
        "invalid_request": httpx.LocalProtocolError,
    }
except ImportError:  # without the mesh extra the module imports; RustTransport() names it
    _Transport = object  # type: ignore[misc,assignment]


class RustTransport(_Transport):
    """Sends http:// requests through the Rust client (`covetpy._core.HttpClient`).

    Idle connections are kept per `host:port`, at most `max_idle_per_host`, for
    `idle_timeout` seconds (below the 5 s keep-alive of CovetPy's server, uvicorn and Node,
    so this side closes first); bodies over `max_body` bytes are refused. `fallback` serves
    other schemes (default: an `httpx.AsyncHTTPTransport`, created on first use).
    """

    def __init__(
        self,
        *,
        max_idle_per_host: int = 32,
        idle_timeout: float = 4.0,
        max_body: int = 64 * 1024 * 1024,
        fallback: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        require("covetpy.mesh.transport.RustTransport", "mesh", "httpx")
        self._client = HttpClient(max_idle_per_host, idle_timeout, max_body)
        self._fallback = fallback

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        """Sends `request`; the response comes back whole (its stream is in memory)."""
        url = request.url
        if url.scheme != "http":
            if self._fallback is None:
                self._fallback = httpx.AsyncHTTPTransport()
            return await self._fallback.handle_async_request(request)
        host = url.raw_host.decode("ascii")
        if ":" in host:  # IPv6 literal
            host = f"[{host}]"
        timeout: dict[str, Any] = request.extensions.get("timeout", {})
        total = timeout.get("read")
        if total is None:
            total = timeout.get("write")
        future: asyncio.Future[tuple[int, list[tuple[bytes, bytes]], bytes]]
        future = asyncio.get_running_loop().create_future()
        self._client.request(
            request.method,
            f"{host}:{url.port or 80}",
            url.raw_path.decode("ascii"),
            request.headers.raw,
            await request.aread(),
            timeout.get("connect"),
            total,
            future,
        )
        try:
            status, headers, body = await future
        except HttpClientError as exc:
            kind, message = exc.args
            error = _ERRORS.get(kind, httpx.TransportError)
            raise error(message, request=request) from exc
        # A stream rather than `content=`: `content` would add a Content-Length header the
        # server did not send (next to its Transfer-Encoding, for a chunked response).
        return httpx.Response(
            status, headers=headers, stream=httpx.ByteStream(body), request=request
        )

    async def aclose(self) -> None:
        """Closes the pooled connections (and the fallback transport's)."""
        self._client.close()
        if self._fallback is not None:
            await self._fallback.aclose()
