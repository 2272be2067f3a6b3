"""The standard gRPC health service (`grpc.health.v1.Health`, grpcio-health-checking's asyncio
servicer), whose statuses follow the worker's readiness: `Check` and `Watch` answer for each
service served and for the server as a whole (""), SERVING or NOT_SERVING together.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from covetpy.grpc._grpc import needed

__all__ = ["SERVICE_NAME", "Health"]

SERVICE_NAME = "grpc.health.v1.Health"
"""The health service's full name (grpcio-health-checking's `health.SERVICE_NAME`)."""


class Health:
    """The health service of one server start (a new one per start: shutting down is final
    for grpcio's servicer)."""

    def __init__(self, services: Iterable[str]) -> None:
        needed()
        from grpc_health.v1 import health, health_pb2, health_pb2_grpc  # type: ignore[import-untyped]

        self.services = ("", *services)
        self.servicer = health.aio.HealthServicer()
        self._add = health_pb2_grpc.add_HealthServicer_to_server
        self._statuses = {
            True: health_pb2.HealthCheckResponse.SERVING,
            False: health_pb2.HealthCheckResponse.NOT_SERVING,
        }

    def add_to(self, server: Any) -> None:
        """Registers the health service on `server` (before it starts)."""
        self._add(self.servicer, server)

    async def set_serving(self, serving: bool) -> None:
        """Every service (and "") SERVING or NOT_SERVING."""
        status = self._statuses[serving]
        for service in self.services:
            await self.servicer.set(service, status)

    async def shut_down(self) -> None:
        """Every service NOT_SERVING for good: `set_serving` has no effect afterwards."""
        await self.servicer.enter_graceful_shutdown()
