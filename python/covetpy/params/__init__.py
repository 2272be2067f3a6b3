"""Handler parameters: where values come from (`Query`, `Header`, `Cookie`, `Body`, `Form`,
`Depends`), planned once per route and resolved per request."""

from covetpy.params.markers import (
    Body,
    Cookie,
    Depends,
    File,
    Form,
    Header,
    Param,
    Query,
    Required,
)

__all__ = ["Body", "Cookie", "Depends", "File", "Form", "Header", "Param", "Query", "Required"]
