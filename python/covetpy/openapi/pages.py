"""The HTML of the Swagger UI and ReDoc pages, and the small script that starts Swagger UI.
Pages refer only to URLs on this server and carry no inline script."""

from __future__ import annotations

from html import escape

__all__ = ["SWAGGER_UI_INIT_JS", "redoc_html", "swagger_ui_html"]

SWAGGER_UI_INIT_JS = b"""\
(function () {
  "use strict";
  var root = document.getElementById("swagger-ui");
  window.ui = SwaggerUIBundle({
    url: root.getAttribute("data-openapi-url"),
    dom_id: "#swagger-ui",
    deepLinking: true,
    validatorUrl: null,
    persistAuthorization: true,
    presets: [SwaggerUIBundle.presets.apis],
    layout: "BaseLayout"
  });
})();
"""
"""Starts Swagger UI on the document named by the page (no online validator badge). The
credentials entered with "Authorize" are kept in the browser's localStorage, so a reload
does not lose them, and are sent by "Try it out" (same origin: no CORS involved)."""


def swagger_ui_html(
    title: str, openapi_url: str, css_url: str, icon_url: str, bundle_url: str, init_url: str
) -> str:
    """The Swagger UI page for the document at `openapi_url`."""
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{escape(title)} - Swagger UI</title>
<link rel="stylesheet" href="{escape(css_url)}">
<link rel="icon" type="image/png" href="{escape(icon_url)}">
</head>
<body>
<div id="swagger-ui" data-openapi-url="{escape(openapi_url)}"></div>
<script src="{escape(bundle_url)}"></script>
<script src="{escape(init_url)}"></script>
</body>
</html>
"""


def redoc_html(title: str, openapi_url: str, js_url: str) -> str:
    """The ReDoc page for the document at `openapi_url` (the standalone bundle renders every
    `<redoc spec-url>` element by itself)."""
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{escape(title)} - ReDoc</title>
</head>
<body style="margin: 0">
<redoc spec-url="{escape(openapi_url)}"></redoc>
<script src="{escape(js_url)}"></script>
</body>
</html>
"""
