"""`docs_routes(app)`: the routes that serve the OpenAPI document, the Swagger UI and ReDoc
pages, and the files those pages load (from this server, never a CDN)."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

import msgspec

from covetpy.exceptions import HTTPException
from covetpy.openapi.assets import (
    ASSET_CACHE_CONTROL,
    BUNDLE_DISTRIBUTION,
    REDOC_ASSETS,
    SWAGGER_UI_ASSETS,
    Asset,
    available,
    bundle_version,
    read_asset,
)
from covetpy.openapi.document import openapi_schema
from covetpy.openapi.pages import SWAGGER_UI_INIT_JS, redoc_html, swagger_ui_html
from covetpy.responses import HTMLResponse, Response
from covetpy.routing.options import RouteOptions
from covetpy.routing.router import RouteDecl

if TYPE_CHECKING:
    from covetpy.app import App

__all__ = ["docs_routes"]

Handler = Callable[[], Response]


def _missing(ui: str) -> HTTPException:
    return HTTPException(
        404,
        f"{ui} is not available: its files come from the {BUNDLE_DISTRIBUTION!r} package, "
        f"which is not installed (pip install {BUNDLE_DISTRIBUTION})",
    )


def _get(path: str, handler: Handler, name: str) -> RouteDecl:
    # Public: the docs are readable before "Authorize", whatever the auth layers require.
    options = RouteOptions(name=name, include_in_schema=False, public=True)
    return RouteDecl(path, ("GET",), handler, options)


def _document_handler(app: App) -> Handler:
    cached: list[bytes] = []

    def openapi_document() -> Response:
        if not cached:
            cached.append(msgspec.json.encode(openapi_schema(app)))
        return Response(cached[0], media_type="application/json")

    return openapi_document


def _page_handler(html: str, ui: str, assets: Sequence[Asset]) -> Handler:
    body = html.encode()

    def docs_page() -> Response:
        if not all(available(a) for a in assets):
            raise _missing(ui)
        return HTMLResponse(body)

    return docs_page


def _file_handler(asset: Asset, ui: str) -> Handler:
    def docs_asset() -> Response:
        data = read_asset(asset)
        if data is None:
            raise _missing(ui)
        return Response(
            data, media_type=asset.media_type, headers={"cache-control": ASSET_CACHE_CONTROL}
        )

    return docs_asset


def _init_script() -> Response:
    return Response(
        SWAGGER_UI_INIT_JS,
        media_type="text/javascript",
        headers={"cache-control": ASSET_CACHE_CONTROL},
    )


def _version() -> str:
    """Changes whenever the served files may have: a new bundle package or init script."""
    seed = bundle_version().encode() + b"\0" + SWAGGER_UI_INIT_JS
    return hashlib.sha256(seed).hexdigest()[:12]


def docs_routes(app: App) -> list[RouteDecl]:
    """GET routes for `app.openapi_url`, `app.docs_url` (Swagger UI) and `app.redoc_url`
    (ReDoc) with their assets; none of them appear in the document. A URL set to None
    leaves its page out; without `openapi_url` there is nothing to show, so no routes."""
    if not app.openapi_url:
        return []
    openapi_url = app.openapi_url
    decls = [_get(openapi_url, _document_handler(app), "openapi")]
    version = _version()

    if app.docs_url:
        base = app.docs_url.rstrip("/")
        url = {a.name: f"{base}/{a.name}?v={version}" for a in SWAGGER_UI_ASSETS}
        init_path = f"{base}/swagger-ui-init.js"
        html = swagger_ui_html(
            app.title,
            openapi_url,
            css_url=url["swagger-ui.css"],
            icon_url=url["favicon-32x32.png"],
            bundle_url=url["swagger-ui-bundle.js"],
            init_url=f"{init_path}?v={version}",
        )
        decls.append(
            _get(app.docs_url, _page_handler(html, "Swagger UI", SWAGGER_UI_ASSETS), "swagger_ui")
        )
        decls += [
            _get(f"{base}/{a.name}", _file_handler(a, "Swagger UI"), f"swagger_ui:{a.name}")
            for a in SWAGGER_UI_ASSETS
        ]
        decls.append(_get(init_path, _init_script, "swagger_ui:swagger-ui-init.js"))

    if app.redoc_url:
        base = app.redoc_url.rstrip("/")
        (js,) = REDOC_ASSETS
        html = redoc_html(app.title, openapi_url, f"{base}/{js.name}?v={version}")
        decls.append(_get(app.redoc_url, _page_handler(html, "ReDoc", REDOC_ASSETS), "redoc"))
        decls.append(_get(f"{base}/{js.name}", _file_handler(js, "ReDoc"), f"redoc:{js.name}"))
    return decls
