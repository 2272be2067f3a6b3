"""The Swagger UI and ReDoc files the docs pages load, read from the `openapi-ui-bundles`
package (Swagger UI 5, ReDoc 2: both render OpenAPI 3.1) so the pages work with no internet.
Nothing here is fetched from a CDN."""

from __future__ import annotations

import functools
import importlib
import importlib.resources
from dataclasses import dataclass

__all__ = [
    "ASSET_CACHE_CONTROL",
    "BUNDLE_DISTRIBUTION",
    "REDOC_ASSETS",
    "SWAGGER_UI_ASSETS",
    "Asset",
    "available",
    "bundle_version",
    "read_asset",
]

BUNDLE_DISTRIBUTION = "openapi-ui-bundles"
ASSET_CACHE_CONTROL = "public, max-age=31536000, immutable"
"""Asset URLs carry a version, so browsers may keep a copy for a year."""


@dataclass(frozen=True)
class Asset:
    """One static file: the package that ships it, its file name and media type."""

    package: str
    name: str
    media_type: str


SWAGGER_UI_ASSETS = (
    Asset("openapi_ui_bundles.swagger_ui", "swagger-ui-bundle.js", "text/javascript"),
    Asset("openapi_ui_bundles.swagger_ui", "swagger-ui.css", "text/css"),
    Asset("openapi_ui_bundles.swagger_ui", "favicon-32x32.png", "image/png"),
)
REDOC_ASSETS = (Asset("openapi_ui_bundles.redoc", "redoc.standalone.js", "text/javascript"),)


@functools.cache
def read_asset(asset: Asset) -> bytes | None:
    """The file's bytes (read once per process), or None when the package is not installed."""
    try:
        return importlib.resources.files(asset.package).joinpath("vendor", asset.name).read_bytes()
    except (ModuleNotFoundError, FileNotFoundError):
        return None


def available(asset: Asset) -> bool:
    """Whether the file is installed (without reading it)."""
    try:
        return importlib.resources.files(asset.package).joinpath("vendor", asset.name).is_file()
    except ModuleNotFoundError:
        return False


def bundle_version() -> str:
    """The installed `openapi-ui-bundles` version ("missing" when it is not installed), from
    the package's `__version__`: `importlib.metadata` would import csv, zipfile and email
    into every worker of an app with docs pages (about 1 MB, adrs/0020)."""
    try:
        bundles = importlib.import_module("openapi_ui_bundles")
    except ModuleNotFoundError:
        return "missing"
    return str(getattr(bundles, "__version__", "unknown"))
