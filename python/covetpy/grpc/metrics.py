"""Prometheus metrics of the gRPC calls served, named after the OpenTelemetry RPC semantic
conventions (`rpc.server.call.duration`; labels `rpc.system`, `rpc.service`, `rpc.method`,
`rpc.grpc.status_code`).

They are made on first use, when a `GrpcHost` starts in a worker: by then the supervisor has
put prometheus_client in multiprocess mode if it serves `/metrics`
(`covetpy.observability.metrics`), so the histogram sums over the workers and the active-calls
gauge over the live ones (`livesum`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from prometheus_client import Gauge, Histogram

__all__ = ["RpcMetrics", "rpc_metrics"]


@dataclass(frozen=True, slots=True)
class RpcMetrics:
    """The gRPC server's metrics (in prometheus_client's default registry)."""

    duration: Histogram
    """`rpc_server_call_duration_seconds{rpc_system, rpc_service, rpc_method,
    rpc_grpc_status_code}`: from the handler's start to its end; the status code is the
    number ("0" OK, "4" DEADLINE_EXCEEDED, ...)."""
    active: Gauge
    """`rpc_server_active_calls{rpc_system, rpc_service, rpc_method}`: calls being served."""


_metrics: RpcMetrics | None = None
_no_client = False


def rpc_metrics() -> RpcMetrics | None:
    """The metrics, made on first use; None without prometheus_client."""
    global _metrics, _no_client
    if _metrics is not None or _no_client:
        return _metrics
    try:
        from prometheus_client import Gauge, Histogram
    except ImportError:
        _no_client = True
        return None
    _metrics = RpcMetrics(
        Histogram(
            "rpc_server_call_duration_seconds",
            "Duration of the gRPC calls served.",
            ["rpc_system", "rpc_service", "rpc_method", "rpc_grpc_status_code"],
        ),
        Gauge(
            "rpc_server_active_calls",
            "gRPC calls being served.",
            ["rpc_system", "rpc_service", "rpc_method"],
            multiprocess_mode="livesum",
        ),
    )
    return _metrics
