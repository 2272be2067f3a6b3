"""grpcio, or None without the `grpc` extra: the modules of `covetpy.grpc` import either way,
and whatever needs grpcio calls `needed()` first, which names the extra."""

from __future__ import annotations

from covetpy.exceptions import require

try:
    import grpc  # type: ignore[import-untyped]
except ImportError:
    grpc = None

__all__ = ["grpc", "needed"]


def needed() -> None:
    """Raises `MissingExtra` unless grpcio and its health and reflection services import."""
    require("gRPC", "grpc", "grpc", "grpc_health.v1.health", "grpc_reflection.v1alpha.reflection")
