//! Envoy's `x-forwarded-client-cert` (XFCC): what the proxies in front learnt from the client
//! certificates they saw. Format as in Envoy's "HTTP header manipulation" docs
//! (`x-forwarded-client-cert`): elements separated by `,`, one per proxy, each appended by
//! the proxy that saw that certificate; an element is `;`-separated `Key=Value` pairs, keys
//! case-insensitive, values double-quoted when they contain `,`, `;` or `=`, with `"` written
//! `\"` inside quotes.
//!
//! Only believe this header from a trusted peer (the sidecar): anyone can send it.
//!
//! `Cert` and `Chain` (URL-encoded PEM) are checked for syntax but not kept: they are large,
//! `Hash` already identifies the certificate, and nothing here verifies a chain. Code that needs
//! the PEM can read the raw header. Unknown keys are skipped, so later Envoy keys do not break
//! parsing.

use std::fmt;

/// Longest header accepted.
pub const MAX_LEN: usize = 16 * 1024;

/// Most elements (proxies) accepted.
pub const MAX_ELEMENTS: usize = 16;

/// One XFCC element: a client certificate as one proxy saw it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PeerIdentity {
    /// `By`: the SAN (URI or DNS) of the proxy's own certificate.
    pub by: Option<String>,
    /// `Hash`: SHA-256 of the client certificate, hex.
    pub hash: Option<String>,
    /// `Subject`: the client certificate's subject, as Envoy prints it.
    pub subject: Option<String>,
    /// `URI`: the client certificate's (first) URI SAN.
    pub uri: Option<String>,
    /// Further `URI` pairs: Envoy writes one per URI SAN. A certificate with several is not a
    /// SPIFFE SVID, so [`PeerIdentity::spiffe_id`] is `None` when this is not empty.
    pub extra_uris: Vec<String>,
    /// `DNS`: the client certificate's DNS SANs, in order (one pair each).
    pub dns: Vec<String>,
}

impl PeerIdentity {
    /// The SPIFFE ID: the URI SAN when it is the only one and starts with `spiffe://`
    /// (SPIFFE X.509-SVID §2: exactly one URI SAN).
    pub fn spiffe_id(&self) -> Option<&str> {
        let uri = self.uri.as_deref()?;
        (self.extra_uris.is_empty() && uri.starts_with("spiffe://")).then_some(uri)
    }
}

/// Why an XFCC header was rejected (the whole header is, never part of it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum XfccError {
    /// Over [`MAX_LEN`] bytes; carries the length.
    TooLong(usize),
    /// Over [`MAX_ELEMENTS`] elements.
    TooManyElements,
    /// A pair without `=`; carries the byte offset of the pair.
    MissingEquals(usize),
    /// `=Value` with no key; carries the byte offset of the pair.
    EmptyKey(usize),
    /// A quoted value with no closing quote; carries the offset of the opening quote.
    UnterminatedQuote(usize),
    /// Something other than `,` or `;` after a closing quote; carries its offset.
    AfterQuote(usize),
    /// A `"` inside an unquoted value; carries its offset.
    StrayQuote(usize),
    /// A control character; carries its offset.
    ControlChar(usize),
    /// A value that is not UTF-8; carries the offset of the pair.
    NotUtf8(usize),
    /// `By`, `Hash` or `Subject` twice in one element; carries the key as written.
    DuplicateKey(String),
}

impl fmt::Display for XfccError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            XfccError::TooLong(n) => write!(f, "header of {n} bytes is over {MAX_LEN}"),
            XfccError::TooManyElements => write!(f, "more than {MAX_ELEMENTS} elements"),
            XfccError::MissingEquals(at) => write!(f, "pair without '=' at byte {at}"),
            XfccError::EmptyKey(at) => write!(f, "empty key at byte {at}"),
            XfccError::UnterminatedQuote(at) => write!(f, "unterminated quote at byte {at}"),
            XfccError::AfterQuote(at) => write!(f, "unexpected byte after quoted value at {at}"),
            XfccError::StrayQuote(at) => write!(f, "'\"' inside an unquoted value at byte {at}"),
            XfccError::ControlChar(at) => write!(f, "control character at byte {at}"),
            XfccError::NotUtf8(at) => write!(f, "value at byte {at} is not UTF-8"),
            XfccError::DuplicateKey(k) => write!(f, "key {k:?} twice in one element"),
        }
    }
}

impl std::error::Error for XfccError {}

/// Parses a whole XFCC value (several header lines joined with `,`), first element first.
/// Empty elements and empty pairs are skipped; empty values count as absent (Istio sends
/// `Subject=""` for a certificate without a subject).
pub fn parse(v: &[u8]) -> Result<Vec<PeerIdentity>, XfccError> {
    if v.len() > MAX_LEN {
        return Err(XfccError::TooLong(v.len()));
    }
    if let Some(at) = v
        .iter()
        .position(|&b| (b < 0x20 && b != b'\t') || b == 0x7f)
    {
        return Err(XfccError::ControlChar(at));
    }
    let mut out = Vec::new();
    let mut el = PeerIdentity::default();
    let mut pairs = 0;
    let mut i = 0;
    loop {
        while matches!(v.get(i), Some(b' ' | b'\t')) {
            i += 1;
        }
        match v.get(i) {
            None | Some(b',') => {
                if pairs > 0 {
                    if out.len() == MAX_ELEMENTS {
                        return Err(XfccError::TooManyElements);
                    }
                    let mut done = std::mem::take(&mut el);
                    for slot in [&mut done.by, &mut done.hash, &mut done.subject] {
                        if slot.as_deref() == Some("") {
                            *slot = None;
                        }
                    }
                    out.push(done);
                    pairs = 0;
                }
                if i == v.len() {
                    return Ok(out);
                }
                i += 1;
            }
            Some(b';') => i += 1,
            Some(_) => {
                let (key, value, next) = pair(v, i)?;
                set(&mut el, key, value)?;
                pairs += 1;
                i = next;
            }
        }
    }
}

/// The element the nearest proxy added (the last one): the certificate the client presented
/// to it. `None` if the header does not parse or is empty.
pub fn nearest(v: &[u8]) -> Option<PeerIdentity> {
    parse(v).ok()?.pop()
}

/// Reads `Key=Value` at `start`; returns the key, the unquoted value and the offset of the
/// `,`/`;` that ends it (or the end).
fn pair(v: &[u8], start: usize) -> Result<(&[u8], String, usize), XfccError> {
    let eq = start
        + v[start..]
            .iter()
            .position(|&b| matches!(b, b'=' | b',' | b';'))
            .filter(|&n| v[start + n] == b'=')
            .ok_or(XfccError::MissingEquals(start))?;
    let key = super::trim_ows(&v[start..eq]);
    if key.is_empty() {
        return Err(XfccError::EmptyKey(start));
    }
    let mut i = eq + 1;
    let value: Vec<u8> = if v.get(i) == Some(&b'"') {
        let open = i;
        let mut out = Vec::new();
        i += 1;
        loop {
            match v.get(i) {
                None => return Err(XfccError::UnterminatedQuote(open)),
                // Envoy escapes only `"`; any other backslash is part of the value (a
                // Subject may hold RFC 4514 escapes such as `\,`).
                Some(b'\\') if v.get(i + 1) == Some(&b'"') => {
                    out.push(b'"');
                    i += 2;
                }
                Some(b'"') => break,
                Some(&b) => {
                    out.push(b);
                    i += 1;
                }
            }
        }
        i += 1;
        while matches!(v.get(i), Some(b' ' | b'\t')) {
            i += 1;
        }
        if !matches!(v.get(i), None | Some(b',' | b';')) {
            return Err(XfccError::AfterQuote(i));
        }
        out
    } else {
        let end = v[i..]
            .iter()
            .position(|&b| matches!(b, b',' | b';'))
            .map_or(v.len(), |n| i + n);
        let raw = super::trim_ows(&v[i..end]);
        if let Some(q) = raw.iter().position(|&b| b == b'"') {
            return Err(XfccError::StrayQuote(i + q));
        }
        i = end;
        raw.to_vec()
    };
    let value = String::from_utf8(value).map_err(|_| XfccError::NotUtf8(start))?;
    Ok((key, value, i))
}

fn set(el: &mut PeerIdentity, key: &[u8], value: String) -> Result<(), XfccError> {
    let slot = match key.to_ascii_lowercase().as_slice() {
        b"by" => &mut el.by,
        b"hash" => &mut el.hash,
        b"subject" => &mut el.subject,
        // Several URI and DNS SANs are one pair each; an empty one names nothing.
        b"uri" | b"dns" if value.is_empty() => return Ok(()),
        b"uri" if el.uri.is_some() => {
            el.extra_uris.push(value);
            return Ok(());
        }
        b"uri" => &mut el.uri,
        b"dns" => {
            el.dns.push(value);
            return Ok(());
        }
        // Checked above like any value, not kept (see the module doc); unknown keys skipped.
        _ => return Ok(()),
    };
    if slot.replace(value).is_some() {
        return Err(XfccError::DuplicateKey(
            String::from_utf8_lossy(key).into_owned(),
        ));
    }
    Ok(())
}

#[cfg(test)]
#[path = "xfcc_tests.rs"]
mod tests;
