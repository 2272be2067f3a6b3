"""What `covetpy run module:app` takes an app for (`covetpy.hosting.detect`), and the start-up
error a wrong `--interface` gives."""

from __future__ import annotations

import subprocess
import sys
from typing import Any

import pytest

from covetpy import App
from covetpy.exceptions import ConfigError
from covetpy.hosting import detect, hosted_app
from tests.conftest import ROOT
from tests.hosting.apps.django_site.asgi import app as django_asgi
from tests.hosting.apps.django_site.wsgi import application as django_wsgi
from tests.hosting.apps.fastapi_app import app as fastapi_app
from tests.hosting.apps.flask_app import app as flask_app
from tests.hosting.apps.starlette_app import app as starlette_app


async def raw_asgi(scope: Any, receive: Any, send: Any) -> None:
    pass


def raw_wsgi(environ: Any, start_response: Any) -> list[bytes]:
    return []


@pytest.mark.parametrize(
    ("app", "kind"),
    [
        (App(), "covetpy"),
        (fastapi_app, "asgi"),
        (starlette_app, "asgi"),
        (django_asgi, "asgi"),
        (raw_asgi, "asgi"),
        (flask_app, "wsgi"),
        (django_wsgi, "wsgi"),
        (raw_wsgi, "wsgi"),
    ],
)
def test_apps_are_told_apart(app: Any, kind: str) -> None:
    assert detect(app) == kind


def test_what_is_no_app_is_refused_with_a_reason() -> None:
    with pytest.raises(ConfigError, match="not callable"):
        detect(42)
    with pytest.raises(ConfigError, match="--interface"):
        detect(lambda a, b, c, d: None)
    with pytest.raises(ConfigError, match="ASGI 2"):
        detect(_asgi2)


async def _asgi2(scope: Any) -> None:  # a coroutine function of one argument
    pass


def test_a_wrong_interface_names_what_the_app_is() -> None:
    with pytest.raises(ConfigError, match="WSGI app"):
        hosted_app(flask_app, "asgi")
    with pytest.raises(ConfigError, match="ASGI app"):
        hosted_app(fastapi_app, "wsgi")
    with pytest.raises(ConfigError, match=r"not a covetpy\.App"):
        hosted_app(fastapi_app, "covetpy")
    with pytest.raises(ConfigError, match="say covetpy"):
        hosted_app(App(), "asgi")


def test_a_bare_app_is_mounted_at_the_root_of_an_empty_app() -> None:
    app = hosted_app(fastapi_app)
    assert app.routes == [] and [m.prefix for m in app.mounts] == [""]
    assert app.docs_url is None and app.openapi_url is None


def test_covetpy_run_with_a_wrong_interface_fails_at_start_up() -> None:
    r = subprocess.run(
        [sys.executable, "-m", "covetpy", "run", "tests.hosting.apps.flask_app:app",
         "--interface", "asgi", "--port", "0"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )  # fmt: skip
    assert r.returncode == 2, r.stdout + r.stderr
    assert "WSGI app" in r.stdout + r.stderr
