//! What a TLS handshake established about a connection, shared by its requests.

use crate::mesh::PeerIdentity;

/// A TLS connection's negotiated parameters and the client's verified identity.
#[derive(Debug, Clone, Default)]
pub struct Secure {
    /// "TLSv1.3" or "TLSv1.2".
    pub version: &'static str,
    /// The application protocol ALPN chose (`h2`, `http/1.1`), if any.
    pub alpn: Option<Box<[u8]>>,
    /// ALPN chose `h2`.
    pub h2_alpn: bool,
    /// The name the client asked for (SNI).
    pub sni: Option<Box<str>>,
    /// The client certificate's identity, when one was sent and verified (mTLS).
    pub identity: Option<PeerIdentity>,
}
