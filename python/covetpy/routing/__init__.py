"""Routes: what a decorator records (`RouteDecl`, with `RouteOptions`), compiled once
(`compile`) into the table Rust matches against."""

from covetpy.routing.compile import compile_route
from covetpy.routing.options import RouteOptions
from covetpy.routing.route import Route

__all__ = ["Route", "RouteOptions", "compile_route"]
