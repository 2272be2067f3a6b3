//! First bytes that cannot start an HTTP/1.x request line (RFC 9112 §3), recognised as soon as
//! they arrive instead of after a whole head or a timeout.
//!
//! A TLS client pointed at the cleartext port, an HTTP/2 client with prior knowledge (RFC 9113
//! §3.3) or a scanner sending binary noise would otherwise wait for a line end that never comes
//! and hold the connection until the header timeout. The request line starts with a method,
//! a token (RFC 9110 §9.1), then a space: any other byte before that space rules a request line
//! out. The check is a pure function of the buffered bytes and looks only at a prefix of them,
//! so a refusal does not depend on how TCP split the input: a longer input that begins the
//! same way is refused the same way.

use super::error::ProtoError;
use super::token::is_tchar;

/// A TLS record of type handshake (RFC 8446 §5.1): a ClientHello starts `16 03 0x`.
pub const TLS: ProtoError = ProtoError::BadRequest("TLS handshake on a cleartext port");

/// The HTTP/2 connection preface (RFC 9113 §3.4), refused while this port speaks HTTP/1.1 only.
pub const H2_PREFACE: ProtoError =
    ProtoError::BadRequest("HTTP/2 preface on an HTTP/1.1-only port");

/// Anything else whose method position holds a byte no method can contain.
pub const NOT_HTTP1: ProtoError =
    ProtoError::BadRequest("bytes that cannot start an HTTP/1 request");

/// The shortest prefix of the HTTP/2 preface that no HTTP/1.x request line can share: the
/// full preface is `PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n`, and `PRI * HTTP/1.1` would be a
/// (useless but well-formed) HTTP/1.1 request line up to the major version.
const H2_PREFIX: &[u8] = b"PRI * HTTP/2";

/// The first byte of a TLS handshake record. It is named from this byte alone: no method can
/// hold it, and a refusal must not change with the bytes after it (a split ClientHello would
/// otherwise be named "TLS" or "noise" depending on where TCP cut it).
const TLS_HANDSHAKE: u8 = 0x16;

/// Why `first` (the bytes after any leading empty lines) cannot begin an HTTP/1.x request, or
/// `None` when they still can (or end before telling). Looks at the method only: a line end
/// before the method's space is left to the head parser, which names that fault precisely.
pub fn not_http1(first: &[u8]) -> Option<ProtoError> {
    match first {
        [TLS_HANDSHAKE, ..] => return Some(TLS),
        [b'P', ..] if first.starts_with(H2_PREFIX) => return Some(H2_PREFACE),
        // An empty method (the line starts with a space) is no request line either.
        [b' ', ..] => return Some(NOT_HTTP1),
        _ => {}
    }
    for &b in first {
        match b {
            b' ' | b'\r' | b'\n' => return None,
            _ if is_tchar(b) => {}
            _ => return Some(NOT_HTTP1),
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tls_client_hello_is_named_from_its_first_byte() {
        assert_eq!(not_http1(b"\x16"), Some(TLS));
        assert_eq!(
            not_http1(b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03"),
            Some(TLS)
        );
        // Named from the first byte whatever follows (the proptest's regression: `16 00`).
        assert_eq!(not_http1(b"\x16\x00\x00ht"), Some(TLS));
    }

    #[test]
    fn the_h2_preface_is_named_once_its_version_rules_out_http1() {
        let preface = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
        for n in 0..H2_PREFIX.len() {
            assert_eq!(not_http1(&preface[..n]), None, "{n} bytes");
        }
        for n in H2_PREFIX.len()..=preface.len() {
            assert_eq!(not_http1(&preface[..n]), Some(H2_PREFACE), "{n} bytes");
        }
        assert_eq!(not_http1(b"PRI * HTTP/1.1\r\n"), None);
    }

    #[test]
    fn binary_in_the_method_is_refused_at_once() {
        for bad in [
            &b"\x00"[..],
            b"\x80abc",
            b"G\x00",
            b"GE\xff",
            b"GET\t/",
            b"G@T / HTTP/1.1",
            b" GET / HTTP/1.1",
            b"{\"json\": 1}",
        ] {
            assert_eq!(not_http1(bad), Some(NOT_HTTP1), "{bad:?}");
        }
    }

    #[test]
    fn anything_that_can_still_start_a_request_line_passes() {
        for ok in [
            &b""[..],
            b"G",
            b"GET",
            b"GET ",
            b"GET / HTTP/1.1\r\nHost: h\r\n\r\n",
            b"M-SEARCH * HTTP/1.1",
            b"PRI",
            b"PRI * HTTP/",
            b"X-CUSTOM! /\x00",
            // Line ends before the method's space are the head parser's to name.
            b"GET\r\n",
            b"GET\n",
        ] {
            assert_eq!(not_http1(ok), None, "{ok:?}");
        }
    }
}
