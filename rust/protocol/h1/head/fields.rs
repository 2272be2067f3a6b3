//! The header fields that decide where a request goes and where it ends: Host (RFC 9112
//! §3.2), Content-Length and Transfer-Encoding (RFC 9112 §6), Connection (§9.3) and Expect
//! (RFC 9110 §10.1.1). A child of `head` (`head/fields.rs`); it sees the head only as spans into its bytes.

use super::{BodyFraming, Limits, ProtoError, Span, Version};
use crate::protocol::h1::token::{is_tchar, trim_ows};

#[cfg(test)]
#[path = "fields_tests.rs"]
mod tests;

/// What the framing- and routing-relevant fields say, once they are known to be valid.
pub(super) struct Fields {
    pub(super) host: Option<Span>,
    pub(super) framing: BodyFraming,
    pub(super) keep_alive: bool,
    pub(super) expects_continue: bool,
}

/// Elements of a comma-separated list (RFC 9110 §5.6.1), OWS trimmed, empty ones kept.
fn elements(v: &[u8]) -> impl Iterator<Item = &[u8]> {
    v.split(|&b| b == b',').map(trim_ows)
}

/// Transfer-Encoding across all its field lines, which combine into one list (RFC 9110
/// §5.3) in order, so the state is carried from line to line.
#[derive(Default)]
struct TransferCodings {
    seen: bool,
    chunked: bool,
    last_is_chunked: bool,
    other: bool,
    error: Option<ProtoError>,
}

impl TransferCodings {
    fn feed(&mut self, value: &[u8]) {
        self.seen = true;
        let mut any = false;
        // RFC 9110 §5.6.1.2: a recipient MUST accept and ignore empty list elements; a field
        // with no element at all is still an error (below).
        for el in elements(value).filter(|e| !e.is_empty()) {
            any = true;
            let name_len = el.iter().position(|&b| !is_tchar(b)).unwrap_or(el.len());
            let (name, params) = el.split_at(name_len);
            let bad = if name.is_empty()
                || (!params.is_empty() && trim_ows(params).first() != Some(&b';'))
            {
                Some("invalid Transfer-Encoding")
            } else if name.eq_ignore_ascii_case(b"chunked") {
                // RFC 9112 §6.1: a sender MUST NOT apply chunked more than once; chunked
                // defines no parameters (§7.1), so one here is as suspect as a repeat.
                if self.chunked {
                    Some("chunked applied more than once")
                } else if !params.is_empty() {
                    Some("parameters on chunked")
                } else {
                    self.chunked = true;
                    self.last_is_chunked = true;
                    None
                }
            } else {
                self.other = true;
                self.last_is_chunked = false;
                None
            };
            if let (Some(why), None) = (bad, self.error) {
                self.error = Some(ProtoError::BadRequest(why));
            }
        }
        if !any && self.error.is_none() {
            self.error = Some(ProtoError::BadRequest("empty Transfer-Encoding"));
        }
    }

    fn result(&self) -> Result<(), ProtoError> {
        if let Some(e) = self.error {
            return Err(e);
        }
        // RFC 9112 §6.3 item 4: chunked not final in a request means the length cannot be
        // determined: 400 and close.
        if !self.last_is_chunked {
            return Err(ProtoError::BadRequest(
                "chunked must be the final transfer coding",
            ));
        }
        // RFC 9112 §6.1: a coding the server does not understand SHOULD get 501.
        if self.other {
            return Err(ProtoError::NotImplemented("transfer coding not supported"));
        }
        Ok(())
    }
}

/// RFC 9110 §8.6: `Content-Length = 1*DIGIT`. At most 19 digits, which always fit in u64.
fn parse_content_length(v: &[u8]) -> Option<u64> {
    if v.is_empty() || v.len() > 19 || !v.iter().all(u8::is_ascii_digit) {
        return None;
    }
    v.iter().try_fold(0u64, |n, &d| {
        n.checked_mul(10)?.checked_add(u64::from(d - b'0'))
    })
}

/// Checks the fields of a head whose lines httparse accepted.
pub(super) fn check(
    head: &[u8],
    headers: &[(Span, Span)],
    version: Version,
    limits: &Limits,
) -> Result<Fields, ProtoError> {
    let get = |s: Span| head.get(s.0..s.1).unwrap_or_default();
    let (mut host, mut hosts) = (None, 0usize);
    let (mut content_length, mut lengths) = (None, 0usize);
    let mut te = TransferCodings::default();
    let (mut close, mut keep_alive) = (false, false);
    let (mut continue_, mut other_expectation) = (false, false);
    for &(n, v) in headers {
        let (name, value) = (get(n), get(v));
        if name.eq_ignore_ascii_case(b"host") {
            hosts += 1;
            host = Some(v);
        } else if name.eq_ignore_ascii_case(b"content-length") {
            lengths += 1;
            content_length = Some(value);
        } else if name.eq_ignore_ascii_case(b"transfer-encoding") {
            te.feed(value);
        } else if name.eq_ignore_ascii_case(b"connection") {
            // RFC 9112 §9.6 / §9.3: connection options are case-insensitive tokens.
            for opt in elements(value) {
                close |= opt.eq_ignore_ascii_case(b"close");
                keep_alive |= opt.eq_ignore_ascii_case(b"keep-alive");
            }
        } else if name.eq_ignore_ascii_case(b"expect") {
            for exp in elements(value).filter(|e| !e.is_empty()) {
                if exp.eq_ignore_ascii_case(b"100-continue") {
                    continue_ = true;
                } else {
                    other_expectation = true;
                }
            }
        }
    }

    // RFC 9112 §3.2: 400 for an HTTP/1.1 request without Host, with more than one Host, or
    // with an invalid Host value. An empty value is valid (for targets without authority).
    if hosts == 0 && version == Version::Http11 {
        return Err(ProtoError::BadRequest("missing Host header"));
    }
    if hosts > 1 {
        return Err(ProtoError::BadRequest("multiple Host headers"));
    }
    if let Some(h) = host {
        let h = get(h);
        if !h.is_empty() && !super::target::valid_authority(h, false) {
            return Err(ProtoError::BadRequest("invalid Host header"));
        }
    }

    let framing = if te.seen {
        // RFC 9112 §6.3 item 3: both present is a smuggling attempt or a broken client; the
        // server may reject it, and we do (and then close).
        if lengths > 0 {
            return Err(ProtoError::BadRequest(
                "Content-Length and Transfer-Encoding together",
            ));
        }
        // RFC 9112 §6.1: Transfer-Encoding in HTTP/1.0 means faulty framing.
        if version == Version::Http10 {
            return Err(ProtoError::BadRequest(
                "Transfer-Encoding in HTTP/1.0 request",
            ));
        }
        te.result()?;
        BodyFraming::Chunked
    } else if let Some(v) = content_length {
        // RFC 9112 §6.3 item 5: differing or list-valued lengths are unrecoverable; equal
        // duplicates may be merged, but we refuse them too rather than guess.
        if lengths > 1 {
            return Err(ProtoError::BadRequest("multiple Content-Length headers"));
        }
        let n = parse_content_length(v).ok_or(ProtoError::BadRequest("invalid Content-Length"))?;
        if n > limits.max_body {
            return Err(ProtoError::BodyTooLarge);
        }
        if n == 0 {
            BodyFraming::Empty
        } else {
            BodyFraming::Length(n)
        }
    } else {
        // RFC 9112 §6.3 item 7: a request with neither has no body.
        BodyFraming::Empty
    };

    // RFC 9110 §10.1.1: an expectation other than 100-continue MAY get 417; a 100-continue
    // in an HTTP/1.0 request MUST be ignored.
    if other_expectation {
        return Err(ProtoError::ExpectationFailed);
    }
    Ok(Fields {
        host,
        framing,
        keep_alive: match version {
            Version::Http11 | Version::Http2 => !close,
            Version::Http10 => keep_alive && !close,
        },
        expects_continue: continue_ && version == Version::Http11,
    })
}
