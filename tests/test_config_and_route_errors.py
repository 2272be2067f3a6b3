"""Errors a user can catch (issue 13, point 7): a bad option of a built-in (Rust) middleware
raises `ConfigError` naming the option, whether Python or Rust checks it; a route clash raises
`RouteError` carrying both routes."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from covetpy import App, ConfigError, CovetError, RouteError
from covetpy._core import RateLimiter, Server
from covetpy.config import ServerConfig
from covetpy.middleware.builtin import (
    CORS,
    BodyLimit,
    Compression,
    RateLimit,
    RequestId,
    SecurityHeaders,
    TrustedHosts,
)
from covetpy.testing import StartupError, TestClient


def build(app: App) -> Server:
    """What a worker does at start-up before it listens: the route table and the middleware
    go to Rust, which refuses what it cannot use."""
    return Server(ServerConfig(), app.route_table(), app.runtime())


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: RateLimit(rate=0), "RateLimit rate must be > 0, got 0"),
        (lambda: RateLimit(burst=0), "RateLimit burst must be >= 1, got 0"),
        (lambda: RateLimit(max_keys=0), "RateLimit max_keys must be >= 1, got 0"),
        (lambda: RateLimit(key="who"), "RateLimit key must be"),
        (lambda: CORS(max_age=-1), "CORS max_age must be >= 0, got -1"),
        (lambda: Compression(prefer=["lzma"]), "Compression prefer"),
        (lambda: Compression(minimum_size=-1), "Compression minimum_size must be >= 0, got -1"),
        (lambda: TrustedHosts([]), "TrustedHosts allowed"),
        (lambda: BodyLimit(-1), "BodyLimit max_bytes must be >= 0, got -1"),
    ],
    ids=[
        "rate",
        "burst",
        "max-keys",
        "key",
        "cors-max-age",
        "compression-prefer",
        "compression-minimum-size",
        "trusted-hosts-empty",
        "body-limit",
    ],
)
def test_options_checked_in_python_raise_config_error(
    make: Callable[[], Any], message: str
) -> None:
    with pytest.raises(ConfigError, match=message) as err:
        make()
    assert isinstance(err.value, CovetError)


@pytest.mark.parametrize(
    ("middleware", "message"),
    [
        (CORS(allow_origins=["not an origin"]), "CORS allow_origins: invalid origin"),
        (CORS(allow_methods=["GE T"]), "CORS allow_methods: invalid method"),
        (CORS(expose_headers=["x y"]), "CORS expose_headers: invalid header name"),
        (RequestId(header="x id"), "RequestId header"),
        (TrustedHosts(["a*b.example.com"]), "TrustedHosts allowed"),
        (SecurityHeaders(extra={"x y": "1"}), "SecurityHeaders: invalid header"),
        (RateLimit(key="header:x y"), "RateLimit key"),
    ],
    ids=[
        "cors-origin",
        "cors-method",
        "cors-expose-header",
        "request-id-header",
        "trusted-hosts-pattern",
        "security-headers-extra",
        "rate-limit-header",
    ],
)
def test_options_checked_in_rust_raise_config_error(middleware: Any, message: str) -> None:
    app = App(openapi_url=None, middleware=[middleware])
    with pytest.raises(ConfigError, match=message):
        build(app)


def test_the_python_keyed_rate_limiter_raises_config_error() -> None:
    with pytest.raises(ConfigError, match="RateLimit rate must be a finite number > 0, got 0"):
        RateLimiter(0.0, 1, 1)
    with pytest.raises(ConfigError, match="RateLimit burst must be >= 1, got 0"):
        RateLimiter(1.0, 0, 1)


def clashing_app() -> App:
    app = App(openapi_url=None)

    @app.get("/a/{x}")
    def first(x: str) -> str:
        return x

    @app.route("/a/{y}", methods=["GET", "POST"])
    def second(y: str) -> str:
        return y

    return app


def test_a_route_clash_names_both_routes_as_attributes() -> None:
    with pytest.raises(RouteError) as err:
        build(clashing_app())
    assert err.value.route == "GET /a/{y}"
    assert err.value.conflicts_with == "GET /a/{x}"
    assert "GET /a/{y}" in str(err.value) and "GET /a/{x}" in str(err.value)


def test_a_shape_clash_names_the_routes_as_written() -> None:
    app = App(openapi_url=None)

    @app.get("/files/{name}")
    def named(name: str) -> str:
        return name

    @app.post("/files/{rest:path}")
    def rest(rest: str) -> str:
        return rest

    with pytest.raises(RouteError) as err:
        build(app)
    assert err.value.route == "POST /files/{rest:path}"
    assert err.value.conflicts_with == "GET /files/{name}"


def test_the_test_client_keeps_the_route_error_as_the_cause() -> None:
    with pytest.raises(StartupError) as err:
        TestClient(clashing_app())
    cause = err.value.__cause__
    assert isinstance(cause, RouteError)
    assert (cause.route, cause.conflicts_with) == ("GET /a/{y}", "GET /a/{x}")


def test_other_route_errors_have_no_clashing_routes() -> None:
    err = RouteError("route /x: handler 1 is not callable")
    assert err.route is None and err.conflicts_with is None
    app = App(openapi_url=None)

    @app.get("/{x:bool}")
    def bad(x: str) -> str:
        return x

    with pytest.raises(RouteError, match="unknown converter") as caught:
        build(app)
    assert caught.value.route is None and caught.value.conflicts_with is None
