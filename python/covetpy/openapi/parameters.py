"""The Parameter Objects of an operation: path parameters from the route's path (typed by
their converter), query, header and cookie parameters from the plans of the handler and of
its dependencies."""

from __future__ import annotations

import types
from typing import Annotated, Any, Union, get_args, get_origin

import msgspec

from covetpy.openapi.schemas import SchemaRegistry, has_schema
from covetpy.params.markers import Required
from covetpy.params.plan import ParamSpec
from covetpy.routing.route import Route, split_path

__all__ = [
    "VALUE_LOCATIONS",
    "examples_map",
    "parameters",
    "schema_extras",
    "value_type",
    "visible_specs",
]

VALUE_LOCATIONS = ("query", "header", "cookie")
"""Where a parameter is a single named value (as opposed to the body or the path)."""

_CONVERTER_SCHEMAS: dict[str | None, dict[str, Any]] = {
    "int": {"type": "integer"},
    "float": {"type": "number"},
    "uuid": {"type": "string", "format": "uuid"},
    "path": {"type": "string"},
    "str": {"type": "string"},
    None: {"type": "string"},
}


def visible_specs(route: Route) -> list[ParamSpec]:
    """Every parameter of the route and its dependencies that belongs in the document."""
    return [s for s in route.plan.walk() if s.marker is None or s.marker.include_in_schema]


_ANNOTATED: Any = Annotated  # subscripted with runtime values below


def value_type(spec: ParamSpec) -> Any:
    """The type to describe a parameter with: its constrained annotation when msgspec takes
    it, else the constraints moved inside an Optional (`str | None` with `max_length`), else
    the annotation as written, else Any."""
    if has_schema(spec.annotation):
        return spec.annotation
    meta = spec.marker.meta() if spec.marker is not None else None
    declared = spec.declared
    if get_origin(declared) is Annotated:
        declared = get_args(declared)[0]
    if meta is not None and get_origin(declared) in (Union, types.UnionType):
        inner = [a for a in get_args(declared) if a is not type(None)]
        if len(inner) == 1:
            candidate = _ANNOTATED[inner[0], meta] | None
            if has_schema(candidate):
                return candidate
    return declared if has_schema(declared) else Any


def schema_extras(spec: ParamSpec) -> dict[str, Any]:
    """`default` for an optional parameter, when its default can be written as JSON."""
    if spec.default is Required:
        return {}
    try:
        return {"default": msgspec.to_builtins(spec.default)}
    except (TypeError, ValueError):
        return {}


def examples_map(values: list[Any] | None) -> dict[str, Any] | None:
    """A marker's `examples` list as an OpenAPI Examples map."""
    if not values:
        return None
    try:
        return {f"example{i}": {"value": msgspec.to_builtins(v)} for i, v in enumerate(values, 1)}
    except (TypeError, ValueError):
        return None


def parameters(route: Route, registry: SchemaRegistry) -> list[dict[str, Any]]:
    """The route's path parameters, then its query, header and cookie parameters (each
    once, though several dependencies may read the same one)."""
    out: list[dict[str, Any]] = [
        {
            "name": name,
            "in": "path",
            "required": True,
            "schema": dict(_CONVERTER_SCHEMAS.get(conv, {"type": "string"})),
        }
        for name, conv in split_path(route.rust_path)
    ]
    seen: set[tuple[str, str]] = set()
    for spec in visible_specs(route):
        if spec.location not in VALUE_LOCATIONS or (spec.location, spec.key) in seen:
            continue
        seen.add((spec.location, spec.key))
        param: dict[str, Any] = {"name": spec.key, "in": spec.location}
        marker = spec.marker
        if marker is not None and marker.description:
            param["description"] = marker.description
        param["required"] = spec.required
        param["schema"] = registry.schema(value_type(spec), **schema_extras(spec))
        examples = examples_map(marker.examples if marker is not None else None)
        if examples:
            param["examples"] = examples
        out.append(param)
    return out
