//! Every way the HTTP/1.1 layer refuses a request.
//!
//! Each variant maps to exactly one status code (RFC 9110 §15) and a short reason that the
//! error response carries in its body, so a client (or a person reading curl output) can tell
//! *why* a request was refused without the server leaking anything about its internals.
//! After any of these the connection is closed: once framing is in doubt, nothing that
//! follows on the same connection can be trusted (RFC 9112 §9.6, §11.2).

use std::fmt;

/// A request the protocol layer refuses, with the status code it is answered with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProtoError {
    /// The request line exceeds `Limits::max_request_line` (RFC 9112 §3: 414 URI Too Long).
    RequestLineTooLong,
    /// The whole head exceeds `Limits::max_header_bytes`, or a trailer section exceeds its
    /// bound (RFC 6585 §5: 431 Request Header Fields Too Large).
    HeadersTooLarge,
    /// More header field lines than `Limits::max_headers` (431).
    TooManyHeaders,
    /// The declared or decoded body exceeds `Limits::max_body` (RFC 9110 §15.5.14: 413).
    BodyTooLarge,
    /// Malformed syntax or ambiguous framing (RFC 9110 §15.5.1: 400); the text says what.
    BadRequest(&'static str),
    /// A well-formed `HTTP/x.y` version other than 1.0 and 1.1 (RFC 9110 §15.6.6: 505).
    VersionNotSupported,
    /// Something valid that this server does not implement, e.g. a transfer coding other
    /// than chunked (RFC 9112 §6.1: 501); the text says what.
    NotImplemented(&'static str),
    /// An `Expect` value other than `100-continue` (RFC 9110 §10.1.1: 417).
    ExpectationFailed,
    /// The head did not arrive within the header timeout (RFC 9110 §15.5.9: 408).
    HeaderTimeout,
    /// The body did not arrive within the body timeout (408).
    BodyTimeout,
}

impl ProtoError {
    /// The status code the request is answered with.
    pub fn status(&self) -> u16 {
        match self {
            ProtoError::RequestLineTooLong => 414,
            ProtoError::HeadersTooLarge | ProtoError::TooManyHeaders => 431,
            ProtoError::BodyTooLarge => 413,
            ProtoError::BadRequest(_) => 400,
            ProtoError::VersionNotSupported => 505,
            ProtoError::NotImplemented(_) => 501,
            ProtoError::ExpectationFailed => 417,
            ProtoError::HeaderTimeout | ProtoError::BodyTimeout => 408,
        }
    }

    /// A short human reason, used in the error response body.
    pub fn reason(&self) -> &'static str {
        match self {
            ProtoError::RequestLineTooLong => "request line too long",
            ProtoError::HeadersTooLarge => "request header fields too large",
            ProtoError::TooManyHeaders => "too many header fields",
            ProtoError::BodyTooLarge => "request body too large",
            ProtoError::BadRequest(why) | ProtoError::NotImplemented(why) => why,
            ProtoError::VersionNotSupported => "HTTP version not supported",
            ProtoError::ExpectationFailed => "unsupported expectation",
            ProtoError::HeaderTimeout => "timed out reading the request head",
            ProtoError::BodyTimeout => "timed out reading the request body",
        }
    }
}

impl fmt::Display for ProtoError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.reason(), self.status())
    }
}

impl std::error::Error for ProtoError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_codes_match_rfc_9110_section_15() {
        assert_eq!(ProtoError::RequestLineTooLong.status(), 414);
        assert_eq!(ProtoError::HeadersTooLarge.status(), 431);
        assert_eq!(ProtoError::TooManyHeaders.status(), 431);
        assert_eq!(ProtoError::BodyTooLarge.status(), 413);
        assert_eq!(ProtoError::BadRequest("x").status(), 400);
        assert_eq!(ProtoError::VersionNotSupported.status(), 505);
        assert_eq!(ProtoError::NotImplemented("x").status(), 501);
        assert_eq!(ProtoError::ExpectationFailed.status(), 417);
        assert_eq!(ProtoError::HeaderTimeout.status(), 408);
        assert_eq!(ProtoError::BodyTimeout.status(), 408);
    }

    #[test]
    fn reason_and_display() {
        let e = ProtoError::BadRequest("invalid Content-Length");
        assert_eq!(e.reason(), "invalid Content-Length");
        assert_eq!(e.to_string(), "invalid Content-Length (400)");
        let boxed: Box<dyn std::error::Error> = Box::new(ProtoError::BodyTooLarge);
        assert_eq!(boxed.to_string(), "request body too large (413)");
    }
}
