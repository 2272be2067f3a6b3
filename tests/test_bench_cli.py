"""`covetpy bench` end to end: the Rust load generator against a real `covetpy run`."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import ROOT, RunningServer, StartServer, running_server


@pytest.fixture(scope="module")
def hello() -> Iterator[RunningServer]:
    with running_server("examples.hello:app") as server:
        yield server


def bench(*args: str, timeout: float = 30) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "covetpy", "bench", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def test_fixed_request_count(hello: RunningServer, tmp_path: Path) -> None:
    out = tmp_path / "out.json"
    done = bench(hello.url + "/", "-c", "8", "-n", "2000", "--json", str(out))
    assert done.returncode == 0, done.stderr
    report = json.loads(out.read_text())
    assert report["requests"] == 2000
    assert report["status_counts"] == {"200": 2000}
    assert report["errors_total"] == 0 and set(report["errors"].values()) == {0}
    assert report["connections"] == 8 and report["pipeline"] == 1 and report["rate"] is None
    assert report["bytes_read"] > 2000 * len("Hello, World!")
    assert report["requests_per_s"] == pytest.approx(2000 / report["duration_s"], rel=0.01)
    lat = report["latency_us"]
    assert set(lat) == {"min", "mean", "stdev", "max", "percentiles"}
    pcts = [lat["percentiles"][k] for k in ("50", "75", "90", "99", "99.9", "99.99")]
    assert lat["min"] <= pcts[0] and pcts == sorted(pcts) and pcts[-1] <= lat["max"]
    assert "Requests    2,000 in" in done.stdout
    assert "Status      200: 2,000" in done.stdout and "Errors      none" in done.stdout


def test_constant_rate_is_kept(hello: RunningServer, tmp_path: Path) -> None:
    out = tmp_path / "rate.json"
    done = bench(hello.url + "/", "-c", "8", "-d", "1s", "--rate", "2000", "--json", str(out))
    assert done.returncode == 0, done.stderr
    report = json.loads(out.read_text())
    assert report["rate"] == 2000 and report["errors_total"] == 0
    assert report["duration_s"] == pytest.approx(1.0, abs=0.1)
    assert report["requests_per_s"] == pytest.approx(2000, rel=0.1)
    assert sum(report["status_counts"].values()) == report["requests"]
    assert "latency counts from intended send times" in done.stdout


def test_pipelined_and_progress_line(hello: RunningServer, tmp_path: Path) -> None:
    out = tmp_path / "pipe.json"
    done = bench(
        hello.url + "/users/7", "-c", "4", "-d", "1200ms", "--pipeline", "16", "-t", "2",
        "--json", str(out),
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    report = json.loads(out.read_text())
    assert report["threads"] == 2 and report["pipeline"] == 16
    assert report["requests"] > 0 and report["status_counts"] == {"200": report["requests"]}
    assert report["errors_total"] == 0
    assert re.search(r"\[\s*1\.0s\] [\d,]+ requests, [\d,]+ req/s, 0 errors", done.stderr)


def test_method_headers_and_body(hello: RunningServer, tmp_path: Path) -> None:
    body = tmp_path / "body.json"
    body.write_bytes(b'{"name": "x"}')
    out = tmp_path / "post.json"
    done = bench(
        hello.url + "/", "-c", "2", "-n", "50", "--method", "post", "--body-file", str(body),
        "-H", "content-type: application/json", "-H", "x-test: 1", "-q", "--json", str(out),
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    report = json.loads(out.read_text())
    # `/` only has GET: every POST is a 405, read fully, on the same connections.
    assert report["method"] == "POST"
    assert report["status_counts"] == {"405": 50} and report["reconnects"] == 0
    assert done.stderr == ""


def test_refused_connections_count_as_errors(tmp_path: Path) -> None:
    from tests.conftest import free_port

    out = tmp_path / "down.json"
    done = bench(f"http://127.0.0.1:{free_port()}/", "-c", "2", "-n", "5", "-q", "--json", str(out))
    assert done.returncode == 0, done.stderr
    report = json.loads(out.read_text())
    assert report["requests"] == 0 and report["errors"]["connect"] == 5
    assert "5 failed requests: connect 5" in done.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["wss://127.0.0.1/"], "wss is not supported"),
        (["http://127.0.0.1:1/", "--streams", "4"], "--streams is for HTTP/2"),
        (["http://127.0.0.1:1/", "--h2", "--pipeline", "4"], "with --h2 use --streams"),
        (["http://127.0.0.1:1/", "--new-conn", "--pipeline", "2"], "one request per connection"),
        (["http://127.0.0.1:1/", "--insecure"], "are for https:// URLs"),
        (["https://127.0.0.1:1/", "-k", "--cacert", "ca.pem"], "exclude each other"),
        (["https://127.0.0.1:1/", "--cacert", "/nonexistent/ca.pem"], "/nonexistent/ca.pem"),
        (["http://127.0.0.1:1/", "-d", "soon"], "bad duration"),
        (["http://127.0.0.1:1/", "-H", "no-colon"], "bad header"),
        (["http://127.0.0.1:1/", "-n", "1", "-H", "content-length: 3"], "set by covetpy bench"),
        (["http://127.0.0.1:1/", "-c", "0"], "must be at least 1"),
    ],
)
def test_bad_options_exit_2(args: list[str], message: str) -> None:
    done = bench(*args)
    assert done.returncode == 2
    assert message in done.stderr


def test_ctrl_c_ends_the_run_with_a_report(hello: RunningServer, tmp_path: Path) -> None:
    out = tmp_path / "int.json"
    proc = subprocess.Popen(
        [sys.executable, "-m", "covetpy", "bench", hello.url + "/", "-c", "2", "--rate", "200",
         "-d", "30s", "-q", "--json", str(out)],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        # A shell may start background jobs with SIGINT ignored; Python then keeps ignoring it.
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )  # fmt: skip
    assert proc.stdout is not None
    assert proc.stdout.readline().startswith("GET ")  # the run has started
    time.sleep(0.5)
    proc.send_signal(signal.SIGINT)
    stdout, stderr = proc.communicate(timeout=10)
    assert proc.returncode == 130, stderr
    report = json.loads(out.read_text())
    assert report["interrupted"] is True and report["duration_s"] < 10
    assert report["requests"] > 0 and "(interrupted)" in stdout


# HTTP/2 and TLS (issue 17): against `covetpy run --http auto`, which speaks h2c with prior
# knowledge in cleartext and offers h2 and http/1.1 by ALPN over TLS.


def _write_pki(directory: Path) -> tuple[Path, Path, Path]:
    """A CA and a server certificate for 127.0.0.1 and localhost signed by it (P-256: quick)."""
    import datetime as dt
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    now = dt.datetime.now(dt.UTC)

    def issue(
        subject: str, key: ec.EllipticCurvePrivateKey, issuer: str,
        issuer_key: ec.EllipticCurvePrivateKey, *, ca: bool,
    ) -> x509.Certificate:  # fmt: skip
        builder = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)]))
            .issuer_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, issuer)]))
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(hours=1))
            .not_valid_after(now + dt.timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        )
        if not ca:
            names = [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            builder = builder.add_extension(x509.SubjectAlternativeName(names), critical=False)
        return builder.sign(issuer_key, hashes.SHA256())

    ca_key, key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    paths = directory / "ca.pem", directory / "server.pem", directory / "server.key"
    pem = serialization.Encoding.PEM
    paths[0].write_bytes(issue("bench CA", ca_key, "bench CA", ca_key, ca=True).public_bytes(pem))
    paths[1].write_bytes(issue("localhost", key, "bench CA", ca_key, ca=False).public_bytes(pem))
    paths[2].write_bytes(
        key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return paths


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Path]:
    """(CA, server certificate, server key)."""
    return _write_pki(tmp_path_factory.mktemp("bench-pki"))


@pytest.fixture(scope="module")
def tls_hello(pki: tuple[Path, Path, Path]) -> Iterator[RunningServer]:
    _, cert, key = pki
    args = ("--http", "auto", "--ssl-certfile", str(cert), "--ssl-keyfile", str(key))
    with running_server("examples.hello:app", *args) as server:
        yield server


def _https(server: RunningServer) -> str:
    return f"https://127.0.0.1:{server.port}/"


def _report(done: subprocess.CompletedProcess[str], out: Path) -> dict[str, Any]:
    assert done.returncode == 0, done.stderr
    report: dict[str, Any] = json.loads(out.read_text())
    return report


def test_h2c_keeps_streams_in_flight(hello: RunningServer, tmp_path: Path) -> None:
    out = tmp_path / "h2c.json"
    done = bench(
        hello.url + "/", "--h2", "--streams", "8", "-c", "4", "-n", "2000", "-q",
        "--json", str(out),
    )  # fmt: skip
    report = _report(done, out)
    assert report["requests"] == 2000 and report["status_counts"] == {"200": 2000}
    assert report["errors_total"] == 0 and report["reconnects"] == 0
    assert (report["protocol"], report["tls_version"], report["streams"]) == ("h2c", None, 8)
    assert "Protocol    h2c (prior knowledge), 8 streams per connection" in done.stdout
    assert "HTTP/2, 8 streams" in done.stdout  # the line describing the run


def test_h2c_at_a_constant_rate(hello: RunningServer, tmp_path: Path) -> None:
    out = tmp_path / "h2rate.json"
    done = bench(
        hello.url + "/", "--h2", "--streams", "4", "-c", "4", "-d", "1s", "--rate", "2000",
        "-q", "--json", str(out),
    )  # fmt: skip
    report = _report(done, out)
    assert report["rate"] == 2000 and report["errors_total"] == 0
    assert report["requests_per_s"] == pytest.approx(2000, rel=0.1)


@pytest.mark.parametrize(("flags", "protocol"), [([], "HTTP/1.1"), (["--h2"], "h2")])
def test_https_verified_against_the_ca(
    tls_hello: RunningServer,
    pki: tuple[Path, Path, Path],
    tmp_path: Path,
    flags: list[str],
    protocol: str,
) -> None:
    out = tmp_path / "tls.json"
    done = bench(
        _https(tls_hello), *flags, "--cacert", str(pki[0]), "-c", "4", "-n", "1000", "-q",
        "--json", str(out),
    )  # fmt: skip
    report = _report(done, out)
    assert report["requests"] == 1000 and report["status_counts"] == {"200": 1000}
    assert report["errors_total"] == 0
    # The server defaults to TLS 1.3 (ssl_min_version).
    assert (report["protocol"], report["tls_version"]) == (protocol, "TLSv1.3")
    assert f"Protocol    {protocol} over TLSv1.3" in done.stdout
    assert report["bytes_read"] > 1000 * len("Hello, World!")


def test_new_tls_connection_per_request(
    tls_hello: RunningServer, pki: tuple[Path, Path, Path], tmp_path: Path
) -> None:
    out = tmp_path / "new.json"
    done = bench(
        _https(tls_hello), "--new-conn", "--cacert", str(pki[0]), "-c", "4", "-n", "200",
        "-q", "--json", str(out),
    )  # fmt: skip
    report = _report(done, out)
    assert report["new_conn"] is True and report["status_counts"] == {"200": 200}
    assert report["errors_total"] == 0 and report["reconnects"] == 0
    assert "a new connection per request" in done.stdout


def test_new_h2_connection_per_request(tls_hello: RunningServer, tmp_path: Path) -> None:
    out = tmp_path / "newh2.json"
    done = bench(
        _https(tls_hello), "--h2", "--new-conn", "-k", "-c", "2", "-n", "100", "-q",
        "--json", str(out),
    )  # fmt: skip
    report = _report(done, out)
    assert (report["protocol"], report["new_conn"]) == ("h2", True)
    assert report["status_counts"] == {"200": 100} and report["errors_total"] == 0


def test_untrusted_certificate_stops_the_run(tls_hello: RunningServer) -> None:
    """No --cacert: the system's CAs do not know the test CA; the run does not start."""
    done = bench(_https(tls_hello), "-c", "1", "-n", "10", "-q")
    assert done.returncode == 2
    assert "invalid peer certificate" in done.stderr and "--insecure" in done.stderr
    assert "Requests" not in done.stdout
    done = bench(_https(tls_hello), "--insecure", "-c", "1", "-n", "10", "-q")
    assert done.returncode == 0, done.stderr
    assert "Status      200: 10" in done.stdout


def test_h2_needs_the_server_to_select_it(
    start_server: StartServer, pki: tuple[Path, Path, Path]
) -> None:
    _, cert, key = pki
    server = start_server(
        "examples.hello:app", "--http", "1", "--ssl-certfile", str(cert), "--ssl-keyfile", str(key)
    )
    done = bench(_https(server), "--h2", "-k", "-c", "1", "-n", "10", "-q")
    assert done.returncode == 2
    assert "run without --h2" in done.stderr, done.stderr
