"""A base install (`pip install covetpy`, no extras) imports, serves, and names the extra a
feature needs when one is turned on without it.

The children run with a `sitecustomize` that lets them import only the standard library, the
base dependencies and the project itself, as a clean venv with no extras would.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import urllib.request
from pathlib import Path

import pytest

from tests.conftest import ROOT, spawn

PACKAGE = ROOT / "python" / "covetpy"

# The import names of `[project] dependencies` in pyproject.toml.
BASE = ("msgspec", "multipart", "uvloop", "openapi_ui_bundles")

BLOCKER = f"""
import sys
from importlib.abc import MetaPathFinder

ALLOWED = {{*sys.stdlib_module_names, "covetpy", "examples", "sitecustomize", *{BASE!r}}}


class BaseInstallOnly(MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        top = name.partition(".")[0]
        if top in ALLOWED or top.startswith("_distutils"):
            return None
        raise ModuleNotFoundError(f"No module named {{name!r}} (blocked: not a base dependency)",
                                  name=name)


sys.meta_path.insert(0, BaseInstallOnly())
"""

# The test clients are httpx clients (subclasses): without the testing extra the module
# cannot be imported, and says which extra to install.
ADAPTERS = {"covetpy.testing": "testing"}


def public_modules() -> list[str]:
    """Every module of the package whose dotted name has no part starting with `_`."""
    names = []
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = ("covetpy", *path.relative_to(PACKAGE).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        if not any(p.startswith("_") for p in parts[1:]):
            names.append(".".join(parts))
    return names


@pytest.fixture(scope="module")
def base_env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """The environment of a child that sees only the base dependencies."""
    site = tmp_path_factory.mktemp("base-install")
    (site / "sitecustomize.py").write_text(BLOCKER)
    path = os.pathsep.join(p for p in (str(site), os.environ.get("PYTHONPATH")) if p)
    env = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    for name in ("COVETPY_EVENTS_URL", "PYTHONUNBUFFERED"):  # `spawn` sets the latter
        env.pop(name, None)
    return dict(env, PYTHONPATH=path)


def run_child(code: str, env: dict[str, str]) -> object:
    """Runs `code` in a child; returns the JSON it printed on its last line."""
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.splitlines()[-1])


def test_the_blocker_blocks(base_env: dict[str, str]) -> None:
    result = run_child(
        """
        import json
        try:
            import httpx
        except ModuleNotFoundError as exc:
            print(json.dumps(str(exc)))
        else:
            print(json.dumps(None))
        """,
        base_env,
    )
    assert result is not None and "blocked" in str(result)


def test_every_public_module_imports_with_the_base_dependencies(base_env: dict[str, str]) -> None:
    modules = public_modules()
    assert "covetpy.events.backends.redis" in modules and "covetpy.grpc.host" in modules
    result = run_child(
        f"""
        import importlib, json
        from covetpy.exceptions import CovetError
        outcome = {{}}
        for name in {modules!r}:
            try:
                importlib.import_module(name)
            except Exception as exc:
                covet = isinstance(exc, CovetError) and isinstance(exc, ImportError)
                outcome[name] = [covet, f"{{type(exc).__name__}}: {{exc}}"]
            else:
                outcome[name] = "ok"
        print(json.dumps(outcome))
        """,
        base_env,
    )
    assert isinstance(result, dict)
    failed = {name: why for name, why in result.items() if why != "ok" and name not in ADAPTERS}
    assert failed == {}
    for name, extra in ADAPTERS.items():
        assert result[name] == [
            True,
            f"MissingExtra: {name} needs the {extra} extra: pip install 'covetpy[{extra}]'",
        ]


# (what turns the feature on, the extra it needs); each runs in a fresh interpreter.
FEATURES = [
    (
        "import os; os.environ['OTEL_TRACES_EXPORTER'] = 'console'\n"
        "from covetpy.observability import tracing; tracing.setup('svc')",
        "tracing needs the observability extra",
    ),
    ("from covetpy import App; App().grpc", "gRPC needs the grpc extra"),
    (
        "from covetpy import App; App(events='redis://127.0.0.1:1').events",
        "the Redis event backend needs the events extra",
    ),
    (
        "from covetpy import App; App(events='nats://127.0.0.1:1').events",
        "the NATS event backend needs the events extra",
    ),
    (
        "from covetpy.mesh import Client; Client(upstreams={'orders': '127.0.0.1:1'})",
        "covetpy.mesh.Client needs the mesh extra",
    ),
    ("from covetpy.mesh import DnsSrv; DnsSrv('_http._tcp.orders')", "DNS SRV discovery needs"),
    ("from covetpy.mesh import Consul; Consul('orders')", "Consul discovery needs the mesh extra"),
    (
        "from covetpy.mesh.transport import RustTransport; RustTransport()",
        "covetpy.mesh.transport.RustTransport needs the mesh extra",
    ),
    (
        "from covetpy.grpc import ContextInterceptor; ContextInterceptor()",
        "gRPC needs the grpc extra",
    ),
    ("from covetpy.grpc import client_interceptors; client_interceptors()", "gRPC needs the"),
    (
        "from covetpy.grpc import protos; protos.load('x.proto')",
        "covetpy.grpc.protos.load needs the grpc extra",
    ),
    ("from covetpy.testing import TestClient", "covetpy.testing needs the testing extra"),
]


@pytest.mark.parametrize(("turn_on", "message"), FEATURES, ids=lambda v: v[:40])
def test_a_feature_without_its_extra_names_the_extra(
    base_env: dict[str, str], turn_on: str, message: str
) -> None:
    code = "import json\nfrom covetpy.exceptions import CovetError\ntry:\n"
    code += textwrap.indent(turn_on, "    ")
    code += (
        "\nexcept Exception as exc:\n"
        "    print(json.dumps([type(exc).__name__, isinstance(exc, CovetError), str(exc)]))\n"
        "else:\n"
        "    print(json.dumps(None))\n"
    )
    result = run_child(code, base_env)
    assert isinstance(result, list), "turned on without its extra, and nothing said so"
    name, covet, text = result
    assert (name, covet) == ("MissingExtra", True)
    assert message in text and "\n" not in text
    extra = text.rsplit(" extra: ", 1)[0].rsplit(" ", 1)[1]
    assert text.endswith(f"needs the {extra} extra: pip install 'covetpy[{extra}]'")


def test_a_base_install_serves_hello(base_env: dict[str, str]) -> None:
    server = spawn("examples.hello:app", env=base_env)
    try:
        assert server.ready.wait(60) and server.proc.poll() is None, server.log
        with urllib.request.urlopen(f"{server.url}/", timeout=10) as response:
            assert response.status == 200
            assert response.read() == b"Hello, World!"
    finally:
        code = server.stop(timeout=15)
    assert code == 0, server.log
    assert "opentelemetry" not in server.log


def test_tracing_without_its_extra_stops_start_up_with_one_line(
    base_env: dict[str, str],
) -> None:
    server = spawn("examples.hello:app", env=dict(base_env, OTEL_TRACES_EXPORTER="otlp"))
    code = server.wait(timeout=60)
    assert code != 0, server.log
    line = "tracing needs the observability extra: pip install 'covetpy[observability]'"
    assert line in server.log
    assert "Traceback" not in server.log, server.log


def test_tracing_off_does_not_load_the_sdk() -> None:
    # With the extras installed and no OTEL_* variable: the plugins' on_serve (tracing's
    # among them) leaves the SDK unloaded.
    env = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    result = run_child(
        """
        import json, sys
        from covetpy import App
        from covetpy.config import ServerConfig
        App().prepare(ServerConfig())
        print(json.dumps(sorted(m for m in sys.modules if m.startswith("opentelemetry"))))
        """,
        env,
    )
    assert result == []


def test_the_package_names_its_extras() -> None:
    # The extras the messages name exist in pyproject.toml.
    import tomllib

    extras = tomllib.loads(Path(ROOT, "pyproject.toml").read_text())["project"][
        "optional-dependencies"
    ]
    assert {"events", "mesh", "observability", "grpc", "testing"} <= set(extras)
