//! permessage-deflate (RFC 7692), server side, sans-IO: the handshake negotiation, one
//! compressor for what we send and a decompressor per socket for what we receive.
//!
//! We always answer with `server_no_context_takeover`, which RFC 7692 §7.1.1.1 lets a server
//! do even when the client did not ask: every message we send is compressed on its own, so a
//! broadcast is compressed once and the same frame is valid for every recipient, and no socket
//! keeps a compressor (a zlib-rs deflate state is 371 KiB at 15 window bits). Compression runs on
//! a thread-local compressor reset per message, so a message costs no allocation of zlib state.
//!
//! Receiving is where memory per socket goes: a client that uses context takeover (every browser
//! does unless told otherwise) needs its window kept between messages. See [`Inflater`] for the
//! figure, and [`DeflateConfig::client_no_context_takeover`] for how to keep nothing at all.

use std::cell::RefCell;

use flate2::{Compress, Compression, Decompress, FlushCompress, FlushDecompress, Status};

use crate::protocol::h1::token::{is_tchar, trim_ows};

#[cfg(test)]
#[path = "deflate_tests.rs"]
mod tests;

/// The empty stored block a sync flush ends with; removed when sending and put back before
/// inflating (RFC 7692 §7.2.1, §7.2.2).
const TAIL: [u8; 4] = [0x00, 0x00, 0xff, 0xff];

/// Growth step of the inflate output: a bomb is stopped at most this far past its budget.
const CHUNK: usize = 16 * 1024;

/// Heap kept by an [`Inflater`] that holds a window (client context takeover), in bytes.
///
/// zlib-rs 0.6 allocates one block per inflate state: the state struct plus a 32 KiB + 64 byte
/// window, 64-byte aligned, whatever `window_bits` says (`InflateAllocOffsets::new` sizes the
/// window from `MAX_WBITS`, and `Window::size` is that capacity), so `client_max_window_bits`
/// saves us no memory, and a client that refers further back than it promised is not caught:
/// its data still inflates correctly, so nothing is lost by that leniency. Measured by
/// counting a global allocator's live bytes around
/// `Box::new(Decompress::new_with_window_bits(false, b))` and one inflate: 47,704 bytes for
/// every `b` in 9..=15, 152 of them the boxed `Decompress` (flate2 1.1.11, zlib-rs 0.6.8,
/// x86_64, a scratch crate outside the tree). For comparison a deflate state is 251,008 bytes
/// at 9 bits and 380,032 at 15, which is why we keep none per socket.
pub const INFLATE_STATE_BYTES: usize = 47_704;

/// Server settings for permessage-deflate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeflateConfig {
    /// Accept the extension at all (`--ws-compression`).
    pub enabled: bool,
    /// 8..=15 (out-of-range values are clamped). Asked of clients that offer
    /// `client_max_window_bits`; bounds the distances a client may use, not our memory (see
    /// [`INFLATE_STATE_BYTES`]).
    pub client_max_window_bits: u8,
    /// Messages shorter than this are sent uncompressed (the lead's send path applies it).
    pub min_size: usize,
    /// zlib level 0..=9 (larger values are treated as 9).
    pub level: u32,
    /// Answer every accepted offer with `client_no_context_takeover` (RFC 7692 §7.1.1.2 lets a
    /// server do so unasked): clients then compress each message alone, and a socket keeps
    /// no inflate state at all instead of [`INFLATE_STATE_BYTES`]. Costs compression ratio on
    /// client-to-server messages only.
    pub client_no_context_takeover: bool,
}

impl Default for DeflateConfig {
    fn default() -> Self {
        Self {
            enabled: false,
            client_max_window_bits: 15,
            // Below ~256 bytes the deflate header and Huffman tables eat most of the gain.
            min_size: 256,
            // Level 1 compresses JSON chat traffic to within a few percent of level 6 at a
            // fraction of the CPU; a broadcast is compressed once, but an echo is not.
            level: 1,
            client_no_context_takeover: false,
        }
    }
}

/// What one accepted offer agreed on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Negotiated {
    /// The client resets its compressor per message: its messages are inflated alone.
    pub client_no_context_takeover: bool,
    /// Largest window the client may use, 8..=15 (15 when it did not offer the parameter).
    pub client_max_window_bits: u8,
    /// Largest window we may use when compressing for this socket, 8..=15 (pass to [`compress`]).
    pub server_max_window_bits: u8,
    /// The `Sec-WebSocket-Extensions` value to send.
    pub response: String,
}

/// Picks the first permessage-deflate offer we can accept among every
/// `Sec-WebSocket-Extensions` header value of the request (RFC 7692 §5, §7.1), or `None`.
///
/// An offer with an unknown parameter, a repeated parameter or an invalid value is declined and
/// the next one is tried (§7.1: a server must not accept an offer it does not understand).
pub fn negotiate(offers: &[&[u8]], cfg: &DeflateConfig) -> Option<Negotiated> {
    if !cfg.enabled {
        return None;
    }
    offers
        .iter()
        .flat_map(|value| split_unquoted(value, b','))
        .find_map(|ext| accept(ext, cfg))
}

/// The permessage-deflate parameters of one offer, each seen at most once.
#[derive(Default)]
struct Offer {
    server_no_context_takeover: bool,
    client_no_context_takeover: bool,
    server_max_window_bits: Option<u8>,
    /// `Some(None)`: offered without a value.
    client_max_window_bits: Option<Option<u8>>,
}

fn accept(ext: &[u8], cfg: &DeflateConfig) -> Option<Negotiated> {
    let mut parts = split_unquoted(ext, b';');
    let name = trim_ows(parts.next()?);
    if !name.eq_ignore_ascii_case(b"permessage-deflate") {
        return None;
    }
    let mut offer = Offer::default();
    for param in parts {
        let (name, value) = parse_param(param)?;
        let name = name.to_ascii_lowercase();
        match name.as_slice() {
            b"server_no_context_takeover" if value.is_none() => {
                set_once(&mut offer.server_no_context_takeover)?
            }
            b"client_no_context_takeover" if value.is_none() => {
                set_once(&mut offer.client_no_context_takeover)?
            }
            b"server_max_window_bits" if offer.server_max_window_bits.is_none() => {
                // §7.1.2.1: the value is mandatory here.
                offer.server_max_window_bits = Some(window_bits(&value?)?);
            }
            b"client_max_window_bits" if offer.client_max_window_bits.is_none() => {
                let bits = match value {
                    Some(v) => Some(window_bits(&v)?),
                    None => None,
                };
                offer.client_max_window_bits = Some(bits);
            }
            _ => return None,
        }
    }
    Some(answer(&offer, cfg))
}

fn answer(offer: &Offer, cfg: &DeflateConfig) -> Negotiated {
    let mut response = String::from("permessage-deflate; server_no_context_takeover");
    let client_no_context_takeover =
        offer.client_no_context_takeover || cfg.client_no_context_takeover;
    if client_no_context_takeover {
        response.push_str("; client_no_context_takeover");
    }
    // §7.1.2.1: accepting the parameter means echoing it with the same or a smaller value. We
    // never need a smaller one: without context takeover a small window costs only ratio.
    let server_max_window_bits = offer.server_max_window_bits.unwrap_or(15);
    if let Some(bits) = offer.server_max_window_bits {
        response.push_str(&format!("; server_max_window_bits={bits}"));
    }
    // §7.1.2.2: we may only send client_max_window_bits if the client offered it, and then
    // with a value no larger than the one it offered.
    let mut client_max_window_bits = 15;
    if let Some(offered) = offer.client_max_window_bits {
        let ours = cfg.client_max_window_bits.clamp(8, 15);
        client_max_window_bits = offered.map_or(ours, |v| v.min(ours));
        if client_max_window_bits < 15 {
            response.push_str(&format!(
                "; client_max_window_bits={client_max_window_bits}"
            ));
        }
    }
    Negotiated {
        client_no_context_takeover,
        client_max_window_bits,
        server_max_window_bits,
        response,
    }
}

fn set_once(seen: &mut bool) -> Option<()> {
    if *seen {
        return None;
    }
    *seen = true;
    Some(())
}

/// `8..=15` written without leading zeros (RFC 7692 §7.1.2.1).
fn window_bits(value: &[u8]) -> Option<u8> {
    match value {
        [d @ b'8'..=b'9'] => Some(d - b'0'),
        [b'1', d @ b'0'..=b'5'] => Some(10 + d - b'0'),
        _ => None,
    }
}

/// `token [ "=" ( token | quoted-string ) ]` (RFC 6455 §9.1); a quoted value must be a token
/// once unescaped. `None` when the parameter is malformed.
fn parse_param(param: &[u8]) -> Option<(&[u8], Option<Vec<u8>>)> {
    let param = trim_ows(param);
    let (name, value) = match param.iter().position(|&b| b == b'=') {
        Some(eq) => (trim_ows(&param[..eq]), Some(trim_ows(&param[eq + 1..]))),
        None => (param, None),
    };
    if !is_token(name) {
        return None;
    }
    let Some(value) = value else {
        return Some((name, None));
    };
    let value = match value {
        [b'"', inner @ .., b'"'] => unescape(inner)?,
        _ => value.to_vec(),
    };
    is_token(&value).then_some((name, Some(value)))
}

fn unescape(inner: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(inner.len());
    let mut bytes = inner.iter();
    while let Some(&b) = bytes.next() {
        match b {
            b'\\' => out.push(*bytes.next()?),
            b'"' => return None,
            _ => out.push(b),
        }
    }
    Some(out)
}

fn is_token(s: &[u8]) -> bool {
    !s.is_empty() && s.iter().all(|&b| is_tchar(b))
}

/// Splits on `sep` outside quoted strings (a `\` inside quotes escapes the next byte), so a
/// quoted value can never cut an extension or a parameter in two.
fn split_unquoted(s: &[u8], sep: u8) -> impl Iterator<Item = &[u8]> {
    let mut rest = Some(s);
    std::iter::from_fn(move || {
        let s = rest?;
        let (mut quoted, mut escaped) = (false, false);
        for (i, &b) in s.iter().enumerate() {
            match b {
                _ if escaped => escaped = false,
                b'\\' if quoted => escaped = true,
                b'"' => quoted = !quoted,
                _ if b == sep && !quoted => {
                    rest = Some(&s[i + 1..]);
                    return Some(&s[..i]);
                }
                _ => {}
            }
        }
        rest = None;
        Some(s)
    })
}

thread_local! {
    /// One compressor per window size 9..=15, created on first use with the level it was made
    /// for; a server uses one level, and nearly always one window size.
    static COMPRESSORS: RefCell<[Option<(u32, Compress)>; 7]> = RefCell::default();
    /// Shared by every socket whose client does not take over context: the message is inflated
    /// within one call, so nothing carries from one socket to another.
    static SHARED_INFLATER: RefCell<Option<Decompress>> = const { RefCell::new(None) };
}

/// Compresses one whole message payload on its own (raw deflate, sync flush, the trailing
/// `00 00 ff ff` removed per RFC 7692 §7.2.1), appending to `out`.
///
/// `window_bits` is the socket's [`Negotiated::server_max_window_bits`]. zlib cannot deflate
/// with an 8-bit window; with 9 bits it never emits a distance above 512 - 262
/// (`MIN_LOOKAHEAD`) = 250 bytes, which a 256-byte window decodes, so 8 is compressed as 9.
pub fn compress(payload: &[u8], window_bits: u8, level: u32, out: &mut Vec<u8>) {
    let bits = window_bits.clamp(9, 15);
    let level = level.min(9);
    COMPRESSORS.with_borrow_mut(|slots| {
        let slot = &mut slots[usize::from(bits - 9)];
        let compressor = match slot {
            Some((made_for, c)) if *made_for == level => {
                c.reset();
                c
            }
            _ => {
                let c = Compress::new_with_window_bits(Compression::new(level), false, bits);
                &mut slot.insert((level, c)).1
            }
        };
        deflate_sync(compressor, payload, out);
    });
}

fn deflate_sync(c: &mut Compress, input: &[u8], out: &mut Vec<u8>) {
    let start = out.len();
    // Stored blocks bound the output: 5 bytes per 64 KiB block, plus the flush's empty block.
    out.reserve(input.len() / 2 + 64);
    let in_start = c.total_in();
    loop {
        if out.capacity() - out.len() < 64 {
            out.reserve(out.capacity().max(CHUNK));
        }
        let consumed = usize::try_from(c.total_in() - in_start).unwrap_or(usize::MAX);
        let before = (consumed, out.len());
        // A fresh raw stream with valid parameters: zlib reports errors only for a corrupted
        // state, which would be our bug.
        c.compress_vec(&input[consumed..], out, FlushCompress::Sync)
            .expect("deflate with a valid state cannot fail");
        let consumed = usize::try_from(c.total_in() - in_start).unwrap_or(usize::MAX);
        let flushed = consumed == input.len() && out.len() < out.capacity();
        if flushed || before == (consumed, out.len()) {
            break;
        }
    }
    debug_assert!(out[start..].ends_with(&TAIL));
    if out[start..].ends_with(&TAIL) {
        out.truncate(out.len() - TAIL.len());
    }
}

/// Why a compressed message could not be inflated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InflateError {
    /// The message inflates to more than the limit (close 1009).
    TooBig,
    /// Not valid deflate data (close 1007).
    Corrupt,
}

/// Per-socket decompressor.
///
/// Memory kept per socket: `size_of::<Inflater>()` (16 bytes) when the client does not take
/// over context (its messages are inflated by a thread-local state) or has not sent a
/// compressed message yet; [`INFLATE_STATE_BYTES`] (46.6 KiB) more on the heap once a
/// context-takeover client has. Report it with [`Inflater::retained_bytes`].
/// After an error the socket is closed; the state must not be used again.
#[derive(Debug)]
pub struct Inflater {
    window_bits: u8,
    takeover: bool,
    /// Boxed so a socket that never receives a compressed message keeps 8 bytes, not 152.
    state: Option<Box<Decompress>>,
}

impl Inflater {
    pub fn new(n: &Negotiated) -> Self {
        Self {
            // zlib inflates 8-bit-window streams with a 9-bit window (RFC 7692 §7.1.2.2 notes).
            window_bits: n.client_max_window_bits.clamp(9, 15),
            takeover: !n.client_no_context_takeover,
            state: None,
        }
    }

    /// Heap this socket keeps for inflating, in bytes.
    pub fn retained_bytes(&self) -> usize {
        if self.state.is_some() {
            INFLATE_STATE_BYTES
        } else {
            0
        }
    }

    /// Inflates one whole compressed message (the concatenated payloads of its frames) after
    /// appending `00 00 ff ff` (RFC 7692 §7.2.2), into `out`. Stops with [`InflateError::TooBig`]
    /// as soon as the output passes `max` bytes: `out` never grows beyond `max` + 1 bytes past
    /// its length on entry, and is truncated back to that length on any error.
    pub fn inflate(
        &mut self,
        message: &[u8],
        max: usize,
        out: &mut Vec<u8>,
    ) -> Result<(), InflateError> {
        let start = out.len();
        let result = if self.takeover {
            let bits = self.window_bits;
            let d = self
                .state
                .get_or_insert_with(|| Box::new(Decompress::new_with_window_bits(false, bits)));
            inflate_message(d, message, max, out)
        } else {
            SHARED_INFLATER.with_borrow_mut(|shared| {
                // The largest window decodes every smaller one, and with zlib-rs it costs the
                // same memory; at 15 bits `reset` reuses the allocation.
                let d = shared.get_or_insert_with(|| Decompress::new_with_window_bits(false, 15));
                d.reset(false);
                inflate_message(d, message, max, out)
            })
        };
        if result.is_err() {
            out.truncate(start);
        }
        result
    }
}

fn inflate_message(
    d: &mut Decompress,
    message: &[u8],
    max: usize,
    out: &mut Vec<u8>,
) -> Result<(), InflateError> {
    let limit = out.len().saturating_add(max);
    match feed(d, message, limit, out)? {
        // The message ended its deflate stream (a block with BFINAL set, §7.2.3.4): the
        // appended empty block belongs to no stream. The next message starts a new one.
        Fed::StreamEnded => {
            d.reset(false);
            Ok(())
        }
        Fed::All => match feed(d, &TAIL, limit, out)? {
            Fed::StreamEnded => {
                d.reset(false);
                Ok(())
            }
            Fed::All => Ok(()),
        },
    }
}

enum Fed {
    All,
    /// All input consumed, the last part of it closing a deflate stream.
    StreamEnded,
}

/// Feeds all of `input` to `d`, keeping `out.len()` at most `limit`.
fn feed(
    d: &mut Decompress,
    input: &[u8],
    limit: usize,
    out: &mut Vec<u8>,
) -> Result<Fed, InflateError> {
    let mut pos = 0;
    loop {
        if out.len() == out.capacity() {
            // Our own doubling, capped one byte past the budget so an overflow is seen without
            // ever allocating for the rest of a bomb.
            let cap = out
                .capacity()
                .saturating_mul(2)
                .max(out.len() + CHUNK)
                .min(limit.saturating_add(1));
            out.reserve_exact(cap - out.len());
        }
        let (in_before, out_before) = (d.total_in(), out.len());
        let status = d
            .decompress_vec(&input[pos..], out, FlushDecompress::Sync)
            .map_err(|_| InflateError::Corrupt)?;
        pos += usize::try_from(d.total_in() - in_before).unwrap_or(usize::MAX);
        if out.len() > limit {
            return Err(InflateError::TooBig);
        }
        let done = pos == input.len();
        if status == Status::StreamEnd {
            if done {
                return Ok(Fed::StreamEnded);
            }
            // Blocks after a final one start a new stream (§7.2.3.4 ends with an empty block).
            d.reset(false);
            continue;
        }
        let progressed = d.total_in() != in_before || out.len() != out_before;
        if done && out.len() < out.capacity() {
            return Ok(Fed::All);
        }
        if !progressed {
            // Room to write and input left, yet nothing moved: zlib is stuck on bad data.
            return if done {
                Ok(Fed::All)
            } else {
                Err(InflateError::Corrupt)
            };
        }
    }
}
