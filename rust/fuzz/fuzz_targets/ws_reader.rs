//! The WebSocket reader (`protocol::ws::Reader`): client frames in, messages out.
//!
//! Input: one control byte, then the bytes as they arrive. The control byte's low 4 bits pick
//! the message limit (16 << n bytes), bit 4 turns permessage-deflate on (context takeover),
//! bits 5-7 a cut step (1 + n bytes per piece).
//!
//! Fed whole or in pieces, the reader must give the same events and the same failure; a text
//! message is valid UTF-8; no message is over the limit; a failure's close code is one RFC 6455
//! allows to send (1002, 1007 or 1009).

#![no_main]

use _core::protocol::ws::deflate::{Inflater, Negotiated};
use _core::protocol::ws::{Failure, Incoming, Kind, Reader};
use bytes::BytesMut;
use libfuzzer_sys::fuzz_target;

fn reader(control: u8) -> (Reader, usize) {
    let max = 16usize << (control & 0x0f);
    let inflater = (control & 0x10 != 0).then(|| {
        Inflater::new(&Negotiated {
            client_no_context_takeover: false,
            client_max_window_bits: 15,
            server_max_window_bits: 15,
            response: String::new(),
        })
    });
    (Reader::new(max, inflater), max)
}

/// Events until the first failure (or the end of the input), feeding `step` bytes at a time.
fn run(control: u8, data: &[u8], step: usize) -> (Vec<Incoming>, Option<Failure>) {
    let (mut r, _) = reader(control);
    let mut buf = BytesMut::new();
    let mut events = Vec::new();
    for piece in data.chunks(step.max(1)) {
        buf.extend_from_slice(piece);
        loop {
            match r.next(&mut buf) {
                Ok(Some(e)) => events.push(e),
                Ok(None) => break,
                Err(f) => return (events, Some(f)),
            }
        }
    }
    (events, None)
}

fuzz_target!(|input: &[u8]| {
    let Some((&control, data)) = input.split_first() else {
        return;
    };
    let (_, max) = reader(control);
    let whole = run(control, data, data.len());
    let step = 1 + usize::from(control >> 5);
    assert_eq!(whole, run(control, data, step), "fed in pieces of {step}");
    for e in &whole.0 {
        if let Incoming::Message(kind, m) = e {
            assert!(m.len() <= max, "a message over the limit");
            if *kind == Kind::Text {
                assert!(std::str::from_utf8(m).is_ok(), "a text message that is not UTF-8");
            }
        }
    }
    if let Some(f) = whole.1 {
        assert!(matches!(f.code, 1002 | 1007 | 1009), "close code {}", f.code);
    }
});
