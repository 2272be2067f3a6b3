//! Service-mesh headers, parsed without Python: trusted proxies, client certificates, trace context, deadlines.

pub mod deadline;
pub mod forwarded;
pub mod trace;
pub mod xfcc;

/// Strips optional whitespace (SP, HTAB) from both ends of a field value or list element
/// (RFC 9110 §5.6.3).
fn trim_ows(mut s: &[u8]) -> &[u8] {
    while let [b' ' | b'\t', rest @ ..] = s {
        s = rest;
    }
    while let [rest @ .., b' ' | b'\t'] = s {
        s = rest;
    }
    s
}
