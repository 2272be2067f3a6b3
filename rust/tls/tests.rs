//! TLS without sockets: handshakes over in-memory pipes against certificates made here.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use rcgen::{BasicConstraints, Certificate, CertificateParams, IsCa, KeyPair, SanType};
use rustls::pki_types::{CertificateDer, ServerName};

use super::{accept, Tls};
use crate::config::{ClientVerify, HttpVersions, TlsConfig};
use crate::io::Peer;

struct Pki {
    ca: Certificate,
    ca_key: KeyPair,
    dir: PathBuf,
}

impl Pki {
    fn new(tag: &str) -> Pki {
        let ca_key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        let ca = params.self_signed(&ca_key).unwrap();
        let dir =
            std::env::temp_dir().join(format!("covetpy-tls-unit-{}-{tag}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("ca.pem"), ca.pem()).unwrap();
        Pki { ca, ca_key, dir }
    }

    /// A leaf for `names` (DNS) and `uri` (a URI SAN), written as NAME.pem / NAME.key.
    fn leaf(
        &self,
        file: &str,
        names: &[&str],
        uri: Option<&str>,
    ) -> (PathBuf, PathBuf, CertificateDer<'static>) {
        let key = KeyPair::generate().unwrap();
        let mut params =
            CertificateParams::new(names.iter().map(|n| n.to_string()).collect::<Vec<_>>())
                .unwrap();
        if let Some(u) = uri {
            params
                .subject_alt_names
                .push(SanType::URI(u.try_into().unwrap()));
        }
        let cert = params.signed_by(&key, &self.ca, &self.ca_key).unwrap();
        let (c, k) = (
            self.dir.join(format!("{file}.pem")),
            self.dir.join(format!("{file}.key")),
        );
        std::fs::write(&c, cert.pem()).unwrap();
        std::fs::write(&k, key.serialize_pem()).unwrap();
        (c, k, cert.der().clone())
    }

    fn config(&self, certs: Vec<(PathBuf, PathBuf)>, verify: ClientVerify) -> TlsConfig {
        TlsConfig {
            certs,
            ca: (verify != ClientVerify::Off).then(|| self.dir.join("ca.pem")),
            client_verify: verify,
            allow_tls12: false,
            handshake_timeout: Duration::from_secs(10),
            reload_interval: None,
        }
    }

    fn client(&self, identity: Option<(&PathBuf, &PathBuf)>) -> rustls::ClientConfig {
        use pki_types::pem::PemObject;
        let mut roots = rustls::RootCertStore::empty();
        roots.add(self.ca.der().clone()).unwrap();
        let b = rustls::ClientConfig::builder().with_root_certificates(roots);
        let mut cfg = match identity {
            None => b.with_no_client_auth(),
            Some((c, k)) => b
                .with_client_auth_cert(
                    vec![CertificateDer::from_pem_file(c).unwrap()],
                    pki_types::PrivateKeyDer::from_pem_file(k).unwrap(),
                )
                .unwrap(),
        };
        cfg.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        cfg
    }
}

impl Drop for Pki {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// One handshake over an in-memory pipe: the certificate the client saw (None if it failed),
/// and what the server learnt.
fn handshake(
    tls: &Tls,
    client: rustls::ClientConfig,
    sni: &str,
) -> (
    Option<CertificateDer<'static>>,
    Option<Arc<crate::io::Secure>>,
) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let (c, s) = tokio::io::duplex(64 * 1024);
        let peer = Peer::Unix;
        let server = async {
            let a = accept(tls, s, &peer, None).await?;
            // Keep the stream until the client is done with its side.
            Some((a.secure, a.stream))
        };
        let connector = tokio_rustls::TlsConnector::from(Arc::new(client));
        let name = ServerName::try_from(sni.to_owned()).unwrap();
        let client = async {
            let s = connector.connect(name, c).await.ok()?;
            let cert = s.get_ref().1.peer_certificates()?.first()?.clone();
            // TLS 1.3: the server learns of a refused client certificate after the client's
            // Finished; a read shows whether the server kept the connection.
            Some((cert, s))
        };
        let (server, client) = tokio::join!(server, client);
        (client.map(|c| c.0), server.map(|s| s.0))
    })
}

#[test]
fn sni_picks_the_certificate_naming_the_host_and_the_first_serves_the_rest() {
    let pki = Pki::new("sni");
    let (a, ak, a_der) = pki.leaf("a", &["a.test"], None);
    let (b, bk, b_der) = pki.leaf("b", &["*.b.test"], None);
    let tls = Tls::new(
        &pki.config(vec![(a, ak), (b, bk)], ClientVerify::Off),
        HttpVersions::Auto,
    )
    .unwrap();
    assert_eq!(
        handshake(&tls, pki.client(None), "a.test").0,
        Some(a_der.clone())
    );
    assert_eq!(handshake(&tls, pki.client(None), "x.b.test").0, Some(b_der));
    // Unknown name: the default certificate, which the client then refuses (wrong name).
    assert_eq!(handshake(&tls, pki.client(None), "other.test").0, None);
    let (_, secure) = handshake(&tls, pki.client(None), "a.test");
    let secure = secure.unwrap();
    assert_eq!(secure.version, "TLSv1.3");
    assert!(secure.h2_alpn);
    assert_eq!(secure.sni.as_deref(), Some("a.test"));
    assert!(secure.identity.is_none());
}

#[test]
fn a_verified_client_certificate_is_the_peer_identity() {
    let pki = Pki::new("mtls");
    let (s, sk, _) = pki.leaf("server", &["localhost"], None);
    let spiffe = "spiffe://cluster.local/ns/default/sa/client";
    let (c, ck, _) = pki.leaf("client", &["client.test"], Some(spiffe));
    let tls = Tls::new(
        &pki.config(vec![(s, sk)], ClientVerify::Required),
        HttpVersions::Auto,
    )
    .unwrap();
    let (seen, secure) = handshake(&tls, pki.client(Some((&c, &ck))), "localhost");
    assert!(seen.is_some());
    let id = secure.unwrap().identity.clone().unwrap();
    assert_eq!(id.spiffe_id(), Some(spiffe));
    assert_eq!(id.dns, vec!["client.test".to_owned()]);
    assert_eq!(id.hash.as_ref().map(String::len), Some(64));
    // Required: a client without a certificate gets no connection.
    let (_, secure) = handshake(&tls, pki.client(None), "localhost");
    assert!(secure.is_none());
}

#[test]
fn optional_client_certificates_let_anonymous_clients_in() {
    let pki = Pki::new("optional");
    let (s, sk, _) = pki.leaf("server", &["localhost"], None);
    let tls = Tls::new(
        &pki.config(vec![(s, sk)], ClientVerify::Optional),
        HttpVersions::Auto,
    )
    .unwrap();
    let (_, secure) = handshake(&tls, pki.client(None), "localhost");
    assert!(secure.unwrap().identity.is_none());
}

#[test]
fn changed_files_are_reloaded_and_a_bad_one_keeps_the_previous_certificate() {
    let pki = Pki::new("reload");
    let (c, k, first) = pki.leaf("live", &["localhost"], None);
    let tls = Tls::new(
        &pki.config(vec![(c.clone(), k.clone())], ClientVerify::Off),
        HttpVersions::Auto,
    )
    .unwrap();
    assert!(!tls.reload_if_changed(), "nothing changed yet");
    // A rotation (cert-manager writes both files).
    let (_, _, second) = pki.leaf("live", &["localhost"], None);
    assert_ne!(first, second);
    assert!(tls.reload_if_changed());
    assert_eq!(
        handshake(&tls, pki.client(None), "localhost").0,
        Some(second.clone())
    );
    // A broken write: the previous certificate stays in service.
    std::fs::write(&c, "not a certificate").unwrap();
    assert!(tls.reload_if_changed());
    assert_eq!(
        handshake(&tls, pki.client(None), "localhost").0,
        Some(second)
    );
}

#[test]
fn bad_files_fail_start_up_naming_the_file() {
    let pki = Pki::new("bad");
    let (c, k, _) = pki.leaf("one", &["localhost"], None);
    let (_, other_key, _) = pki.leaf("two", &["localhost"], None);
    let missing = pki.dir.join("missing.pem");
    let e = Tls::new(
        &pki.config(vec![(missing.clone(), k.clone())], ClientVerify::Off),
        HttpVersions::Auto,
    )
    .err()
    .unwrap();
    assert!(e.contains("missing.pem"), "{e}");
    let e = Tls::new(
        &pki.config(vec![(c, other_key)], ClientVerify::Off),
        HttpVersions::Auto,
    )
    .err()
    .unwrap();
    assert!(e.contains("two.key") && e.contains("one.pem"), "{e}");
}

#[test]
fn tls12_is_refused_unless_allowed() {
    let pki = Pki::new("v12");
    let (c, k, _) = pki.leaf("s", &["localhost"], None);
    let mut cfg = pki.config(vec![(c, k)], ClientVerify::Off);
    let tls = Tls::new(&cfg, HttpVersions::Auto).unwrap();
    let only12 = |pki: &Pki| {
        let mut roots = rustls::RootCertStore::empty();
        roots.add(pki.ca.der().clone()).unwrap();
        rustls::ClientConfig::builder_with_protocol_versions(&[&rustls::version::TLS12])
            .with_root_certificates(roots)
            .with_no_client_auth()
    };
    assert!(handshake(&tls, only12(&pki), "localhost").1.is_none());
    cfg.allow_tls12 = true;
    let tls = Tls::new(&cfg, HttpVersions::Auto).unwrap();
    let (_, secure) = handshake(&tls, only12(&pki), "localhost");
    assert_eq!(secure.unwrap().version, "TLSv1.2");
}
