"""JSON Schemas for the types a document mentions, produced by msgspec in one pass so shared
types become `components.schemas` entries that every use refers to."""

from __future__ import annotations

from typing import Any

import msgspec

__all__ = ["REF_TEMPLATE", "SchemaRegistry", "has_schema"]

REF_TEMPLATE = "#/components/schemas/{name}"


def has_schema(tp: Any) -> bool:
    """Whether msgspec can describe `tp` (and so encode or decode it as JSON)."""
    try:
        msgspec.json.schema(tp)
    except (TypeError, ValueError):
        return False
    return True


class SchemaRegistry:
    """Hands out schema placeholders while operations are built, and fills them all in at
    `finish()` with one `msgspec.json.schema_components` call."""

    def __init__(self) -> None:
        self._pending: list[tuple[Any, dict[str, Any], dict[str, Any]]] = []

    def schema(self, tp: Any, **extra: Any) -> dict[str, Any]:
        """A schema for `tp` (filled in later), with `extra` keywords such as `default` added.
        Types msgspec cannot describe get the empty schema (anything)."""
        placeholder: dict[str, Any] = dict(extra)
        if has_schema(tp):
            self._pending.append((tp, placeholder, extra))
        return placeholder

    def finish(self) -> dict[str, Any]:
        """Fills every placeholder in and returns the shared component schemas."""
        if not self._pending:
            return {}
        schemas, components = msgspec.json.schema_components(
            [tp for tp, _, _ in self._pending], ref_template=REF_TEMPLATE
        )
        for (_, placeholder, extra), schema in zip(self._pending, schemas, strict=True):
            placeholder.clear()
            placeholder.update(schema)
            placeholder.update(extra)
        self._pending.clear()
        return dict(sorted(components.items()))
