"""A throw-away PKI for the mesh tests: one CA, a server certificate for 127.0.0.1/localhost
(Envoy's downstream TLS listener) and a client certificate carrying a SPIFFE identity in its
URI SAN, the shape an Istio sidecar presents (so x-forwarded-client-cert has a `URI=` part).

Keys are P-256 (fast to generate: the whole set takes milliseconds); certificates are valid
from an hour ago (clock skew) for a day.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

__all__ = ["CLIENT_DNS", "CLIENT_SPIFFE_ID", "Pki", "make_pki"]

CLIENT_SPIFFE_ID = "spiffe://cluster.local/ns/shop/sa/frontend"
CLIENT_DNS = "frontend.shop.svc.cluster.local"


@dataclass(frozen=True)
class Pki:
    """Paths of the PEM files written by `make_pki`."""

    ca_cert: Path
    server_cert: Path
    server_key: Path
    client_cert: Path
    client_key: Path
    client_subject: str  # RFC 4514 string, as Envoy writes it in `Subject="..."`


def _name(common_name: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "CovetPy tests"),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


def _write(path: Path, cert: x509.Certificate, key: ec.EllipticCurvePrivateKey) -> Path:
    path.with_suffix(".key").write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return path


def _issue(
    subject: x509.Name,
    key: ec.EllipticCurvePrivateKey,
    issuer: x509.Name,
    issuer_key: ec.EllipticCurvePrivateKey,
    *,
    ca: bool,
    san: list[x509.GeneralName] | None = None,
    usage: list[x509.ObjectIdentifier] | None = None,
) -> x509.Certificate:
    now = dt.datetime.now(dt.UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(hours=1))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
    )
    if ca:
        builder = builder.add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
    else:
        builder = builder.add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_key.public_key()),
            critical=False,
        )
    if san:
        builder = builder.add_extension(x509.SubjectAlternativeName(san), critical=False)
    if usage:
        builder = builder.add_extension(x509.ExtendedKeyUsage(usage), critical=False)
    return builder.sign(issuer_key, hashes.SHA256())


def make_pki(directory: Path) -> Pki:
    """Writes a CA, a server and a client certificate (with keys) into `directory`."""
    directory.mkdir(parents=True, exist_ok=True)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = _name("CovetPy test CA")
    ca = _issue(ca_name, ca_key, ca_name, ca_key, ca=True)

    server_key = ec.generate_private_key(ec.SECP256R1())
    server = _issue(
        _name("localhost"),
        server_key,
        ca_name,
        ca_key,
        ca=False,
        san=[x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))],
        usage=[ExtendedKeyUsageOID.SERVER_AUTH],
    )

    client_key = ec.generate_private_key(ec.SECP256R1())
    client_name = _name("frontend")
    client = _issue(
        client_name,
        client_key,
        ca_name,
        ca_key,
        ca=False,
        san=[
            x509.UniformResourceIdentifier(CLIENT_SPIFFE_ID),
            x509.DNSName(CLIENT_DNS),
        ],
        usage=[ExtendedKeyUsageOID.CLIENT_AUTH],
    )

    ca_path = directory / "ca.pem"
    ca_path.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    server_path = _write(directory / "server.pem", server, server_key)
    client_path = _write(directory / "client.pem", client, client_key)
    return Pki(
        ca_cert=ca_path,
        server_cert=server_path,
        server_key=server_path.with_suffix(".key"),
        client_cert=client_path,
        client_key=client_path.with_suffix(".key"),
        client_subject=client_name.rfc4514_string(),
    )
