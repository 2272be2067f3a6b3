"""One Operation Object: a route answering one method."""

from __future__ import annotations

from typing import Any

from covetpy.openapi.parameters import VALUE_LOCATIONS, parameters, visible_specs
from covetpy.openapi.request_body import request_body
from covetpy.openapi.responses import responses
from covetpy.openapi.schemas import SchemaRegistry
from covetpy.openapi.security import SecurityPlan, auth_responses, operation_security
from covetpy.routing.route import Route

__all__ = ["DOCUMENTED_METHODS", "documented_methods", "operation"]

DOCUMENTED_METHODS = ("GET", "PUT", "POST", "DELETE", "OPTIONS", "HEAD", "PATCH", "TRACE")
"""The methods an OpenAPI 3.1 Path Item can describe."""

_VALIDATED = (*VALUE_LOCATIONS, "body", "form", "file")


def documented_methods(route: Route) -> list[str]:
    """The route's methods that get an operation: HEAD is left out when GET is there (the
    server answers HEAD for every GET route), and methods OpenAPI 3.1 has no field for."""
    return [
        m
        for m in route.methods
        if m in DOCUMENTED_METHODS and not (m == "HEAD" and "GET" in route.methods)
    ]


def _summary(route: Route) -> str:
    return route.summary or route.name.replace("_", " ").strip().capitalize()


def operation(
    route: Route,
    method: str,
    operation_id: str,
    registry: SchemaRegistry,
    security: SecurityPlan | None = None,
) -> dict[str, Any]:
    """The operation for `method` on `route` (with its security requirement when the app's
    `security` schemes are given)."""
    op: dict[str, Any] = {}
    if route.tags:
        op["tags"] = list(dict.fromkeys(route.tags))
    op["summary"] = _summary(route)
    if route.description:
        op["description"] = route.description
    op["operationId"] = operation_id
    params = parameters(route, registry)
    if params:
        op["parameters"] = params
    specs = visible_specs(route)
    body = request_body(specs, registry)
    if body is not None:
        op["requestBody"] = body
    can_fail = any(s.location in _VALIDATED for s in route.plan.walk())
    op["responses"] = responses(route, can_fail, registry)
    if security is not None:
        requirement, forbidden = operation_security(route, security)
        if requirement is not None:
            if requirement:
                op["responses"] = auth_responses(op["responses"], forbidden, registry)
            op["security"] = requirement
    return op
