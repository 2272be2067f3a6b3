"""TLS in the CovetPy core (issue 17): `covetpy run --ssl-certfile ... --ssl-keyfile ...`.

What is pinned, each against RFC 8446 (TLS 1.3) / RFC 5246 (TLS 1.2), RFC 7301 (ALPN),
RFC 6066 §3 (SNI), RFC 9113 §3.2 (HTTP/2 over TLS) and issue 17's spec:

- TLS 1.3 by default, TLS 1.2 only with `--ssl-min-version 1.2`;
- ALPN selects h2 or http/1.1 (and `--http` narrows the offer); httpx, curl and h2load get
  HTTP/2 over TLS; `request.scheme` is "https";
- SNI picks the certificate among several; sessions resume;
- a handshake that never starts is cut at `--ssl-handshake-timeout`; plain HTTP or noise on
  the TLS port is closed unanswered; failures are counted in /metrics by reason;
- mTLS: `--ssl-client-verify required|optional` with `--ssl-ca`: the verified certificate is
  `request.peer_identity` (SPIFFE id, DNS SANs, subject, sha256 of the DER), and
  `require_identity` admits or refuses by it;
- certificates replaced on disk are served to new handshakes within the reload interval,
  while open connections go on; a bad file keeps the previous certificate;
- a missing or invalid file fails start-up, naming the file.

The certificates come from tests/tls/pki.py, made afresh for each module run.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import shutil
import socket
import ssl
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec

from tests.conftest import RunningServer, StartServer, read_response, running_server
from tests.http2.frames import PREFACE, Peer, settings_frame
from tests.tls.pki import CLIENT_DNS, CLIENT_SPIFFE_ID, INTRUDER_SPIFFE_ID, Pki, make_pki

APP = "tests.http2.app:app"
TIMEOUT = 10.0  # any single read or handshake (a loaded machine included)


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return make_pki(tmp_path_factory.mktemp("pki"))


def tls_args(pki: Pki, *extra: str) -> tuple[str, ...]:
    """Both server certificates (localhost first: the default), and `extra`."""
    return (
        "--ssl-certfile", f"{pki.server_cert},{pki.other_cert}",
        "--ssl-keyfile", f"{pki.server_key},{pki.other_key}",
        *extra,
    )  # fmt: skip


@pytest.fixture(scope="module")
def server(pki: Pki) -> Iterator[RunningServer]:
    """TLS with the defaults (TLS 1.3 only, ALPN h2 + http/1.1), metrics on."""
    with running_server(APP, "--workers", "1", "--metrics", *tls_args(pki)) as s:
        yield s


def client_context(
    pki: Pki,
    *,
    alpn: list[str] | None = None,
    cert: tuple[Path, Path] | None = None,
    check_hostname: bool = True,
    maximum: ssl.TLSVersion | None = None,
) -> ssl.SSLContext:
    ctx = ssl.create_default_context(cafile=str(pki.ca))
    ctx.check_hostname = check_hostname
    if alpn is not None:
        ctx.set_alpn_protocols(alpn)
    if cert is not None:
        ctx.load_cert_chain(str(cert[0]), str(cert[1]))
    if maximum is not None:
        ctx.maximum_version = maximum
    return ctx


@contextlib.contextmanager
def tls_connect(
    server: RunningServer,
    ctx: ssl.SSLContext,
    server_hostname: str | None = "localhost",
    session: ssl.SSLSession | None = None,
) -> Iterator[ssl.SSLSocket]:
    """A TLS connection to the server; the handshake is done on entry."""
    raw = socket.create_connection(("127.0.0.1", server.port), timeout=TIMEOUT)
    try:
        s = ctx.wrap_socket(raw, server_hostname=server_hostname, session=session)
    except BaseException:
        raw.close()
        raise
    with s:
        yield s


def get(s: ssl.SSLSocket, path: str = "/") -> tuple[int, dict[str, str], bytes]:
    """One HTTP/1.1 request on a kept-alive TLS connection."""
    s.sendall(f"GET {path} HTTP/1.1\r\nHost: localhost\r\n\r\n".encode())
    return read_response(s, timeout=TIMEOUT)


def serial_of(s: ssl.SSLSocket) -> int:
    der = s.getpeercert(binary_form=True)
    assert der is not None
    return x509.load_der_x509_certificate(der).serial_number


def served(server: RunningServer, ctx: ssl.SSLContext, path: str = "/") -> str:
    """Tries one HTTPS request: "served NNN" if an HTTP answer came back, else what failed
    (the handshake, or the connection on the first read, as TLS 1.3 client authentication
    fails after the client's side of the handshake is done: RFC 8446 §4.4.2.4)."""
    try:
        with tls_connect(server, ctx) as s:
            s.sendall(f"GET {path} HTTP/1.1\r\nHost: localhost\r\n\r\n".encode())
            data = s.recv(65536)
    except (ssl.SSLError, OSError) as exc:
        return f"refused: {exc!r}"
    if not data:
        return "refused: closed"
    if data.startswith(b"HTTP/"):
        return "served " + data.split(b" ", 2)[1].decode()
    return f"refused: {data[:40]!r}"


def assert_serves(server: RunningServer, pki: Pki) -> None:
    """A normal TLS client is served (after whatever a test did)."""
    with tls_connect(server, client_context(pki)) as s:
        status, _, body = get(s)
    assert (status, body) == (200, b"Hello, World!")


def metric(server: RunningServer, pki: Pki, name: str, **labels: str) -> float:
    """The sum of the samples of `name` whose labels include `labels`, scraped over TLS."""
    with httpx.Client(verify=client_context(pki), trust_env=False, timeout=30) as c:
        text = c.get(f"https://127.0.0.1:{server.port}/metrics").text
    total = 0.0
    for line in text.splitlines():
        m = re.match(rf"^{re.escape(name)}(?:\{{(.*)\}})? (\S+)$", line)
        if m and all(f'{k}="{v}"' in (m.group(1) or "") for k, v in labels.items()):
            total += float(m.group(2))
    return total


def wait_metric(
    server: RunningServer, pki: Pki, at_least: float, name: str, **labels: str
) -> float:
    """Polls /metrics (workers publish their counters asynchronously) until the sample
    reaches `at_least`, for up to 30 s."""
    deadline = time.monotonic() + 30
    while (value := metric(server, pki, name, **labels)) < at_least:
        assert time.monotonic() < deadline, f"{name}{labels} stayed at {value} < {at_least}"
        time.sleep(0.2)
    return value


HANDSHAKE_FAILURES = "covetpy_tls_handshake_failures_total"


# ---------------------------------------------------------------------------------------------
# Versions (RFC 8446, RFC 5246)
# ---------------------------------------------------------------------------------------------


def test_tls13_by_default(server: RunningServer, pki: Pki) -> None:
    """RFC 8446: TLS 1.3 is negotiated by default; the request's scheme is "https"."""
    with tls_connect(server, client_context(pki)) as s:
        assert s.version() == "TLSv1.3"
        status, _, body = get(s, "/info")
    info = json.loads(body)
    assert (status, info["scheme"], info["version"]) == (200, "https", "1.1")


def test_tls12_is_refused_by_default(server: RunningServer, pki: Pki) -> None:
    """RFC 8446 §4.2.1 / issue 17's spec (`ssl_min_version` "1.3"): a client that can do no more
    than TLS 1.2 is refused with a protocol_version alert, and counted as such in /metrics."""
    before = metric(server, pki, HANDSHAKE_FAILURES, reason="protocol_version")
    ctx = client_context(pki, maximum=ssl.TLSVersion.TLSv1_2)
    with pytest.raises(ssl.SSLError) as err, tls_connect(server, ctx):
        pass
    assert "protocol version" in str(err.value).lower().replace("_", " "), err.value
    wait_metric(server, pki, before + 1, HANDSHAKE_FAILURES, reason="protocol_version")
    assert_serves(server, pki)


def test_tls12_with_min_version_1_2(start_server: StartServer, pki: Pki) -> None:
    """RFC 5246 with `--ssl-min-version 1.2`: a TLS 1.2 client is served; newer clients still
    get TLS 1.3."""
    s = start_server(APP, *tls_args(pki, "--ssl-min-version", "1.2"))
    with tls_connect(s, client_context(pki, maximum=ssl.TLSVersion.TLSv1_2)) as sock:
        assert sock.version() == "TLSv1.2"
        assert get(sock)[0] == 200
    with tls_connect(s, client_context(pki)) as sock:
        assert sock.version() == "TLSv1.3"


# ---------------------------------------------------------------------------------------------
# ALPN (RFC 7301) and HTTP/2 over TLS (RFC 9113 §3.2)
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("offered", "selected"),
    [(["h2", "http/1.1"], "h2"), (["http/1.1"], "http/1.1"), (["h2"], "h2"), (None, None)],
    ids=["both", "http1.1", "h2", "no-alpn"],
)
def test_alpn(
    server: RunningServer, pki: Pki, offered: list[str] | None, selected: str | None
) -> None:
    """RFC 7301 §3.2 / RFC 9113 §3.2: the server selects h2 when offered, else http/1.1; a
    client without ALPN gets HTTP/1.1."""
    with tls_connect(server, client_context(pki, alpn=offered)) as s:
        assert s.selected_alpn_protocol() == selected
        if selected != "h2":
            status, _, body = get(s)
            assert (status, body) == (200, b"Hello, World!")


def test_raw_http2_over_tls(server: RunningServer, pki: Pki) -> None:
    """RFC 9113 §3.2: after ALPN "h2" the client sends the preface at once; the handler sees
    version "2" and scheme "https"."""
    with Peer.open(server, ssl_context=client_context(pki, alpn=["h2"])) as peer:
        assert peer.sock.selected_alpn_protocol() == "h2"  # type: ignore[attr-defined]
        r = peer.get(1, "/info")
    info = json.loads(r.body)
    assert (r.status, info["version"], info["scheme"]) == (200, "2", "https")


def test_httpx_http2_over_tls(server: RunningServer, pki: Pki) -> None:
    """RFC 9113 §3.2: httpx (http2=True) negotiates h2 by ALPN."""
    with httpx.Client(http2=True, verify=client_context(pki), trust_env=False, timeout=30) as c:
        r = c.get(f"https://localhost:{server.port}/info")
    assert (r.status_code, r.http_version) == (200, "HTTP/2")
    assert (r.json()["version"], r.json()["scheme"]) == ("2", "https")


def test_curl_http2_over_tls(server: RunningServer, pki: Pki) -> None:
    """RFC 9113 §3.2 with curl: --http2 over https gets HTTP/2, the chain verified by the CA."""
    assert shutil.which("curl"), "curl is not installed: `make services` installs it"
    done = subprocess.run(
        [
            "curl", "-sS", "--noproxy", "*", "--max-time", "30", "--http2",
            "--cacert", str(pki.ca),
            "--resolve", f"localhost:{server.port}:127.0.0.1",
            "-w", "\n%{http_version} %{response_code}",
            f"https://localhost:{server.port}/",
        ],
        capture_output=True,
        timeout=60,
        check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stdout == b"Hello, World!\n2 200"


@pytest.mark.timeout(120)
def test_h2load_over_tls(server: RunningServer) -> None:
    """RFC 9113 §3.2 with h2load: 500 requests over 2 TLS connections, all over h2."""
    assert shutil.which("h2load"), "h2load is not installed: `make services` installs it"
    done = subprocess.run(
        ["h2load", "-n", "500", "-c", "2", "-m", "10", f"https://127.0.0.1:{server.port}/"],
        capture_output=True,
        text=True,
        timeout=100,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Application protocol: h2" in done.stdout, done.stdout
    assert re.search(r"500 succeeded, 0 failed, 0 errored", done.stdout), done.stdout


def test_http_1_offers_only_http11(start_server: StartServer, pki: Pki) -> None:
    """Issue 17's spec, `--http 1` over TLS: ALPN offers http/1.1 only, so a client offering
    h2 and http/1.1 gets http/1.1 (RFC 7301 §3.2)."""
    s = start_server(APP, *tls_args(pki, "--http", "1"))
    with tls_connect(s, client_context(pki, alpn=["h2", "http/1.1"])) as sock:
        assert sock.selected_alpn_protocol() == "http/1.1"
        assert get(sock)[0] == 200


def test_http_2_refuses_http11_only_clients(start_server: StartServer, pki: Pki) -> None:
    """Issue 17's spec, `--http 2` over TLS: ALPN offers h2 only; a client offering only
    http/1.1 shares no protocol: the handshake fails (RFC 7301 §3.2: no_application_protocol
    alert), and h2 clients are served."""
    s = start_server(APP, *tls_args(pki, "--http", "2"))
    with pytest.raises(ssl.SSLError), tls_connect(s, client_context(pki, alpn=["http/1.1"])):
        pass
    with tls_connect(s, client_context(pki, alpn=["h2", "http/1.1"])) as sock:
        assert sock.selected_alpn_protocol() == "h2"


# ---------------------------------------------------------------------------------------------
# SNI (RFC 6066 §3) and session resumption (RFC 8446 §2.2, RFC 5077)
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "which"),
    [
        ("localhost", "server"),
        ("other.test", "other"),
        (None, "server"),
        ("unknown.test", "server"),
    ],
    ids=["localhost", "other.test", "no-sni", "unknown-name"],
)
def test_sni_selects_the_certificate(
    server: RunningServer, pki: Pki, name: str | None, which: str
) -> None:
    """RFC 6066 §3: the certificate is chosen by the client's server_name; without SNI, or for
    a name no certificate covers, the first one (issue 17's spec)."""
    expected = pki.server_serial if which == "server" else pki.other_serial
    check = name in ("localhost", "other.test")
    with tls_connect(server, client_context(pki, check_hostname=check), name) as s:
        assert serial_of(s) == expected
        assert get(s)[0] == 200


def _resumes(server: RunningServer, ctx: ssl.SSLContext) -> tuple[bool, bool]:
    with tls_connect(server, ctx) as first:
        assert get(first)[0] == 200  # reading lets the TLS 1.3 tickets in (RFC 8446 §4.6.1)
        session = first.session
        assert not first.session_reused
    assert session is not None
    with tls_connect(server, ctx, session=session) as second:
        assert get(second)[0] == 200
        return second.session_reused, session.has_ticket


def test_session_resumption_tls13(server: RunningServer, pki: Pki) -> None:
    """RFC 8446 §2.2 / §4.6.1: after a first connection the server's NewSessionTicket lets a
    second connection resume (PSK) instead of a full handshake."""
    reused, _ = _resumes(server, client_context(pki))
    assert reused, "the TLS 1.3 session was not resumed"


def test_session_resumption_tls12(start_server: StartServer, pki: Pki) -> None:
    """RFC 5246 §7.3 / RFC 5077: a TLS 1.2 session resumes (ticket or session cache)."""
    s = start_server(APP, *tls_args(pki, "--ssl-min-version", "1.2"))
    reused, _ = _resumes(s, client_context(pki, maximum=ssl.TLSVersion.TLSv1_2))
    assert reused, "the TLS 1.2 session was not resumed"


# ---------------------------------------------------------------------------------------------
# Handshake failures: timeouts, not TLS at all
# ---------------------------------------------------------------------------------------------


@pytest.mark.timeout(90)
def test_handshake_timeout_closes_the_socket(start_server: StartServer, pki: Pki) -> None:
    """Issue 17's spec (`--ssl-handshake-timeout 1`): a client that connects and sends nothing
    has its socket closed (recv returns EOF well within a 20 s wait), counted as
    reason="timeout"; the server goes on serving."""
    s = start_server(APP, *tls_args(pki, "--ssl-handshake-timeout", "1", "--metrics"))
    with s.connect(timeout=20) as sock:
        try:
            data = sock.recv(1)
        except ConnectionResetError:
            data = b""
        except TimeoutError:
            pytest.fail("the silent connection was still open after 20 s")
    assert data == b""
    wait_metric(s, pki, 1, HANDSHAKE_FAILURES, reason="timeout")
    assert_serves(s, pki)


NOT_TLS = {
    "http1-request": b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n",
    "h2c-preface": PREFACE + settings_frame({}),
    "garbage": b"\x00\x01\x02\x03 this is not a ClientHello \xff\xfe\r\n\r\n",
}


@pytest.mark.parametrize("data", list(NOT_TLS.values()), ids=list(NOT_TLS))
def test_not_tls_is_closed_unanswered(server: RunningServer, pki: Pki, data: bytes) -> None:
    """Issue 17's spec: plain HTTP, an h2c preface or noise on the TLS port is not answered in
    HTTP (at most a TLS alert record, RFC 8446 §6: content type 21) and the connection is
    closed; counted as reason="not_tls"; other clients are served meanwhile."""
    before = metric(server, pki, HANDSHAKE_FAILURES, reason="not_tls")
    with server.connect(timeout=20) as sock:
        sock.sendall(data)
        answer = b""
        try:
            while chunk := sock.recv(65536):
                answer += chunk
        except ConnectionResetError:
            pass
        except TimeoutError:
            pytest.fail(f"not closed after 20 s; got {answer!r}")
    assert b"HTTP/" not in answer, answer[:200]
    assert answer == b"" or answer[0] == 0x15, f"not a TLS alert: {answer[:40]!r}"
    wait_metric(server, pki, before + 1, HANDSHAKE_FAILURES, reason="not_tls")
    assert_serves(server, pki)


# ---------------------------------------------------------------------------------------------
# Client certificates (mTLS, RFC 8446 §4.3.2, §4.4.2)
# ---------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def mtls(pki: Pki) -> Iterator[RunningServer]:
    """`--ssl-client-verify required` against the test CA, metrics on."""
    args = tls_args(pki, "--ssl-ca", str(pki.ca), "--ssl-client-verify", "required", "--metrics")
    with running_server(APP, "--workers", "1", *args) as s:
        yield s


@pytest.fixture(scope="module")
def mtls_optional(pki: Pki) -> Iterator[RunningServer]:
    """`--ssl-client-verify optional`: certificates verified when sent."""
    args = tls_args(pki, "--ssl-ca", str(pki.ca), "--ssl-client-verify", "optional")
    with running_server(APP, "--workers", "1", *args) as s:
        yield s


def with_cert(pki: Pki, which: str = "client", **kwargs: object) -> ssl.SSLContext:
    cert = {
        "client": (pki.client_cert, pki.client_key),
        "intruder": (pki.intruder_cert, pki.intruder_key),
        "stranger": (pki.stranger_cert, pki.stranger_key),
    }[which]
    return client_context(pki, cert=cert, **kwargs)  # type: ignore[arg-type]


def test_mtls_required_without_a_certificate(mtls: RunningServer, pki: Pki) -> None:
    """RFC 8446 §4.4.2.4 (certificate_required) with `--ssl-client-verify required`: no
    client certificate, no HTTP answer; counted as reason="no_certificate"."""
    start = _mtls_metric(mtls, pki, "no_certificate")
    result = served(mtls, client_context(pki))
    assert result.startswith("refused"), result
    _wait_mtls_metric(mtls, pki, "no_certificate", start + 1)


def test_mtls_required_with_an_untrusted_certificate(mtls: RunningServer, pki: Pki) -> None:
    """RFC 8446 §4.4.2.4 / RFC 5280 §6: a client certificate from another CA fails
    verification: no HTTP answer; counted as reason="bad_certificate"."""
    start = _mtls_metric(mtls, pki, "bad_certificate")
    result = served(mtls, with_cert(pki, "stranger"))
    assert result.startswith("refused"), result
    _wait_mtls_metric(mtls, pki, "bad_certificate", start + 1)


def _mtls_metric(server: RunningServer, pki: Pki, reason: str) -> float:
    """`covetpy_tls_handshake_failures_total{reason=...}`, scraped with a client certificate
    (this server requires one for /metrics too)."""
    with httpx.Client(verify=with_cert(pki), trust_env=False, timeout=30) as c:
        text = c.get(f"https://127.0.0.1:{server.port}/metrics").text
    total = 0.0
    for line in text.splitlines():
        if line.startswith(HANDSHAKE_FAILURES) and f'reason="{reason}"' in line:
            total += float(line.rsplit(" ", 1)[1])
    return total


def _wait_mtls_metric(server: RunningServer, pki: Pki, reason: str, at_least: float) -> None:
    deadline = time.monotonic() + 30
    while (value := _mtls_metric(server, pki, reason)) < at_least:
        assert time.monotonic() < deadline, f'reason="{reason}" stayed at {value}'
        time.sleep(0.2)


def test_mtls_peer_identity(mtls: RunningServer, pki: Pki) -> None:
    """Issue 17's spec: the verified client certificate is request.peer_identity: SPIFFE id
    from the URI SAN, DNS SANs, subject, and hash = sha256 (hex) of the DER certificate."""
    with tls_connect(mtls, with_cert(pki)) as s:
        status, _, body = get(s, "/identity")
    got = json.loads(body)
    assert status == 200, body
    assert got["present"] and got["scheme"] == "https", got
    assert got["spiffe_id"] == CLIENT_SPIFFE_ID
    assert CLIENT_DNS in got["dns"]
    assert "CN=client" in (got["subject"] or ""), got["subject"]
    assert (got["hash"] or "").lower() == hashlib.sha256(pki.client_der).hexdigest()


def test_mtls_peer_identity_over_http2(mtls: RunningServer, pki: Pki) -> None:
    """The same identity reaches a handler over HTTP/2 (RFC 9113 §3.2, ALPN h2)."""
    ctx = with_cert(pki)
    with httpx.Client(http2=True, verify=ctx, trust_env=False, timeout=30) as c:
        r = c.get(f"https://localhost:{mtls.port}/identity")
    assert (r.status_code, r.http_version) == (200, "HTTP/2")
    assert (r.json()["spiffe_id"], r.json()["version"]) == (CLIENT_SPIFFE_ID, "2")


def test_require_identity_with_mtls(mtls: RunningServer, pki: Pki) -> None:
    """`require_identity(CLIENT_SPIFFE_ID)` (covetpy.mesh): the right certificate is admitted
    (200); another SPIFFE id of the same CA is refused 403."""
    assert served(mtls, with_cert(pki), "/admin") == "served 200"
    with tls_connect(mtls, with_cert(pki)) as s:
        status, _, body = get(s, "/admin")
    assert (status, json.loads(body)) == (200, {"spiffe_id": CLIENT_SPIFFE_ID})
    with tls_connect(mtls, with_cert(pki, "intruder")) as s:
        status, _, body = get(s, "/admin")
    assert status == 403, body
    assert INTRUDER_SPIFFE_ID.encode() in body, body  # refused for who it is, not for no identity


def test_mtls_optional(mtls_optional: RunningServer, pki: Pki) -> None:
    """`--ssl-client-verify optional`: without a certificate the request is served with no
    peer_identity, and `require_identity` answers 403; with one, peer_identity is set and the
    route admits it; an untrusted certificate is still refused (verified when sent)."""
    with tls_connect(mtls_optional, client_context(pki)) as s:
        status, _, body = get(s, "/identity")
        assert (status, json.loads(body)["present"]) == (200, False)
        assert get(s, "/admin")[0] == 403
    with tls_connect(mtls_optional, with_cert(pki)) as s:
        status, _, body = get(s, "/identity")
        assert json.loads(body)["spiffe_id"] == CLIENT_SPIFFE_ID
        assert get(s, "/admin")[0] == 200
    assert served(mtls_optional, with_cert(pki, "stranger")).startswith("refused")


def test_no_peer_identity_without_mtls(server: RunningServer, pki: Pki) -> None:
    """Without `--ssl-client-verify`, a client certificate is not asked for: peer_identity is
    None and `require_identity` answers 403 (an unverified certificate is no identity)."""
    with tls_connect(server, with_cert(pki)) as s:
        status, _, body = get(s, "/identity")
        assert (status, json.loads(body)["present"]) == (200, False)
        assert get(s, "/admin")[0] == 403


# ---------------------------------------------------------------------------------------------
# Certificate reload
# ---------------------------------------------------------------------------------------------


def replace_file(path: Path, data: bytes) -> None:
    """Atomically replaces `path` (no half-written file is ever seen) with a modification time
    at least 2 s past the old one, however coarse the filesystem's clock."""
    old = path.stat().st_mtime_ns
    tmp = path.with_name(path.name + ".new")
    tmp.write_bytes(data)
    os.replace(tmp, path)
    t = max(time.time_ns(), old + 2_000_000_000)
    os.utime(path, ns=(t, t))


def wait_for_serial(server: RunningServer, pki: Pki, serial: int, timeout: float = 20) -> None:
    """New handshakes until one presents the certificate `serial` (or `timeout` passes)."""
    deadline = time.monotonic() + timeout
    seen = None
    while True:
        with tls_connect(server, client_context(pki)) as s:
            seen = serial_of(s)
        if seen == serial:
            return
        assert time.monotonic() < deadline, f"still serving serial {seen}, not {serial}"
        time.sleep(0.2)


@pytest.fixture
def live_cert(pki: Pki, tmp_path: Path) -> tuple[Path, Path, ec.EllipticCurvePrivateKey, int]:
    """cert.pem/key.pem in a directory of their own (replaced by the test): CN localhost-v1."""
    key = ec.generate_private_key(ec.SECP256R1())
    cert_pem, key_pem, serial = pki.issue_server("localhost-v1", key=key)
    cert, keyfile = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert.write_bytes(cert_pem)
    keyfile.write_bytes(key_pem)
    return cert, keyfile, key, serial


@pytest.mark.timeout(120)
def test_certificate_reload(
    start_server: StartServer,
    pki: Pki,
    live_cert: tuple[Path, Path, ec.EllipticCurvePrivateKey, int],
) -> None:
    """Issue 17's spec: a certificate replaced on disk is served to new handshakes within
    ssl_reload_interval (1 s) + 1 s (polled for up to 20 s here), while a connection opened
    before keeps working."""
    cert, keyfile, key, serial1 = live_cert
    s = start_server(
        APP, "--ssl-certfile", str(cert), "--ssl-keyfile", str(keyfile),
        "--ssl-reload-interval", "1",
    )  # fmt: skip
    with tls_connect(s, client_context(pki)) as before:
        assert serial_of(before) == serial1
        assert get(before)[0] == 200
        cert_pem, _, serial2 = pki.issue_server("localhost-v2", key=key)
        assert serial2 != serial1
        replace_file(cert, cert_pem)
        wait_for_serial(s, pki, serial2)
        status, _, body = get(before)  # the old connection goes on
        assert (status, body) == (200, b"Hello, World!")
        assert serial_of(before) == serial1
    assert "keeping the previous certificate" not in s.log, s.log


@pytest.mark.timeout(120)
def test_a_bad_new_certificate_keeps_the_previous_one(
    start_server: StartServer,
    pki: Pki,
    live_cert: tuple[Path, Path, ec.EllipticCurvePrivateKey, int],
) -> None:
    """Issue 17's spec: a replaced certificate file that does not load keeps the previous
    certificate, logging "tls: keeping the previous certificate: <reason>"; a good file
    afterwards is picked up."""
    cert, keyfile, key, serial1 = live_cert
    s = start_server(
        APP, "--ssl-certfile", str(cert), "--ssl-keyfile", str(keyfile),
        "--ssl-reload-interval", "1",
    )  # fmt: skip
    replace_file(
        cert, b"-----BEGIN CERTIFICATE-----\nnot base64 at all\n-----END CERTIFICATE-----\n"
    )
    s.wait_for_log("tls: keeping the previous certificate", timeout=30)
    with tls_connect(s, client_context(pki)) as sock:
        assert serial_of(sock) == serial1
        assert get(sock)[0] == 200
    cert_pem, _, serial2 = pki.issue_server("localhost-v2", key=key)
    replace_file(cert, cert_pem)
    wait_for_serial(s, pki, serial2)


# ---------------------------------------------------------------------------------------------
# Bad start-up input
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("what", ["missing-cert", "missing-key", "garbage-cert", "garbage-key"])
def test_bad_files_fail_start_up_naming_the_file(
    start_server: StartServer, pki: Pki, tmp_path: Path, what: str
) -> None:
    """Issue 17's spec: an unreadable or invalid PEM file fails start-up: the process exits
    non-zero with a message naming the file."""
    cert, key = pki.server_cert, pki.server_key
    bad = tmp_path / f"{what}.pem"
    if what.startswith("garbage"):
        bad.write_bytes(b"this is not PEM\n")
    if what.endswith("cert"):
        cert = bad
    else:
        key = bad
    s = start_server(APP, "--ssl-certfile", str(cert), "--ssl-keyfile", str(key), wait=False)
    try:
        code = s.proc.wait(60)
    except subprocess.TimeoutExpired:
        pytest.fail(f"the server started with a bad {what}; log:\n{s.log}")
    s.pumped.wait(5)
    assert code != 0, s.log
    assert str(bad) in s.log, s.log
    assert "covetpy serving" not in s.log, s.log
