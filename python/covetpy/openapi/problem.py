"""The shapes of error responses, for the document: RFC 9457 problem details, and the 422
variant with the list of validation issues (`App.render_exception` writes both)."""

from __future__ import annotations

import msgspec

from covetpy.params.errors import ValidationIssue

__all__ = ["PROBLEM_MEDIA_TYPE", "Problem", "ValidationIssue", "ValidationProblem"]

PROBLEM_MEDIA_TYPE = "application/problem+json"


class Problem(msgspec.Struct, kw_only=True):
    """An RFC 9457 problem document."""

    type: str = "about:blank"
    title: str
    status: int
    detail: str


class ValidationProblem(Problem, kw_only=True):
    """A 422 problem document listing every parameter or body field that did not validate."""

    errors: list[ValidationIssue]
