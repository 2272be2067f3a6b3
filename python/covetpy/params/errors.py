"""Validation errors: every bad field with its location and reason, as RFC 9457 problem+json."""

from __future__ import annotations

import re

import msgspec

__all__ = ["ValidationIssue", "body_issues"]

_AT = re.compile(r" - at `\$(.*)`$")


class ValidationIssue(msgspec.Struct, frozen=True):
    """One bad input: `location` like `query.limit`, `header.user-agent`, `body.price`."""

    location: str
    reason: str


def split_msgspec_error(message: str, root: str) -> ValidationIssue:
    """`Expected float, got str - at $.price` -> (`body.price`, `Expected float, got str`)."""
    m = _AT.search(message)
    if m is None:
        return ValidationIssue(root, message)
    return ValidationIssue(root + m.group(1), message[: m.start()])


def body_issues(data: object, tp: object, root: str = "body") -> list[ValidationIssue]:
    """Every field error of a decoded JSON object against a Struct or dataclass type, so a
    client sees all its mistakes at once (msgspec itself stops at the first)."""
    issues: list[ValidationIssue] = []
    if isinstance(tp, type) and issubclass(tp, msgspec.Struct) and isinstance(data, dict):
        for f in msgspec.structs.fields(tp):
            name = f.encode_name
            if name not in data:
                if f.required:
                    issues.append(ValidationIssue(f"{root}.{name}", "field required"))
                continue
            try:
                msgspec.convert(data[name], f.type, strict=True)
            except msgspec.ValidationError as exc:
                issues.append(split_msgspec_error(str(exc), f"{root}.{name}"))
    return issues
