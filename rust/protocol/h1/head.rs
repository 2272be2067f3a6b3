//! Request head parsing (RFC 9112 §2-§3, §5-§6): request line and header fields.
//!
//! `httparse` does the byte-level tokenising; on top of it this module adds the strictness a
//! server facing the open internet needs and `httparse` leaves out: bare LF and bare CR are
//! refused (they are the raw material of request smuggling, RFC 9112 §2.2), as is obs-fold
//! (§5.2), and the framing headers are checked so that no two parties on the path can
//! disagree about where this message ends (§6.3).
//!
//! The parser is a plain function over the bytes buffered so far: it keeps no state between
//! calls and either finds a complete head, asks for more, or names the reason to refuse.
//! A head is stored once, as the `Bytes` it arrived in; every field is a pair of offsets.

use bytes::{Buf, Bytes, BytesMut};

use super::body::BodyFraming;
use super::error::ProtoError;
use super::token::{is_tchar, trim_ows};

mod fields;
mod target;

#[cfg(test)]
#[path = "head_tests.rs"]
mod tests;

#[cfg(test)]
#[path = "proptests.rs"]
mod proptests;

/// Bounds on what a client may send; anything over them is refused, never buffered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// Longest request line, without its CRLF (over it: 414).
    pub max_request_line: usize,
    /// Largest head, request line and header fields and the final empty line (over it: 431).
    pub max_header_bytes: usize,
    /// Most header field lines (over it: 431).
    pub max_headers: usize,
    /// Largest request body, declared or decoded (over it: 413).
    pub max_body: u64,
}

impl Default for Limits {
    /// 8 KiB request line, 64 KiB head, 100 fields, 10 MiB body.
    fn default() -> Self {
        Limits {
            max_request_line: 8192,
            max_header_bytes: 65536,
            max_headers: 100,
            max_body: 10 * 1024 * 1024,
        }
    }
}

/// The HTTP versions this server speaks (RFC 9112 §2.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Version {
    /// HTTP/1.0: no Host required, no chunked, connection closes unless asked otherwise.
    Http10,
    /// HTTP/1.1.
    Http11,
    /// HTTP/2: a stream's fields written as a head (`protocol::h2::head`).
    Http2,
}

impl Version {
    /// `"HTTP/1.0"` or `"HTTP/1.1"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Version::Http10 => "HTTP/1.0",
            Version::Http11 => "HTTP/1.1",
            Version::Http2 => "HTTP/2",
        }
    }
}

/// A request method (RFC 9110 §9); method names are case-sensitive, so `get` is `Other`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Method {
    /// GET
    Get,
    /// HEAD
    Head,
    /// POST
    Post,
    /// PUT
    Put,
    /// DELETE
    Delete,
    /// PATCH (RFC 5789)
    Patch,
    /// OPTIONS
    Options,
    /// TRACE
    Trace,
    /// CONNECT
    Connect,
    /// Any other syntactically valid method token.
    Other(Box<str>),
}

impl Method {
    /// The method as sent.
    pub fn as_str(&self) -> &str {
        match self {
            Method::Get => "GET",
            Method::Head => "HEAD",
            Method::Post => "POST",
            Method::Put => "PUT",
            Method::Delete => "DELETE",
            Method::Patch => "PATCH",
            Method::Options => "OPTIONS",
            Method::Trace => "TRACE",
            Method::Connect => "CONNECT",
            Method::Other(m) => m,
        }
    }

    /// The method named by `token`, or `None` if it is not a non-empty RFC 9110 token.
    pub fn from_bytes(token: &[u8]) -> Option<Method> {
        Some(match token {
            b"GET" => Method::Get,
            b"HEAD" => Method::Head,
            b"POST" => Method::Post,
            b"PUT" => Method::Put,
            b"DELETE" => Method::Delete,
            b"PATCH" => Method::Patch,
            b"OPTIONS" => Method::Options,
            b"TRACE" => Method::Trace,
            b"CONNECT" => Method::Connect,
            _ if !token.is_empty() && token.iter().all(|&b| is_tchar(b)) => {
                // All tchars are ASCII, so this cannot fail; no unwrap on input regardless.
                Method::Other(std::str::from_utf8(token).ok()?.into())
            }
            _ => return None,
        })
    }
}

/// Byte offsets `[start, end)` into `RequestHead::raw`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
struct Span(usize, usize);

impl Span {
    fn shift(self, by: usize) -> Span {
        Span(self.0 + by, self.1 + by)
    }
}

/// A parsed, validated request head. Owns the head's bytes; accessors borrow from them.
#[derive(Debug, Clone)]
pub struct RequestHead {
    raw: Bytes,
    method: Method,
    version: Version,
    target: Span,
    /// `None` only for absolute-form without a path, which means "/" (RFC 9112 §3.2.2).
    path: Option<Span>,
    query: Option<Span>,
    /// Authority taken from an absolute-form or authority-form target.
    authority: Option<Span>,
    headers: Vec<(Span, Span)>,
    host: Option<Span>,
    framing: BodyFraming,
    keep_alive: bool,
    expects_continue: bool,
}

impl RequestHead {
    fn slice(&self, s: Span) -> &[u8] {
        self.raw.get(s.0..s.1).unwrap_or_default()
    }

    /// This head as an HTTP/2 request's: the version says so, and HTTP/1.1's connection
    /// semantics (keep-alive, 100-continue) do not apply.
    pub fn into_http2(mut self) -> Self {
        self.version = Version::Http2;
        self.keep_alive = true;
        self.expects_continue = false;
        self
    }

    /// The request method.
    pub fn method(&self) -> &Method {
        &self.method
    }

    /// The protocol version.
    pub fn version(&self) -> Version {
        self.version
    }

    /// The request-target exactly as sent (RFC 9112 §3.2).
    pub fn target(&self) -> &[u8] {
        self.slice(self.target)
    }

    /// The path: before `?` in origin-form, the path of an absolute-form target (`/` when it
    /// has none), `*` for asterisk-form, and empty for authority-form (CONNECT).
    pub fn path(&self) -> &[u8] {
        match self.path {
            Some(s) => self.slice(s),
            None => b"/",
        }
    }

    /// The query after `?`, without the `?`; `None` when the target has no `?`.
    pub fn query(&self) -> Option<&[u8]> {
        self.query.map(|s| self.slice(s))
    }

    /// All header fields in order, names as sent, values without surrounding whitespace.
    pub fn headers(&self) -> impl Iterator<Item = (&[u8], &[u8])> + '_ {
        self.headers
            .iter()
            .map(move |&(n, v)| (self.slice(n), self.slice(v)))
    }

    /// Number of header field lines.
    pub fn header_count(&self) -> usize {
        self.headers.len()
    }

    /// Value of the first field named `name` (ASCII case-insensitive, RFC 9110 §5.1).
    pub fn header(&self, name: &str) -> Option<&[u8]> {
        self.headers()
            .find(|(n, _)| n.eq_ignore_ascii_case(name.as_bytes()))
            .map(|(_, v)| v)
    }

    /// The authority the request is for: the target's authority for absolute-form and
    /// authority-form (which override Host, RFC 9112 §3.2.2), else the Host field value.
    pub fn host(&self) -> Option<&[u8]> {
        self.authority.or(self.host).map(|s| self.slice(s))
    }

    /// How the body that follows this head is delimited (RFC 9112 §6.3).
    pub fn framing(&self) -> BodyFraming {
        self.framing
    }

    /// Whether the connection may serve another request after this one (RFC 9112 §9.3).
    pub fn keep_alive(&self) -> bool {
        self.keep_alive
    }

    /// Whether the client waits for `100 Continue` before sending the body (RFC 9110 §10.1.1).
    pub fn expects_continue(&self) -> bool {
        self.expects_continue
    }

    /// The head's bytes, request line to final CRLF (leading empty lines excluded).
    pub fn raw(&self) -> &Bytes {
        &self.raw
    }

    /// Gives the head bytes of its own, so it no longer keeps alive the whole read buffer it
    /// was parsed from (8-16 KiB). For heads held for long: a WebSocket's upgrade request
    /// lives as long as the socket.
    pub fn detach(&mut self) {
        self.raw = Bytes::copy_from_slice(&self.raw);
    }
}

const BARE_LF: ProtoError = ProtoError::BadRequest("bare LF line terminator");

/// Where a complete head lies in the buffer, as found by [`scan_head`].
struct Scan {
    /// Leading empty lines to drop.
    skip: usize,
    /// Head length from the request line through the empty line.
    len: usize,
    /// Number of header field lines.
    fields: usize,
}

/// Parses one request head from the front of `buf`. On success removes exactly the head bytes
/// from `buf` (split_to + freeze, no copy) and returns it; Ok(None) = need more bytes.
///
/// Leading empty lines are dropped with the head. Every call rescans what is buffered, which
/// is bounded by `limits.max_header_bytes`; callers should call again only after new bytes
/// arrive. On `Err` the connection must be answered with the error and closed.
pub fn parse_head(buf: &mut BytesMut, limits: &Limits) -> Result<Option<RequestHead>, ProtoError> {
    let Some(scan) = scan_head(buf, limits)? else {
        return Ok(None);
    };
    let head = &buf[scan.skip..scan.skip + scan.len];
    let parts = parse_lines(head, scan.fields, limits)?;
    buf.advance(scan.skip);
    let raw = buf.split_to(scan.len).freeze();
    Ok(Some(RequestHead { raw, ..parts }))
}

/// Finds the end of the head and enforces line syntax and the size limits, also on partial
/// input so that an endless line or head is refused as soon as it passes a limit.
fn scan_head(buf: &[u8], limits: &Limits) -> Result<Option<Scan>, ProtoError> {
    // RFC 9112 §2.2: a server SHOULD ignore at least one empty line before the request line
    // (old clients send CRLF after a POST body). Bounded like a request line.
    let mut start = 0;
    loop {
        match (buf.get(start), buf.get(start + 1)) {
            (Some(b'\r'), Some(b'\n')) => start += 2,
            (Some(b'\r'), None) => return Ok(None),
            (Some(b'\r'), Some(_)) => return Err(ProtoError::BadRequest("bare CR")),
            (Some(b'\n'), _) => return Err(BARE_LF),
            _ => break,
        }
        if start > limits.max_request_line {
            return Err(ProtoError::RequestLineTooLong);
        }
    }
    // Before any size check, so that a TLS ClientHello or binary noise gets the same answer
    // however TCP split it, and at once rather than at the header timeout.
    if let Some(refused) = super::sniff::not_http1(&buf[start..]) {
        return Err(refused);
    }
    let mut pos = start;
    let mut fields = 0usize;
    loop {
        let rest = &buf[pos..];
        let Some(lf) = memchr::memchr(b'\n', rest) else {
            if pos == start {
                // No end of the request line yet; a trailing CR may be its first half.
                let n = rest.len() - usize::from(rest.last() == Some(&b'\r'));
                if n > limits.max_request_line {
                    return Err(ProtoError::RequestLineTooLong);
                }
            }
            if buf.len() - start > limits.max_header_bytes {
                return Err(ProtoError::HeadersTooLarge);
            }
            return Ok(None);
        };
        let end = pos + lf + 1;
        // Sizes before content: a partial line can only be measured, so a complete one is
        // measured first too, and a refused head gets the same answer however TCP split it
        // (found by the h1_head fuzz target: 400 whole vs 414/431 cut one byte short).
        let line_len = lf - usize::from(lf > 0 && rest[lf - 1] == b'\r');
        if pos == start && line_len > limits.max_request_line {
            return Err(ProtoError::RequestLineTooLong);
        }
        if end - start > limits.max_header_bytes {
            return Err(ProtoError::HeadersTooLarge);
        }
        // RFC 9112 §2.2: we do not accept a bare LF as a line terminator; a server that did
        // would read a different message than a proxy in front of it that does not.
        if lf == 0 || rest[lf - 1] != b'\r' {
            return Err(BARE_LF);
        }
        let line = &rest[..lf - 1];
        if pos == start {
            // The request line: measured above, parsed by httparse below.
        } else if line.is_empty() {
            return Ok(Some(Scan {
                skip: start,
                len: end - start,
                fields,
            }));
        } else {
            // RFC 9112 §5.2: obs-fold in a request MUST be rejected with 400 (or replaced by
            // SP; rejecting is the choice that cannot be misread downstream).
            if matches!(line[0], b' ' | b'\t') {
                return Err(ProtoError::BadRequest("obsolete line folding"));
            }
            fields += 1;
            if fields > limits.max_headers {
                return Err(ProtoError::TooManyHeaders);
            }
        }
        // RFC 9112 §2.2: a bare CR must be treated as invalid (or replaced; we refuse), and
        // NUL is never valid in a field value (RFC 9110 §5.5).
        match memchr::memchr2(b'\r', b'\0', line).map(|i| line[i]) {
            Some(b'\r') => return Err(ProtoError::BadRequest("bare CR")),
            Some(_) => return Err(ProtoError::BadRequest("NUL byte in request head")),
            None => {}
        }
        if end - start > limits.max_header_bytes {
            return Err(ProtoError::HeadersTooLarge);
        }
        pos = end;
    }
}

/// Offsets of `part` inside `base`; both come from the same parse of `base`.
fn span_of(base: &[u8], part: &[u8]) -> Span {
    let off = (part.as_ptr() as usize).wrapping_sub(base.as_ptr() as usize);
    match off.checked_add(part.len()) {
        Some(end) if !part.is_empty() && end <= base.len() => Span(off, end),
        _ => Span(0, 0),
    }
}

/// Tokenises a complete head (found by `scan_head`) with httparse and validates its fields.
fn parse_lines(head: &[u8], fields: usize, limits: &Limits) -> Result<RequestHead, ProtoError> {
    // One stack array covers any sane configuration; a larger `max_headers` costs a Vec.
    const STACK_HEADERS: usize = 128;
    let mut stack = [httparse::EMPTY_HEADER; STACK_HEADERS];
    let mut heap;
    let slots: &mut [httparse::Header<'_>] = if fields <= STACK_HEADERS {
        &mut stack[..fields]
    } else {
        heap = vec![httparse::EMPTY_HEADER; fields];
        &mut heap
    };
    let mut req = httparse::Request::new(slots);
    match req.parse(head) {
        Ok(httparse::Status::Complete(n)) if n == head.len() => {}
        Ok(_) => return Err(ProtoError::BadRequest("malformed request head")),
        Err(e) => return Err(map_httparse_error(e, head)),
    }
    let (Some(method), Some(target), Some(minor)) = (req.method, req.path, req.version) else {
        return Err(ProtoError::BadRequest("malformed request line"));
    };
    let method =
        Method::from_bytes(method.as_bytes()).ok_or(ProtoError::BadRequest("invalid method"))?;
    let version = if minor == 0 {
        Version::Http10
    } else {
        Version::Http11
    };
    let target_span = span_of(head, target.as_bytes());
    let t = target::classify(&method, target.as_bytes())?;
    let headers: Vec<(Span, Span)> = req
        .headers
        .iter()
        .map(|h| {
            (
                span_of(head, h.name.as_bytes()),
                span_of(head, trim_ows(h.value)),
            )
        })
        .collect();
    let f = fields::check(head, &headers, version, limits)?;
    Ok(RequestHead {
        raw: Bytes::new(),
        method,
        version,
        target: target_span,
        path: t.path.map(|s| s.shift(target_span.0)),
        query: t.query.map(|s| s.shift(target_span.0)),
        authority: t.authority.map(|s| s.shift(target_span.0)),
        headers,
        host: f.host,
        framing: f.framing,
        keep_alive: f.keep_alive,
        expects_continue: f.expects_continue,
    })
}

fn map_httparse_error(e: httparse::Error, head: &[u8]) -> ProtoError {
    match e {
        httparse::Error::HeaderName => ProtoError::BadRequest("invalid header field name"),
        httparse::Error::HeaderValue => ProtoError::BadRequest("invalid header field value"),
        httparse::Error::TooManyHeaders => ProtoError::TooManyHeaders,
        httparse::Error::Version => {
            // RFC 9112 §2.3 / RFC 9110 §15.6.6: a well-formed version we do not speak gets
            // 505; anything that is not `HTTP/DIGIT[.DIGIT]` is just a malformed line.
            // httparse got past `method SP target SP`, so the version is all after that.
            let line_end = memchr::memchr(b'\r', head).unwrap_or(head.len());
            let line = &head[..line_end];
            let version = line.splitn(3, |&b| b == b' ').nth(2).unwrap_or_default();
            match version {
                [b'H', b'T', b'T', b'P', b'/', d] if d.is_ascii_digit() => {
                    ProtoError::VersionNotSupported
                }
                [b'H', b'T', b'T', b'P', b'/', d, b'.', m]
                    if d.is_ascii_digit() && m.is_ascii_digit() =>
                {
                    ProtoError::VersionNotSupported
                }
                _ => ProtoError::BadRequest("invalid HTTP version"),
            }
        }
        _ => ProtoError::BadRequest("invalid request line"),
    }
}
