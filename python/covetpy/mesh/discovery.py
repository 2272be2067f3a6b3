"""Where a named upstream's instances are: static lists, DNS (A/AAAA or SRV) and Consul.

Each discovery caches its answer for a TTL (the DNS record's, bounded; a fixed one for the
others) and keeps serving the last good answer when a refresh fails, logging once per outage:
a registry or resolver hiccup should not take every caller down with it. An empty answer
counts as a failed refresh for the same reason. `Balancer` then picks an endpoint per call.
"""

from __future__ import annotations

import asyncio
import logging
import math
import socket
import time
import urllib.parse
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from covetpy.exceptions import require
from covetpy.mesh.errors import NoEndpoints

__all__ = ["Balancer", "Consul", "Discovery", "Dns", "DnsSrv", "Endpoint", "Static"]

logger = logging.getLogger("covetpy.mesh")

# How soon a failed refresh is tried again (while the last good answer is served).
_RETRY_REFRESH = 1.0


@dataclass(frozen=True, slots=True)
class Endpoint:
    """One instance of an upstream. Equal endpoints have the same host and port."""

    host: str
    port: int
    priority: int = field(default=0, compare=False)
    """Lower is preferred (DNS SRV); higher priorities are used only when no lower is up."""
    weight: int = field(default=1, compare=False)
    """Share of the calls among endpoints of the same priority."""

    @property
    def authority(self) -> str:
        """`host:port`, with an IPv6 address in brackets."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"

    @classmethod
    def parse(cls, text: str) -> Endpoint:
        """An endpoint from `host:port` (`[v6]:port` for IPv6 addresses)."""
        host, sep, port = text.rpartition(":")
        if not sep or not port.isdigit() or not host:
            raise ValueError(f"endpoint {text!r} is not host:port")
        return cls(host.removeprefix("[").removesuffix("]"), int(port))

    def __str__(self) -> str:
        return self.authority


class Discovery(ABC):
    """The endpoints of one upstream, refreshed when their TTL runs out."""

    def __init__(self, *, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._answer: list[Endpoint] | None = None
        self._expires = -math.inf
        self._failing = False
        self._lock = asyncio.Lock()

    @abstractmethod
    async def fetch(self) -> tuple[list[Endpoint], float]:
        """Asks the source: the endpoints and for how many seconds they hold."""

    async def endpoints(self) -> list[Endpoint]:
        """The current endpoints (cached); raises `NoEndpoints` when there is no answer."""
        if self._answer is not None and self._clock() < self._expires:
            return self._answer
        async with self._lock:  # one refresh at a time; the others wait for its answer
            if self._answer is not None and self._clock() < self._expires:
                return self._answer
            try:
                found, ttl = await self.fetch()
                if not found:
                    raise LookupError("empty answer")
            # Any failure of the source (resolver, HTTP, a malformed answer) is a failed
            # refresh: the last good answer is served until a refresh succeeds.
            except Exception as exc:
                if self._answer is None:
                    raise NoEndpoints(repr(self), f"discovery failed: {exc!r}") from exc
                if not self._failing:
                    logger.warning("%r: refresh failed, serving the last answer: %r", self, exc)
                    self._failing = True
                self._expires = self._clock() + _RETRY_REFRESH
                return self._answer
            if self._failing:
                logger.info("%r: refresh succeeded again", self)
                self._failing = False
            self._answer = found
            self._expires = self._clock() + ttl
            return found


class Static(Discovery):
    """A fixed list of `host:port` endpoints."""

    def __init__(self, endpoints: Sequence[str | Endpoint]) -> None:
        super().__init__()
        self._endpoints = [e if isinstance(e, Endpoint) else Endpoint.parse(e) for e in endpoints]

    async def fetch(self) -> tuple[list[Endpoint], float]:
        return self._endpoints, math.inf

    async def endpoints(self) -> list[Endpoint]:
        if not self._endpoints:
            raise NoEndpoints(repr(self))
        return self._endpoints

    def __repr__(self) -> str:
        return f"Static({[str(e) for e in self._endpoints]})"


class Dns(Discovery):
    """The A/AAAA addresses of `host` (through the system resolver, so /etc/hosts counts),
    each on `port`. The system resolver does not report TTLs: answers are kept `ttl` s."""

    def __init__(
        self,
        host: str,
        port: int,
        *,
        ttl: float = 5.0,
        family: socket.AddressFamily = socket.AF_UNSPEC,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__(clock=clock)
        self.host = host
        self.port = port
        self.ttl = ttl
        self.family = family

    async def fetch(self) -> tuple[list[Endpoint], float]:
        infos = await asyncio.get_running_loop().getaddrinfo(
            self.host, self.port, family=self.family, type=socket.SOCK_STREAM
        )
        found = dict.fromkeys(Endpoint(str(info[4][0]), self.port) for info in infos)
        return list(found), self.ttl

    def __repr__(self) -> str:
        return f"Dns({self.host!r}, {self.port})"


class DnsSrv(Discovery):
    """The targets of the SRV records of `name` (e.g. `_http._tcp.orders.service.consul`).

    Priority and weight are honoured (RFC 2782) by `Balancer`. A target's address comes from
    the answer's additional section when the server sent it, otherwise the target name is
    used as it is and resolved when connecting. `nameservers` are `ip` or `ip:port` (default:
    the system's); `port_override` replaces the records' ports (e.g. to reach a sidecar).
    """

    def __init__(
        self,
        name: str,
        nameservers: Sequence[str] | None = None,
        port_override: int | None = None,
        *,
        min_ttl: float = 1.0,
        max_ttl: float = 300.0,
        timeout: float = 2.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        require("DNS SRV discovery", "mesh", "dns.asyncresolver")
        super().__init__(clock=clock)
        self.name = name
        self.nameservers = list(nameservers) if nameservers is not None else None
        self.port_override = port_override
        self.min_ttl = min_ttl
        self.max_ttl = max_ttl
        self.timeout = timeout
        self._resolver: Any = None

    def _make_resolver(self) -> Any:
        # dnspython is imported only here: the other discoveries do not need it.
        import dns.asyncresolver
        import dns.nameserver

        if self.nameservers is None:
            return dns.asyncresolver.Resolver()
        resolver = dns.asyncresolver.Resolver(configure=False)
        servers = []
        for text in self.nameservers:
            if text.count(":") == 1 or text.startswith("["):
                ep = Endpoint.parse(text)
                servers.append(dns.nameserver.Do53Nameserver(ep.host, ep.port))
            else:
                servers.append(dns.nameserver.Do53Nameserver(text))
        resolver.nameservers = servers
        return resolver

    async def fetch(self) -> tuple[list[Endpoint], float]:
        import dns.rdatatype

        if self._resolver is None:
            self._resolver = self._make_resolver()
        answer = await self._resolver.resolve(self.name, "SRV", lifetime=self.timeout)
        ttl = float(answer.rrset.ttl)
        addresses: dict[Any, str] = {}
        for rrset in answer.response.additional:
            if rrset.rdtype in (dns.rdatatype.A, dns.rdatatype.AAAA):
                ttl = min(ttl, float(rrset.ttl))
                addresses.setdefault(rrset.name, next(iter(rrset)).address)
        found = []
        for srv in answer:
            if srv.target.to_text() == ".":  # RFC 2782: "service decidedly not available"
                continue
            host = addresses.get(srv.target) or srv.target.to_text(omit_final_dot=True)
            port = self.port_override if self.port_override is not None else srv.port
            found.append(Endpoint(host, port, srv.priority, srv.weight))
        # An RRset has no order: sort, so refreshes give the same list and the balancer
        # carries on where it was.
        found.sort(key=lambda e: (e.priority, -e.weight, e.host, e.port))
        return found, min(self.max_ttl, max(self.min_ttl, ttl))

    def __repr__(self) -> str:
        return f"DnsSrv({self.name!r})"


class Consul(Discovery):
    """The instances of `service` in Consul's catalog that pass their health checks
    (`GET /v1/health/service/<service>?passing=1`), refreshed every `ttl` seconds.

    An instance's address is its `Service.Address`, or its node's when that is empty; its
    `Service.Weights.Passing` is its weight.
    """

    def __init__(
        self,
        service: str,
        address: str = "http://127.0.0.1:8500",
        passing: bool = True,
        tag: str | None = None,
        datacenter: str | None = None,
        *,
        ttl: float = 5.0,
        token: str | None = None,
        timeout: float = 2.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        require("Consul discovery", "mesh", "httpx")
        super().__init__(clock=clock)
        self.service = service
        self.address = address.rstrip("/")
        self.passing = passing
        self.tag = tag
        self.datacenter = datacenter
        self.ttl = ttl
        self.token = token
        self.timeout = timeout

    async def fetch(self) -> tuple[list[Endpoint], float]:
        import httpx

        params: dict[str, str] = {}
        if self.passing:
            params["passing"] = "1"
        if self.tag is not None:
            params["tag"] = self.tag
        if self.datacenter is not None:
            params["dc"] = self.datacenter
        headers = {"x-consul-token": self.token} if self.token else {}
        url = f"{self.address}/v1/health/service/{urllib.parse.quote(self.service, safe='')}"
        # A client per refresh (every few seconds): nothing to close when the caller is done.
        async with httpx.AsyncClient(timeout=self.timeout, trust_env=False) as http:
            response = await http.get(url, params=params, headers=headers)
            response.raise_for_status()
            entries = response.json()
        found = []
        for entry in entries:
            service, node = entry["Service"], entry["Node"]
            host = service.get("Address") or node["Address"]
            weight = (service.get("Weights") or {}).get("Passing", 1)
            found.append(Endpoint(host, int(service["Port"]), weight=int(weight)))
        return found, self.ttl

    def __repr__(self) -> str:
        return f"Consul({self.service!r})"


class Balancer:
    """Picks an endpoint of one upstream per call.

    Endpoints that just failed to connect are skipped for `eject_for` seconds (unless all
    are, when every endpoint is tried again rather than none). Among the rest, the lowest
    priority is used, spread by smooth weighted round-robin: plain round-robin when the
    weights are equal, and no bursts to one endpoint when they are not.
    """

    def __init__(
        self,
        name: str,
        discovery: Discovery,
        *,
        eject_for: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.name = name
        self.discovery = discovery
        self.eject_for = eject_for
        self._clock = clock
        self._ejected: dict[Endpoint, float] = {}
        self._current: dict[Endpoint, float] = {}

    async def pick(self) -> Endpoint:
        """The endpoint for the next attempt."""
        try:
            endpoints = await self.discovery.endpoints()
        except NoEndpoints as exc:
            raise NoEndpoints(self.name, f"{exc.upstream}: {exc.reason}") from exc
        now = self._clock()
        for ep, until in list(self._ejected.items()):
            if until <= now:
                del self._ejected[ep]
        candidates = [e for e in endpoints if e not in self._ejected] or endpoints
        best = min(e.priority for e in candidates)
        group = [e for e in candidates if e.priority == best]
        return self._weighted(group)

    def failed(self, endpoint: Endpoint) -> None:
        """`endpoint` refused or did not answer a connection: skip it for a while."""
        self._ejected[endpoint] = self._clock() + self.eject_for

    def _weighted(self, group: list[Endpoint]) -> Endpoint:
        if len(group) == 1:
            return group[0]
        # SRV weight 0 means "almost never" (RFC 2782); all zero means "equally".
        weights = [e.weight for e in group]
        if not any(weights):
            weights = [1] * len(group)
        total = sum(weights)
        chosen, top = group[0], -math.inf
        for ep, w in zip(group, weights, strict=True):
            self._current[ep] = self._current.get(ep, 0.0) + w
            if self._current[ep] > top:
                chosen, top = ep, self._current[ep]
        self._current[chosen] -= total
        if len(self._current) > 4 * len(group):  # forget endpoints that went away
            self._current = {e: self._current[e] for e in group}
        return chosen
