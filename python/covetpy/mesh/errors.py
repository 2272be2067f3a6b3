"""The errors `covetpy.mesh.Client` raises itself.

- `MeshError`: base of them all (a `CovetError`).
  - `CircuitOpen`: the upstream's circuit breaker is open; nothing was sent.
  - `DeadlineExceeded`: the call's deadline passed (also a `TimeoutError`).
  - `NoEndpoints`: discovery knows no endpoint for the upstream.

Errors of httpx that the client does not retry (or that remain once retries are spent)
propagate unchanged, so `except httpx.ConnectError` keeps working.
"""

from __future__ import annotations

from covetpy.exceptions import CovetError

__all__ = ["CircuitOpen", "DeadlineExceeded", "MeshError", "NoEndpoints"]


class MeshError(CovetError):
    """Base of the errors of outbound calls made through `covetpy.mesh`."""


class CircuitOpen(MeshError):
    """The circuit breaker of `upstream` is open: the call failed fast, nothing was sent."""

    def __init__(self, upstream: str, retry_in: float) -> None:
        super().__init__(f"circuit open for {upstream!r} (half-opens in {retry_in:.1f}s)")
        self.upstream = upstream
        self.retry_in = retry_in
        """Seconds until the breaker lets a probe through."""


class DeadlineExceeded(MeshError, TimeoutError):
    """The deadline of the call (from `covetpy.mesh.context`) passed before it completed."""


class NoEndpoints(MeshError):
    """Discovery has no endpoint for `upstream` (and no earlier answer to fall back on)."""

    def __init__(self, upstream: str, reason: str = "no endpoints") -> None:
        super().__init__(f"{upstream}: {reason}")
        self.upstream = upstream
        self.reason = reason
