"""The server configuration: one frozen object, read once by the Rust core at start-up.

Every field is also a `covetpy run` option (`max_body_size` -> `--max-body-size`).
"""

from __future__ import annotations

import dataclasses
import functools
import os
import types
import typing
from dataclasses import dataclass, field
from typing import Any

from covetpy.exceptions import ConfigError

__all__ = ["ServerConfig"]


def _opt(default: Any, help: str) -> Any:
    return field(default=default, metadata={"help": help})


_IO_DRIVERS = ("auto", "epoll", "uring")
_STANDBY_MODES = ("auto", "on", "off")


def _default_io() -> str:
    """`COVETPY_IO` when set, so a whole test suite can run on one driver without edits."""
    return os.environ.get("COVETPY_IO", "auto")


@dataclass(frozen=True)
class ServerConfig:
    """How a worker listens and what it allows clients to do."""

    host: str = _opt("127.0.0.1", "address to bind")
    port: int = _opt(8000, "TCP port to bind")
    uds: str | None = _opt(None, "bind a Unix domain socket at this path instead of TCP")
    fd: int | None = _opt(None, "serve an inherited listening socket (set by the supervisor)")
    metrics_dir: str | None = _opt(
        None, "directory of the workers' shared metrics files (set by the supervisor)"
    )
    backlog: int = _opt(1024, "listen(2) backlog")
    io_threads: int = _opt(1, "IO threads per worker process")
    io: str = field(
        default_factory=_default_io,
        metadata={
            "help": "IO driver: auto (the one measured faster, epoll for now: adrs/0005), "
            "epoll, or uring (start-up fails if the kernel refuses io_uring); default from "
            "$COVETPY_IO"
        },
    )
    max_request_line: int = _opt(8192, "longest request line in bytes (414 beyond)")
    max_header_bytes: int = _opt(65536, "largest header section in bytes (431 beyond)")
    max_headers: int = _opt(100, "most header fields in a request (431 beyond)")
    max_body_size: int = _opt(10 * 1024 * 1024, "largest request body in bytes (413 beyond)")
    header_timeout: float = _opt(10.0, "seconds to receive a request head (408 after)")
    body_timeout: float = _opt(30.0, "seconds to receive a request body (408 after)")
    keep_alive_timeout: float = _opt(5.0, "seconds an idle keep-alive connection stays open")
    write_timeout: float = _opt(30.0, "seconds one write may wait for a client that stops reading")
    max_connections: int = _opt(10000, "open connections per worker (503 beyond)")
    max_pipeline: int = _opt(32, "pipelined requests read ahead per connection")
    drain_timeout: float = _opt(30.0, "seconds in-flight requests get to finish on shutdown")
    access_log: bool = _opt(False, "log one line per request")
    audit_log: bool = _opt(
        False, "log every authentication decision (refusals are always logged, covetpy.audit)"
    )
    max_inflight: int = _opt(
        1024,
        "requests per worker handed to Python and not yet answered; more wait in a queue",
    )
    queue_size: int = _opt(1024, "requests per worker waiting for an in-flight slot (503 beyond)")
    queue_timeout: float = _opt(
        1.0, "seconds a request may wait for an in-flight slot (503 with Retry-After after)"
    )
    request_timeout: float = _opt(
        60.0, "seconds a handler may take to answer (504 after); 0 for none; routes may override"
    )
    livez_path: str = _opt("/livez", "liveness probe answered in Rust; empty to disable")
    readyz_path: str = _opt(
        "/readyz",
        "readiness probe answered in Rust (503 while starting, while a readiness check fails "
        "and from the start of a shutdown); empty to disable",
    )
    startupz_path: str = _opt(
        "/startupz",
        "start-up probe answered in Rust (200 once start-up finished); empty to disable",
    )
    pre_stop_delay: float = _opt(
        0.0,
        "seconds between failing readiness and closing the listener on SIGTERM, so sidecars "
        "and load balancers stop routing here first (5 is typical behind Envoy/Istio)",
    )
    shutdown_deadline: float = _opt(
        0.0,
        "seconds from SIGTERM after which the worker exits whatever is left (set it below the "
        "orchestrator's grace period); 0 for pre_stop_delay + drain_timeout + 5",
    )
    readiness_interval: float = _opt(1.0, "seconds between runs of the app's readiness checks")
    wait_for_sidecar: str = _opt(
        "",
        "before reporting ready, wait until the sidecar is: envoy, istio, linkerd, dapr, or a "
        "readiness URL; empty not to wait",
    )
    sidecar_timeout: float = _opt(
        60.0, "seconds to wait for the sidecar; start-up fails after (the worker exits)"
    )
    trusted_proxies: str = _opt(
        "",
        "comma-separated CIDRs of proxies whose X-Forwarded-* / Forwarded headers are "
        "believed (e.g. 127.0.0.1/32 for a sidecar); empty trusts nothing",
    )
    proxy_hops: int = _opt(
        1, "at most this many trusted proxies are stepped past to find the client"
    )
    b3: bool = _opt(False, "also accept B3 trace headers (b3, X-B3-*) when traceparent is absent")
    metrics: bool = _opt(
        False,
        "record request metrics in Rust (summed over workers) and serve them at metrics_path",
    )
    metrics_path: str = _opt("/metrics", "where Prometheus metrics are served (with --metrics)")
    admin_port: int = _opt(
        0,
        "serve the probes and /metrics on this port too (from the supervisor); 0 for none",
    )
    log_format: str = _opt("text", "text or json (one JSON object per line, with trace ids)")
    busy_poll_us: int = _opt(
        0,
        "microseconds an IO thread keeps polling its sockets after an answer, and the Python "
        "thread its queue after a light batch of sync handlers, before they sleep (at most "
        "1000; 0: off): lone requests skip waking an idle CPU, which costs ~30 us on VMs "
        "whose idle CPUs halt, for idle CPU spent polling (IO threads: epoll driver only)",
    )
    max_requests: int = _opt(
        0, "requests a worker serves before it is replaced gracefully; 0 for no limit"
    )
    max_requests_jitter: int = _opt(
        0, "up to this many extra requests per worker, so workers do not recycle together"
    )
    max_worker_memory: int = _opt(
        0, "RSS in MB beyond which a worker is replaced gracefully; 0 for no limit"
    )
    standby: str = _opt(
        "auto",
        "keep a spare worker with the app imported, to replace a dead one in milliseconds: "
        "auto (only once a worker has died unexpectedly), on (always) or off (adrs/0020)",
    )
    log_level: str = _opt("info", "debug, info, warning or error")
    bridge: str = _opt(
        "batched",
        "how requests reach Python: batched (one GIL hold per batch) or inline (IO thread "
        "takes the GIL per request; an experiment kept for adrs/0002, no suspending handlers)",
    )
    ws_ping_interval: float = _opt(
        20.0, "seconds between keep-alive pings on an idle WebSocket; 0 for none"
    )
    ws_ping_timeout: float = _opt(
        20.0, "seconds a ping waits for its pong before the WebSocket is closed with 1011"
    )
    ws_close_timeout: float = _opt(
        5.0,
        "seconds our close frame waits for the peer's before the TCP connection is dropped "
        "(also the grace WebSockets get at a drain, after close 1001)",
    )
    ws_max_message: int = _opt(
        1 << 20, "largest WebSocket message accepted, in bytes after decompression (1009 beyond)"
    )
    ws_max_connections: int = _opt(
        10_000, "open WebSockets per worker; upgrades beyond it are answered 503"
    )
    ws_max_queue: int = _opt(
        64,
        "messages queued for sending per WebSocket: a handler's send waits beyond it, and a "
        "broadcast applies ws_queue_policy",
    )
    ws_queue_policy: str = _opt(
        "drop_oldest",
        "what a broadcast does to a WebSocket whose send queue is full: drop_oldest (the "
        "subscriber misses messages) or disconnect (close 1008)",
    )
    ws_compression: bool = _opt(
        False, "accept permessage-deflate (RFC 7692) from WebSocket clients that offer it"
    )
    ws_compression_min_size: int = _opt(
        256, "WebSocket messages shorter than this are sent uncompressed"
    )
    ws_compression_level: int = _opt(1, "zlib level 0-9 of compressed WebSocket messages")
    interface: str = _opt(
        "auto",
        "what the app is: auto (detected), covetpy (an App), asgi (an ASGI 3 app) or wsgi "
        "(a WSGI app); a hosted ASGI/WSGI app is mounted at / of an App (docs/hosting.md)",
    )
    wsgi_threads: int = _opt(
        16, "threads that run a hosted WSGI app's requests, per worker (at least 1)"
    )
    ssl_certfile: str | None = _opt(
        None,
        "PEM certificate chain: serve TLS (1.3 by default). Several, comma-separated, are "
        "chosen by the client's SNI among each one's DNS names; the first serves the rest",
    )
    ssl_keyfile: str | None = _opt(
        None, "PEM private key of each ssl_certfile, comma-separated in the same order"
    )
    ssl_ca: str | None = _opt(
        None, "PEM CA certificates that client certificates are verified against (mTLS)"
    )
    ssl_client_verify: str = _opt(
        "off",
        "client certificates: off, optional (verified when sent) or required (needs ssl_ca); "
        "a verified one is request.peer_identity",
    )
    ssl_min_version: str = _opt("1.3", "oldest TLS version accepted: 1.2 or 1.3")
    ssl_handshake_timeout: float = _opt(
        10.0, "seconds a TLS handshake may take from accept before the socket is closed"
    )
    ssl_reload_interval: float = _opt(
        5.0,
        "seconds between checks of the certificate and key files: changed files are loaded "
        "for new connections (a bad file keeps the previous certificate); 0 never checks",
    )
    http: str = _opt(
        "auto",
        "HTTP versions: auto (HTTP/1.1 and HTTP/2: ALPN over TLS, prior-knowledge h2c in "
        "cleartext), 1 (HTTP/1.1 only) or 2 (HTTP/2 only)",
    )
    h2_max_concurrent_streams: int = _opt(
        100, "HTTP/2 streams a client may have open at once per connection"
    )
    h2_initial_stream_window: int = _opt(
        1 << 20, "HTTP/2 flow-control window of each request body, in bytes"
    )
    h2_initial_connection_window: int = _opt(
        2 << 20, "HTTP/2 flow-control window of a connection's request bodies, in bytes"
    )
    h2_max_frame_size: int = _opt(16384, "largest HTTP/2 frame accepted (16384-16777215)")
    h2_max_header_list_size: int = _opt(
        65536, "largest decoded HTTP/2 header list in bytes (HPACK bombs stop here)"
    )
    h2_ping_interval: float = _opt(
        20.0, "seconds between keep-alive PINGs on an idle HTTP/2 connection; 0 for none"
    )
    h2_ping_timeout: float = _opt(
        20.0, "seconds a keep-alive PING waits for its answer before the connection closes"
    )
    h2_max_resets: int = _opt(
        200,
        "HTTP/2 streams a client may reset per connection in 10 s (rapid reset, "
        "CVE-2023-44487); beyond it GOAWAY ENHANCE_YOUR_CALM",
    )

    tasks: bool = _opt(
        False,
        "also consume the app's task queues in each worker (covetpy worker consumes without "
        "HTTP); an app on memory:// always does",
    )
    task_queues: str = _opt("", "comma-separated queues to consume with --tasks; empty: all")
    task_concurrency: int = _opt(32, "task runs at once per worker with --tasks")

    def __post_init__(self) -> None:
        for name, allowed in _field_types().items():
            _check_type(name, getattr(self, name), allowed)
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if isinstance(value, int | float) and not isinstance(value, bool) and value < 0:
                raise ValueError(f"{f.name} must not be negative, got {value}")
        if not 0 <= self.port <= 65535:
            raise ValueError(f"port must be 0-65535, got {self.port}")
        if self.io not in _IO_DRIVERS:
            raise ValueError(
                f"io must be auto, epoll or uring, not {self.io!r}"
                + (" (from $COVETPY_IO)" if self.io == os.environ.get("COVETPY_IO") else "")
            )
        if self.interface not in ("auto", "covetpy", "asgi", "wsgi"):
            raise ValueError(
                f"interface must be auto, covetpy, asgi or wsgi, not {self.interface!r}"
            )
        # COVETPY_STANDBY=0 turned the standby off before this option existed.
        standby = {"0": "off", "1": "on"}.get(self.standby, self.standby)
        if standby not in _STANDBY_MODES:
            raise ValueError(f"standby must be auto, on or off, not {self.standby!r}")
        object.__setattr__(self, "standby", standby)
        self._check_tls_and_http2()
        if self.wsgi_threads < 1:
            raise ValueError(f"wsgi_threads must be at least 1, got {self.wsgi_threads}")
        if self.bridge not in ("batched", "inline"):
            raise ValueError(f"bridge must be batched or inline, not {self.bridge!r}")
        if self.max_inflight < 1:
            raise ValueError(f"max_inflight must be at least 1, got {self.max_inflight}")
        for name in ("livez_path", "readyz_path", "startupz_path"):
            path = getattr(self, name)
            if path and not path.startswith("/"):
                raise ValueError(f"{name} must start with / (or be empty), got {path!r}")
        if self.log_format not in ("text", "json"):
            raise ValueError(f"log_format must be text or json, not {self.log_format!r}")
        if self.metrics_path and not self.metrics_path.startswith("/"):
            raise ValueError(f"metrics_path must start with /, got {self.metrics_path!r}")
        if self.busy_poll_us > 1000:
            raise ValueError(
                f"busy_poll_us is in microseconds, at most 1000, got {self.busy_poll_us}"
            )
        if self.ws_queue_policy not in ("drop_oldest", "disconnect"):
            raise ValueError(
                f"ws_queue_policy must be drop_oldest or disconnect, not {self.ws_queue_policy!r}"
            )
        if self.ws_compression_level > 9:
            raise ValueError(f"ws_compression_level must be 0-9, got {self.ws_compression_level}")
        for name in ("ws_max_message", "ws_max_connections", "ws_max_queue"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1, got {getattr(self, name)}")
        if self.task_concurrency < 1:
            raise ValueError(f"task_concurrency must be at least 1, got {self.task_concurrency}")
        if self.proxy_hops < 1:
            raise ValueError(f"proxy_hops must be at least 1, got {self.proxy_hops}")
        if self.log_level.lower() not in ("debug", "info", "warning", "error"):
            raise ValueError(
                f"log_level must be debug, info, warning or error, not {self.log_level!r}"
            )

    def _check_tls_and_http2(self) -> None:
        if self.http not in ("auto", "1", "2"):
            raise ValueError(f"http must be auto, 1 or 2, not {self.http!r}")
        if self.ssl_client_verify not in ("off", "optional", "required"):
            raise ValueError(
                "ssl_client_verify must be off, optional or required, "
                f"not {self.ssl_client_verify!r}"
            )
        if self.ssl_min_version not in ("1.2", "1.3"):
            raise ValueError(f"ssl_min_version must be 1.2 or 1.3, not {self.ssl_min_version!r}")
        if (self.ssl_certfile is None) != (self.ssl_keyfile is None):
            raise ValueError("ssl_certfile and ssl_keyfile go together: give both or neither")
        if self.ssl_certfile is not None and self.ssl_keyfile is not None:
            certs, keys = self.ssl_certfile.split(","), self.ssl_keyfile.split(",")
            if len(certs) != len(keys):
                raise ValueError(
                    f"ssl_certfile names {len(certs)} file(s) and ssl_keyfile {len(keys)}: "
                    "give one key per certificate, in the same order"
                )
        elif self.ssl_ca is not None or self.ssl_client_verify != "off":
            raise ValueError("ssl_ca and ssl_client_verify need ssl_certfile and ssl_keyfile")
        if self.ssl_client_verify != "off" and self.ssl_ca is None:
            raise ValueError(
                f"ssl_client_verify={self.ssl_client_verify} needs ssl_ca (the CA that "
                "client certificates are verified against)"
            )
        if self.ssl_handshake_timeout <= 0:
            raise ValueError("ssl_handshake_timeout must be more than 0 seconds")
        if not 16384 <= self.h2_max_frame_size <= 16777215:
            raise ValueError(
                f"h2_max_frame_size must be 16384-16777215 (RFC 9113 §6.5.2), "
                f"got {self.h2_max_frame_size}"
            )
        for name in ("h2_initial_stream_window", "h2_initial_connection_window"):
            if not 1 <= getattr(self, name) <= (1 << 31) - 1:
                raise ValueError(
                    f"{name} must be 1 to 2^31-1 (RFC 9113 §6.9.1), got {getattr(self, name)}"
                )
        for name in ("h2_max_concurrent_streams", "h2_max_header_list_size", "h2_max_resets"):
            if getattr(self, name) < 1 or getattr(self, name) > (1 << 32) - 1:
                raise ValueError(f"{name} must be 1 to 2^32-1, got {getattr(self, name)}")

    def replace(self, **changes: Any) -> ServerConfig:
        """A copy with some fields changed."""
        return dataclasses.replace(self, **changes)


@functools.cache
def _field_types() -> dict[str, tuple[type, ...]]:
    """The types each field accepts, from its annotation (`int | None` -> (int, NoneType))."""
    out = {}
    for name, hint in typing.get_type_hints(ServerConfig).items():
        args = typing.get_args(hint) if isinstance(hint, types.UnionType) else (hint,)
        out[name] = tuple(type(None) if a is None else a for a in args)
    return out


def _check_type(name: str, value: Any, allowed: tuple[type, ...]) -> None:
    """A wrong type is refused here, naming the field, rather than in Rust at start-up; a
    float field takes an int, a number field never a bool."""
    if isinstance(value, bool):
        ok = bool in allowed
    elif isinstance(value, int) and float in allowed:
        ok = True
    else:
        ok = isinstance(value, allowed)
    if not ok:
        expected = " or ".join("None" if t is type(None) else t.__name__ for t in allowed)
        raise ConfigError(
            f"ServerConfig: field `{name}` must be {expected}, got {type(value).__name__}"
        )
