//! One TLS handshake: bounded in time, its failure counted by reason and logged at debug
//! (garbage or plain HTTP on a TLS port is the client's mistake, not the server's news).

use std::sync::Arc;

use rustls::{Error, PeerIncompatible};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio_rustls::server::TlsStream;
use tokio_rustls::TlsAcceptor;

use crate::io::{Peer, Secure};
use crate::log::{self, Level};
use crate::metrics::{Registry, TlsFailure};
use crate::tls::{Tls, H2};

/// A connection after its handshake.
pub struct Accepted<IO> {
    /// The decrypted stream.
    pub stream: TlsStream<IO>,
    /// What was negotiated, shared by the connection's requests.
    pub secure: Arc<Secure>,
    /// ALPN chose HTTP/2.
    pub h2: bool,
}

/// Runs the server side of the handshake on `io` within the handshake timeout; None when it
/// failed (counted in `metrics` by reason; the socket is dropped, which closes it).
pub async fn accept<IO>(
    tls: &Tls,
    io: IO,
    peer: &Peer,
    metrics: Option<&Registry>,
) -> Option<Accepted<IO>>
where
    IO: AsyncRead + AsyncWrite + Unpin,
{
    let acceptor = TlsAcceptor::from(tls.config());
    let failure = match tokio::time::timeout(tls.handshake_timeout(), acceptor.accept(io)).await {
        Ok(Ok(stream)) => {
            let conn = stream.get_ref().1;
            let identity = conn
                .peer_certificates()
                .and_then(|c| c.first())
                .and_then(|c| crate::tls::identity::from_certificate(c));
            let alpn = conn.alpn_protocol().map(Box::from);
            let secure = Secure {
                version: match conn.protocol_version() {
                    Some(rustls::ProtocolVersion::TLSv1_2) => "TLSv1.2",
                    _ => "TLSv1.3",
                },
                h2_alpn: alpn.as_deref() == Some(H2),
                alpn,
                sni: conn.server_name().map(Box::from),
                identity,
            };
            let h2 = secure.h2_alpn;
            return Some(Accepted {
                stream,
                secure: Arc::new(secure),
                h2,
            });
        }
        Ok(Err(e)) => classify(&e),
        Err(_) => (TlsFailure::Timeout, "timed out".to_owned()),
    };
    let (reason, why) = failure;
    if let Some(m) = metrics {
        m.tls_failure(reason);
    }
    log::write(
        Level::Debug,
        format_args!("{peer}: TLS handshake failed ({}): {why}", reason.label()),
    );
    None
}

/// The reason label of a failed handshake, and its text.
fn classify(e: &std::io::Error) -> (TlsFailure, String) {
    let reason = match e.get_ref().and_then(|i| i.downcast_ref::<Error>()) {
        // Not a TLS record: plain HTTP, or garbage.
        Some(Error::InvalidMessage(_)) => TlsFailure::NotTls,
        Some(Error::NoCertificatesPresented) => TlsFailure::NoCertificate,
        Some(Error::InvalidCertificate(_)) => TlsFailure::BadCertificate,
        Some(Error::NoApplicationProtocol) => TlsFailure::NoAlpn,
        Some(Error::PeerIncompatible(
            PeerIncompatible::SupportedVersionsExtensionRequired
            | PeerIncompatible::Tls12NotOffered
            | PeerIncompatible::Tls12NotOfferedOrEnabled
            | PeerIncompatible::ServerDoesNotSupportTls12Or13,
        )) => TlsFailure::ProtocolVersion,
        _ => TlsFailure::Other,
    };
    (reason, e.to_string())
}
