"""OpenAPI 3.1 for CovetPy apps: `openapi_schema(app)` builds the document from the routes'
plans and return annotations; `docs_routes(app)` serves it with Swagger UI and ReDoc pages
whose files come from an installed package, so the docs work offline."""

from covetpy.openapi.document import openapi_schema
from covetpy.openapi.routes import docs_routes

__all__ = ["docs_routes", "openapi_schema"]
