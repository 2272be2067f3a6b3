"""Running behind a service mesh: trusted proxies, identity, context and deadlines, outbound
calls."""

from covetpy.mesh.context import CallContext, current, outbound_headers, remaining

__all__ = ["CallContext", "current", "outbound_headers", "remaining"]
