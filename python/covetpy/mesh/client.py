"""`Client`: outbound HTTP calls that carry the call context on and behave under failure.

Each call
- goes to a real host, or to a named upstream (`http://orders/path`) whose endpoints come
  from discovery and are picked round-robin, skipping endpoints that just refused a
  connection (the `Host` header keeps the upstream's name, as a mesh proxy would);
- carries the request id and trace context of the request being served (`outbound_headers`),
  a child span's `traceparent` when tracing is on, and what remains of its deadline both as
  the attempt's timeout and as `x-envoy-upstream-rq-timeout-ms` (read by a local Envoy) and
  `x-envoy-expected-rq-timeout-ms` (read by a CovetPy callee reached directly);
- passes the upstream's circuit breaker (`CircuitOpen` when open: nothing is sent);
- is retried per `RetryPolicy` when idempotent, within the upstream's retry budget, unless
  `mesh_retries=True` leaves retrying to the sidecar.

Caller-given headers win over all of the above.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import replace
from types import TracebackType
from typing import Any, Self, TypeAlias, TypedDict, Unpack

from covetpy.exceptions import require
from covetpy.mesh.breaker import BreakerPolicy, CircuitBreaker, State
from covetpy.mesh.context import CallContext, current, outbound_headers, remaining
from covetpy.mesh.discovery import Balancer, Discovery, Endpoint, Static
from covetpy.mesh.errors import CircuitOpen, DeadlineExceeded
from covetpy.mesh.retry import (
    RetryBudget,
    RetryPolicy,
    is_idempotent,
    next_wait,
    retry_after_of,
    retry_reason,
)
from covetpy.mesh.transport import RustTransport
from covetpy.observability.tracing import outbound_span

try:
    import httpx

    # Transport errors that say the endpoint, rather than the request, is the problem.
    _CONNECT_ERRORS = (httpx.ConnectError, httpx.ConnectTimeout)
except ImportError:  # without the mesh extra the module imports; Client() names the extra
    pass

__all__ = ["Client", "HeaderInput", "UpstreamSpec"]

UpstreamSpec = Discovery | Sequence[str] | str
"""How an upstream is found: a discovery, a list of `host:port`, or one `host:port`."""
# A string: httpx may be missing when this module is imported.
HeaderInput: TypeAlias = "Mapping[str, str] | Sequence[tuple[str, str]] | httpx.Headers"

UPSTREAM_TIMEOUT_HEADER = "x-envoy-upstream-rq-timeout-ms"
EXPECTED_TIMEOUT_HEADER = "x-envoy-expected-rq-timeout-ms"

_DEFAULT_RETRY = RetryPolicy()
_DEFAULT_BREAKER = BreakerPolicy()
# Methods reported by name in metrics; others are "_OTHER" (OpenTelemetry's rule, which keeps
# a client sending odd methods from creating label values without bound).
_KNOWN_METHODS = frozenset(
    {"GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH"}
)


class _Metrics:
    """The client's Prometheus metrics (module-level: registered once per process)."""

    def __init__(self) -> None:
        from prometheus_client import Counter, Gauge, Histogram

        self.duration = Histogram(
            "http_client_request_duration_seconds",
            "Duration of outbound HTTP attempts.",
            ["http_request_method", "server_address", "http_response_status_code"],
        )
        self.retries = Counter(
            "covetpy_client_retries_total", "Retries of outbound calls.", ["upstream", "reason"]
        )
        self.budget_exhausted = Counter(
            "covetpy_client_retry_budget_exhausted_total",
            "Retries not made because the upstream's retry budget was spent.",
            ["upstream"],
        )
        # In multiprocess mode each worker has its own breakers: report the worst among the
        # live workers (an upstream open anywhere shows as open).
        self.breaker_state = Gauge(
            "covetpy_circuit_breaker_state",
            "Circuit breaker state per upstream: 0 closed, 1 half-open, 2 open.",
            ["upstream"],
            multiprocess_mode="livemax",
        )
        self.breaker_opened = Counter(
            "covetpy_circuit_breaker_open_total", "Times a circuit breaker opened.", ["upstream"]
        )


def _make_metrics() -> _Metrics | None:
    try:
        return _Metrics()
    except ImportError:  # prometheus-client (the observability extra) is not installed
        return None


_metrics = _make_metrics()


class RequestOptions(TypedDict, total=False):
    """The keyword arguments of `Client.request` (and `get`, `post`, ...)."""

    headers: HeaderInput | None
    params: Any
    content: bytes | str | None
    json: Any
    timeout: float | None
    idempotent: bool | None


class _Upstream:
    """What the client keeps per upstream (a named one, or a host it was asked to call)."""

    __slots__ = ("balancer", "breaker", "budget", "name")

    def __init__(
        self,
        name: str,
        balancer: Balancer | None,
        breaker: BreakerPolicy | None,
        retry: RetryPolicy | None,
    ) -> None:
        self.name = name
        self.balancer = balancer
        self.breaker = None if breaker is None else CircuitBreaker(breaker, on_change=self._moved)
        self.budget = None if retry is None else RetryBudget(retry)
        if self.breaker is not None and _metrics is not None:
            _metrics.breaker_state.labels(name).set(State.CLOSED)

    def _moved(self, state: State) -> None:
        if _metrics is not None:
            _metrics.breaker_state.labels(self.name).set(state)
            if state is State.OPEN:
                _metrics.breaker_opened.labels(self.name).inc()


def _discovery(spec: UpstreamSpec) -> Discovery:
    if isinstance(spec, Discovery):
        return spec
    return Static([spec] if isinstance(spec, str) else list(spec))


class Client:
    """An async HTTP client for calls to other services (on `httpx.AsyncClient`).

    `upstreams` names the services reachable as `http://<name>/...`. `timeout` bounds each
    attempt (and the deadline of the current call bounds it further). `retry=None` or
    `mesh_retries=True` turns retries off; `breaker=None` turns circuit breaking off. `b3`
    adds a B3 `b3` header next to `traceparent`. `sidecar`, when given, is awaited once
    before the first call (e.g. until the local Envoy is ready). `transport` replaces the
    network (tests, or a custom `httpx.AsyncHTTPTransport`); by default http:// goes through
    the Rust HTTP/1.1 client (`RustTransport`) and https:// through httpx's own. `auth` signs
    each request (an `httpx.Auth`, such as `covetpy.mesh.ClientCredentials`) that has no
    caller-given `Authorization` header.
    """

    def __init__(
        self,
        *,
        upstreams: Mapping[str, UpstreamSpec] = {},
        timeout: float = 10.0,
        retry: RetryPolicy | None = _DEFAULT_RETRY,
        breaker: BreakerPolicy | None = _DEFAULT_BREAKER,
        mesh_retries: bool = False,
        b3: bool = False,
        transport: httpx.AsyncBaseTransport | None = None,
        sidecar: Callable[[], Awaitable[None]] | None = None,
        auth: httpx.Auth | None = None,
    ) -> None:
        require("covetpy.mesh.Client", "mesh", "httpx")
        self.timeout = timeout
        self.retry = None if mesh_retries else retry
        self.breaker = breaker
        self.b3 = b3
        if transport is None:
            transport = RustTransport()
        # A mesh client reaches upstreams directly or through its sidecar, never through a
        # proxy named in the environment (HTTP_PROXY and friends).
        self._http = httpx.AsyncClient(
            transport=transport, timeout=timeout, trust_env=False, auth=auth
        )
        self._named = {
            name.lower(): _Upstream(name, Balancer(name, _discovery(spec)), breaker, self.retry)
            for name, spec in upstreams.items()
        }
        self._hosts: dict[str, _Upstream] = {}
        self._sidecar = sidecar
        self._sidecar_ready = sidecar is None
        self._sidecar_lock = asyncio.Lock()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Closes the connections the client keeps open."""
        await self._http.aclose()

    async def request(
        self, method: str, url: httpx.URL | str, **options: Unpack[RequestOptions]
    ) -> httpx.Response:
        """Sends a request and returns the (fully read) response of its last attempt.

        `idempotent` overrides whether the request may be retried (by default: its method,
        or an `Idempotency-Key` header). Raises `DeadlineExceeded` when the current call's
        deadline passes (before anything is sent if it already has), `CircuitOpen`,
        `NoEndpoints`, or the httpx error of the last attempt.
        """
        method = method.upper()
        target = httpx.URL(url)
        caller_headers = httpx.Headers(options.get("headers"))
        upstream = self._upstream(target)
        retrying = self.retry is not None and is_idempotent(
            method, caller_headers, options.get("idempotent")
        )
        if not self._sidecar_ready:
            await self._wait_for_sidecar()
        if upstream.budget is not None:
            upstream.budget.request()
        last: httpx.Response | httpx.TransportError | None = None
        attempt = 0
        while True:
            _time_left(method, upstream)
            endpoint = await upstream.balancer.pick() if upstream.balancer is not None else None
            permit = upstream.breaker.acquire() if upstream.breaker is not None else 0
            if permit is None:
                assert upstream.breaker is not None
                if last is not None:  # a retry that would hit an open breaker: keep the answer
                    return _outcome(last)
                _observe(method, upstream, "CircuitOpen", 0.0)
                raise CircuitOpen(upstream.name, upstream.breaker.retry_in())
            try:
                last = await self._attempt(
                    method, target, upstream, endpoint, caller_headers, options, attempt
                )
            except httpx.TransportError as exc:
                last = exc
            except BaseException:
                # Cancelled, or our own deadline passed: says nothing about the upstream.
                if upstream.breaker is not None:
                    upstream.breaker.release(permit)
                raise
            failed = isinstance(last, httpx.TransportError) or last.status_code >= 500
            if upstream.breaker is not None:
                upstream.breaker.record(permit, success=not failed)
            if endpoint is not None and isinstance(last, _CONNECT_ERRORS):
                assert upstream.balancer is not None
                upstream.balancer.failed(endpoint)
            wait = self._retry_wait(upstream, last, attempt) if retrying else None
            if wait is None:
                return _outcome(last)
            if isinstance(last, httpx.Response):
                await last.aclose()
            await asyncio.sleep(wait)
            attempt += 1

    async def get(self, url: httpx.URL | str, **options: Unpack[RequestOptions]) -> httpx.Response:
        """`GET url`."""
        return await self.request("GET", url, **options)

    async def head(self, url: httpx.URL | str, **options: Unpack[RequestOptions]) -> httpx.Response:
        """`HEAD url`."""
        return await self.request("HEAD", url, **options)

    async def options(
        self, url: httpx.URL | str, **options: Unpack[RequestOptions]
    ) -> httpx.Response:
        """`OPTIONS url`."""
        return await self.request("OPTIONS", url, **options)

    async def post(self, url: httpx.URL | str, **options: Unpack[RequestOptions]) -> httpx.Response:
        """`POST url` (not retried unless `idempotent=True` or with an `Idempotency-Key`)."""
        return await self.request("POST", url, **options)

    async def put(self, url: httpx.URL | str, **options: Unpack[RequestOptions]) -> httpx.Response:
        """`PUT url`."""
        return await self.request("PUT", url, **options)

    async def patch(
        self, url: httpx.URL | str, **options: Unpack[RequestOptions]
    ) -> httpx.Response:
        """`PATCH url` (not retried unless `idempotent=True` or with an `Idempotency-Key`)."""
        return await self.request("PATCH", url, **options)

    async def delete(
        self, url: httpx.URL | str, **options: Unpack[RequestOptions]
    ) -> httpx.Response:
        """`DELETE url`."""
        return await self.request("DELETE", url, **options)

    def circuit_state(self, upstream: str) -> State | None:
        """The breaker state of a named upstream or `host[:port]`; None if never called."""
        entry = self._named.get(upstream.lower()) or self._hosts.get(upstream.lower())
        return None if entry is None or entry.breaker is None else entry.breaker.state

    def _upstream(self, url: httpx.URL) -> _Upstream:
        named = self._named.get(url.host)
        if named is not None:
            return named
        key = url.host if url.port is None else f"{url.host}:{url.port}"
        entry = self._hosts.get(key)
        if entry is None:
            entry = self._hosts[key] = _Upstream(key, None, self.breaker, self.retry)
        return entry

    async def _wait_for_sidecar(self) -> None:
        assert self._sidecar is not None
        async with self._sidecar_lock:
            if not self._sidecar_ready:
                await self._sidecar()
                self._sidecar_ready = True

    async def _attempt(
        self,
        method: str,
        target: httpx.URL,
        upstream: _Upstream,
        endpoint: Endpoint | None,
        caller_headers: httpx.Headers,
        options: RequestOptions,
        attempt: int,
    ) -> httpx.Response:
        left = _time_left(method, upstream)  # discovery may have taken what was left
        per_try = options.get("timeout")
        if per_try is None:
            per_try = self.timeout
        if left is not None:
            per_try = min(per_try, left)
        url = target
        if endpoint is not None:
            url = target.copy_with(host=endpoint.host, port=endpoint.port)
        attributes: dict[str, Any] = {
            "http.request.method": method,
            "server.address": url.host,
            "url.full": str(url),
        }
        if url.port is not None:
            attributes["server.port"] = url.port
        if attempt:
            attributes["http.request.resend_count"] = attempt
        with outbound_span(method, kind="client", attributes=attributes) as traceparent:
            headers = self._headers(caller_headers, traceparent, left, target, endpoint)
            request = self._http.build_request(
                method,
                url,
                headers=headers,
                params=options.get("params"),
                content=options.get("content"),
                json=options.get("json"),
                timeout=per_try,
            )
            started = time.perf_counter()
            try:
                # The deadline bounds the whole attempt; httpx's timeout only each phase.
                async with asyncio.timeout(left) as bound:
                    response = await self._http.send(request)
            except TimeoutError as exc:
                if not bound.expired():
                    raise
                _observe(method, upstream, "DeadlineExceeded", time.perf_counter() - started)
                raise DeadlineExceeded(f"deadline passed calling {upstream.name}") from exc
            except httpx.TransportError as exc:
                spent = remaining()
                if isinstance(exc, httpx.TimeoutException) and spent is not None and spent <= 0:
                    elapsed = time.perf_counter() - started
                    _observe(method, upstream, "DeadlineExceeded", elapsed)
                    raise DeadlineExceeded(f"deadline passed calling {upstream.name}") from exc
                _observe(method, upstream, type(exc).__name__, time.perf_counter() - started)
                raise
            _observe(method, upstream, str(response.status_code), time.perf_counter() - started)
            return response

    def _headers(
        self,
        caller: httpx.Headers,
        traceparent: str | None,
        left: float | None,
        target: httpx.URL,
        endpoint: Endpoint | None,
    ) -> list[tuple[str, str]]:
        ctx = current.get()
        if traceparent is not None:
            ctx = (
                CallContext(traceparent=traceparent) if ctx is None else ctx.with_span(traceparent)
            )
        if ctx is not None and self.b3 and not ctx.b3:
            ctx = replace(ctx, b3=True)
        ours = outbound_headers(ctx) if ctx is not None else {}
        if left is not None:
            ms = str(max(1, int(left * 1000)))
            ours[UPSTREAM_TIMEOUT_HEADER] = ms
            ours[EXPECTED_TIMEOUT_HEADER] = ms
        if endpoint is not None:
            ours["host"] = target.netloc.decode("ascii")
        given = set(caller.keys())
        return [(k, v) for k, v in ours.items() if k not in given] + caller.multi_items()

    def _retry_wait(
        self, upstream: _Upstream, last: httpx.Response | httpx.TransportError, attempt: int
    ) -> float | None:
        assert self.retry is not None
        retry_after = None
        if isinstance(last, httpx.Response):
            retry_after = retry_after_of(last.headers)
            reason = retry_reason(self.retry, status=last.status_code, retry_after=retry_after)
        else:
            reason = retry_reason(self.retry, error=last)
        if reason is None:
            return None
        wait = next_wait(self.retry, attempt, retry_after=retry_after, remaining=remaining())
        if wait is None:
            return None
        if upstream.budget is not None and not upstream.budget.try_retry():
            if _metrics is not None:
                _metrics.budget_exhausted.labels(upstream.name).inc()
            return None
        if _metrics is not None:
            _metrics.retries.labels(upstream.name, reason).inc()
        return wait


def _time_left(method: str, upstream: _Upstream) -> float | None:
    """What remains of the current call's deadline; raises `DeadlineExceeded` if nothing."""
    left = remaining()
    if left is not None and left <= 0:
        _observe(method, upstream, "DeadlineExceeded", 0.0)
        raise DeadlineExceeded(f"deadline passed before calling {upstream.name}")
    return left


def _observe(method: str, upstream: _Upstream, status: str, elapsed: float) -> None:
    """Records an attempt (or a call refused before sending) in the duration histogram;
    `status` is the response's status code, or the name of the error it ended with."""
    if _metrics is not None:
        method = method if method in _KNOWN_METHODS else "_OTHER"
        _metrics.duration.labels(method, upstream.name, status).observe(elapsed)


def _outcome(last: httpx.Response | httpx.TransportError) -> httpx.Response:
    if isinstance(last, httpx.Response):
        return last
    raise last
