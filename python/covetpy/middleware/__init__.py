"""Middleware: Python ones in the onion style (`async def mw(request, call_next)`), compiled
once per route (`pipeline.py`)."""

from covetpy.middleware.pipeline import CallNext, Middleware, compile_chain, describe, name_of

__all__ = ["CallNext", "Middleware", "compile_chain", "describe", "name_of"]
