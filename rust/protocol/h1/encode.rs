//! Response writing (RFC 9112 §4, §6, §7): status line, header fields, chunks.
//!
//! Everything is appended to a caller-owned `Vec<u8>` so that a response head and its first
//! body bytes can go out in one write. Header names are written as the caller gives them and
//! the framing headers this module adds are lowercase (names are case-insensitive, RFC 9110
//! §5.1, and lowercase is what HTTP/2 and HTTP/3 require, so one spelling serves all).

use super::error::ProtoError;
use super::token::is_tchar;
pub use crate::protocol::status::reason_phrase;

/// The interim response sent before reading a body the client holds back (RFC 9110 §10.1.1).
pub const CONTINUE_100: &[u8] = b"HTTP/1.1 100 Continue\r\n\r\n";

/// Whether `name` is a valid field name: a non-empty RFC 9110 §5.6.2 token.
pub fn valid_header_name(name: &[u8]) -> bool {
    !name.is_empty() && name.iter().all(|&b| is_tchar(b))
}

/// Whether `v` may be sent as a field value (RFC 9110 §5.5): no CR, LF or NUL (they would
/// split or truncate the response: header injection), and no other control character except
/// HTAB. Obs-text (0x80-0xFF) is allowed.
pub fn valid_header_value(v: &[u8]) -> bool {
    v.iter().all(|&b| b == b'\t' || (b >= 0x20 && b != 0x7f))
}

/// Something that is a header name or value as bytes: strings, byte slices and vectors, and
/// references to them. (A local trait rather than `AsRef<[u8]>`, which `Box<str>` lacks.)
pub trait HeaderBytes {
    /// The bytes to write.
    fn header_bytes(&self) -> &[u8];
}

macro_rules! header_bytes {
    ($as:ty => $($t:ty),*) => {$(
        impl HeaderBytes for $t {
            fn header_bytes(&self) -> &[u8] {
                let target: &$as = self;
                target.as_ref()
            }
        }
    )*};
}
header_bytes!(str => str, String, Box<str>, std::sync::Arc<str>);
header_bytes!([u8] => [u8], Vec<u8>, Box<[u8]>, bytes::Bytes);

impl<const N: usize> HeaderBytes for [u8; N] {
    fn header_bytes(&self) -> &[u8] {
        self
    }
}

impl<T: HeaderBytes + ?Sized> HeaderBytes for &T {
    fn header_bytes(&self) -> &[u8] {
        (**self).header_bytes()
    }
}

/// One header field for [`write_head`]: a `(name, value)` tuple, or a reference to one.
pub trait HeaderPair {
    /// The field name.
    fn name(&self) -> &[u8];
    /// The field value.
    fn value(&self) -> &[u8];
}

impl<N: HeaderBytes, V: HeaderBytes> HeaderPair for (N, V) {
    fn name(&self) -> &[u8] {
        self.0.header_bytes()
    }
    fn value(&self) -> &[u8] {
        self.1.header_bytes()
    }
}

impl<N: HeaderBytes, V: HeaderBytes> HeaderPair for &(N, V) {
    fn name(&self) -> &[u8] {
        self.0.header_bytes()
    }
    fn value(&self) -> &[u8] {
        self.1.header_bytes()
    }
}

/// Whether a response with this status never has content, so carries no framing headers:
/// 1xx and 204 MUST NOT send Content-Length or Transfer-Encoding (RFC 9110 §8.6, RFC 9112
/// §6.1), and 304 ends at its head whatever it says (RFC 9112 §6.3 item 1).
fn bodyless(status: u16) -> bool {
    (100..200).contains(&status) || status == 204 || status == 304
}

/// Writes "HTTP/1.1 {status} {reason}\r\n", `date: {date}`, the caller's headers verbatim,
/// then the framing, the connection option and the blank line.
///
/// `headers` is any sequence of [`HeaderPair`]s: `(name, value)` tuples or references to
/// them, of strings or bytes, e.g. `[("content-type", "text/plain")]` or
/// `&[(Box<str>, Box<[u8]>)]`. The caller guarantees
/// names and values are valid ([`valid_header_name`], [`valid_header_value`]) and passes no
/// content-length, transfer-encoding, date or connection itself.
///
/// Framing: `content-length: N` when `body_len` is `Some(N)`, else `transfer-encoding:
/// chunked` (the body must then be written with [`write_chunk`] and [`write_last_chunk`]).
/// For 1xx and 204 neither is written, and for 304 only a `Some` length is (it then states
/// the length the representation would have); no body may follow those heads.
/// `close` adds `connection: close`; `keep_alive_10` adds `connection: keep-alive`, which an
/// HTTP/1.0 client needs to keep the connection open (RFC 9112 §9.3); `close` wins.
pub fn write_head<I>(
    out: &mut Vec<u8>,
    status: u16,
    headers: I,
    body_len: Option<u64>,
    close: bool,
    keep_alive_10: bool,
    date: &[u8],
) where
    I: IntoIterator,
    I::Item: HeaderPair,
{
    let mut num = itoa::Buffer::new();
    write_status_line(out, &mut num, status, date);
    for pair in headers {
        out.extend_from_slice(pair.name());
        out.extend_from_slice(b": ");
        out.extend_from_slice(pair.value());
        out.extend_from_slice(b"\r\n");
    }
    match body_len {
        Some(n) if !(100..200).contains(&status) && status != 204 => {
            out.extend_from_slice(b"content-length: ");
            out.extend_from_slice(num.format(n).as_bytes());
            out.extend_from_slice(b"\r\n");
        }
        None if !bodyless(status) => out.extend_from_slice(b"transfer-encoding: chunked\r\n"),
        _ => {}
    }
    end_head(out, close, keep_alive_10);
}

/// `HTTP/1.1 <status> <reason>` and the `date` field: how every response head starts.
#[inline]
fn write_status_line(out: &mut Vec<u8>, num: &mut itoa::Buffer, status: u16, date: &[u8]) {
    out.extend_from_slice(b"HTTP/1.1 ");
    out.extend_from_slice(num.format(status).as_bytes());
    out.push(b' ');
    out.extend_from_slice(reason_phrase(status).as_bytes());
    out.extend_from_slice(b"\r\ndate: ");
    out.extend_from_slice(date);
    out.extend_from_slice(b"\r\n");
}

/// The connection field, if any, and the empty line that ends a response head.
#[inline]
fn end_head(out: &mut Vec<u8>, close: bool, keep_alive_10: bool) {
    if close {
        out.extend_from_slice(b"connection: close\r\n");
    } else if keep_alive_10 {
        // HTTP/1.0 defaults to close; say we keep it open (RFC 9112 §9.3).
        out.extend_from_slice(b"connection: keep-alive\r\n");
    }
    out.extend_from_slice(b"\r\n");
}

/// How the body of a response is delimited (RFC 9112 §6.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framing {
    /// `content-length: N`.
    Length(usize),
    /// `transfer-encoding: chunked`.
    Chunked,
    /// Neither header: 1xx, 204 and 304 have no body (RFC 9110 §8.6, §15.4.5), and a
    /// close-delimited stream to an HTTP/1.0 client.
    None,
}

/// Writes the status line and header section of a [`Response`](crate::protocol::response::Response):
/// its `header_block` is already encoded and valid, `framing` says how its body is delimited.
pub fn write_response_head(
    out: &mut Vec<u8>,
    status: u16,
    header_block: &[u8],
    framing: Framing,
    close: bool,
    keep_alive_10: bool,
    date: &[u8],
) {
    let mut num = itoa::Buffer::new();
    write_status_line(out, &mut num, status, date);
    out.extend_from_slice(header_block);
    match framing {
        Framing::Length(n) => {
            out.extend_from_slice(b"content-length: ");
            out.extend_from_slice(num.format(n).as_bytes());
            out.extend_from_slice(b"\r\n");
        }
        Framing::Chunked => out.extend_from_slice(b"transfer-encoding: chunked\r\n"),
        Framing::None => {}
    }
    end_head(out, close, keep_alive_10);
}

/// Appends one chunk (RFC 9112 §7.1): hex size, CRLF, data, CRLF. Writes nothing for empty
/// `data`, since a zero-size chunk would end the body.
pub fn write_chunk(out: &mut Vec<u8>, data: &[u8]) {
    if data.is_empty() {
        return;
    }
    let mut hex = [0u8; 16];
    let mut i = hex.len();
    let mut n = data.len();
    while n > 0 || i == hex.len() {
        i -= 1;
        hex[i] = b"0123456789abcdef"[n & 0xf];
        n >>= 4;
    }
    out.reserve(hex.len() - i + data.len() + 4);
    out.extend_from_slice(&hex[i..]);
    out.extend_from_slice(b"\r\n");
    out.extend_from_slice(data);
    out.extend_from_slice(b"\r\n");
}

/// Appends the last chunk and an empty trailer section: `0\r\n\r\n` (RFC 9112 §7.1).
pub fn write_last_chunk(out: &mut Vec<u8>) {
    out.extend_from_slice(b"0\r\n\r\n");
}

/// The last chunk with a trailer section (RFC 9112 §7.1.2): `trailers` is `name: value\r\n`
/// lines.
pub fn write_last_chunk_with(out: &mut Vec<u8>, trailers: &[u8]) {
    out.extend_from_slice(b"0\r\n");
    out.extend_from_slice(trailers);
    out.extend_from_slice(b"\r\n");
}

/// A complete error answer for `err`: status line, date, content-type: text/plain;
/// charset=utf-8, content-length, connection: close, and the body
/// "{status} {reason phrase}: {err.reason()}\n". The connection must be closed after it.
pub fn write_error(out: &mut Vec<u8>, err: &ProtoError, date: &[u8]) {
    let status = err.status();
    let mut num = itoa::Buffer::new();
    let code = num.format(status);
    let phrase = reason_phrase(status);
    let reason = err.reason();
    let body_len = code.len() + 1 + phrase.len() + 2 + reason.len() + 1;
    write_head(
        out,
        status,
        [("content-type", "text/plain; charset=utf-8")],
        Some(body_len as u64),
        true,
        false,
        date,
    );
    out.extend_from_slice(code.as_bytes());
    out.push(b' ');
    out.extend_from_slice(phrase.as_bytes());
    out.extend_from_slice(b": ");
    out.extend_from_slice(reason.as_bytes());
    out.push(b'\n');
}

#[cfg(test)]
#[path = "encode_tests.rs"]
mod tests;
