//! Where credentials are read from a request head: `Authorization: Bearer`, a cookie, a
//! `Sec-WebSocket-Protocol` entry, an API-key header or query parameter. Reading never
//! allocates; a value is a slice of the head.

use crate::protocol::h1::RequestHead;

/// `Authorization: Bearer <token>` in header `name` (RFC 6750 §2.1; the scheme name is
/// case-insensitive, RFC 9110 §11.1). A header with another scheme (Basic, say) is not this
/// layer's credential: None.
pub fn bearer<'h>(head: &'h RequestHead, name: &str) -> Option<&'h [u8]> {
    let value = head.header(name)?;
    let value = trim(value);
    if value.len() < 7 || !value[..6].eq_ignore_ascii_case(b"bearer") || value[6] != b' ' {
        return None;
    }
    let token = trim(&value[7..]);
    (!token.is_empty()).then_some(token)
}

/// The value of cookie `name` (RFC 6265 §5.4: `a=b; c=d`, in one or more Cookie fields).
pub fn cookie<'h>(head: &'h RequestHead, name: &str) -> Option<&'h [u8]> {
    head.headers()
        .filter(|(n, _)| n.eq_ignore_ascii_case(b"cookie"))
        .flat_map(|(_, v)| v.split(|&b| b == b';'))
        .find_map(|pair| {
            let pair = trim(pair);
            let eq = pair.iter().position(|&b| b == b'=')?;
            (trim(&pair[..eq]) == name.as_bytes()).then(|| trim(&pair[eq + 1..]))
        })
        .filter(|v| !v.is_empty())
}

/// The first `Sec-WebSocket-Protocol` entry starting with `prefix`, without the prefix
/// (RFC 6455 §11.3.4: a comma-separated list of tokens).
pub fn ws_protocol<'h>(head: &'h RequestHead, prefix: &str) -> Option<&'h [u8]> {
    head.headers()
        .filter(|(n, _)| n.eq_ignore_ascii_case(b"sec-websocket-protocol"))
        .flat_map(|(_, v)| v.split(|&b| b == b','))
        .map(trim)
        .find(|p| p.len() > prefix.len() && p.starts_with(prefix.as_bytes()))
        .map(|p| &p[prefix.len()..])
}

/// A header's whole value, trimmed.
pub fn header<'h>(head: &'h RequestHead, name: &str) -> Option<&'h [u8]> {
    head.header(name).map(trim).filter(|v| !v.is_empty())
}

/// The raw (still percent-encoded) value of query parameter `name`.
pub fn query<'h>(head: &'h RequestHead, name: &str) -> Option<&'h [u8]> {
    head.query()?
        .split(|&b| b == b'&')
        .find_map(|pair| {
            let eq = pair.iter().position(|&b| b == b'=').unwrap_or(pair.len());
            (&pair[..eq] == name.as_bytes()).then(|| pair.get(eq + 1..).unwrap_or(b""))
        })
        .filter(|v| !v.is_empty())
}

fn trim(v: &[u8]) -> &[u8] {
    let start = v
        .iter()
        .position(|b| !b.is_ascii_whitespace())
        .unwrap_or(v.len());
    let end = v
        .iter()
        .rposition(|b| !b.is_ascii_whitespace())
        .map_or(start, |e| e + 1);
    &v[start..end]
}
