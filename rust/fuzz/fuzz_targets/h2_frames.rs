//! The HTTP/2 frame scanner under every connection (`protocol::h2::scan`), and the h2c
//! upgrade's stream 1 (`protocol::h2::upgrade`): client bytes in, a verdict out.
//!
//! Input: one control byte, then the bytes. Control bit 0: the bytes start with the client
//! preface (as on a connection); bits 1-7: a cut step (1 + n bytes per piece).
//!
//! Fed whole or in pieces, the scanner must give the same verdict; every verdict is one of
//! RFC 9113's codes. The same bytes read as an HTTP/1.1 head that asks for h2c must give
//! HEADERS/CONTINUATION frames on stream 1 whose lengths add up to what was made.

#![no_main]

use _core::protocol::h1::{parse_head, Limits};
use _core::protocol::h2::scan::Scanner;
use _core::protocol::h2::upgrade::{stream_one, wants_h2c};
use bytes::BytesMut;
use h2::Reason;
use libfuzzer_sys::fuzz_target;

fn verdict(preface: bool, data: &[u8], step: usize) -> Option<(&'static str, Reason)> {
    let mut s = Scanner::new(preface, 4096);
    data.chunks(step.max(1)).find_map(|piece| s.feed(piece).err())
}

fuzz_target!(|input: &[u8]| {
    let Some((&control, data)) = input.split_first() else {
        return;
    };
    let preface = control & 1 != 0;
    let whole = verdict(preface, data, data.len());
    let pieces = verdict(preface, data, 1 + (control >> 1) as usize);
    assert_eq!(whole, pieces, "the verdict depends on how the bytes were cut");
    if let Some((_, code)) = whole {
        assert!(
            [
                Reason::PROTOCOL_ERROR,
                Reason::FRAME_SIZE_ERROR,
                Reason::FLOW_CONTROL_ERROR,
                Reason::ENHANCE_YOUR_CALM
            ]
            .contains(&code),
            "{code:?}"
        );
    }

    let mut buf = BytesMut::from(data);
    if let Ok(Some(head)) = parse_head(&mut buf, &Limits::default()) {
        if !wants_h2c(&head) {
            return;
        }
        let Some(frames) = stream_one(&head) else {
            return;
        };
        let mut at = 0;
        let mut first = true;
        while at < frames.len() {
            let h = &frames[at..at + 9];
            let len = (h[0] as usize) << 16 | (h[1] as usize) << 8 | h[2] as usize;
            assert!(len <= 16_384, "a frame over the default SETTINGS_MAX_FRAME_SIZE");
            assert_eq!(h[3], if first { 1 } else { 9 }, "HEADERS then CONTINUATION");
            assert_eq!(&h[5..9], &[0, 0, 0, 1], "on stream 1");
            first = false;
            at += 9 + len;
        }
        assert_eq!(at, frames.len());
    }
});
