"""gRPC next to HTTP: a grpcio asyncio server in the worker's event loop (`GrpcHost`, which
`app.grpc` is), calls that carry the request id, trace and deadline on (`call_options`,
`client_interceptors`), and protos compiled at run time (`protos.load`).

Needs the `grpc` extra (grpcio, grpcio-health-checking, grpcio-reflection, grpcio-tools):
`pip install 'covetpy[grpc]'`. The modules import without it; a `GrpcHost`, an interceptor or
`protos.load` raises `MissingExtra` naming it.
"""

from covetpy.grpc import protos
from covetpy.grpc.client import (
    call_options,
    client_interceptors,
    outbound_metadata,
    outbound_timeout,
)
from covetpy.grpc.host import GrpcHost, service_name
from covetpy.grpc.interceptors import ContextInterceptor, MetricsInterceptor

__all__ = [
    "ContextInterceptor",
    "GrpcHost",
    "MetricsInterceptor",
    "call_options",
    "client_interceptors",
    "outbound_metadata",
    "outbound_timeout",
    "protos",
    "service_name",
]
