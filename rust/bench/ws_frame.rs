//! WebSocket frames as the load generator's client writes and reads them (RFC 6455 §5).
//! Headers are formatted and parsed by tungstenite's frame layer; what is ours is the
//! client's side of the rules: every frame we send is masked with a fresh key (§5.3), and a
//! frame from the server that is masked or sets a reserved bit (no extension is negotiated)
//! is refused (§5.1, §5.2).

use std::io::Cursor;

use tungstenite::protocol::frame::coding::{Control, Data, OpCode};
use tungstenite::protocol::frame::FrameHeader;

/// A server frame larger than this is refused: the bench never asks for one, and buffering
/// it whole would let a broken server exhaust memory.
pub const MAX_FRAME: u64 = 64 * 1024 * 1024;

/// Masking keys for the frames one socket sends. RFC 6455 §5.3 asks for keys an attacker
/// cannot predict, to protect proxies from cache poisoning; a xorshift stream seeded from the
/// kernel's random source per socket is enough for a load generator that only targets hosts
/// its user names, and costs a few nanoseconds per frame instead of a syscall.
#[derive(Debug)]
pub struct Masker {
    state: u64,
}

impl Masker {
    /// A stream seeded from `getrandom(2)`.
    pub fn seeded() -> Masker {
        let mut seed = [0u8; 8];
        fill_random(&mut seed);
        // xorshift must not start at zero.
        Masker {
            state: u64::from_ne_bytes(seed) | 1,
        }
    }

    /// The next 64 random bits (xorshift64*).
    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.state;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.state = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// The next masking key.
    pub fn key(&mut self) -> [u8; 4] {
        (self.next_u64() as u32).to_ne_bytes()
    }
}

/// Fills `buf` from the kernel's random source (blocking only before the pool is seeded at
/// boot, which a running system is past); the clock is the fallback if the call fails.
pub fn fill_random(buf: &mut [u8]) {
    let mut done = 0;
    while done < buf.len() {
        let rest = &mut buf[done..];
        // SAFETY: `rest` is a valid writable buffer of `rest.len()` bytes for the call.
        let n = unsafe { libc::getrandom(rest.as_mut_ptr().cast(), rest.len(), 0) };
        if n <= 0 {
            let nanos = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos() as u64);
            for (i, b) in rest.iter_mut().enumerate() {
                *b = (nanos >> ((i % 8) * 8)) as u8 ^ (i as u8).wrapping_mul(151);
            }
            return;
        }
        done += n as usize;
    }
}

/// Appends one final, masked frame of `opcode` carrying `payload` to `out`.
pub fn encode(out: &mut Vec<u8>, opcode: OpCode, payload: &[u8], mask: [u8; 4]) {
    let header = FrameHeader {
        is_final: true,
        rsv1: false,
        rsv2: false,
        rsv3: false,
        opcode,
        mask: Some(mask),
    };
    let len = payload.len() as u64;
    out.reserve(header.len(len) + payload.len());
    // Writing into a Vec cannot fail.
    let _ = header.format(len, out);
    let start = out.len();
    out.extend_from_slice(payload);
    for (i, b) in out[start..].iter_mut().enumerate() {
        *b ^= mask[i & 3];
    }
}

/// What a server frame carries.
#[derive(Debug, PartialEq, Eq)]
pub enum Kind {
    /// Text, binary or a continuation; `fin` ends the message.
    Data {
        /// The first frame of a text message.
        text: bool,
        /// The last frame of its message.
        fin: bool,
    },
    /// A ping: answer with a pong carrying the same payload (§5.5.2).
    Ping,
    /// A pong: ignored.
    Pong,
    /// A close, with the status code when the payload has one (§5.5.1).
    Close(Option<u16>),
}

/// A whole frame at the front of the read buffer.
#[derive(Debug, PartialEq, Eq)]
pub struct Frame<'a> {
    /// What it is.
    pub kind: Kind,
    /// Its payload (server frames are never masked).
    pub payload: &'a [u8],
    /// Bytes it occupies in the buffer, header included.
    pub used: usize,
}

/// Why a server frame was refused.
#[derive(Debug, PartialEq, Eq)]
pub enum FrameError {
    /// A reserved opcode or an unparseable header.
    Header,
    /// A masked frame, or a reserved bit set: the server broke §5.1/§5.2.
    Protocol,
    /// Larger than [`MAX_FRAME`].
    TooLarge,
}

/// Parses the frame at the start of `buf`; `Ok(None)` until it has arrived whole.
pub fn decode(buf: &[u8]) -> Result<Option<Frame<'_>>, FrameError> {
    let mut cursor = Cursor::new(buf);
    let Some((header, len)) = FrameHeader::parse(&mut cursor).map_err(|_| FrameError::Header)?
    else {
        return Ok(None);
    };
    if header.mask.is_some() || header.rsv1 || header.rsv2 || header.rsv3 {
        return Err(FrameError::Protocol);
    }
    if len > MAX_FRAME {
        return Err(FrameError::TooLarge);
    }
    let start = cursor.position() as usize;
    let end = start + len as usize;
    if buf.len() < end {
        return Ok(None);
    }
    let payload = &buf[start..end];
    let kind = match header.opcode {
        OpCode::Data(Data::Text) => Kind::Data {
            text: true,
            fin: header.is_final,
        },
        OpCode::Data(Data::Binary | Data::Continue) => Kind::Data {
            text: false,
            fin: header.is_final,
        },
        OpCode::Control(Control::Ping) => Kind::Ping,
        OpCode::Control(Control::Pong) => Kind::Pong,
        OpCode::Control(Control::Close) => {
            Kind::Close((payload.len() >= 2).then(|| u16::from_be_bytes([payload[0], payload[1]])))
        }
        OpCode::Data(Data::Reserved(_)) | OpCode::Control(Control::Reserved(_)) => {
            return Err(FrameError::Header)
        }
    };
    Ok(Some(Frame {
        kind,
        payload,
        used: end,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A server frame (unmasked) as bytes.
    fn server(opcode: OpCode, fin: bool, payload: &[u8]) -> Vec<u8> {
        let h = FrameHeader {
            is_final: fin,
            opcode,
            mask: None,
            ..FrameHeader::default()
        };
        let mut out = Vec::new();
        h.format(payload.len() as u64, &mut out).unwrap();
        out.extend_from_slice(payload);
        out
    }

    #[test]
    fn encoded_frames_are_masked_and_unmask_back() {
        let mut out = Vec::new();
        let mask = [0x37, 0xfa, 0x21, 0x3d];
        encode(&mut out, OpCode::Data(Data::Text), b"Hello", mask);
        // RFC 6455 §5.7: a single-frame masked text message "Hello".
        assert_eq!(
            out,
            [0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58]
        );
        // 16-bit and 64-bit lengths.
        for size in [126usize, 70_000] {
            let payload = vec![b'x'; size];
            let mut out = Vec::new();
            encode(&mut out, OpCode::Data(Data::Binary), &payload, mask);
            let (h, len) = FrameHeader::parse(&mut Cursor::new(&out)).unwrap().unwrap();
            assert_eq!((len as usize, h.mask), (size, Some(mask)));
            let body = &out[h.len(len)..];
            let clear: Vec<u8> = body
                .iter()
                .enumerate()
                .map(|(i, b)| b ^ mask[i & 3])
                .collect();
            assert_eq!(clear, payload);
        }
    }

    #[test]
    fn decodes_whole_frames_only() {
        let bytes = server(OpCode::Data(Data::Text), true, b"hi there");
        for cut in 0..bytes.len() {
            assert_eq!(decode(&bytes[..cut]), Ok(None), "cut at {cut}");
        }
        let mut two = bytes.clone();
        two.extend(server(OpCode::Control(Control::Ping), true, b"p"));
        let f = decode(&two).unwrap().unwrap();
        assert_eq!(
            (f.kind, f.payload, f.used),
            (
                Kind::Data {
                    text: true,
                    fin: true
                },
                &b"hi there"[..],
                bytes.len()
            )
        );
        let g = decode(&two[bytes.len()..]).unwrap().unwrap();
        assert_eq!((g.kind, g.payload), (Kind::Ping, &b"p"[..]));
        let big = server(OpCode::Data(Data::Binary), false, &[7u8; 300]);
        let f = decode(&big).unwrap().unwrap();
        assert_eq!(
            (f.kind, f.payload.len()),
            (
                Kind::Data {
                    text: false,
                    fin: false
                },
                300
            )
        );
    }

    #[test]
    fn close_codes_and_refusals() {
        let close = server(OpCode::Control(Control::Close), true, &[0x03, 0xe9, b'x']);
        assert_eq!(
            decode(&close).unwrap().unwrap().kind,
            Kind::Close(Some(1001))
        );
        let bare = server(OpCode::Control(Control::Close), true, b"");
        assert_eq!(decode(&bare).unwrap().unwrap().kind, Kind::Close(None));
        let mut masked = Vec::new();
        encode(&mut masked, OpCode::Data(Data::Text), b"x", [1, 2, 3, 4]);
        assert_eq!(decode(&masked), Err(FrameError::Protocol));
        let mut rsv = server(OpCode::Data(Data::Text), true, b"x");
        rsv[0] |= 0x40;
        assert_eq!(decode(&rsv), Err(FrameError::Protocol));
        assert_eq!(decode(&[0x83, 0x00]), Err(FrameError::Header));
        let huge = [0x82, 0x7f, 0, 0, 0, 0, 0x10, 0, 0, 0];
        assert_eq!(decode(&huge), Err(FrameError::TooLarge));
    }

    #[test]
    fn masks_vary() {
        let mut m = Masker::seeded();
        let keys: std::collections::HashSet<[u8; 4]> = (0..1000).map(|_| m.key()).collect();
        assert!(keys.len() > 990, "{} distinct keys of 1000", keys.len());
        let (mut a, mut b) = (Masker::seeded(), Masker::seeded());
        assert_ne!(a.next_u64(), b.next_u64(), "each socket has its own stream");
    }
}
