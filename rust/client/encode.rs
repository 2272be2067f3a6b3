//! Writes a request head (RFC 9112 §3, §5): refuses what would let a header value end the
//! line early (CR, LF, NUL), since that is how a caller's input becomes an injected header.

use bytes::{BufMut, Bytes, BytesMut};

use super::error::ClientError;
use super::types::Request;
use crate::protocol::h1::token::is_tchar;

/// Bodies up to this size are copied behind the head and sent in one write; larger ones are
/// written separately rather than copied.
pub const INLINE_BODY: usize = 16 * 1024;

/// The encoded request: the head (with a small body appended) and the body still to write.
pub struct Encoded {
    /// Head, and the body when it is at most [`INLINE_BODY`].
    pub head: Bytes,
    /// The body when larger than [`INLINE_BODY`], else empty.
    pub body: Bytes,
    /// The request asked for `Connection: close`.
    pub close: bool,
    /// `HEAD` request: the response has no body (RFC 9110 §9.3.2).
    pub head_only: bool,
}

/// Encodes `req`, adding `Host` and `Content-Length` when absent.
pub fn encode(req: &Request) -> Result<Encoded, ClientError> {
    if req.method.is_empty() || !req.method.iter().all(|&b| is_tchar(b)) {
        return Err(ClientError::InvalidRequest("method is not a token"));
    }
    if req.target.is_empty() || req.target.iter().any(|&b| b <= b' ' || b == 0x7f) {
        return Err(ClientError::InvalidRequest(
            "target is empty or has spaces or controls",
        ));
    }
    let mut size = req.method.len() + req.target.len() + 64 + req.authority.len();
    for (n, v) in &req.headers {
        size += n.len() + v.len() + 4;
    }
    let inline = req.body.len() <= INLINE_BODY;
    if inline {
        size += req.body.len();
    }
    let mut out = BytesMut::with_capacity(size);
    out.put_slice(&req.method);
    out.put_u8(b' ');
    out.put_slice(&req.target);
    out.put_slice(b" HTTP/1.1\r\n");
    let (mut host, mut length, mut close) = (false, false, false);
    for (name, value) in &req.headers {
        if name.is_empty() || !name.iter().all(|&b| is_tchar(b)) {
            return Err(ClientError::InvalidRequest("header name is not a token"));
        }
        if value.iter().any(|&b| b == b'\r' || b == b'\n' || b == 0) {
            return Err(ClientError::InvalidRequest(
                "header value contains CR, LF or NUL",
            ));
        }
        if name.eq_ignore_ascii_case(b"host") {
            host = true;
        } else if name.eq_ignore_ascii_case(b"content-length")
            || name.eq_ignore_ascii_case(b"transfer-encoding")
        {
            length = true;
        } else if name.eq_ignore_ascii_case(b"connection") {
            close |= has_close(value);
        }
        out.put_slice(name);
        out.put_slice(b": ");
        out.put_slice(value);
        out.put_slice(b"\r\n");
    }
    if !host {
        out.put_slice(b"host: ");
        out.put_slice(req.authority.as_bytes());
        out.put_slice(b"\r\n");
    }
    if !length && !req.body.is_empty() {
        out.put_slice(b"content-length: ");
        out.put_slice(itoa::Buffer::new().format(req.body.len()).as_bytes());
        out.put_slice(b"\r\n");
    }
    out.put_slice(b"\r\n");
    let body = if inline {
        out.put_slice(&req.body);
        Bytes::new()
    } else {
        req.body.clone()
    };
    Ok(Encoded {
        head: out.freeze(),
        body,
        close,
        head_only: req.method.as_ref() == b"HEAD",
    })
}

/// Whether a `Connection` value lists the `close` option (RFC 9112 §9.6).
pub fn has_close(value: &[u8]) -> bool {
    value
        .split(|&b| b == b',')
        .any(|t| t.trim_ascii().eq_ignore_ascii_case(b"close"))
}
