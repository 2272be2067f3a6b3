//! Request body decoding (RFC 9112 §6, §7): Content-Length and chunked.
//!
//! The chunked framing is decoded by a byte-level state machine, so a body may arrive in
//! pieces of any size (one byte at a time included) without ever rescanning what was already
//! seen, and every state consumes at least one byte or finishes: the decoder cannot loop.
//! Chunk data itself is copied in bulk. Everything that is not exactly what RFC 9112 §7.1
//! allows is refused: a body whose end two parsers could see in different places is how
//! requests are smuggled past a proxy.

use bytes::{Buf, BytesMut};

use super::error::ProtoError;
use super::token::is_tchar;

#[cfg(test)]
#[path = "body_tests.rs"]
mod tests;

/// How a request body is delimited (RFC 9112 §6.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyFraming {
    /// No body: neither Content-Length nor Transfer-Encoding, or `Content-Length: 0`.
    Empty,
    /// Exactly this many bytes (never 0).
    Length(u64),
    /// `Transfer-Encoding: chunked`.
    Chunked,
}

/// Longest chunk-size line (size and extensions, without CRLF) we accept. Extensions carry
/// nothing we use; the bound keeps a client from making us scan forever (RFC 9112 §7.1.1).
const MAX_CHUNK_LINE: usize = 4096;

const INVALID_SIZE: ProtoError = ProtoError::BadRequest("invalid chunk size");
const INVALID_EXT: ProtoError = ProtoError::BadRequest("invalid chunk extension");
const BARE_LF: ProtoError = ProtoError::BadRequest("bare LF in chunked body");
const BARE_CR: ProtoError = ProtoError::BadRequest("bare CR in chunked body");
const INVALID_TRAILER: ProtoError = ProtoError::BadRequest("invalid trailer field");

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Content-Length body with this many bytes left.
    Length(u64),
    /// In the hex digits of a chunk-size.
    Size,
    /// Whitespace after the size digits (BWS): only `;` may follow.
    SizeWs,
    /// After `;`: a chunk-ext-name must start.
    ExtStart,
    /// Whitespace after an ext-name (BWS): `=` or the next `;` may follow.
    ExtNameWs,
    /// Whitespace after an ext-val (BWS): only the next `;` may follow.
    ExtValueWs,
    /// In a chunk-ext-name.
    ExtName,
    /// After `=`: a token or quoted-string must start.
    ExtValueStart,
    /// In a token chunk-ext-val.
    ExtToken,
    /// Inside a quoted-string chunk-ext-val.
    ExtQuoted,
    /// After a backslash inside a quoted-string.
    ExtQuotedEscape,
    /// After the closing quote.
    ExtQuotedEnd,
    /// After the CR ending a chunk-size line.
    SizeLf,
    /// In chunk data with this many bytes left.
    Data(u64),
    /// After chunk data: CR must follow.
    DataCr,
    /// After chunk data and CR: LF must follow.
    DataLf,
    /// At the start of a trailer field line, or of the final empty line.
    TrailerLineStart,
    /// In a trailer field name.
    TrailerName,
    /// In a trailer field value.
    TrailerValue,
    /// After the CR ending a trailer field line.
    TrailerLf,
    /// After the CR of the final empty line.
    FinalLf,
    /// The whole message body has been consumed.
    Done,
    /// An error was returned; it is returned again on every later call.
    Failed(ProtoError),
}

/// Decodes one request body from a stream of input buffers; see [`BodyDecoder::decode`].
#[derive(Debug, Clone)]
pub struct BodyDecoder {
    state: State,
    max_body: u64,
    max_trailer_bytes: usize,
    /// Body bytes already accepted (chunk sizes announced so far).
    decoded: u64,
    /// Value of the chunk-size being read.
    size: u64,
    /// Hex digits of the chunk-size being read.
    digits: u8,
    /// Bytes of the current chunk-size line, without CRLF.
    line_len: usize,
    /// Bytes of the trailer section so far.
    trailer_bytes: usize,
}

impl BodyDecoder {
    /// A decoder for a body framed as `framing`, refusing bodies over `max_body` bytes and
    /// trailer sections over `max_trailer_bytes`.
    pub fn new(framing: BodyFraming, max_body: u64, max_trailer_bytes: usize) -> Self {
        let state = match framing {
            BodyFraming::Empty | BodyFraming::Length(0) => State::Done,
            BodyFraming::Length(n) if n > max_body => State::Failed(ProtoError::BodyTooLarge),
            BodyFraming::Length(n) => State::Length(n),
            BodyFraming::Chunked => State::Size,
        };
        BodyDecoder {
            state,
            max_body,
            max_trailer_bytes,
            decoded: 0,
            size: 0,
            digits: 0,
            line_len: 0,
            trailer_bytes: 0,
        }
    }

    /// Whether the whole body (for chunked: last chunk and trailers too) has been consumed.
    pub fn is_done(&self) -> bool {
        self.state == State::Done
    }

    /// Consumes what it can from `buf`, appending decoded body bytes to `out` (when `out` is
    /// empty and a whole Content-Length body is in `buf`, it is moved with `split_to` instead
    /// of copied). Returns Ok(true) once the body (and for chunked the last chunk and
    /// trailers) is complete; then `buf` holds only bytes after the message (pipelining).
    /// Ok(false) = need more input. After an `Err` every call returns the same error.
    pub fn decode(&mut self, buf: &mut BytesMut, out: &mut BytesMut) -> Result<bool, ProtoError> {
        let r = self.run(buf, out);
        if let Err(e) = r {
            self.state = State::Failed(e);
        }
        r
    }

    fn run(&mut self, buf: &mut BytesMut, out: &mut BytesMut) -> Result<bool, ProtoError> {
        loop {
            match self.state {
                State::Done => return Ok(true),
                State::Failed(e) => return Err(e),
                State::Length(0) => self.state = State::Done,
                State::Length(left) => {
                    if buf.is_empty() {
                        return Ok(false);
                    }
                    let n = take(left, buf.len());
                    if out.is_empty() && n as u64 == left {
                        // The common case: the whole body is already here. Move, don't copy.
                        *out = buf.split_to(n);
                    } else {
                        out.extend_from_slice(&buf[..n]);
                        buf.advance(n);
                    }
                    self.state = State::Length(left - n as u64);
                }
                State::Data(left) => {
                    if buf.is_empty() {
                        return Ok(false);
                    }
                    let n = take(left, buf.len());
                    out.extend_from_slice(&buf[..n]);
                    buf.advance(n);
                    self.state = if n as u64 == left {
                        State::DataCr
                    } else {
                        State::Data(left - n as u64)
                    };
                }
                _ => {
                    // Framing bytes: step through them until data starts, the message ends
                    // or the input runs out, then drop what was consumed in one go.
                    let mut used = 0;
                    let result = loop {
                        match (buf.get(used), self.state) {
                            (_, State::Data(_) | State::Done) => break Ok(()),
                            (None, _) => break Ok(()),
                            (Some(&b), _) => {
                                used += 1;
                                if let Err(e) = self.step(b) {
                                    break Err(e);
                                }
                            }
                        }
                    };
                    buf.advance(used);
                    result?;
                    if buf.is_empty() {
                        return Ok(self.is_done());
                    }
                }
            }
        }
    }

    /// Advances the chunked state machine by one byte.
    fn step(&mut self, b: u8) -> Result<(), ProtoError> {
        use State::*;
        let in_size_line = matches!(
            self.state,
            Size | ExtStart
                | ExtName
                | ExtValueStart
                | ExtToken
                | ExtQuoted
                | ExtQuotedEscape
                | ExtQuotedEnd
        );
        if in_size_line {
            // RFC 9112 §7.1: a lone LF never ends a line here (§2.2 strictness).
            if b == b'\n' {
                return Err(BARE_LF);
            }
            if b != b'\r' {
                self.line_len += 1;
                if self.line_len > MAX_CHUNK_LINE {
                    return Err(ProtoError::BadRequest("chunk-size line too long"));
                }
            }
        }
        if matches!(self.state, TrailerLineStart | TrailerName | TrailerValue) && b == b'\n' {
            return Err(BARE_LF);
        }
        // Trailer field lines (with their CRLF) count against the bound; the final CRLF not.
        let in_field = matches!(self.state, TrailerName | TrailerValue | TrailerLf);
        if in_field || (self.state == TrailerLineStart && b != b'\r') {
            self.trailer_bytes += 1;
            if self.trailer_bytes > self.max_trailer_bytes {
                return Err(ProtoError::HeadersTooLarge);
            }
        }
        self.state = match (self.state, b) {
            // chunk-size = 1*HEXDIG (§7.1): no sign, no "0x", no whitespace. More than 16
            // digits cannot be a u64; a body beyond max_body is refused as soon as the size
            // says so, before any of it is read.
            (Size, _) if b.is_ascii_hexdigit() => {
                self.digits += 1;
                if self.digits > 16 {
                    return Err(INVALID_SIZE);
                }
                self.size = (self.size << 4) | u64::from(hex_value(b));
                match self.decoded.checked_add(self.size) {
                    Some(total) if total <= self.max_body => Size,
                    _ => return Err(ProtoError::BodyTooLarge),
                }
            }
            (Size, b';' | b'\r') if self.digits > 0 => {
                if b == b';' {
                    ExtStart
                } else {
                    SizeLf
                }
            }
            // chunk-ext = *( BWS ";" BWS ext-name [ BWS "=" BWS ext-val ] ) (§7.1.1), and a
            // recipient MUST parse and remove BWS (RFC 9110 §5.6.3). Extensions are ignored.
            (Size, b' ' | b'\t') if self.digits > 0 => SizeWs,
            (SizeWs, b' ' | b'\t') => SizeWs,
            (SizeWs, b';') => ExtStart,
            (Size | SizeWs, _) => return Err(INVALID_SIZE),
            (ExtStart | ExtValueStart, b' ' | b'\t') => self.state,
            (ExtName | ExtNameWs, b' ' | b'\t') => ExtNameWs,
            (ExtToken | ExtQuotedEnd | ExtValueWs, b' ' | b'\t') => ExtValueWs,
            (ExtStart | ExtName, _) if is_tchar(b) => ExtName,
            (ExtName | ExtNameWs, b'=') => ExtValueStart,
            (ExtName | ExtNameWs | ExtToken | ExtQuotedEnd | ExtValueWs, b';') => ExtStart,
            (ExtName | ExtToken | ExtQuotedEnd, b'\r') => SizeLf,
            (ExtValueStart | ExtToken, _) if is_tchar(b) => ExtToken,
            (ExtValueStart, b'"') => ExtQuoted,
            // quoted-string (RFC 9110 §5.6.4): qdtext and quoted-pair.
            (ExtQuoted, b'"') => ExtQuotedEnd,
            (ExtQuoted, b'\\') => ExtQuotedEscape,
            (ExtQuoted, _) if is_qdtext(b) => ExtQuoted,
            (ExtQuotedEscape, _) if b == b'\t' || b == b' ' || is_vchar_or_obs(b) => ExtQuoted,
            (ExtStart | ExtName | ExtNameWs | ExtValueStart | ExtToken | ExtValueWs, _) => {
                return Err(INVALID_EXT)
            }
            (ExtQuoted | ExtQuotedEscape | ExtQuotedEnd, _) => return Err(INVALID_EXT),
            (SizeLf, b'\n') => {
                self.line_len = 0;
                if self.size == 0 {
                    // last-chunk: the trailer section follows (§7.1.2).
                    TrailerLineStart
                } else {
                    self.decoded += self.size;
                    Data(self.size)
                }
            }
            // chunk = chunk-size [ chunk-ext ] CRLF chunk-data CRLF: exactly CRLF after data.
            (DataCr, b'\r') => DataLf,
            (DataLf, b'\n') => {
                self.size = 0;
                self.digits = 0;
                Size
            }
            (DataCr | DataLf, _) => {
                return Err(ProtoError::BadRequest("chunk data not followed by CRLF"))
            }
            // trailer-section = *( field-line CRLF ) (§7.1.2, RFC 9112 §5): same syntax as
            // header fields, without obs-fold or whitespace before the colon. Discarded.
            (TrailerLineStart, b'\r') => FinalLf,
            (TrailerLineStart | TrailerName, _) if is_tchar(b) => TrailerName,
            (TrailerName, b':') => TrailerValue,
            (TrailerValue, b'\r') => TrailerLf,
            (TrailerValue, _) if b == b'\t' || b == b' ' || is_vchar_or_obs(b) => TrailerValue,
            (TrailerLineStart | TrailerName | TrailerValue, _) => return Err(INVALID_TRAILER),
            (TrailerLf, b'\n') => TrailerLineStart,
            (FinalLf, b'\n') => Done,
            (SizeLf | TrailerLf | FinalLf, _) => return Err(BARE_CR),
            // Not reached: run() steps only through framing states.
            (Length(_) | Data(_) | Done | Failed(_), _) => self.state,
        };
        Ok(())
    }
}

/// `min(left, avail)` as a usize.
fn take(left: u64, avail: usize) -> usize {
    usize::try_from(left).map_or(avail, |l| l.min(avail))
}

fn hex_value(b: u8) -> u8 {
    match b {
        b'0'..=b'9' => b - b'0',
        b'a'..=b'f' => b - b'a' + 10,
        b'A'..=b'F' => b - b'A' + 10,
        _ => 0,
    }
}

/// VCHAR or obs-text (RFC 9110 §5.5 field-vchar).
fn is_vchar_or_obs(b: u8) -> bool {
    (0x21..=0x7e).contains(&b) || b >= 0x80
}

/// qdtext = HTAB / SP / %x21 / %x23-5B / %x5D-7E / obs-text (RFC 9110 §5.6.4).
fn is_qdtext(b: u8) -> bool {
    b == b'\t' || b == b' ' || (is_vchar_or_obs(b) && b != b'"' && b != b'\\')
}
