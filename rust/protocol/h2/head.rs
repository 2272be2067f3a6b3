//! An HTTP/2 request's header fields as a [`RequestHead`], so every stage of the pipeline
//! (probes, middleware, router, bridge, hosting) reads an HTTP/2 request exactly as an
//! HTTP/1.1 one; and the response's header block as HTTP/2 fields.
//!
//! The fields are written out as an HTTP/1.1 head and parsed by the same parser: one set of
//! field checks and limits for both protocols, at ~0.3 µs per request (`benches/rust`), and
//! the head stays one contiguous buffer that the bridge slices without copying. The `h2`
//! crate has already refused what RFC 9113 §8.2-8.3 calls malformed (connection-specific
//! fields, uppercase names, bad pseudo-header fields) with a stream error.

use bytes::{BufMut, BytesMut};
use http::header::{HeaderMap, HeaderName, HeaderValue};
use http::request::Parts;

use crate::protocol::h1::{parse_head, Limits, ProtoError, RequestHead};

/// Why an HTTP/2 request could not become a head.
#[derive(Debug, PartialEq, Eq)]
pub enum HeadError {
    /// The parser's verdict (status and reason as for HTTP/1.1).
    Proto(ProtoError),
    /// `:authority` and `host` both missing (RFC 9113 §8.3.1: one must be there for http and
    /// https).
    NoAuthority,
}

/// The request's head: `:method`, `:path` and `:authority` (as `host`, RFC 9113 §8.3.1) with
/// the regular fields, `cookie` fields joined with "; " (§8.2.3), checked against `limits`.
pub fn request_head(parts: &Parts, limits: &Limits) -> Result<RequestHead, HeadError> {
    let path = parts
        .uri
        .path_and_query()
        .map(|p| p.as_str())
        .unwrap_or("/");
    // A CONNECT request's target is its authority (RFC 9113 §8.5).
    let target = if parts.method == http::Method::CONNECT {
        parts.uri.authority().map_or("", |a| a.as_str())
    } else {
        path
    };
    head(parts, limits, parts.method.as_str(), target, &[])
}

/// The head of an extended CONNECT that opens a WebSocket (RFC 8441 §4-5: `:protocol
/// websocket`; the caller has checked it): the `GET` of `:path` an HTTP/1.1 client would have
/// sent, so the router, the middleware and the handler read it as one, with `:protocol` said
/// as `upgrade: websocket`. No other HTTP/2 request can carry that field (connection-specific,
/// RFC 9113 §8.2.2: the `h2` crate refuses it as malformed), so an HTTP/2 head that has it is
/// this one: `ws::handshake::check` and the middleware's `is_upgrade` tell a WebSocket
/// request by it under both protocols.
pub fn websocket_head(parts: &Parts, limits: &Limits) -> Result<RequestHead, HeadError> {
    // An extended CONNECT always has :path (RFC 8441 §4; the crate refuses it without one).
    let path = parts
        .uri
        .path_and_query()
        .map(|p| p.as_str())
        .unwrap_or("/");
    head(parts, limits, "GET", path, &[(b"upgrade", b"websocket")])
}

/// The fields of `parts` written after the request line `method target HTTP/1.1` (and before
/// `extra`), parsed, and marked as HTTP/2's.
fn head(
    parts: &Parts,
    limits: &Limits,
    method: &str,
    target: &str,
    extra: &[(&[u8], &[u8])],
) -> Result<RequestHead, HeadError> {
    let authority = parts.uri.authority().map(|a| a.as_str());
    let mut buf = BytesMut::with_capacity(256 + parts.headers.len() * 32);
    buf.put_slice(method.as_bytes());
    buf.put_u8(b' ');
    buf.put_slice(target.as_bytes());
    buf.put_slice(b" HTTP/1.1\r\n");
    let has_host = parts.headers.contains_key(http::header::HOST);
    match (authority, has_host) {
        (Some(a), false) => field(&mut buf, b"host", a.as_bytes()),
        (None, false) => return Err(HeadError::NoAuthority),
        // Both: `host` must be ignored in favour of `:authority` (§8.3.1), but an HTTP/1.1
        // parser would see two; the authority wins and `host` is dropped below.
        (Some(a), true) => field(&mut buf, b"host", a.as_bytes()),
        (None, true) => {}
    }
    let mut cookies: Option<Vec<u8>> = None;
    for (name, value) in &parts.headers {
        if name == http::header::COOKIE {
            let c = cookies.get_or_insert_with(Vec::new);
            if !c.is_empty() {
                c.extend_from_slice(b"; ");
            }
            c.extend_from_slice(value.as_bytes());
            continue;
        }
        if name == http::header::HOST && authority.is_some() {
            continue;
        }
        field(&mut buf, name.as_str().as_bytes(), value.as_bytes());
    }
    if let Some(c) = cookies {
        field(&mut buf, b"cookie", &c);
    }
    for (name, value) in extra {
        field(&mut buf, name, value);
    }
    buf.put_slice(b"\r\n");
    match parse_head(&mut buf, limits) {
        Ok(Some(head)) => Ok(head.into_http2()),
        // The buffer ends with the blank line: a whole head is always there.
        Ok(None) => Err(HeadError::Proto(ProtoError::BadRequest("incomplete head"))),
        Err(e) => Err(HeadError::Proto(e)),
    }
}

fn field(buf: &mut BytesMut, name: &[u8], value: &[u8]) {
    buf.put_slice(name);
    buf.put_slice(b": ");
    buf.put_slice(value);
    buf.put_slice(b"\r\n");
}

/// Fields HTTP/2 forbids (RFC 9113 §8.2.2): the HTTP/1.1 encoder's business, never sent here.
fn connection_specific(name: &[u8]) -> bool {
    matches!(
        name,
        b"connection" | b"keep-alive" | b"proxy-connection" | b"transfer-encoding" | b"upgrade"
    )
}

/// A response's `name: value\r\n` header block as HTTP/2 fields, lower-cased (§8.2), without
/// connection-specific ones. Lines that are not valid fields are skipped: the block was
/// validated when the response was made, so none are expected.
pub fn response_headers(block: &[u8], into: &mut HeaderMap) {
    for line in block.split(|&b| b == b'\n') {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        let Some(colon) = line.iter().position(|&b| b == b':') else {
            continue;
        };
        let name = &line[..colon];
        let value = line[colon + 1..].trim_ascii();
        let Ok(name) = HeaderName::from_bytes(name) else {
            continue;
        };
        if connection_specific(name.as_str().as_bytes()) {
            continue;
        }
        if let Ok(value) = HeaderValue::from_bytes(value) {
            into.append(name, value);
        }
    }
}
