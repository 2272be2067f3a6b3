//! Reading the certificate, key and CA files into a rustls `ServerConfig`: several
//! certificates chosen by SNI, TLS 1.3 (and 1.2 when allowed), ALPN, session resumption, and
//! client certificates verified against the CA.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use pki_types::pem::PemObject;
use pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::{ClientHello, ProducesTickets, ResolvesServerCert, WebPkiClientVerifier};
use rustls::sign::CertifiedKey;
use rustls::{RootCertStore, ServerConfig};

use crate::config::{ClientVerify, TlsConfig};
use crate::tls::identity;

/// Stateful sessions remembered per worker for TLS 1.2 resumption and TLS 1.3 clients that do
/// not take tickets; 4096 entries of ~200 bytes.
const SESSION_CACHE: usize = 4096;

/// A certificate for each SNI name, and the first as the default.
#[derive(Debug)]
struct BySni {
    names: HashMap<String, Arc<CertifiedKey>>,
    /// `*.example.com` certificates, by the suffix `example.com`.
    wildcards: HashMap<String, Arc<CertifiedKey>>,
    default: Arc<CertifiedKey>,
}

impl ResolvesServerCert for BySni {
    fn resolve(&self, hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        let Some(name) = hello.server_name() else {
            return Some(self.default.clone());
        };
        // rustls gives the SNI name lower-cased already (RFC 6066 §3: DNS names are
        // case-insensitive); a wildcard covers exactly one label (RFC 6125 §6.4.3).
        let wild = || {
            let (_, rest) = name.split_once('.')?;
            self.wildcards.get(rest)
        };
        Some(
            self.names
                .get(name)
                .or_else(wild)
                .unwrap_or(&self.default)
                .clone(),
        )
    }
}

fn read_certs(path: &Path) -> Result<Vec<CertificateDer<'static>>, String> {
    let certs = CertificateDer::pem_file_iter(path)
        .map_err(|e| format!("{}: {e}", path.display()))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("{}: {e}", path.display()))?;
    if certs.is_empty() {
        return Err(format!("{}: no PEM certificate in it", path.display()));
    }
    Ok(certs)
}

fn read_key(path: &Path) -> Result<PrivateKeyDer<'static>, String> {
    PrivateKeyDer::from_pem_file(path).map_err(|e| format!("{}: {e}", path.display()))
}

/// One certificate chain with its key, checked to belong together.
fn certified(cert: &Path, key: &Path) -> Result<CertifiedKey, String> {
    let chain = read_certs(cert)?;
    let der = read_key(key)?;
    let signer = rustls::crypto::aws_lc_rs::sign::any_supported_type(&der)
        .map_err(|e| format!("{}: {e}", key.display()))?;
    let ck = CertifiedKey::new(chain, signer);
    ck.keys_match().map_err(|e| {
        format!(
            "{} does not belong to {}: {e}",
            key.display(),
            cert.display()
        )
    })?;
    Ok(ck)
}

/// Builds the server's TLS config from the files of `cfg`, offering `alpn` (in preference
/// order). `tickets` is the ticket key, kept across reloads so that tickets issued before a
/// certificate rotation still resume. The error names the file at fault.
pub fn server_config(
    cfg: &TlsConfig,
    alpn: &[&[u8]],
    tickets: Arc<dyn ProducesTickets>,
) -> Result<ServerConfig, String> {
    let mut names = HashMap::new();
    let mut wildcards = HashMap::new();
    let mut default = None;
    for (cert, key) in &cfg.certs {
        let ck = Arc::new(certified(cert, key)?);
        for name in identity::dns_names(ck.end_entity_cert().map_err(|e| e.to_string())?) {
            match name.strip_prefix("*.") {
                Some(rest) => wildcards.entry(rest.to_owned()),
                None => names.entry(name),
            }
            // The first certificate naming a host keeps it.
            .or_insert_with(|| ck.clone());
        }
        default.get_or_insert(ck);
    }
    let default = default.ok_or("ssl_certfile names no file")?;
    let versions: &[&rustls::SupportedProtocolVersion] = if cfg.allow_tls12 {
        &[&rustls::version::TLS13, &rustls::version::TLS12]
    } else {
        &[&rustls::version::TLS13]
    };
    let builder = ServerConfig::builder_with_protocol_versions(versions);
    let builder = match (&cfg.ca, cfg.client_verify) {
        (Some(ca), verify) if verify != ClientVerify::Off => {
            let mut roots = RootCertStore::empty();
            for c in read_certs(ca)? {
                roots.add(c).map_err(|e| format!("{}: {e}", ca.display()))?;
            }
            let v = WebPkiClientVerifier::builder(Arc::new(roots));
            let v = if verify == ClientVerify::Optional {
                v.allow_unauthenticated()
            } else {
                v
            };
            let v = v.build().map_err(|e| format!("{}: {e}", ca.display()))?;
            builder.with_client_cert_verifier(v)
        }
        _ => builder.with_no_client_auth(),
    };
    let mut config = builder.with_cert_resolver(Arc::new(BySni {
        names,
        wildcards,
        default,
    }));
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    config.session_storage = rustls::server::ServerSessionMemoryCache::new(SESSION_CACHE);
    config.ticketer = tickets;
    // Tickets are per worker process (a client that comes back to another worker does a full
    // handshake); 0.5-RTT data and early data stay off: replayable requests are not ours to
    // allow.
    Ok(config)
}
