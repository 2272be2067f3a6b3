"""Stub of the Rust extension `covetpy._core` (rust/bridge/). Keep in step with the Rust code;
`mypy.stubtest covetpy._core` checks it in CI."""

import asyncio
from collections.abc import (
    AsyncIterator,
    Awaitable,
    Generator,
    Iterable,
    Iterator,
    Mapping,
    Sequence,
)
from typing import Any, TypeVar, final, overload

from covetpy._bridge import RouteEntry, Runtime
from covetpy.config import ServerConfig

_T = TypeVar("_T")

__all__ = [
    "BodyStream",
    "ConfigError",
    "CovetError",
    "Headers",
    "HttpClient",
    "HttpClientError",
    "Identity",
    "PeerIdentity",
    "QueryParams",
    "RateLimiter",
    "Ready",
    "Request",
    "Responder",
    "RouteError",
    "Server",
    "StreamSender",
    "WsSession",
    "__version__",
    "metrics_mark_closed",
    "metrics_scrape",
    "panic_for_test",
    "public_jwk",
    "run_bench",
    "sign_jwt",
]

__version__: str

class CovetError(Exception):
    """Base class of the errors CovetPy raises."""

class RouteError(CovetError):
    """A route table that cannot be built: bad path syntax or two routes that conflict."""

    route: str | None
    """When two routes clash: the one being added, as `"GET /a/{x}"`; else None."""
    conflicts_with: str | None
    """When two routes clash: the one declared before it that it clashes with; else None."""

class ConfigError(CovetError):
    """A server configuration that cannot be used (bad value, address in use, ...)."""

class HttpClientError(CovetError):
    """An `HttpClient` request that got no response. `args` are `(kind, message)`; `kind` is
    one of connect, connect_timeout, write_timeout, read_timeout, write_error, read_error,
    protocol, body_too_large, closed (peer closed before any response byte),
    invalid_request, shutdown (client closed), forked (client created before `fork`)."""

@final
class HttpClient:
    """An HTTP/1.1 client for plain http:// with a keep-alive pool per `host:port`, running
    on its own thread ("covetpy-client"). Idle connections are reused last-in first-out,
    at most `max_idle_per_host` per authority, for at most `idle_timeout` seconds; response
    bodies over `max_body` bytes are refused. Clients still open at exit are closed by an
    `atexit` hook."""

    def __new__(
        cls, max_idle_per_host: int = 32, idle_timeout: float = 4.0, max_body: int = 67108864
    ) -> HttpClient: ...
    def request(
        self,
        method: str,
        authority: str,
        target: str,
        headers: list[tuple[bytes, bytes]],
        body: bytes,
        connect_timeout: float | None,
        timeout: float | None,
        future: asyncio.Future[tuple[int, list[tuple[bytes, bytes]], bytes]],
    ) -> None:
        """Submits a request without blocking. `authority` is `host:port`, `target` the path
        and query. `Host` and `Content-Length` are added when absent. `connect_timeout`
        bounds opening a connection, `timeout` the whole request. `future` is resolved on
        its loop with `(status, headers, body)` or an `HttpClientError` (left alone if it
        was cancelled meanwhile)."""
    def close(self) -> None:
        """Stops the client: requests in flight fail with kind `shutdown`. Idempotent."""
    def idle_connections(self, authority: str) -> int:
        """Idle pooled connections to `authority` (`host:port`)."""

@final
class Ready:
    """An awaitable that is already complete."""
    def __await__(self) -> Generator[Any, None, Any]: ...
    def __iter__(self) -> Ready: ...
    def __next__(self) -> Any: ...
    def send(self, value: Any) -> Any: ...

@final
class Headers:
    """Request headers: case-insensitive, multi-valued, in the order received."""
    @overload
    def get(self, key: str) -> str | None: ...
    @overload
    def get(self, key: str, default: str) -> str: ...
    @overload
    def get(self, key: str, default: Any) -> Any: ...
    def getlist(self, key: str) -> list[str]: ...
    def keys(self) -> list[str]: ...
    def values(self) -> list[str]: ...
    def items(self) -> list[tuple[str, str]]: ...
    def __getitem__(self, key: str, /) -> str: ...
    def __contains__(self, key: str, /) -> bool: ...
    def __len__(self) -> int: ...
    def __iter__(self) -> Iterator[str]: ...

@final
class QueryParams:
    """Query parameters: multi-valued, in order, percent- and `+`-decoded."""
    @overload
    def get(self, key: str) -> str | None: ...
    @overload
    def get(self, key: str, default: str) -> str: ...
    @overload
    def get(self, key: str, default: Any) -> Any: ...
    def getlist(self, key: str) -> list[str]: ...
    def keys(self) -> list[str]: ...
    def values(self) -> list[str]: ...
    def items(self) -> list[tuple[str, str]]: ...
    def __getitem__(self, key: str, /) -> str: ...
    def __contains__(self, key: str, /) -> bool: ...
    def __len__(self) -> int: ...
    def __iter__(self) -> Iterator[str]: ...

@final
class BodyStream:
    """The async iterator behind `Request.stream()`."""
    def __aiter__(self) -> AsyncIterator[bytes]: ...
    def __anext__(self) -> Awaitable[bytes]: ...

@final
class Request:
    """A lazy view of a request parsed in Rust; parts become Python objects when first used."""
    @property
    def method(self) -> str: ...
    @property
    def path(self) -> str: ...
    @property
    def query_string(self) -> str: ...
    @property
    def http_version(self) -> str: ...
    @property
    def headers(self) -> Headers: ...
    @overload
    def header(self, name: str, default: None = None) -> str | None: ...
    @overload
    def header(self, name: str, default: str) -> str: ...
    @property
    def query_params(self) -> QueryParams: ...
    @property
    def path_params(self) -> dict[str, Any]: ...
    @property
    def client(self) -> tuple[str, int] | None:
        """The client: the peer, or the one a trusted proxy names (--trusted-proxies)."""
    @property
    def body_bytes(self) -> bytes: ...
    def form_params(self) -> QueryParams: ...
    def body(self) -> Ready: ...
    def json(self) -> Ready: ...
    def stream(self) -> BodyStream: ...
    def is_disconnected(self) -> Ready: ...
    @property
    def job(self) -> int:
        """The id `_bridge.cancel(job, why)` names this request by."""
    def asgi_scope(self, template: dict[str, Any]) -> dict[str, Any]:
        """A copy of `template` with this request's ASGI scope keys set (mounts)."""
    def read_chunk(self) -> bytes | None:
        """A mount's next body chunk; b"" at the end; None: `wait_chunk` first."""
    def wait_chunk(self, future: asyncio.Future[None]) -> None: ...
    def read_chunk_blocking(self) -> bytes:
        """`read_chunk` for a worker thread: waits without the GIL; b"" at the end."""
    def discard_body(self) -> None: ...
    @property
    def request_id(self) -> str | None: ...
    @property
    def auth(self) -> Any:
        """Who made the request (`covetpy.auth.Identity`), as an authentication layer
        verified it; None when anonymous. Python-verified layers set it."""
    @auth.setter
    def auth(self, value: Any) -> None: ...
    @property
    def state(self) -> Any:
        """Per-request state for middleware and dependencies (a `types.SimpleNamespace`)."""
    @property
    def auth_pending(self) -> str | int | None:
        """What the auth gate must decide: None, "python", or a JWT layer's index to refresh."""
    def reauthenticate(self) -> tuple[int, str, str, list[str]] | None:
        """Checks the request again after a JWKS refresh: None, or (status, reason, detail,
        WWW-Authenticate values)."""
    @property
    def peer(self) -> tuple[str, int] | None:
        """The TCP peer itself (the proxy, behind one); None on a Unix socket."""
    @property
    def scheme(self) -> str:
        """The scheme the client used (a trusted proxy's word), else "https" on a TLS
        connection and "http" in cleartext."""
    @property
    def host(self) -> str | None:
        """The host the client asked for (a trusted proxy's word), else the Host header."""
    @property
    def peer_identity(self) -> PeerIdentity | None:
        """The client certificate this server verified (mTLS), else the one a trusted proxy
        checked (x-forwarded-client-cert)."""
    @property
    def trailers(self) -> list[tuple[str, str]]:
        """Trailer fields sent after the body (HTTP/2); empty when there were none."""
    @property
    def trace_id(self) -> str:
        """The trace (32 hex digits): the caller's (traceparent, or B3 when enabled) or new."""
    @property
    def span_id(self) -> str:
        """This server's span of the request (16 hex digits)."""
    @property
    def parent_span_id(self) -> str | None:
        """The caller's span, None when this server started the trace."""
    @property
    def traceparent(self) -> str:
        """The `traceparent` for calls made while serving this request."""
    @property
    def tracestate(self) -> str | None:
        """The caller's valid `tracestate`, passed on unchanged."""
    @property
    def sampled(self) -> bool: ...
    @property
    def deadline(self) -> float | None:
        """When the caller stops waiting, in time.monotonic() seconds (None: no deadline)."""
    def remaining(self) -> float | None:
        """Seconds left before the deadline (0.0 once passed); None without one."""
    @property
    def websocket(self) -> WsSession | None:
        """The session of a WebSocket upgrade routed to a WebSocket route; else None."""

@final
class WsSession:
    """One WebSocket connection as Rust runs it (framing, pings, the close handshake);
    `covetpy.WebSocket` is its Python face."""

    @property
    def subprotocols(self) -> tuple[str, ...]:
        """What the client offered in Sec-WebSocket-Protocol, in order."""
    @property
    def close_code(self) -> int | None:
        """Set once closed (by either side); 1006 when the TCP connection dropped."""
    @property
    def close_reason(self) -> str: ...
    @property
    def accepted(self) -> bool:
        """Whether the handler accepted (or the session ended)."""
    def accept(
        self, subprotocol: str | None = None, headers: Sequence[tuple[str, str]] = ...
    ) -> None:
        """Sends 101 Switching Protocols now. ValueError: a subprotocol not offered or a bad
        header; RuntimeError: accepted twice or already closed."""
    def receive(self) -> str | bytes | int | None:
        """The next whole message: str (text) or bytes (binary); int: the connection is
        closed and this is the close code; None: nothing yet (see `wait_receive`)."""
    def wait_receive(self, future: asyncio.Future[None]) -> None:
        """Resolves `future` on its loop once `receive()` would not return None."""
    def send(self, data: str | bytes) -> bool:
        """Queues one message (text for str, binary for bytes). False: the send queue is
        full (see `wait_send`); ConnectionResetError once the connection is closed."""
    def wait_send(self, future: asyncio.Future[None]) -> None:
        """Resolves `future` on its loop once the send queue has room."""
    def close(self, code: int = 1000, reason: str = "") -> None:
        """Starts the close handshake. ValueError: a code not allowed on the wire
        (RFC 6455 §7.4) or a reason over 123 bytes."""
    def subscribe(self, topic: str) -> None:
        """This connection receives `Server.broadcast(topic, ...)`."""
    def unsubscribe(self, topic: str) -> None: ...

@final
class Identity:
    """A verified identity (`request.auth`).

    - `scheme`: which layer verified it (`"jwt"`, `"api_key"`, `"basic"`, `"session"`, ...).
    - `subject`: the token's `sub`, the API key's name, the user name.
    - `scopes`, `roles`: what it was granted; `permissions`: its scopes plus what its roles
      grant by the app's `role_permissions` table (or the permissions a layer gave).
    - `claims`: the token's payload (decoded on first use); `claims_as(MyClaims)` decodes it
      into a msgspec Struct (`Annotated[MyClaims, Auth()]` does this).
    """

    def __new__(
        cls,
        scheme: str,
        subject: str | None = None,
        scopes: Iterable[str] | None = None,
        roles: Iterable[str] | None = None,
        permissions: Iterable[str] | None = None,
        claims: Mapping[str, Any] | bytes | None = None,
    ) -> Identity: ...
    @property
    def scheme(self) -> str: ...
    @property
    def subject(self) -> str | None: ...
    @property
    def scopes(self) -> frozenset[str]: ...
    @property
    def roles(self) -> frozenset[str]: ...
    @property
    def permissions(self) -> frozenset[str]: ...
    @property
    def claims(self) -> dict[str, Any]: ...
    def claims_as(self, type_: type[_T]) -> _T: ...
    def __eq__(self, value: object, /) -> bool: ...
    def __getnewargs__(self) -> tuple[Any, ...]: ...

@final
class PeerIdentity:
    """The client certificate a trusted proxy saw (its x-forwarded-client-cert element)."""
    @property
    def spiffe_id(self) -> str | None: ...
    @property
    def uri(self) -> str | None: ...
    @property
    def dns(self) -> tuple[str, ...]: ...
    @property
    def subject(self) -> str | None: ...
    @property
    def hash(self) -> str | None: ...
    @property
    def by(self) -> str | None: ...

@final
class Responder:
    """Sends the result of a handler that suspended."""
    def send(self, value: Any) -> None: ...
    def fail(self, exc: BaseException) -> None: ...

@final
class StreamSender:
    """The producer side of a streamed response body."""
    def send(self, chunk: bytes) -> bool: ...
    def finish(self) -> bool: ...
    def abort(self) -> None: ...
    def wait(self, future: Any) -> None: ...

@final
class RateLimiter:
    """Token buckets for keys computed in Python (`RateLimit(key=function)`)."""
    def __new__(cls, rate: float, burst: int, max_keys: int) -> RateLimiter: ...
    def hit(self, key: str) -> float | None: ...

@final
class Server:
    """The Rust server of one worker process."""
    def __new__(
        cls, config: ServerConfig, routes: Iterable[RouteEntry], runtime: Runtime
    ) -> Server:
        """`config`, each route and `runtime` cross with every field required: a missing or
        ill-typed one raises `ConfigError` naming it (designs/bridge.md)."""
    def start(self) -> list[str]: ...
    def fileno(self) -> int: ...
    def dispatch(self) -> bool: ...
    def begin_drain(self) -> None: ...
    def set_started(self) -> None:
        """Marks start-up finished: `/startupz` answers 200 from now on."""
    def set_ready(self, ready: bool, reason: str = "") -> None:
        """Sets readiness (`/readyz`); `reason` says what fails while not ready."""
    def join(self) -> None: ...
    def stats(self) -> dict[str, int]: ...
    @property
    def io_driver(self) -> str | None:
        """The IO driver of the running server, "epoll" or "uring"; None before start()."""
    @property
    def connections(self) -> int: ...
    @property
    def native_middleware(self) -> list[str]: ...
    def broadcast(self, topic: str, data: str | bytes, defer: bool = False) -> int:
        """Fans a message out to this worker's subscribers of `topic` (the frame encoded
        once); returns how many sockets it was queued for. With `defer`, the sockets are
        written at `wake_broadcasts()`."""
    def wake_broadcasts(self) -> int:
        """Wakes the sockets deferred broadcasts queued messages on; returns how many."""
    def set_jwks(self, index: int, document: bytes) -> int:
        """Replaces JWT layer `index`'s keys with a JWKS document; returns how many keys it
        holds. ValueError (keys kept) when it has none usable."""
    def count_auth_failure(self, reason: str) -> None:
        """Counts a refusal decided in Python (`covetpy_auth_failures_total{reason}`)."""

def metrics_mark_closed(directory: str, pid: int) -> bool:
    """Marks dead worker `pid`'s metrics file in `directory` closed: its in-flight gauge stops
    counting even if the pid is reused. False if there is no such file."""

def metrics_scrape(directory: str) -> str:
    """Prometheus text of the request metrics every worker wrote into `directory` (summed)."""

def sign_jwt(algorithm: str, key: bytes, claims: bytes, kid: str | None = None) -> str:
    """Signs `claims` (a JSON object) as a compact JWS with `algorithm` and `key` (a PEM
    private key, or an HMAC secret), naming `kid`."""

def public_jwk(algorithm: str, key: bytes, kid: str | None = None) -> str:
    """The public JWK (JSON) of a private signing key."""

def panic_for_test() -> None:
    """Panics inside the extension (tests check that panics are contained)."""

def run_bench(options: Mapping[str, Any]) -> dict[str, Any]:
    """Runs a load test (rust/bench/) without the GIL and returns its report.

    `options`: `url` (http://, https:// or ws://, required), `connections`, `threads`,
    `duration` (seconds) and/or `requests`, `rate` (requests/s, constant-rate mode),
    `pipeline`, `h2` (HTTP/2: h2c with prior knowledge for http://, ALPN h2 for https://),
    `streams` (HTTP/2 streams in flight per connection), `new_conn` (one request per
    connection, TLS handshake included), `insecure` (accept any server certificate), `cacert`
    (PEM file of the CA to verify it with; default: the system's), `method`, `headers` (list
    of (name, value)), `body` (bytes), `timeout` (seconds), `progress` (the live line on
    stderr). Unknown keys or unusable values raise ValueError, as does a TLS handshake that
    fails before the run or a server that does not select h2; a host that does not resolve
    raises OSError. Ctrl-C ends the run early with `interrupted` set.
    A ws:// URL is a WebSocket run: `ws_mode` ("echo" | "subscribe"), `message_size`,
    `binary`, `publish_rate` (messages/s, "max", or None for an outside publisher); then
    `requests` counts messages received, `pipeline` is the window, and the report adds `ws`
    (`mode`, `message_size`, `binary`, `publish_rate`, `published`, `opened`).

    The report: `url`, `method`, `connections`, `threads`, `pipeline`, `rate`, `protocol`
    ("HTTP/1.1", "h2" or "h2c"), `tls_version` ("TLSv1.3", or None for plain TCP), `streams`,
    `new_conn`, `duration_s`, `interrupted`, `requests`, `requests_per_s`, `bytes_read`,
    `bytes_written`, `bytes_read_per_s`, `status_counts` ({"200": n}), `errors` (by kind:
    connect, read, write, timeout, parse, closed, tls, reset; each a count of failed requests),
    `errors_total`, `reconnects`, `latency_us` (`min`, `mean`, `stdev`, `max`, `percentiles`
    {"50", "75", "90", "99", "99.9", "99.99"}).
    """
