"""Routes: what a decorator records, compiled once into the table Rust matches against."""

from covetpy.routing.route import Route, compile_route

__all__ = ["Route", "compile_route"]
