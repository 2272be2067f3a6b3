//! Reading the frame headers a client sends, as the bytes go by, for what costs a server work
//! but carries no request: the floods RFC 9113 §10.5 warns of (SETTINGS and PING frames, each
//! answered; PRIORITY and RST_STREAM frames; empty DATA/HEADERS/CONTINUATION frames), header
//! blocks that go on in CONTINUATION frames past a bound (CVE-2024-27316), and the few frame
//! errors the `h2` crate answers with another code than RFC 9113 asks for. Sans-IO: bytes in,
//! a verdict out (`server/http2/guard.rs` puts it under the connection; `make fuzz` runs it).

use std::time::{Duration, Instant};

use h2::Reason;

/// What the client did, and the GOAWAY code it gets.
pub type Trip = (&'static str, Reason);

/// The client connection preface (RFC 9113 §3.4), skipped before frames start.
pub const PREFACE_LEN: usize = 24;

/// Frames of no value (see the module note) a client may send per [`WINDOW`]: a browser
/// sends a handful per page; 1000 is a flood's first second at most.
pub const CONTROL_BUDGET: u32 = 1000;

/// The window the budget is counted in.
pub const WINDOW: Duration = Duration::from_secs(10);

const DATA: u8 = 0x0;
const HEADERS: u8 = 0x1;
const PRIORITY: u8 = 0x2;
const RST_STREAM: u8 = 0x3;
const SETTINGS: u8 = 0x4;
const PING: u8 = 0x6;
const CONTINUATION: u8 = 0x9;
const END_STREAM: u8 = 0x1;
const ACK: u8 = 0x1;
const END_HEADERS: u8 = 0x4;

/// Counts frames as the bytes pass.
pub struct Scanner {
    /// Preface bytes still to skip.
    preface: usize,
    /// A frame header being collected.
    head: [u8; 9],
    have: usize,
    /// Payload bytes of the current frame still to pass.
    payload: usize,
    /// Bytes of a header block so far (HEADERS then CONTINUATION frames until END_HEADERS).
    block: Option<usize>,
    max_block: usize,
    count: u32,
    since: Instant,
    /// No frame has been seen yet: the first must be SETTINGS (RFC 9113 §3.4).
    first: bool,
    /// A SETTINGS frame's payload being collected, to check its values.
    settings: Option<Vec<u8>>,
}

/// SETTINGS_INITIAL_WINDOW_SIZE (RFC 9113 §6.5.2).
const INITIAL_WINDOW_SIZE: u16 = 0x4;

impl Scanner {
    /// A scanner for a client's bytes: `preface` when they start with the client preface,
    /// `max_block` the most bytes one header block may take across its frames.
    pub fn new(preface: bool, max_block: usize) -> Scanner {
        Scanner {
            preface: if preface { PREFACE_LEN } else { 0 },
            head: [0; 9],
            have: 0,
            payload: 0,
            block: None,
            max_block,
            count: 0,
            since: Instant::now(),
            first: preface,
            settings: None,
        }
    }

    /// Reads `bytes`, the next the client sent: an error once it did something the
    /// connection must end for.
    pub fn feed(&mut self, mut bytes: &[u8]) -> Result<(), Trip> {
        let skip = self.preface.min(bytes.len());
        self.preface -= skip;
        bytes = &bytes[skip..];
        while !bytes.is_empty() {
            if self.payload > 0 {
                let n = self.payload.min(bytes.len());
                if let Some(p) = &mut self.settings {
                    p.extend_from_slice(&bytes[..n]);
                }
                self.payload -= n;
                bytes = &bytes[n..];
                if self.payload == 0 {
                    self.check_settings()?;
                }
                continue;
            }
            let n = (9 - self.have).min(bytes.len());
            self.head[self.have..self.have + n].copy_from_slice(&bytes[..n]);
            self.have += n;
            bytes = &bytes[n..];
            if self.have == 9 {
                self.have = 0;
                self.frame()?;
            }
        }
        Ok(())
    }

    /// The values of a whole SETTINGS payload; the `h2` crate checks them too, but answers an
    /// initial window over 2^31-1 with PROTOCOL_ERROR where RFC 9113 §6.5.2 says
    /// FLOW_CONTROL_ERROR.
    fn check_settings(&mut self) -> Result<(), Trip> {
        let Some(p) = self.settings.take() else {
            return Ok(());
        };
        for s in p.chunks_exact(6) {
            let id = u16::from_be_bytes([s[0], s[1]]);
            let value = u32::from_be_bytes([s[2], s[3], s[4], s[5]]);
            if id == INITIAL_WINDOW_SIZE && value > (1 << 31) - 1 {
                return Err((
                    "SETTINGS_INITIAL_WINDOW_SIZE over 2^31-1",
                    Reason::FLOW_CONTROL_ERROR,
                ));
            }
        }
        Ok(())
    }

    fn frame(&mut self) -> Result<(), Trip> {
        let h = &self.head;
        let len = (h[0] as usize) << 16 | (h[1] as usize) << 8 | h[2] as usize;
        let (kind, flags) = (h[3], h[4]);
        self.payload = len;
        // What the `h2` crate answers with another code than RFC 9113 asks for: checked here
        // first, from the frame header alone.
        if std::mem::take(&mut self.first) && (kind != SETTINGS || flags & ACK != 0) {
            return Err((
                "the preface was not followed by SETTINGS (RFC 9113 §3.4)",
                Reason::PROTOCOL_ERROR,
            ));
        }
        match kind {
            SETTINGS if flags & ACK != 0 && len != 0 => {
                return Err(("a SETTINGS ACK with a payload", Reason::FRAME_SIZE_ERROR))
            }
            SETTINGS if !len.is_multiple_of(6) => {
                return Err((
                    "a SETTINGS length not a multiple of 6",
                    Reason::FRAME_SIZE_ERROR,
                ))
            }
            SETTINGS if flags & ACK == 0 && len > 0 => {
                self.settings = Some(Vec::with_capacity(len))
            }
            PING if len != 8 => return Err(("a PING not 8 bytes long", Reason::FRAME_SIZE_ERROR)),
            _ => {}
        }
        let worthless = match kind {
            SETTINGS | PING => flags & ACK == 0,
            PRIORITY | RST_STREAM => true,
            DATA => len == 0 && flags & END_STREAM == 0,
            HEADERS | CONTINUATION => len == 0 && flags & END_HEADERS == 0,
            _ => false,
        };
        if kind == HEADERS || kind == CONTINUATION {
            let so_far = if kind == HEADERS {
                len
            } else {
                self.block.unwrap_or(0) + len
            };
            if so_far > self.max_block {
                return Err((
                    "a header block over the header list limit (CONTINUATION flood)",
                    Reason::ENHANCE_YOUR_CALM,
                ));
            }
            self.block = (flags & END_HEADERS == 0).then_some(so_far);
        }
        if worthless {
            if self.since.elapsed() > WINDOW {
                self.since = Instant::now();
                self.count = 0;
            }
            self.count += 1;
            if self.count > CONTROL_BUDGET {
                let why = match kind {
                    SETTINGS => "a SETTINGS flood",
                    PING => "a PING flood",
                    RST_STREAM => "a RST_STREAM flood",
                    PRIORITY => "a PRIORITY flood",
                    _ => "an empty frame flood",
                };
                return Err((why, Reason::ENHANCE_YOUR_CALM));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scanner() -> Scanner {
        Scanner::new(true, 100)
    }

    const PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

    fn opened() -> Scanner {
        let mut s = scanner();
        s.feed(PREFACE).unwrap();
        s.feed(&frame(SETTINGS, 0, &[])).unwrap();
        s
    }

    #[test]
    fn frames_the_crate_answers_with_another_code_get_the_rfc_one() {
        // RFC 9113 §3.4: SETTINGS first.
        let mut s = scanner();
        s.feed(PREFACE).unwrap();
        assert_eq!(
            s.feed(&frame(PING, 0, &[0; 8])).unwrap_err().1,
            Reason::PROTOCOL_ERROR
        );
        // §6.5: a length not a multiple of 6, an ACK with a payload.
        assert_eq!(
            opened().feed(&frame(SETTINGS, 0, &[0; 5])).unwrap_err().1,
            Reason::FRAME_SIZE_ERROR
        );
        assert_eq!(
            opened().feed(&frame(SETTINGS, ACK, &[0; 6])).unwrap_err().1,
            Reason::FRAME_SIZE_ERROR
        );
        // §6.7: PING is 8 bytes.
        assert_eq!(
            opened().feed(&frame(PING, 0, &[0; 6])).unwrap_err().1,
            Reason::FRAME_SIZE_ERROR
        );
        // §6.5.2: an initial window over 2^31-1, even split across reads.
        let mut s = opened();
        let f = frame(SETTINGS, 0, &[0, 4, 0x80, 0, 0, 0]);
        s.feed(&f[..11]).unwrap();
        assert_eq!(s.feed(&f[11..]).unwrap_err().1, Reason::FLOW_CONTROL_ERROR);
        let mut s = opened();
        s.feed(&frame(SETTINGS, 0, &[0, 4, 0x7f, 0xff, 0xff, 0xff]))
            .unwrap();
    }

    fn frame(kind: u8, flags: u8, payload: &[u8]) -> Vec<u8> {
        let len = payload.len();
        let mut f = vec![
            (len >> 16) as u8,
            (len >> 8) as u8,
            len as u8,
            kind,
            flags,
            0,
            0,
            0,
            1,
        ];
        f.extend_from_slice(payload);
        f
    }

    #[test]
    fn a_ping_flood_is_caught_even_one_byte_at_a_time() {
        let mut s = scanner();
        let mut wire = PREFACE.to_vec();
        wire.extend(frame(SETTINGS, 0, &[]));
        for _ in 0..CONTROL_BUDGET - 1 {
            wire.extend(frame(PING, 0, &[0; 8]));
        }
        for b in &wire {
            s.feed(std::slice::from_ref(b)).unwrap();
        }
        assert_eq!(
            s.feed(&frame(PING, 0, &[0; 8])).unwrap_err().0,
            "a PING flood"
        );
    }

    #[test]
    fn acks_and_data_cost_nothing() {
        let mut s = opened();
        for _ in 0..5 * CONTROL_BUDGET {
            s.feed(&frame(PING, ACK, &[0; 8])).unwrap();
            s.feed(&frame(DATA, 0, b"x")).unwrap();
            s.feed(&frame(DATA, END_STREAM, b"")).unwrap();
        }
    }

    #[test]
    fn a_header_block_past_the_bound_across_continuations_is_caught() {
        let mut s = opened();
        s.feed(&frame(HEADERS, 0, &[0; 40])).unwrap();
        s.feed(&frame(CONTINUATION, 0, &[0; 40])).unwrap();
        let e = s.feed(&frame(CONTINUATION, 0, &[0; 40])).unwrap_err();
        assert!(e.0.contains("CONTINUATION"), "{e:?}");
        // A block that ends in time resets the count.
        let mut s = opened();
        for _ in 0..10 {
            s.feed(&frame(HEADERS, 0, &[0; 40])).unwrap();
            s.feed(&frame(CONTINUATION, END_HEADERS, &[0; 40])).unwrap();
        }
    }
}
