"""The servers compared, and the command line each one runs for a scenario: one worker
process, bound to 127.0.0.1, access logs off, each in its fastest documented setup.

CovetPy runs from the project's .venv; every Python peer from benches/.venv
(benches/suite/venv.py). The WebSocket scenarios (`ws-*`) run the apps of benches/apps/ws_*.py
on the servers that compete there: CovetPy, socketify.py, Granian (ASGI) and uvicorn with its
`websockets` implementation. nginx is the floor, not a peer: a C server answering the same bytes
from its config shows what the kernel and HTTP/1.1 cost with no application at all.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from benches.suite.scenarios import Scenario

__all__ = ["PEERS_BIN", "PROJECT_BIN", "ROOT", "SERVERS", "Server"]

ROOT = Path(__file__).resolve().parents[2]
PROJECT_BIN = ROOT / ".venv" / "bin"
PEERS_BIN = ROOT / "benches" / ".venv" / "bin"

Command = Callable[[int, Scenario], list[str]]


@dataclass(frozen=True)
class Server:
    """One column of servers: how to start it, what it needs, what it cannot do."""

    name: str
    label: str
    distributions: tuple[str, ...]
    """Packages whose versions the report records (the first one labels the server)."""
    imports: tuple[str, ...]
    """Modules that must import in its venv, or the server is reported unavailable."""
    command: Command
    python: Path = PEERS_BIN / "python"
    not_applicable: dict[str, str] = field(default_factory=dict)
    """scenario name -> why the cell is not measured."""
    env: Callable[[int, Scenario], dict[str, str]] = lambda port, scenario: {}
    binary: str | None = None
    """A system program (not a Python server): looked up on PATH, no venv, no imports."""
    floor: bool = False
    """The floor (nginx): shown beside the others but never the "best peer" of a ratio."""

    @property
    def is_covetpy(self) -> bool:
        return self.name == "covetpy"


def _module(module: str, scenario: Scenario) -> str:
    return f"{module}:{'app_mw' if scenario.middleware else 'app'}"


def _covetpy(port: int, scenario: Scenario) -> list[str]:
    # Info level logs only start and stop lines (the IO driver chosen, recorded with the
    # results), nothing per request: access logs are off by default.
    app = (
        "benches.apps.ws_covetpy:app"
        if scenario.ws
        else _module("benches.apps.covetpy_app", scenario)
    )
    return [
        str(PROJECT_BIN / "covetpy"), "run", app,
        "--host", "127.0.0.1", "--port", str(port), "--workers", "1", "--log-level", "info",
    ]  # fmt: skip


def _granian(interface: str, module: str) -> Command:
    def command(port: int, scenario: Scenario) -> list[str]:
        cmd = [
            str(PEERS_BIN / "granian"), "--interface", interface, "--host", "127.0.0.1",
            "--port", str(port), "--workers", "1", "--loop", "uvloop", "--http", "1",
            "--log-level", "warning",
        ]  # fmt: skip
        if scenario.ws:
            return [*cmd, "--ws", "benches.apps.ws_asgi:app"]
        cmd.append("--no-ws")
        if scenario.name == "pipelined":
            # Documented (experimental) option that batches the flushes of pipelined answers.
            cmd.append("--http1-pipeline-flush")
        return [*cmd, _module(module, scenario)]

    return command


def _uvicorn(module: str) -> Command:
    def command(port: int, scenario: Scenario) -> list[str]:
        app = "benches.apps.ws_asgi:app" if scenario.ws else _module(module, scenario)
        return [
            str(PEERS_BIN / "uvicorn"), app, "--host", "127.0.0.1",
            "--port", str(port), "--workers", "1", "--http", "httptools", "--loop", "uvloop",
            "--ws", "websockets" if scenario.ws else "none",
            "--no-access-log", "--log-level", "warning",
        ]  # fmt: skip

    return command


def _socketify(port: int, scenario: Scenario) -> list[str]:
    if scenario.ws:
        return [str(PEERS_BIN / "python"), "-m", "benches.apps.ws_socketify", str(port)]
    cmd = [str(PEERS_BIN / "python"), "-m", "benches.peers.socketify_app", str(port)]
    return [*cmd, "--middleware"] if scenario.middleware else cmd


def _robyn(port: int, scenario: Scenario) -> list[str]:
    return [
        str(PEERS_BIN / "python"), "-m", "benches.peers.robyn_app", "--processes", "1",
        "--workers", "1", "--log-level", "WARNING", "--disable-openapi",
    ]  # fmt: skip


def _robyn_env(port: int, scenario: Scenario) -> dict[str, str]:
    return {"BENCH_PORT": str(port), "BENCH_MIDDLEWARE": "1" if scenario.middleware else "0"}


# The same answers as benches/apps (body and content type), fixed in the config. One process
# (`master_process off`) so the measured process tree is the one that serves, like the
# others' one worker; keep-alive unbounded like theirs (nginx's default closes after 1,000).
_NGINX_CONF = """
daemon off;
master_process off;
worker_processes 1;
error_log stderr warn;
pid {dir}/nginx.pid;
events {{ worker_connections 4096; }}
http {{
    access_log off;
    server_tokens off;
    keepalive_requests 100000000;
    keepalive_timeout 120s;
    client_body_temp_path {dir}/body;
    proxy_temp_path {dir}/proxy;
    fastcgi_temp_path {dir}/fastcgi;
    uwsgi_temp_path {dir}/uwsgi;
    scgi_temp_path {dir}/scgi;
    server {{
        listen 127.0.0.1:{port};
        location = /plaintext {{
            default_type "text/plain; charset=utf-8";
            return 200 "Hello, World!";
        }}
        location = /json {{
            default_type application/json;
            return 200 '{{"message":"Hello, World!"}}';
        }}
    }}
}}
"""


def _nginx(port: int, scenario: Scenario) -> list[str]:
    directory = Path(tempfile.mkdtemp(prefix="suite-nginx-"))
    conf = directory / "nginx.conf"
    conf.write_text(_NGINX_CONF.format(dir=directory, port=port))
    return ["nginx", "-p", str(directory), "-e", "stderr", "-c", str(conf)]


_NGINX_CANNOT = "nginx answers fixed bytes from its config; it has no application code to run"

# The WebSocket comparison is CovetPy, socketify.py, Granian (ASGI) and uvicorn (issue 15).
_NO_WS = {
    "ws-echo": "not in the WebSocket comparison",
    "ws-broadcast": "not in the WebSocket comparison",
}

SERVERS: dict[str, Server] = {
    s.name: s
    for s in [
        Server(
            "covetpy",
            "CovetPy",
            ("covetpy", "msgspec"),
            ("covetpy._core",),
            _covetpy,
            python=PROJECT_BIN / "python",
            # One worker, like every peer: no warm standby (it would add an idle process's
            # ~30 MB to the measured RSS without serving a request).
            env=lambda port, scenario: {"COVETPY_STANDBY": "0"},
        ),
        Server(
            "granian-rsgi",
            "granian (RSGI)",
            ("granian", "uvloop"),
            ("granian", "uvloop"),
            _granian("rsgi", "benches.peers.rsgi_bench"),
            not_applicable=_NO_WS,
        ),
        Server(
            "granian-asgi",
            "granian (ASGI)",
            ("granian", "uvloop"),
            ("granian", "uvloop"),
            _granian("asgi", "benches.peers.asgi_bench"),
        ),
        Server(
            "uvicorn-asgi",
            "uvicorn (raw ASGI)",
            ("uvicorn", "httptools", "uvloop"),
            ("uvicorn", "httptools", "uvloop"),
            _uvicorn("benches.peers.asgi_bench"),
        ),
        Server(
            "starlette-uvicorn",
            "Starlette on uvicorn",
            ("starlette", "uvicorn"),
            ("starlette", "uvicorn", "httptools", "uvloop"),
            _uvicorn("benches.peers.starlette_app"),
            not_applicable=_NO_WS,
        ),
        Server(
            "fastapi-uvicorn",
            "FastAPI on uvicorn",
            ("fastapi", "uvicorn", "pydantic"),
            ("fastapi", "uvicorn", "httptools", "uvloop"),
            _uvicorn("benches.peers.fastapi_app"),
            not_applicable=_NO_WS,
        ),
        Server(
            "socketify",
            "socketify.py",
            ("socketify",),
            ("socketify",),
            _socketify,
        ),
        Server(
            "robyn",
            "Robyn",
            ("robyn", "pydantic"),
            ("robyn", "pydantic"),
            _robyn,
            env=_robyn_env,
            not_applicable=_NO_WS,
        ),
        Server(
            "blacksheep-uvicorn",
            "BlackSheep on uvicorn",
            ("blacksheep", "uvicorn", "pydantic"),
            ("blacksheep", "uvicorn", "httptools", "uvloop"),
            _uvicorn("benches.peers.blacksheep_app"),
            not_applicable=_NO_WS,
        ),
        Server(
            "nginx",
            "nginx (the floor)",
            ("nginx",),
            (),
            _nginx,
            binary="nginx",
            floor=True,
            not_applicable={
                "params": _NGINX_CANNOT,
                "post": _NGINX_CANNOT,
                "middleware": _NGINX_CANNOT,
                "sleep": _NGINX_CANNOT,
                **_NO_WS,
            },
        ),
    ]
}
