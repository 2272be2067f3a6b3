"""A throw-away PKI for the TLS tests, written to a directory:

- `ca.pem`: the CA every other certificate chains to (the `--ssl-ca` of the mTLS tests);
- `server.pem`/`.key`: the server, for DNS `localhost` and IP 127.0.0.1 (CN "localhost");
- `other.pem`/`.key`: a second server certificate for DNS `other.test` (SNI selection);
- `client.pem`/`.key`: a client with the SPIFFE id `spiffe://cluster.local/ns/default/sa/client`
  in its URI SAN (and a DNS SAN), as a mesh workload presents it;
- `intruder.pem`/`.key`: another client of the same CA, another SPIFFE id;
- `stranger.pem`/`.key`: a client certificate from a CA the server does not trust.

Keys are P-256 (milliseconds to make); certificates are valid from an hour ago for a day.
`issue_server` makes more server certificates from the same CA (the reload tests).
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

__all__ = ["CLIENT_DNS", "CLIENT_SPIFFE_ID", "INTRUDER_SPIFFE_ID", "Pki", "make_pki"]

CLIENT_SPIFFE_ID = "spiffe://cluster.local/ns/default/sa/client"
CLIENT_DNS = "client.default.svc.cluster.local"
INTRUDER_SPIFFE_ID = "spiffe://cluster.local/ns/default/sa/intruder"


def _name(common_name: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "CovetPy TLS tests"),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


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


def pem_key(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def _write(
    directory: Path, stem: str, cert: x509.Certificate, key: ec.EllipticCurvePrivateKey
) -> tuple[Path, Path]:
    cert_path, key_path = directory / f"{stem}.pem", directory / f"{stem}.key"
    key_path.write_bytes(pem_key(key))
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return cert_path, key_path


@dataclass
class Pki:
    """Paths of the PEM files `make_pki` wrote, and what tests compare against."""

    directory: Path
    ca: Path
    server_cert: Path
    server_key: Path
    other_cert: Path
    other_key: Path
    client_cert: Path
    client_key: Path
    intruder_cert: Path
    intruder_key: Path
    stranger_cert: Path
    stranger_key: Path
    server_serial: int
    other_serial: int
    client_der: bytes  # the client certificate in DER (its sha256 is PeerIdentity.hash)
    client_subject: x509.Name
    _ca_name: x509.Name
    _ca_key: ec.EllipticCurvePrivateKey

    def issue_server(
        self,
        common_name: str,
        *,
        dns: tuple[str, ...] = ("localhost",),
        ips: tuple[str, ...] = ("127.0.0.1",),
        key: ec.EllipticCurvePrivateKey | None = None,
    ) -> tuple[bytes, bytes, int]:
        """A new server certificate from the CA: (certificate PEM, key PEM, serial)."""
        key = key or ec.generate_private_key(ec.SECP256R1())
        san: list[x509.GeneralName] = [x509.DNSName(d) for d in dns]
        san += [x509.IPAddress(ipaddress.ip_address(i)) for i in ips]
        cert = _issue(
            _name(common_name),
            key,
            self._ca_name,
            self._ca_key,
            ca=False,
            san=san,
            usage=[ExtendedKeyUsageOID.SERVER_AUTH],
        )
        return cert.public_bytes(serialization.Encoding.PEM), pem_key(key), cert.serial_number


def make_pki(directory: Path) -> Pki:
    """Writes the CA and every certificate with its key into `directory`."""
    directory.mkdir(parents=True, exist_ok=True)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = _name("CovetPy TLS test CA")
    ca = _issue(ca_name, ca_key, ca_name, ca_key, ca=True)
    ca_path = directory / "ca.pem"
    ca_path.write_bytes(ca.public_bytes(serialization.Encoding.PEM))

    def server(stem: str, cn: str, san: list[x509.GeneralName]) -> tuple[Path, Path, int]:
        key = ec.generate_private_key(ec.SECP256R1())
        cert = _issue(
            _name(cn), key, ca_name, ca_key, ca=False, san=san,
            usage=[ExtendedKeyUsageOID.SERVER_AUTH],
        )  # fmt: skip
        return (*_write(directory, stem, cert, key), cert.serial_number)

    server_cert, server_key, server_serial = server(
        "server",
        "localhost",
        [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))],
    )
    other_cert, other_key, other_serial = server(
        "other", "other.test", [x509.DNSName("other.test")]
    )

    def client(
        stem: str, cn: str, spiffe: str, issuer: x509.Name, issuer_key: ec.EllipticCurvePrivateKey
    ) -> tuple[Path, Path, x509.Certificate]:
        key = ec.generate_private_key(ec.SECP256R1())
        cert = _issue(
            _name(cn),
            key,
            issuer,
            issuer_key,
            ca=False,
            san=[x509.UniformResourceIdentifier(spiffe), x509.DNSName(CLIENT_DNS)],
            usage=[ExtendedKeyUsageOID.CLIENT_AUTH],
        )
        return (*_write(directory, stem, cert, key), cert)

    client_cert, client_key, client_x509 = client(
        "client", "client", CLIENT_SPIFFE_ID, ca_name, ca_key
    )
    intruder_cert, intruder_key, _ = client(
        "intruder", "intruder", INTRUDER_SPIFFE_ID, ca_name, ca_key
    )
    rogue_key = ec.generate_private_key(ec.SECP256R1())
    rogue_name = _name("Somebody else's CA")
    stranger_cert, stranger_key, _ = client(
        "stranger", "stranger", CLIENT_SPIFFE_ID, rogue_name, rogue_key
    )
    return Pki(
        directory=directory,
        ca=ca_path,
        server_cert=server_cert,
        server_key=server_key,
        other_cert=other_cert,
        other_key=other_key,
        client_cert=client_cert,
        client_key=client_key,
        intruder_cert=intruder_cert,
        intruder_key=intruder_key,
        stranger_cert=stranger_cert,
        stranger_key=stranger_key,
        server_serial=server_serial,
        other_serial=other_serial,
        client_der=client_x509.public_bytes(serialization.Encoding.DER),
        client_subject=client_x509.subject,
        _ca_name=ca_name,
        _ca_key=ca_key,
    )
