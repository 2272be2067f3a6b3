"""The Request Body Object of an operation: one JSON (or raw bytes) body parameter, or the
fields of a form (`application/x-www-form-urlencoded`, or `multipart/form-data` when it has
file parts)."""

from __future__ import annotations

from typing import Any

from covetpy.openapi.parameters import examples_map, schema_extras, value_type
from covetpy.openapi.schemas import SchemaRegistry
from covetpy.params.plan import ParamSpec, is_body_type

__all__ = ["FORM_MEDIA_TYPE", "JSON_MEDIA_TYPE", "MULTIPART_MEDIA_TYPE", "request_body"]

JSON_MEDIA_TYPE = "application/json"
FORM_MEDIA_TYPE = "application/x-www-form-urlencoded"
MULTIPART_MEDIA_TYPE = "multipart/form-data"


def request_body(specs: list[ParamSpec], registry: SchemaRegistry) -> dict[str, Any] | None:
    """The request body the `body`/`form` parameters among `specs` describe, or None."""
    bodies = [s for s in specs if s.location == "body"]
    if bodies:
        return _json_body(bodies[0], registry)
    forms = [s for s in specs if s.location in ("form", "file")]
    if forms:
        return _form_body(forms, registry)
    return None


def _file_schema(spec: ParamSpec) -> dict[str, Any]:
    # OpenAPI 3.1 describes a file part as binary string content (no `format: binary`).
    one = {"type": "string", "contentMediaType": "application/octet-stream"}
    return {"type": "array", "items": one} if spec.multi else one


def _json_body(spec: ParamSpec, registry: SchemaRegistry) -> dict[str, Any]:
    if spec.annotation in (bytes, bytearray):
        media_type, content = "application/octet-stream", {}
    else:
        media_type = JSON_MEDIA_TYPE
        content = {"schema": registry.schema(value_type(spec), **schema_extras(spec))}
    body: dict[str, Any] = {}
    marker = spec.marker
    if marker is not None and marker.description:
        body["description"] = marker.description
    examples = examples_map(marker.examples if marker is not None else None)
    if examples:
        content["examples"] = examples
    body["content"] = {media_type: content}
    body["required"] = spec.required
    return body


def _form_body(specs: list[ParamSpec], registry: SchemaRegistry) -> dict[str, Any]:
    whole = next((s for s in specs if is_body_type(s.declared)), None)
    if whole is not None:
        schema = registry.schema(value_type(whole))
        required = whole.required
    else:
        fields: dict[str, Any] = {}
        needed: list[str] = []
        for spec in specs:
            if spec.key in fields:
                continue
            extra = schema_extras(spec)
            if spec.marker is not None and spec.marker.description:
                extra["description"] = spec.marker.description
            if spec.location == "file":
                fields[spec.key] = {**_file_schema(spec), **extra}
            else:
                fields[spec.key] = registry.schema(value_type(spec), **extra)
            if spec.required:
                needed.append(spec.key)
        schema = {"type": "object", "properties": fields}
        if needed:
            schema["required"] = needed
        required = bool(needed)
    media = MULTIPART_MEDIA_TYPE if any(s.location == "file" for s in specs) else FORM_MEDIA_TYPE
    return {"content": {media: {"schema": schema}}, "required": required}
