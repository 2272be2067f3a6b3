//! TLS for `https://` targets: one rustls client configuration per run, shared by every
//! connection of every thread, and the handshake each connection starts with.
//!
//! Resumption is off: every connection pays a full handshake, so `--new-conn` measures what a
//! new client costs the server, and a keep-alive run does not depend on whether the server
//! keeps tickets. The server's certificate is verified against `--cacert FILE` or the system's
//! CA bundle, or not at all with `--insecure`: then neither is the handshake signature, which
//! proves nothing without a trusted certificate and was 17% of the client's CPU per new
//! connection (an ECDSA P-256 verification, nginx, `--new-conn`, 3.7k connections/s, where the
//! client was the bottleneck).

use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use pki_types::pem::PemObject;
use pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::Resumption;
use rustls::crypto::WebPkiSupportedAlgorithms;
use rustls::{
    ClientConfig, DigitallySignedStruct, ProtocolVersion, RootCertStore, SignatureScheme,
};
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;
use tokio_rustls::TlsConnector;

use super::BenchError;

/// Where system CA bundles live (Debian/Ubuntu/Alpine, Fedora/RHEL, openSUSE, macOS and the
/// BSDs), as rustls-native-certs looks for them; `SSL_CERT_FILE` comes first.
const SYSTEM_BUNDLES: [&str; 4] = [
    "/etc/ssl/certs/ca-certificates.crt",
    "/etc/pki/tls/certs/ca-bundle.crt",
    "/etc/ssl/ca-bundle.pem",
    "/etc/ssl/cert.pem",
];

/// How the server's certificate is checked.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TlsOptions {
    /// Accept any certificate (`--insecure`).
    pub insecure: bool,
    /// Verify against the CA certificates in this PEM file (`--cacert`) instead of the
    /// system's.
    pub cacert: Option<PathBuf>,
}

impl TlsOptions {
    /// Whether anything differs from the defaults (only meaningful for `https://`).
    pub fn is_set(&self) -> bool {
        self.insecure || self.cacert.is_some()
    }
}

/// What a handshake settled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Negotiated {
    /// `TLSv1.3` or `TLSv1.2`.
    pub version: &'static str,
    /// The application protocol the server selected by ALPN, if any.
    pub alpn: Option<Vec<u8>>,
}

/// The client side of every connection's handshake.
#[derive(Clone)]
pub struct Tls {
    connector: TlsConnector,
    name: ServerName<'static>,
    /// The protocol offered by ALPN.
    alpn: Vec<u8>,
}

impl std::fmt::Debug for Tls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tls").field("name", &self.name).finish()
    }
}

impl Tls {
    /// A client for `host` (the SNI name, or an address, which sends none) offering `alpn`.
    pub fn new(opts: &TlsOptions, host: &str, alpn: &[u8]) -> Result<Tls, BenchError> {
        if opts.insecure && opts.cacert.is_some() {
            return Err(BenchError::Invalid(
                "--insecure and --cacert exclude each other".into(),
            ));
        }
        // The provider named, not the process default: that one panics when a dependency
        // enables a second provider.
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let builder = ClientConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .map_err(|e| BenchError::Invalid(format!("TLS configuration: {e}")))?;
        let mut config = if opts.insecure {
            builder
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(NoVerify(
                    provider.signature_verification_algorithms,
                )))
                .with_no_client_auth()
        } else {
            builder
                .with_root_certificates(roots(opts.cacert.as_deref())?)
                .with_no_client_auth()
        };
        config.resumption = Resumption::disabled();
        config.alpn_protocols = vec![alpn.to_vec()];
        let name = ServerName::try_from(host.to_string())
            .map_err(|_| BenchError::Invalid(format!("{host:?} is not a valid TLS server name")))?;
        Ok(Tls {
            connector: TlsConnector::from(Arc::new(config)),
            name,
            alpn: alpn.to_vec(),
        })
    }

    /// What to do about a handshake that failed with `e`, if the cause is a known one.
    pub fn hint(&self, e: &io::Error) -> &'static str {
        let text = e.to_string();
        if text.contains("certificate") {
            " (pass --cacert FILE with the CA that signed it, or --insecure)"
        } else if text.contains("NoApplicationProtocol") && self.alpn == b"h2" {
            " (the server does not speak HTTP/2 over TLS: run without --h2)"
        } else if text.contains("NoApplicationProtocol") {
            " (the server refuses HTTP/1.1 by ALPN: if it speaks only HTTP/2, add --h2)"
        } else {
            ""
        }
    }

    /// The handshake over a connected socket.
    pub async fn connect(&self, tcp: TcpStream) -> io::Result<TlsStream<TcpStream>> {
        self.connector.connect(self.name.clone(), tcp).await
    }
}

/// What the handshake of `stream` settled.
pub fn negotiated(stream: &TlsStream<TcpStream>) -> Negotiated {
    let conn = stream.get_ref().1;
    Negotiated {
        version: conn.protocol_version().map_or("TLS", version_name),
        alpn: conn.alpn_protocol().map(<[u8]>::to_vec),
    }
}

fn version_name(v: ProtocolVersion) -> &'static str {
    match v {
        ProtocolVersion::TLSv1_3 => "TLSv1.3",
        ProtocolVersion::TLSv1_2 => "TLSv1.2",
        _ => "TLS",
    }
}

/// The trust anchors: `cacert`, or the system bundle.
fn roots(cacert: Option<&Path>) -> Result<RootCertStore, BenchError> {
    let from_env = std::env::var_os("SSL_CERT_FILE").map(PathBuf::from);
    let path = match cacert {
        Some(p) => p.to_path_buf(),
        None => from_env
            .into_iter()
            .chain(SYSTEM_BUNDLES.iter().map(PathBuf::from))
            .find(|p| p.is_file())
            .ok_or_else(|| {
                BenchError::Invalid(
                    "no system CA bundle found to verify the server: pass --cacert FILE \
                     or --insecure"
                        .into(),
                )
            })?,
    };
    let shown = path.display();
    let certs = CertificateDer::pem_file_iter(&path)
        .and_then(|it| it.collect::<Result<Vec<_>, _>>())
        .map_err(|e| match e {
            pki_types::pem::Error::Io(e) => {
                BenchError::Io(format!("cannot read the CA file {shown}: {e}"), e)
            }
            e => BenchError::Invalid(format!("bad PEM in the CA file {shown}: {e:?}")),
        })?;
    let mut store = RootCertStore::empty();
    let (added, _) = store.add_parsable_certificates(certs);
    if added == 0 {
        return Err(BenchError::Invalid(format!(
            "no usable CA certificate in {shown}"
        )));
    }
    Ok(store)
}

/// `--insecure`: any certificate and any handshake signature are accepted. The provider's
/// algorithms are only what the client says it supports.
#[derive(Debug)]
struct NoVerify(WebPkiSupportedAlgorithms);

impl ServerCertVerifier for NoVerify {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        _message: &[u8],
        _cert: &CertificateDer<'_>,
        _dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        Ok(HandshakeSignatureValid::assertion())
    }

    fn verify_tls13_signature(
        &self,
        _message: &[u8],
        _cert: &CertificateDer<'_>,
        _dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        Ok(HandshakeSignatureValid::assertion())
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn insecure_and_cacert_exclude_each_other() {
        let opts = TlsOptions {
            insecure: true,
            cacert: Some("/nonexistent".into()),
        };
        let err = Tls::new(&opts, "localhost", b"h2").unwrap_err().to_string();
        assert!(err.contains("exclude each other"), "{err}");
    }

    #[test]
    fn cacert_errors_name_the_file() {
        let opts = TlsOptions {
            insecure: false,
            cacert: Some("/nonexistent/ca.pem".into()),
        };
        let err = Tls::new(&opts, "localhost", b"h2").unwrap_err();
        assert!(matches!(err, BenchError::Io(..)), "{err:?}");
        assert!(err.to_string().contains("/nonexistent/ca.pem"), "{err}");
        let dir = std::env::temp_dir().join(format!("covetpy-bench-tls-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let empty = dir.join("empty.pem");
        std::fs::write(&empty, "not a certificate\n").unwrap();
        let opts = TlsOptions {
            insecure: false,
            cacert: Some(empty.clone()),
        };
        let err = Tls::new(&opts, "localhost", b"h2").unwrap_err().to_string();
        assert!(err.contains("no usable CA certificate"), "{err}");
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn server_names_and_addresses() {
        let opts = TlsOptions {
            insecure: true,
            cacert: None,
        };
        for host in ["localhost", "127.0.0.1", "::1"] {
            Tls::new(&opts, host, b"http/1.1").unwrap();
        }
        assert!(Tls::new(&opts, "bad name!", b"h2").is_err());
    }
}
