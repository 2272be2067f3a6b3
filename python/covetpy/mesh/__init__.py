"""Running behind a service mesh: call context and deadlines, outbound calls with discovery,
circuit breaking and retries, status helpers, waiting for the sidecar.

`Client`, `ClientCredentials` (OAuth 2.0 tokens for outbound calls), `Consul` and `DnsSrv` need
the mesh extra (httpx, dnspython: `pip install 'covetpy[mesh]'`). Every module imports without
it; making one of those raises `MissingExtra`.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from covetpy.mesh.context import CallContext, current, outbound_headers, remaining
from covetpy.mesh.errors import CircuitOpen, DeadlineExceeded, MeshError, NoEndpoints
from covetpy.mesh.identity import require_identity
from covetpy.mesh.sidecar import SidecarNotReady, wait_for_sidecar

if TYPE_CHECKING:
    from covetpy.mesh.breaker import BreakerPolicy, State
    from covetpy.mesh.client import Client
    from covetpy.mesh.discovery import Consul, Discovery, Dns, DnsSrv, Endpoint, Static
    from covetpy.mesh.oauth import ClientCredentials, TokenError
    from covetpy.mesh.retry import RetryPolicy
    from covetpy.mesh.status import (
        HEALTH_CHECK_FAIL_HEADER,
        fail_health_checks,
        overloaded,
        rate_limited,
    )

__all__ = [
    "HEALTH_CHECK_FAIL_HEADER",
    "BreakerPolicy",
    "CallContext",
    "CircuitOpen",
    "Client",
    "ClientCredentials",
    "Consul",
    "DeadlineExceeded",
    "Discovery",
    "Dns",
    "DnsSrv",
    "Endpoint",
    "MeshError",
    "NoEndpoints",
    "RetryPolicy",
    "SidecarNotReady",
    "State",
    "Static",
    "TokenError",
    "current",
    "fail_health_checks",
    "outbound_headers",
    "overloaded",
    "rate_limited",
    "remaining",
    "require_identity",
    "wait_for_sidecar",
]

_LAZY = {
    "BreakerPolicy": "breaker",
    "State": "breaker",
    "Client": "client",
    "ClientCredentials": "oauth",
    "TokenError": "oauth",
    "Consul": "discovery",
    "Discovery": "discovery",
    "Dns": "discovery",
    "DnsSrv": "discovery",
    "Endpoint": "discovery",
    "Static": "discovery",
    "RetryPolicy": "retry",
    "HEALTH_CHECK_FAIL_HEADER": "status",
    "fail_health_checks": "status",
    "overloaded": "status",
    "rate_limited": "status",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'covetpy.mesh' has no attribute {name!r}")
    return getattr(importlib.import_module(f"covetpy.mesh.{module}"), name)
