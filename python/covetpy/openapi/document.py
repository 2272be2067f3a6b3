"""`openapi_schema(app)`: the OpenAPI 3.1 document of an app's routes."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from covetpy.openapi.operation import documented_methods, operation
from covetpy.openapi.schemas import SchemaRegistry
from covetpy.openapi.security import SecurityPlan

if TYPE_CHECKING:
    from covetpy.app import App

__all__ = ["OPENAPI_VERSION", "openapi_path", "openapi_schema"]

OPENAPI_VERSION = "3.1.0"

_CONVERTER = re.compile(r"\{([^{}:]+):[^{}]+\}")


def openapi_path(path: str) -> str:
    """A route path as an OpenAPI path template: `/users/{id:int}` -> `/users/{id}`."""
    return _CONVERTER.sub(r"{\1}", path)


def _unique(base: str, taken: set[str]) -> str:
    name, n = base, 1
    while name in taken:
        n += 1
        name = f"{base}_{n}"
    taken.add(name)
    return name


def openapi_schema(app: App) -> dict[str, Any]:
    """The OpenAPI 3.1.0 document for `app`: every route with `include_in_schema=True`, one
    operation per method, and the schemas of the types they use and the security schemes of
    the app's authentication layers under `components`."""
    registry = SchemaRegistry()
    paths: dict[str, dict[str, Any]] = {}
    operation_ids: set[str] = set()
    tags: dict[str, None] = {}
    security = SecurityPlan(app)
    for route in app.routes:
        # OpenAPI 3.1 has no way to describe a WebSocket: those routes are left out.
        if not route.include_in_schema or route.websocket:
            continue
        item = paths.setdefault(openapi_path(route.path), {})
        for method in documented_methods(route):
            key = method.lower()
            if key in item:  # an earlier route with the same template answers first
                continue
            op_id = _unique(f"{route.name}_{key}", operation_ids)
            item[key] = operation(route, method, op_id, registry, security)
            tags.update(dict.fromkeys(route.tags))
    info: dict[str, Any] = {"title": app.title, "version": app.version}
    if app.description:
        info["description"] = app.description
    doc: dict[str, Any] = {"openapi": OPENAPI_VERSION, "info": info}
    if tags:
        doc["tags"] = [{"name": t} for t in tags]
    doc["paths"] = {p: item for p, item in paths.items() if item}
    schemas = registry.finish()
    schemes = security.components()
    if schemas or schemes:
        doc["components"] = {}
    if schemas:
        doc["components"]["schemas"] = schemas
    if schemes:
        doc["components"]["securitySchemes"] = schemes
    return doc
