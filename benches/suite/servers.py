"""The servers compared, and the command line each one runs for a scenario: one worker
process, bound to 127.0.0.1, access logs off, each in its fastest documented setup.

CovetPy runs from the project's .venv; every Python peer from benches/.venv
(benches/suite/venv.py). The WebSocket scenarios (`ws-*`) run the apps of benches/apps/ws_*.py
on the servers that compete there: CovetPy, socketify.py, Granian (ASGI) and uvicorn with its
`websockets` implementation. nginx is the floor, not a peer: a C server answering the same bytes
from its config shows what the kernel and HTTP/1.1 cost with no application at all.

The hosted-app scenarios (issue 16) run one existing app (`HOSTED_APPS`) on each server that
hosts its interface: CovetPy (`covetpy run module:app`, the app detected as ASGI or WSGI),
CovetPy with the FastAPI app mounted behind native routes (benches/apps/hosted_mount.py),
Granian (ASGI, WSGI), uvicorn (httptools, uvloop), gunicorn (WSGI, sync worker), peregrine
(PyPI: peregrine-server; ASGI and WSGI) and h2corn (ASGI). A server that does not speak the
app's interface shows n/a. peregrine and h2corn also run the native scenarios as the
`peregrine-asgi` and `h2corn-asgi` columns, with the raw ASGI app uvicorn and granian serve
there (benches/peers/asgi_bench.py).

The hostile scenarios (issue 20) give each server what the pattern needs where it has a
setting for it (`_limits`): a listen backlog of 4,096 and room for 20,000 connections for
c4096/c16384, a body limit above 20 MiB for the upload. socketify.py and Robyn expose no
backlog or connection limit to set; they run with their defaults.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from benches.peers.payloads import BIG, GZIP_LEVEL, JSON_10K
from benches.suite.scenarios import FRAMEWORKS, Scenario

__all__ = ["HOSTED_APPS", "PEERS_BIN", "PROJECT_BIN", "ROOT", "SERVERS", "Server", "why_not"]

ROOT = Path(__file__).resolve().parents[2]
PROJECT_BIN = ROOT / ".venv" / "bin"
PEERS_BIN = ROOT / "benches" / ".venv" / "bin"

Command = Callable[[int, Scenario], list[str]]

HOSTED_APPS = {
    "asgi": "benches.peers.asgi_bench:app",
    "starlette": "benches.peers.starlette_app:app",
    "fastapi": "benches.peers.fastapi_app:app",
    "flask": "benches.peers.flask_app:app",
}
"""The app of each hosted-app framework (the keys of scenarios.FRAMEWORKS): the same module on
every server, CovetPy included (it imports it from the project's .venv, the peers from theirs)."""

ASGI_APPS = ("asgi", "starlette", "fastapi")
WSGI_APPS = ("flask",)
# What the report records of a hosting server besides the server itself.
_FRAMEWORK_DISTRIBUTIONS = ("starlette", "fastapi", "pydantic", "flask", "msgspec")


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
    hosts: tuple[str, ...] = ()
    """The hosted apps (keys of scenarios.FRAMEWORKS) it serves in the hosted-app scenarios."""
    native: bool = True
    """Whether it runs the suite's own scenarios (False: a hosted-app server only)."""

    @property
    def is_covetpy(self) -> bool:
        return self.name == "covetpy"

    @property
    def ours(self) -> bool:
        """CovetPy in any set-up (the mount variant too): never a peer in a ratio."""
        return self.name.startswith("covetpy")


def why_not(server: Server, scenario: Scenario) -> str | None:
    """Why `server` has no cell in `scenario` (shown as n/a), or None when it runs it."""
    if scenario.name in server.not_applicable:
        return server.not_applicable[scenario.name]
    if scenario.hosted is None:
        return None if server.native else "runs the hosted-app scenarios only"
    if scenario.hosted in server.hosts:
        return None
    if not server.hosts:
        return "not in the hosted-app comparison"
    interface = "WSGI" if scenario.hosted in WSGI_APPS else "ASGI"
    return f"does not host {FRAMEWORKS[scenario.hosted]} here ({interface})"


def _module(module: str, scenario: Scenario) -> str:
    if scenario.hosted is not None:
        return HOSTED_APPS[scenario.hosted]
    variant = "app_mw" if scenario.middleware else "app_gzip" if scenario.gzip else "app"
    return f"{module}:{variant}"


BACKLOG = 4096
"""The listen backlog asked for in the many-connection scenarios: net.core.somaxconn (4,096
here, the kernel's default since 5.4) silently caps anything larger."""
MAX_CONNECTIONS = 20000
BODY_LIMIT = 32 * 1024 * 1024


def _many(scenario: Scenario) -> bool:
    return scenario.connections > 1000


def _limits(scenario: Scenario, backlog: str, connections: str = "", body: str = "") -> list[str]:
    """The options that let a server take the scenario's connections and body: `backlog`,
    `connections`, `body` are the server's option names ("" when it has none)."""
    out: list[str] = []
    if _many(scenario):
        out += [backlog, str(BACKLOG)]
        if connections:
            out += [connections, str(MAX_CONNECTIONS)]
    if body and scenario.body and len(scenario.body) > 1_000_000:
        out += [body, str(BODY_LIMIT)]
    return out


def _covetpy(port: int, scenario: Scenario) -> list[str]:
    # Info level logs only start and stop lines (the IO driver chosen, recorded with the
    # results), nothing per request: access logs are off by default. A hosted app is
    # detected as ASGI or WSGI by `covetpy run` (`--interface auto`, the default).
    app = (
        "benches.apps.ws_covetpy:app"
        if scenario.ws
        else _module("benches.apps.covetpy_app", scenario)
    )
    limits = _limits(scenario, "--backlog", "--max-connections", "--max-body-size")
    return _covetpy_run(app, port, limits)


def _covetpy_mount(port: int, scenario: Scenario) -> list[str]:
    return _covetpy_run("benches.apps.hosted_mount:app", port)


def _covetpy_run(app: str, port: int, extra: list[str] | None = None) -> list[str]:
    return [
        str(PROJECT_BIN / "covetpy"), "run", app,
        "--host", "127.0.0.1", "--port", str(port), "--workers", "1", "--log-level", "info",
        *(extra or []),
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
        if interface == "wsgi":
            # No event loop in a WSGI worker: the app runs on granian's blocking threads.
            cmd.remove("--loop")
            cmd.remove("uvloop")
        if scenario.name == "pipelined":
            # Documented (experimental) option that batches the flushes of pipelined answers.
            cmd.append("--http1-pipeline-flush")
        # Backpressure (requests in flight, default backlog/workers) up to the connections.
        cmd += _limits(scenario, "--backlog")
        if _many(scenario):
            cmd += ["--backpressure", str(MAX_CONNECTIONS)]
        return [*cmd, _module(module, scenario)]

    return command


def _uvicorn(module: str) -> Command:
    def command(port: int, scenario: Scenario) -> list[str]:
        app = "benches.apps.ws_asgi:app" if scenario.ws else _module(module, scenario)
        return [
            str(PEERS_BIN / "uvicorn"), app, "--host", "127.0.0.1",
            "--port", str(port), "--workers", "1", "--http", "httptools", "--loop", "uvloop",
            "--ws", "websockets" if scenario.ws else "none",
            "--no-access-log", "--log-level", "warning", *_limits(scenario, "--backlog"),
        ]  # fmt: skip

    return command


def _gunicorn(port: int, scenario: Scenario) -> list[str]:
    # One sync worker: one request at a time, and the connection closed after each answer
    # (the sync worker does no keep-alive), as gunicorn serves WSGI by default.
    return [
        str(PEERS_BIN / "gunicorn"), "--workers", "1", "--worker-class", "sync",
        "--bind", f"127.0.0.1:{port}", "--log-level", "warning", _module("", scenario),
    ]  # fmt: skip


def _peregrine(module: str) -> Command:
    def command(port: int, scenario: Scenario) -> list[str]:
        # Access log off by default; uvloop is used for ASGI when installed (it is, in
        # benches/.venv); a WSGI app runs on one application thread (`--wsgi-threads`).
        protocol = "wsgi" if scenario.hosted in WSGI_APPS else "asgi"
        return [
            str(PEERS_BIN / "peregrine"), "--host", "127.0.0.1", "--port", str(port),
            "--workers", "1", "--protocol", protocol, "--log-level", "warning",
            "--no-websockets",
            *_limits(scenario, "--backlog", "--max-connections", "--max-body"),
            _module(module, scenario),
        ]  # fmt: skip

    return command


def _h2corn(module: str) -> Command:
    def command(port: int, scenario: Scenario) -> list[str]:
        # One worker process with its default two Tokio threads (`--runtime-threads 2`);
        # HTTP/1.1 stays on by default, which is what wrk speaks. No connection limit by
        # default; the body limit is 1 GiB.
        return [
            str(PEERS_BIN / "h2corn"), _module(module, scenario), "--host", "127.0.0.1",
            "--port", str(port), "--workers", "1", "--loop", "uvloop", "--no-access-log",
            *_limits(scenario, "--backlog"),
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
events {{ worker_connections {connections}; }}
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
    gzip on;
    gzip_types application/json;
    gzip_comp_level {gzip_level};
    gzip_min_length 500;
    server {{
        listen 127.0.0.1:{port} backlog={backlog};
        location = /plaintext {{
            default_type "text/plain; charset=utf-8";
            return 200 "Hello, World!";
        }}
        location = /json {{
            default_type application/json;
            return 200 '{{"message":"Hello, World!"}}';
        }}
        location = /json10k {{
            default_type application/json;
            alias {dir}/json10k.json;
        }}
        location = /big {{
            default_type "text/plain; charset=utf-8";
            alias {dir}/big.txt;
        }}
    }}
}}
"""


def _nginx(port: int, scenario: Scenario) -> list[str]:
    directory = Path(tempfile.mkdtemp(prefix="suite-nginx-"))
    conf = directory / "nginx.conf"
    (directory / "json10k.json").write_text(json.dumps({"items": JSON_10K}, separators=(",", ":")))
    (directory / "big.txt").write_bytes(BIG)
    # Under the 20,000 files of the hard limit; 17,000 was short ("not enough, reusing
    # connections": it closed keep-alive ones, wrk read errors) while c16384 connected.
    connections = MAX_CONNECTIONS - 500 if _many(scenario) else 4096
    conf.write_text(
        _NGINX_CONF.format(
            dir=directory, port=port, connections=connections, gzip_level=GZIP_LEVEL,
            backlog=BACKLOG if _many(scenario) else 511,
        )
    )  # fmt: skip
    return ["nginx", "-p", str(directory), "-e", "stderr", "-c", str(conf)]


_NGINX_CANNOT = "nginx answers fixed bytes from its config; it has no application code to run"
_NGINX_UPLOAD = (
    "nginx cannot hand a body to code that counts it: `return` discards the body unread "
    "into any handler, and proxying it would measure a second server"
)
_NO_GZIP = "no gzip middleware of its own to put in front of the answer"

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
            ("covetpy", *_FRAMEWORK_DISTRIBUTIONS),
            ("covetpy._core",),
            _covetpy,
            python=PROJECT_BIN / "python",
            # One worker, like every peer: no warm standby (it would add an idle process's
            # ~30 MB to the measured RSS without serving a request).
            env=lambda port, scenario: {"COVETPY_STANDBY": "0"},
            hosts=(*ASGI_APPS, *WSGI_APPS),
        ),
        Server(
            "covetpy-mount",
            # Labelled with FastAPI's version, as "FastAPI on uvicorn" is.
            "FastAPI mounted behind CovetPy routes",
            ("fastapi", "covetpy", "pydantic"),
            ("covetpy._core", "fastapi"),
            _covetpy_mount,
            python=PROJECT_BIN / "python",
            env=lambda port, scenario: {"COVETPY_STANDBY": "0"},
            hosts=("fastapi",),
            native=False,
        ),
        Server(
            "granian-rsgi",
            "granian (RSGI)",
            ("granian", "uvloop"),
            ("granian", "uvloop"),
            _granian("rsgi", "benches.peers.rsgi_bench"),
            not_applicable={**_NO_WS, "json-10k-gzip": "RSGI: " + _NO_GZIP},
        ),
        Server(
            "granian-asgi",
            "granian (ASGI)",
            ("granian", "uvloop", *_FRAMEWORK_DISTRIBUTIONS),
            ("granian", "uvloop"),
            _granian("asgi", "benches.peers.asgi_bench"),
            hosts=ASGI_APPS,
        ),
        Server(
            "granian-wsgi",
            "granian (WSGI)",
            ("granian", *_FRAMEWORK_DISTRIBUTIONS),
            ("granian",),
            _granian("wsgi", ""),
            hosts=WSGI_APPS,
            native=False,
        ),
        Server(
            "uvicorn",
            "uvicorn (httptools, uvloop)",
            ("uvicorn", "httptools", "uvloop", *_FRAMEWORK_DISTRIBUTIONS),
            ("uvicorn", "httptools", "uvloop"),
            _uvicorn(""),
            hosts=ASGI_APPS,
            native=False,
        ),
        Server(
            "gunicorn",
            "gunicorn (sync worker)",
            ("gunicorn", *_FRAMEWORK_DISTRIBUTIONS),
            ("gunicorn", "flask"),
            _gunicorn,
            hosts=WSGI_APPS,
            native=False,
        ),
        Server(
            "peregrine",
            "peregrine",
            ("peregrine-server", "uvloop", *_FRAMEWORK_DISTRIBUTIONS),
            ("peregrine._native",),
            _peregrine(""),
            hosts=(*ASGI_APPS, *WSGI_APPS),
            native=False,
        ),
        Server(
            "h2corn",
            "h2corn",
            ("h2corn", "uvloop", *_FRAMEWORK_DISTRIBUTIONS),
            ("h2corn",),
            _h2corn(""),
            hosts=ASGI_APPS,
            native=False,
        ),
        Server(
            "peregrine-asgi",
            "peregrine (raw ASGI)",
            ("peregrine-server", "uvloop"),
            ("peregrine._native",),
            _peregrine("benches.peers.asgi_bench"),
            not_applicable=_NO_WS,
        ),
        Server(
            "h2corn-asgi",
            "h2corn (raw ASGI)",
            ("h2corn", "uvloop"),
            ("h2corn",),
            _h2corn("benches.peers.asgi_bench"),
            not_applicable=_NO_WS,
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
            not_applicable={"json-10k-gzip": "socketify.py: " + _NO_GZIP},
        ),
        Server(
            "robyn",
            "Robyn",
            ("robyn", "pydantic"),
            ("robyn", "pydantic"),
            _robyn,
            env=_robyn_env,
            not_applicable={**_NO_WS, "json-10k-gzip": "Robyn: " + _NO_GZIP},
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
                "upload-20m": _NGINX_UPLOAD,
                **_NO_WS,
            },
        ),
    ]
}
