//! Frames in, messages out (RFC 6455 §5, §6.2): the server's reading half, sans-IO.
//!
//! Payload bytes are consumed as they arrive rather than once a frame is whole, so a frame
//! of invalid UTF-8 fails as soon as its first bad byte is here (Autobahn 6.4: fail fast), a
//! frame larger than the message limit fails from its header (1009) before its payload is
//! buffered, and nothing but the message being assembled is kept.

use std::io::Cursor;

use bytes::{Buf, Bytes, BytesMut};
use tungstenite::protocol::frame::coding::{Control, Data, OpCode};
use tungstenite::protocol::frame::FrameHeader;

use super::deflate::{InflateError, Inflater};
use super::frame::{code_allowed, Kind, MAX_CONTROL};

/// What the peer sent, once whole.
#[derive(Debug, PartialEq, Eq)]
pub enum Incoming {
    /// A whole message: text is valid UTF-8.
    Message(Kind, Bytes),
    /// A ping: answer with a pong carrying the same payload (§5.5.2).
    Ping(Bytes),
    /// A pong (ours answered, or unsolicited: §5.5.3).
    Pong,
    /// The peer's close: its code (None when it sent none: 1005 locally) and reason.
    Close(Option<u16>, Box<str>),
}

/// The peer broke the protocol: close with this code and reason, then drop (§7.1.7).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Failure {
    /// 1002 protocol error, 1007 invalid payload, 1009 too big.
    pub code: u16,
    /// What was wrong (sent as the close reason).
    pub reason: &'static str,
}

const fn fail(code: u16, reason: &'static str) -> Failure {
    Failure { code, reason }
}

/// The frame whose payload is being read.
struct Frame {
    fin: bool,
    /// Control opcode, or None for a data frame (whose message is `Reader::message`).
    control: Option<Control>,
    mask: [u8; 4],
    /// Payload bytes still to come.
    left: u64,
    /// Payload bytes read so far (the mask's phase).
    done: u64,
}

/// The data message being assembled from its frames.
struct Message {
    kind: Kind,
    compressed: bool,
    data: BytesMut,
    /// Bytes of `data` known to be valid UTF-8 (text, uncompressed).
    checked: usize,
}

/// The reading half of one WebSocket.
pub struct Reader {
    max_message: usize,
    frame: Option<Frame>,
    message: Option<Message>,
    control: BytesMut,
    inflater: Option<Inflater>,
}

impl Reader {
    /// A reader refusing messages over `max_message` bytes (after decompression), with
    /// permessage-deflate when `inflater` is given.
    pub fn new(max_message: usize, inflater: Option<Inflater>) -> Self {
        Reader {
            max_message,
            frame: None,
            message: None,
            control: BytesMut::new(),
            inflater,
        }
    }

    /// Takes what it can from `buf`: the next whole event, or `Ok(None)` when more bytes are
    /// needed (everything in `buf` was consumed then).
    pub fn next(&mut self, buf: &mut BytesMut) -> Result<Option<Incoming>, Failure> {
        loop {
            if self.frame.is_none() && !self.start_frame(buf)? {
                return Ok(None);
            }
            let Some(f) = self.frame.as_mut() else {
                continue;
            };
            let take = (f.left.min(buf.len() as u64)) as usize;
            let (mask, done) = (f.mask, f.done);
            f.done += take as u64;
            f.left -= take as u64;
            let whole = f.left == 0;
            let fin = f.fin;
            // Copied once, into the message, and unmasked there: splitting the input buffer
            // instead made it shared (an atomic reference count per frame), which doubled
            // the cost of a 64-byte message (benches/rust/ws_read.rs).
            let into = match f.control {
                Some(_) => &mut self.control,
                None => match self.message.as_mut() {
                    Some(m) => &mut m.data,
                    None => return Err(fail(1002, "continuation without a message")),
                },
            };
            let start = into.len();
            into.extend_from_slice(&buf[..take]);
            unmask(&mut into[start..], mask, done);
            buf.advance(take);
            if let (None, Some(m)) = (f.control, self.message.as_mut()) {
                if m.kind == Kind::Text && !m.compressed {
                    m.checked = check_utf8(&m.data, m.checked, whole && fin)?;
                }
            }
            if !whole {
                return Ok(None);
            }
            let Some(f) = self.frame.take() else { continue };
            if let Some(c) = f.control {
                let payload = self.control.split().freeze();
                return close_or_control(c, payload).map(Some);
            }
            if fin {
                return self.finish().map(Some);
            }
        }
    }

    /// Reads a frame header from `buf` if it is all there; checks it against the state.
    fn start_frame(&mut self, buf: &mut BytesMut) -> Result<bool, Failure> {
        let mut cur = Cursor::new(&buf[..]);
        let (h, len) = match FrameHeader::parse(&mut cur) {
            Ok(Some(parsed)) => parsed,
            Ok(None) => return Ok(false),
            Err(_) => return Err(fail(1002, "reserved opcode")),
        };
        let used = cur.position() as usize;
        let Some(mask) = h.mask else {
            return Err(fail(1002, "client frames must be masked"));
        };
        if h.rsv2 || h.rsv3 {
            return Err(fail(1002, "reserved bits set"));
        }
        let control = match h.opcode {
            OpCode::Control(c) => {
                if !h.is_final {
                    return Err(fail(1002, "fragmented control frame"));
                }
                if len > MAX_CONTROL as u64 {
                    return Err(fail(1002, "control frame over 125 bytes"));
                }
                if h.rsv1 {
                    return Err(fail(1002, "reserved bits set"));
                }
                Some(c)
            }
            OpCode::Data(d) => {
                let started = self.message.is_some();
                let kind = match d {
                    Data::Continue if !started => {
                        return Err(fail(1002, "continuation without a message"))
                    }
                    Data::Continue => {
                        if h.rsv1 {
                            // RSV1 marks the first frame of a compressed message only (RFC
                            // 7692 §6.1).
                            return Err(fail(1002, "RSV1 on a continuation frame"));
                        }
                        None
                    }
                    _ if started => {
                        return Err(fail(1002, "new message before the last one ended"))
                    }
                    Data::Text => Some(Kind::Text),
                    Data::Binary => Some(Kind::Binary),
                    Data::Reserved(_) => return Err(fail(1002, "reserved opcode")),
                };
                if h.rsv1 && self.inflater.is_none() {
                    return Err(fail(1002, "RSV1 set without permessage-deflate"));
                }
                let so_far = self.message.as_ref().map_or(0, |m| m.data.len()) as u64;
                // Saturating: a 64-bit length from the wire must not wrap past the limit
                // (the fuzzer's first find: 2^64 - 5 after 10 bytes wrapped to 5).
                if so_far.saturating_add(len) > self.max_message as u64 {
                    return Err(fail(1009, "message too big"));
                }
                if let Some(kind) = kind {
                    self.message = Some(Message {
                        kind,
                        compressed: h.rsv1,
                        data: BytesMut::with_capacity(len as usize),
                        checked: 0,
                    });
                }
                None
            }
        };
        buf.advance(used);
        self.frame = Some(Frame {
            fin: h.is_final,
            control,
            mask,
            left: len,
            done: 0,
        });
        Ok(true)
    }

    /// The last frame of a data message arrived.
    fn finish(&mut self) -> Result<Incoming, Failure> {
        let Some(mut m) = self.message.take() else {
            return Err(fail(1002, "continuation without a message"));
        };
        if m.compressed {
            let Some(inflater) = self.inflater.as_mut() else {
                return Err(fail(1002, "RSV1 set without permessage-deflate"));
            };
            let mut out = Vec::new();
            match inflater.inflate(&m.data, self.max_message, &mut out) {
                Ok(()) => {}
                Err(InflateError::TooBig) => return Err(fail(1009, "message too big")),
                Err(InflateError::Corrupt) => return Err(fail(1007, "invalid compressed data")),
            }
            if m.kind == Kind::Text && std::str::from_utf8(&out).is_err() {
                return Err(fail(1007, "text message is not valid UTF-8"));
            }
            return Ok(Incoming::Message(m.kind, Bytes::from(out)));
        }
        if m.kind == Kind::Text {
            check_utf8(&m.data, m.checked, true)?;
        }
        Ok(Incoming::Message(m.kind, m.data.split().freeze()))
    }
}

fn close_or_control(c: Control, payload: Bytes) -> Result<Incoming, Failure> {
    match c {
        Control::Ping => Ok(Incoming::Ping(payload)),
        Control::Pong => Ok(Incoming::Pong),
        Control::Close => match payload.len() {
            0 => Ok(Incoming::Close(None, Box::from(""))),
            1 => Err(fail(1002, "close frame with a 1-byte payload")),
            _ => {
                let code = u16::from_be_bytes([payload[0], payload[1]]);
                if !code_allowed(code) {
                    return Err(fail(1002, "close code not allowed on the wire"));
                }
                match std::str::from_utf8(&payload[2..]) {
                    Ok(reason) => Ok(Incoming::Close(Some(code), Box::from(reason))),
                    Err(_) => Err(fail(1007, "close reason is not valid UTF-8")),
                }
            }
        },
        Control::Reserved(_) => Err(fail(1002, "reserved opcode")),
    }
}

/// Validates `data[from..]` as UTF-8; an incomplete character at the end is allowed unless
/// the message is `complete`. Returns how far `data` is now known to be valid.
fn check_utf8(data: &[u8], from: usize, complete: bool) -> Result<usize, Failure> {
    const BAD: Failure = fail(1007, "text message is not valid UTF-8");
    match std::str::from_utf8(&data[from..]) {
        Ok(_) => Ok(data.len()),
        Err(e) if e.error_len().is_some() || complete => Err(BAD),
        Err(e) => Ok(from + e.valid_up_to()),
    }
}

/// XORs `data` with the mask, starting at byte `offset` of the payload (§5.3).
fn unmask(data: &mut [u8], mask: [u8; 4], offset: u64) {
    let mut m = [0u8; 8];
    for (i, b) in m.iter_mut().enumerate() {
        *b = mask[(offset as usize + i) & 3];
    }
    let word = u64::from_ne_bytes(m);
    let mut chunks = data.chunks_exact_mut(8);
    for c in &mut chunks {
        let v = u64::from_ne_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]) ^ word;
        c.copy_from_slice(&v.to_ne_bytes());
    }
    for (i, b) in chunks.into_remainder().iter_mut().enumerate() {
        *b ^= m[i & 7];
    }
}

#[cfg(test)]
#[path = "reader_tests.rs"]
mod tests;
