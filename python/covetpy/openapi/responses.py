"""The Responses Object of an operation: the success response (its status, media type and
the schema of the handler's return annotation), 422 when the request can fail validation,
and a `default` problem response."""

from __future__ import annotations

import types
from http import HTTPStatus
from typing import Any

from covetpy.openapi.problem import PROBLEM_MEDIA_TYPE, Problem, ValidationProblem
from covetpy.openapi.schemas import SchemaRegistry, has_schema
from covetpy.responses import JSONResponse, Response
from covetpy.routing.route import Route, return_annotation

__all__ = ["responses", "success_status"]

_TEXT_SCHEMA = {"type": "string"}


def success_status(route: Route) -> int:
    """The route's `status_code`, else 204 for a handler annotated `-> None`, else 200."""
    if route.status_code is not None:
        return route.status_code
    return 204 if return_annotation(route.handler) is types.NoneType else 200


def _phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Response"


def _content_for_class(cls: type[Any], ann: Any, registry: SchemaRegistry) -> dict[str, Any]:
    media_type = getattr(cls, "media_type", None)
    if not media_type:
        return {}
    if issubclass(cls, JSONResponse) or media_type == "application/json":
        schema = registry.schema(ann) if ann is not None and has_schema(ann) else {}
        return {media_type: {"schema": schema}}
    if media_type.startswith("text/"):
        return {media_type: {"schema": dict(_TEXT_SCHEMA)}}
    return {media_type: {}}


def _success_content(route: Route, registry: SchemaRegistry) -> dict[str, Any]:
    ann = return_annotation(route.handler)
    if ann is types.NoneType:
        return {}
    if route.response_class is not None:
        value = None if isinstance(ann, type) and issubclass(ann, Response) else ann
        return _content_for_class(route.response_class, value, registry)
    if isinstance(ann, type) and issubclass(ann, Response):
        return _content_for_class(ann, None, registry) if ann is not Response else {}
    if ann is None or not has_schema(ann):
        return {}
    if ann is str:
        return {"text/plain": {"schema": dict(_TEXT_SCHEMA)}}
    if ann in (bytes, bytearray):
        return {"application/octet-stream": {}}
    return {"application/json": {"schema": registry.schema(ann)}}


def responses(route: Route, can_fail_validation: bool, registry: SchemaRegistry) -> dict[str, Any]:
    """The responses of one of the route's operations."""
    status = success_status(route)
    success: dict[str, Any] = {"description": _phrase(status)}
    content = _success_content(route, registry)
    if content:
        success["content"] = content
    out: dict[str, Any] = {str(status): success}
    if can_fail_validation:
        out["422"] = {
            "description": "Validation Error",
            "content": {PROBLEM_MEDIA_TYPE: {"schema": registry.schema(ValidationProblem)}},
        }
    out["default"] = {
        "description": "Error",
        "content": {PROBLEM_MEDIA_TYPE: {"schema": registry.schema(Problem)}},
    }
    return out
