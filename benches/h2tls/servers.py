"""The servers of benches/h2_tls.py and how each one is started for a transport: one worker
process bound to 127.0.0.1, access logs off, pinned to CPU 0 by the caller.

Transports (`MODES`):

- `h2c`: HTTP/2 over cleartext TCP with prior knowledge (no Upgrade), what h2load speaks to an
  http:// URL;
- `h2`: HTTP/2 over TLS 1.3, chosen by ALPN;
- `h1tls`: HTTP/1.1 keep-alive over TLS 1.3 (ALPN http/1.1);
- `handshake`: TLS 1.3 with one HTTP/1.1 request per connection (new connections per second).

The apps are the side-by-side suite's (benches/suite/servers.py): CovetPy serves
benches/apps/covetpy_app.py, Granian benches/peers/rsgi_bench.py (RSGI, its fastest interface)
or asgi_bench.py, h2corn asgi_bench.py, and nginx answers the same bytes from its config (the
floor: no application code). Every server gets the same ECDSA P-256 certificate (`make_certs`).
"""

from __future__ import annotations

import contextlib
import datetime
import ipaddress
import os
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from benches.suite.measure import SERVER_CPU, free_port
from benches.suite.servers import PEERS_BIN, PROJECT_BIN, ROOT

__all__ = [
    "MODES",
    "SERVERS",
    "Certs",
    "Peer",
    "Running",
    "make_certs",
    "nginx_has",
    "started",
]

MODES = ("h2c", "h2", "h1tls", "handshake")
TLS_MODES = frozenset({"h2", "h1tls", "handshake"})

# What the check (curl) and the load generator must report for each transport.
CURL_FLAGS = {
    "h2c": ["--http2-prior-knowledge"],
    "h2": ["--http2"],
    "h1tls": ["--http1.1"],
    "handshake": ["--http1.1"],
}
CURL_VERSION = {"h2c": "2", "h2": "2", "h1tls": "1.1", "handshake": "1.1"}

HELLO = b"Hello, World!"
EXPECTED_BODIES: dict[str, bytes] = {
    "/plaintext": HELLO,
    "/json": b'{"message":"Hello, World!"}',
}


@dataclass(frozen=True)
class Certs:
    """A self-signed ECDSA P-256 certificate for localhost and 127.0.0.1, and its key
    (PKCS#8 PEM, which Granian requires)."""

    cert: Path
    key: Path


def make_certs(directory: Path) -> Certs:
    """Writes a fresh self-signed ECDSA P-256 certificate and key into `directory`."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(hours=1))
        .not_valid_after(now + datetime.timedelta(days=2))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    certs = Certs(directory / "cert.pem", directory / "key.pem")
    certs.cert.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    certs.key.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return certs


Command = Callable[[str, int, Certs, Path], list[str]]
"""(mode, port, certificates, a scratch directory) -> the server's command line."""


@dataclass(frozen=True)
class Peer:
    """One row of the tables: how to start it for a transport, and what it cannot do."""

    name: str
    label: str
    command: Command
    distributions: tuple[str, ...] = ()
    """Packages whose versions the results record (from the server's own venv)."""
    python: Path = PEERS_BIN / "python"
    binary: str | None = None
    """A system program (nginx): its version comes from `binary -v`."""
    ours: bool = False
    floor: bool = False
    """nginx: shown beside the others, never the "best peer" of a ratio."""
    env: dict[str, str] = field(default_factory=dict)
    not_applicable: dict[str, str] = field(default_factory=dict)
    """mode -> why that transport is not measured for this server."""


def _covetpy(mode: str, port: int, certs: Certs, scratch: Path) -> list[str]:
    # `--http auto`: HTTP/1.1 and HTTP/2 on the same port (ALPN over TLS, prior-knowledge h2c
    # in cleartext), the default and what a deployment runs. TLS 1.3 only (the default).
    cmd = [
        str(PROJECT_BIN / "covetpy"), "run", "benches.apps.covetpy_app:app",
        "--host", "127.0.0.1", "--port", str(port), "--workers", "1",
        "--log-level", "info", "--http", "auto",
    ]  # fmt: skip
    if mode in TLS_MODES:
        cmd += ["--ssl-certfile", str(certs.cert), "--ssl-keyfile", str(certs.key)]
    return cmd


def _granian(interface: str, module: str) -> Command:
    def command(mode: str, port: int, certs: Certs, scratch: Path) -> list[str]:
        # Cleartext HTTP/2 needs `--http 2` (prior knowledge); `--http 1` for the HTTP/1.1
        # cells, as the side-by-side suite runs it. TLS 1.3 is Granian's default minimum.
        http = "2" if mode in ("h2c", "h2") else "1"
        cmd = [
            str(PEERS_BIN / "granian"), "--interface", interface, "--host", "127.0.0.1",
            "--port", str(port), "--workers", "1", "--loop", "uvloop", "--http", http,
            "--no-ws", "--log-level", "warning",
        ]  # fmt: skip
        if mode in TLS_MODES:
            cmd += ["--ssl-certificate", str(certs.cert), "--ssl-keyfile", str(certs.key)]
        return [*cmd, f"{module}:app"]

    return command


def _h2corn(mode: str, port: int, certs: Certs, scratch: Path) -> list[str]:
    # One worker process with its default two Tokio threads, as the suite runs it; HTTP/1.1
    # stays on (h2corn tells the HTTP/2 preface from an HTTP/1.1 request, and ALPN over TLS).
    cmd = [
        str(PEERS_BIN / "h2corn"), "benches.peers.asgi_bench:app", "--host", "127.0.0.1",
        "--port", str(port), "--workers", "1", "--loop", "uvloop", "--no-access-log",
    ]  # fmt: skip
    if mode in TLS_MODES:
        cmd += ["--certfile", str(certs.cert), "--keyfile", str(certs.key)]
    return cmd


# nginx 1.22 (Debian bookworm) predates `http2 on;` (1.25.1): HTTP/2 is a `listen` parameter
# there, `listen ... http2` (h2c, prior knowledge) and `listen ... ssl http2` (ALPN h2).
# One process (`master_process off`) so the measured process is the one that serves; the
# same bodies as the suite's nginx (benches/suite/servers.py); keep-alive unbounded.
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
        {listen}
        {tls}
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

_NGINX_TLS = """ssl_certificate {cert};
        ssl_certificate_key {key};
        ssl_protocols TLSv1.3;"""


def nginx_has(module: str) -> bool:
    """Whether `nginx -V` lists `--with-<module>` (http_v2_module, http_ssl_module)."""
    try:
        out = subprocess.run(["nginx", "-V"], capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return False
    return f"--with-{module}" in out.stdout + out.stderr


def _nginx_listen(mode: str, port: int) -> str:
    params = {"h2c": " http2", "h2": " ssl http2", "h1tls": " ssl", "handshake": " ssl"}[mode]
    return f"listen 127.0.0.1:{port}{params};"


def _nginx(mode: str, port: int, certs: Certs, scratch: Path) -> list[str]:
    directory = scratch / f"nginx-{mode}-{port}"
    directory.mkdir(parents=True, exist_ok=True)
    tls = _NGINX_TLS.format(cert=certs.cert, key=certs.key) if mode in TLS_MODES else ""
    conf = directory / "nginx.conf"
    conf.write_text(_NGINX_CONF.format(dir=directory, listen=_nginx_listen(mode, port), tls=tls))
    return ["nginx", "-p", str(directory), "-e", "stderr", "-c", str(conf)]


def _nginx_not_applicable() -> dict[str, str]:
    out: dict[str, str] = {}
    if not nginx_has("http_v2_module"):
        out["h2c"] = out["h2"] = "this nginx is built without http_v2_module"
    if not nginx_has("http_ssl_module"):
        out["h2"] = out["h1tls"] = out["handshake"] = "this nginx is built without TLS"
    return out


SERVERS: dict[str, Peer] = {
    p.name: p
    for p in [
        Peer(
            "covetpy",
            "CovetPy",
            _covetpy,
            ("covetpy",),
            python=PROJECT_BIN / "python",
            ours=True,
            env={"COVETPY_STANDBY": "0"},
        ),
        Peer(
            "granian-rsgi",
            "Granian (RSGI)",
            _granian("rsgi", "benches.peers.rsgi_bench"),
            ("granian", "uvloop"),
        ),
        Peer(
            "granian-asgi",
            "Granian (ASGI)",
            _granian("asgi", "benches.peers.asgi_bench"),
            ("granian", "uvloop"),
        ),
        Peer("h2corn", "h2corn (ASGI)", _h2corn, ("h2corn", "uvloop")),
        Peer(
            "nginx",
            "nginx (the floor)",
            _nginx,
            binary="nginx",
            floor=True,
            not_applicable=_nginx_not_applicable(),
        ),
    ]
}

DEFAULT_SERVERS = ("covetpy", "granian-rsgi", "h2corn", "nginx")


@dataclass
class Running:
    """A started server that answered its check."""

    proc: subprocess.Popen[bytes]
    port: int
    command: list[str]
    log: Path

    def check_alive(self) -> None:
        if self.proc.poll() is not None:
            raise RuntimeError(f"exited with {self.proc.returncode}: {tail(self.log)}")

    def output(self) -> str:
        return self.log.read_text(errors="replace")[-2000:]


def tail(log: Path, lines: int = 6) -> str:
    text = log.read_text(errors="replace").strip().splitlines()
    return " | ".join(text[-lines:]) or "(no output)"


def url(mode: str, port: int, path: str) -> str:
    scheme = "http" if mode == "h2c" else "https"
    return f"{scheme}://127.0.0.1:{port}{path}"


def _ask(mode: str, port: int, path: str) -> tuple[str, str, bytes]:
    """(HTTP version, status, body) of one curl GET in the transport of `mode`."""
    out = subprocess.run(
        ["curl", "-sk", "--max-time", "3", *CURL_FLAGS[mode], "-o", "-",
         "-w", "\n%{http_version} %{http_code}", url(mode, port, path)],
        capture_output=True,
        timeout=10,
    )  # fmt: skip
    if out.returncode != 0:
        raise OSError(f"curl exited with {out.returncode}")
    body, _, last = out.stdout.rpartition(b"\n")
    version, _, status = last.decode().partition(" ")
    return version, status, body


def _check(proc: subprocess.Popen[bytes], mode: str, port: int, path: str, log: Path) -> None:
    """Waits until the server answers, then checks the protocol and the body."""
    deadline = time.monotonic() + 30
    while True:
        if proc.poll() is not None:
            raise RuntimeError(f"exited with {proc.returncode}: {tail(log)}")
        try:
            version, status, body = _ask(mode, port, path)
            break
        except (OSError, subprocess.SubprocessError):
            if time.monotonic() > deadline:
                raise RuntimeError(f"not answering after 30 s: {tail(log)}") from None
            time.sleep(0.2)
    expected = EXPECTED_BODIES[path]
    if status != "200" or body != expected or version != CURL_VERSION[mode]:
        raise RuntimeError(
            f"wrong answer to GET {path} ({mode}): HTTP/{version} {status} {body[:80]!r}, "
            f"expected HTTP/{CURL_VERSION[mode]} 200 {expected!r}"
        )


def stop(proc: subprocess.Popen[bytes]) -> None:
    """SIGTERM to the server's process group (its pid: it was started in a new session),
    SIGKILL after 15 s."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(15)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


@contextlib.contextmanager
def started(
    peer: Peer, mode: str, path: str, certs: Certs, scratch: Path, pin: bool
) -> Iterator[Running]:
    """Starts `peer` for `mode` (on CPU 0 if `pin`), checks it answers `path` over that
    transport, and stops it by its process group on exit, whatever happened."""
    port = free_port()
    cmd = peer.command(mode, port, certs, scratch)
    launch = ["taskset", "-c", SERVER_CPU, *cmd] if pin else cmd
    env = {**os.environ, "PYTHONPATH": str(ROOT), **peer.env}
    log = scratch / f"{peer.name}-{mode}-{port}.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            launch,
            cwd=ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        _check(proc, mode, port, path, log)
        yield Running(proc, port, cmd, log)
    finally:
        stop(proc)
