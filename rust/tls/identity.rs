//! A verified client certificate as the same [`PeerIdentity`] the XFCC header gives: handlers
//! and `require_identity` see one type whether the sidecar or this server checked the
//! certificate.

use x509_parser::extensions::GeneralName;

use crate::mesh::PeerIdentity;

/// The identity in `der` (the client's end-entity certificate, already verified by rustls):
/// URI SANs (the first is the SPIFFE ID when it is the only one), DNS SANs, the subject, and
/// the SHA-256 of the DER in hex, as Envoy's `Hash`. None if it does not parse, which rustls'
/// verification makes impossible in practice.
pub fn from_certificate(der: &[u8]) -> Option<PeerIdentity> {
    let (_, cert) = x509_parser::parse_x509_certificate(der).ok()?;
    let mut id = PeerIdentity {
        subject: Some(cert.subject().to_string()).filter(|s| !s.is_empty()),
        hash: Some(hex(aws_lc_rs::digest::digest(
            &aws_lc_rs::digest::SHA256,
            der,
        )
        .as_ref())),
        ..PeerIdentity::default()
    };
    if let Ok(Some(san)) = cert.subject_alternative_name() {
        for name in &san.value.general_names {
            match name {
                GeneralName::URI(u) if id.uri.is_none() => id.uri = Some((*u).to_owned()),
                GeneralName::URI(u) => id.extra_uris.push((*u).to_owned()),
                GeneralName::DNSName(d) => id.dns.push((*d).to_owned()),
                _ => {}
            }
        }
    }
    Some(id)
}

/// The DNS names a server certificate answers for (its SAN DNS entries), lower-cased: the
/// SNI names it is chosen for.
pub fn dns_names(der: &[u8]) -> Vec<String> {
    let Ok((_, cert)) = x509_parser::parse_x509_certificate(der) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    if let Ok(Some(san)) = cert.subject_alternative_name() {
        for name in &san.value.general_names {
            if let GeneralName::DNSName(d) = name {
                out.push(d.to_ascii_lowercase());
            }
        }
    }
    out
}

fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    bytes.iter().fold(String::with_capacity(64), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}
