"""The built-in middleware that run in Rust, on the IO thread, configured from Python.

```python
app = App(middleware=[
    TrustedHosts(["example.com", "*.example.com"]),
    WebSocketOrigins(["https://app.example.com"]),  # cross-site WebSocket upgrades: 403
    RateLimit(rate=100, burst=200),               # per client address
    CORS(allow_origins=["https://app.example.com"], allow_credentials=True),
    RequestId(),
    SecurityHeaders(hsts_seconds=31536000),
    Compression(minimum_size=500),
    BodyLimit(1_000_000),
    ServerTiming(),
])
```

Each is a frozen description; the app hands them to the Rust core once at start-up
(`App.runtime().native_middleware`). A request they answer or refuse (a CORS preflight, a host
that is not trusted, a body over the limit, a client over its rate) never reaches Python. They
run outside every Python middleware, in the order given, so the app refuses a list that puts
one after a Python middleware (the order would not be what it says). An option they cannot use
raises `ConfigError` naming it, here or when the server starts.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from covetpy.exceptions import ConfigError

__all__ = [
    "CORS",
    "BodyLimit",
    "Compression",
    "NativeMiddleware",
    "PythonKeyRateLimit",
    "RateLimit",
    "RequestId",
    "SecurityHeaders",
    "ServerTiming",
    "TrustedHosts",
    "WebSocketOrigins",
]


class NativeMiddleware:
    """Base of the middleware implemented in Rust."""

    kind: str = ""

    def spec(self) -> dict[str, Any]:
        """What Rust reads: `kind` plus the fields."""
        return {"kind": self.kind, **asdict(self)}  # type: ignore[call-overload]

    def describe(self) -> str:
        """One line for `covetpy routes --middleware`."""
        fields = ", ".join(f"{k}={v!r}" for k, v in self.spec().items() if k != "kind")
        return f"[rust] {type(self).__name__}({fields})"


def _tuple(values: Sequence[str] | str) -> tuple[str, ...]:
    return (values,) if isinstance(values, str) else tuple(values)


@dataclass(frozen=True)
class CORS(NativeMiddleware):
    """Cross-origin resource sharing (Fetch standard): preflights are answered in Rust (204 when
    allowed, 403 when not); actual requests from an allowed origin get the allow headers."""

    kind = "cors"
    allow_origins: Sequence[str] = ("*",)
    allow_methods: Sequence[str] = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE")
    allow_headers: Sequence[str] = ()
    expose_headers: Sequence[str] = ()
    allow_credentials: bool = False
    max_age: int = 600

    def __post_init__(self) -> None:
        for name in ("allow_origins", "allow_methods", "allow_headers", "expose_headers"):
            object.__setattr__(self, name, _tuple(getattr(self, name)))
        if self.max_age < 0:
            raise ConfigError(f"CORS max_age must be >= 0, got {self.max_age}")


@dataclass(frozen=True)
class Compression(NativeMiddleware):
    """Compresses responses by `Accept-Encoding` (zstd, br, gzip in `prefer` order) when the
    body is at least `minimum_size` bytes and its type is in `content_types` (a `type/*`
    entry matches a whole family); streamed bodies are compressed chunk by chunk."""

    kind = "compression"
    minimum_size: int = 500
    content_types: Sequence[str] = (
        "text/*",
        "application/json",
        "application/problem+json",
        "application/javascript",
        "application/xml",
        "image/svg+xml",
    )
    prefer: Sequence[str] = ("zstd", "br", "gzip")

    def __post_init__(self) -> None:
        object.__setattr__(self, "content_types", _tuple(self.content_types))
        object.__setattr__(self, "prefer", _tuple(self.prefer))
        unknown = set(self.prefer) - {"br", "zstd", "gzip"}
        if unknown:
            raise ConfigError(f"Compression prefer: unknown encodings {sorted(unknown)}")
        if self.minimum_size < 0:
            raise ConfigError(f"Compression minimum_size must be >= 0, got {self.minimum_size}")


@dataclass(frozen=True)
class RequestId(NativeMiddleware):
    """Accepts the client's request id (1-128 visible ASCII characters) or generates one,
    echoes it on the response, and exposes it as `request.request_id` and in access logs."""

    kind = "request_id"
    header: str = "x-request-id"


@dataclass(frozen=True)
class SecurityHeaders(NativeMiddleware):
    """Adds security headers the handler did not set: nosniff, frame denial, no referrer,
    same-origin opener; HSTS when `hsts_seconds` is set; a CSP when given. `extra` adds or (with
    an empty value) removes headers."""

    kind = "security_headers"
    hsts_seconds: int = 0
    hsts_include_subdomains: bool = False
    content_security_policy: str = ""
    frame_options: str = "DENY"
    referrer_policy: str = "no-referrer"
    extra: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class TrustedHosts(NativeMiddleware):
    """Refuses (400) requests whose Host is not `example.com`-style exact, `*.example.com`
    (any subdomain) or `*` (any)."""

    kind = "trusted_hosts"
    allowed: Sequence[str] = ("*",)

    def __post_init__(self) -> None:
        object.__setattr__(self, "allowed", _tuple(self.allowed))
        if not self.allowed:
            raise ConfigError("TrustedHosts allowed: needs at least one host")


@dataclass(frozen=True)
class WebSocketOrigins(NativeMiddleware):
    """Refuses (403, before Python) a WebSocket upgrade whose `Origin` is not allowed: browsers
    apply no CORS to WebSocket, so any site's page could otherwise open a socket with the
    user's cookies. `allow`: full origins (`"https://app.example.com"`, scheme, host and port,
    compared case-insensitively with default ports filled in) or `"*"`; None (the default)
    allows only the request's own origin (the Origin's host and port equal to `Host`). Plain
    HTTP requests, and upgrades without `Origin` (non-browser clients), pass."""

    kind = "websocket_origins"
    allow: Sequence[str] | None = None

    def __post_init__(self) -> None:
        if self.allow is not None:
            object.__setattr__(self, "allow", _tuple(self.allow))


@dataclass(frozen=True)
class BodyLimit(NativeMiddleware):
    """A body limit below the server's `max_body_size` (413 beyond, before the body is read
    when Content-Length announces it)."""

    kind = "body_limit"
    max_bytes: int = 1024 * 1024

    def __post_init__(self) -> None:
        if self.max_bytes < 0:
            raise ConfigError(f"BodyLimit max_bytes must be >= 0, got {self.max_bytes}")


@dataclass(frozen=True)
class RateLimit(NativeMiddleware):
    """A token bucket per client: `rate` requests per second on average, bursts of `burst`;
    beyond it 429 with `Retry-After`. `key`: "client" (the peer address), "header:NAME" (the
    value of a request header), or a function `key(request) -> str`, which runs in Python (the
    buckets stay in Rust)."""

    kind = "rate_limit"
    rate: float = 100.0
    burst: int = 100
    key: str | Callable[[Any], str] = "client"
    max_keys: int = 100_000

    def __post_init__(self) -> None:
        if not self.rate > 0:
            raise ConfigError(f"RateLimit rate must be > 0, got {self.rate}")
        if self.burst < 1:
            raise ConfigError(f"RateLimit burst must be >= 1, got {self.burst}")
        if self.max_keys < 1:
            raise ConfigError(f"RateLimit max_keys must be >= 1, got {self.max_keys}")
        if isinstance(self.key, str) and not (
            self.key == "client" or (self.key.startswith("header:") and len(self.key) > 7)
        ):
            raise ConfigError(
                f"RateLimit key must be 'client', 'header:NAME' or a function, not {self.key!r}"
            )

    @property
    def in_python(self) -> bool:
        """Whether the key is computed by a Python function (then the check runs there)."""
        return callable(self.key)

    def spec(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "rate": self.rate,
            "burst": self.burst,
            "key": self.key if isinstance(self.key, str) else "python",
            "max_keys": self.max_keys,
        }


@dataclass(frozen=True)
class ServerTiming(NativeMiddleware):
    """Adds `server-timing: total;dur=<ms>` (W3C Server Timing) to every response."""

    kind = "server_timing"


class PythonKeyRateLimit:
    """`RateLimit(key=function)`: a Python middleware that computes the key and takes a token
    from the same Rust token buckets (`covetpy._core.RateLimiter`); 429 with `Retry-After`."""

    def __init__(self, config: RateLimit) -> None:
        from covetpy._core import RateLimiter

        assert callable(config.key)
        self.key: Callable[[Any], str] = config.key
        self.limiter = RateLimiter(config.rate, config.burst, config.max_keys)

    async def __call__(self, request: Any, call_next: Callable[[Any], Any]) -> Any:
        wait = self.limiter.hit(str(self.key(request)))
        if wait is not None:
            import math

            from covetpy._bridge import problem

            return problem(
                429,
                "Too Many Requests",
                "rate limit exceeded; retry later",
                {"retry-after": str(max(1, math.ceil(wait)))},
            )
        return await call_next(request)
