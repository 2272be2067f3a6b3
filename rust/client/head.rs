//! Parses a response head (RFC 9112 §4) and decides how its body is delimited (§6.3).

use bytes::{Bytes, BytesMut};

use super::encode::has_close;
use super::error::ClientError;
use super::types::{MAX_HEAD, MAX_HEADERS};

/// How the response body ends (RFC 9112 §6.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framing {
    /// No body: HEAD request, 1xx, 204 or 304 (rules 1 and 2), or `Content-Length: 0`.
    Empty,
    /// Exactly this many bytes (rule 6).
    Length(u64),
    /// `Transfer-Encoding: chunked` (rule 4).
    Chunked,
    /// Read until the server closes (rule 8): the connection cannot be reused.
    Close,
}

/// A parsed response head.
#[derive(Debug)]
pub struct Head {
    /// The status code.
    pub status: u16,
    /// Header fields, slices of the received head.
    pub headers: Vec<(Bytes, Bytes)>,
    /// How the body is delimited.
    pub framing: Framing,
    /// The connection may carry another request after this response: HTTP/1.1 without
    /// `Connection: close`, or HTTP/1.0 with `Connection: keep-alive` (RFC 9112 §9.3).
    pub keep_alive: bool,
}

/// Parses a head from the front of `buf`, removing it. `Ok(None)`: need more bytes.
/// `head_only`: the request was HEAD, so the response has no body whatever it declares.
pub fn parse(buf: &mut BytesMut, head_only: bool) -> Result<Option<Head>, ClientError> {
    let mut fields = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut resp = httparse::Response::new(&mut fields);
    let len = match resp.parse(buf) {
        Ok(httparse::Status::Complete(len)) => len,
        Ok(httparse::Status::Partial) if buf.len() > MAX_HEAD => {
            return Err(protocol("response head exceeds 64 KiB"))
        }
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(httparse::Error::TooManyHeaders) => {
            return Err(protocol("response head has more than 128 fields"))
        }
        Err(e) => {
            return Err(ClientError::Protocol(format!(
                "malformed response head: {e}"
            )))
        }
    };
    if len > MAX_HEAD {
        return Err(protocol("response head exceeds 64 KiB"));
    }
    let status = resp.code.unwrap_or(0);
    let http11 = resp.version == Some(1);
    // Offsets into `buf`, so the fields can become slices of one frozen `Bytes` below.
    let base = buf.as_ptr() as usize;
    let offset = |s: &[u8]| (s.as_ptr() as usize - base, s.len());
    let spans: Vec<_> = resp
        .headers
        .iter()
        .map(|h| (offset(h.name.as_bytes()), offset(h.value)))
        .collect();
    let raw = buf.split_to(len).freeze();
    let headers: Vec<(Bytes, Bytes)> = spans
        .into_iter()
        .map(|((no, nl), (vo, vl))| (raw.slice(no..no + nl), raw.slice(vo..vo + vl)))
        .collect();

    let mut close = false;
    let mut keep_alive_token = false;
    let mut length: Option<u64> = None;
    let mut chunked = false;
    let mut encoded = false;
    for (name, value) in &headers {
        if name.eq_ignore_ascii_case(b"connection") {
            close |= has_close(value);
            keep_alive_token |= value
                .split(|&b| b == b',')
                .any(|t| t.trim_ascii().eq_ignore_ascii_case(b"keep-alive"));
        } else if name.eq_ignore_ascii_case(b"content-length") {
            let n = parse_length(value)?;
            if length.is_some_and(|m| m != n) {
                return Err(protocol("conflicting Content-Length values"));
            }
            length = Some(n);
        } else if name.eq_ignore_ascii_case(b"transfer-encoding") {
            encoded = true;
            // Only `chunked` alone is decoded; anything else (gzip, chunked twice) we refuse
            // rather than hand on undecoded bytes.
            for coding in value.split(|&b| b == b',') {
                let coding = coding.trim_ascii();
                if coding.is_empty() {
                    continue;
                }
                if !coding.eq_ignore_ascii_case(b"chunked") || chunked {
                    return Err(protocol("unsupported Transfer-Encoding"));
                }
                chunked = true;
            }
        }
    }
    let mut keep_alive = if http11 {
        !close
    } else {
        keep_alive_token && !close
    };
    let framing = if head_only || status < 200 || status == 204 || status == 304 {
        Framing::Empty
    } else if encoded {
        // Transfer-Encoding wins over Content-Length, but a message with both may be an
        // attempt at smuggling: do not reuse the connection (RFC 9112 §6.3 rule 3).
        if length.is_some() {
            keep_alive = false;
        }
        if chunked {
            Framing::Chunked
        } else {
            Framing::Close
        }
    } else {
        match length {
            Some(0) => Framing::Empty,
            Some(n) => Framing::Length(n),
            None => Framing::Close,
        }
    };
    if framing == Framing::Close {
        keep_alive = false;
    }
    Ok(Some(Head {
        status,
        headers,
        framing,
        keep_alive,
    }))
}

/// A Content-Length value: digits only (a list of equal values is allowed by RFC 9110 §8.6
/// but never needed; refusing it keeps the rule simple).
fn parse_length(value: &[u8]) -> Result<u64, ClientError> {
    let value = value.trim_ascii();
    if value.is_empty() || value.len() > 19 || !value.iter().all(u8::is_ascii_digit) {
        return Err(protocol("invalid Content-Length"));
    }
    Ok(value
        .iter()
        .fold(0u64, |n, &d| n * 10 + u64::from(d - b'0')))
}

fn protocol(why: &str) -> ClientError {
    ClientError::Protocol(why.to_owned())
}
