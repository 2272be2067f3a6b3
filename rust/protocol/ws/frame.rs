//! Frames out (RFC 6455 §5.2): the server's frames are never masked (§5.1), so one encoded
//! frame is the same bytes for every socket it goes to; a broadcast is encoded once.

use bytes::Bytes;
use tungstenite::protocol::frame::coding::{Control, Data, OpCode};
use tungstenite::protocol::frame::FrameHeader;

/// What a message is, as its first frame's opcode says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// UTF-8 text.
    Text,
    /// Bytes.
    Binary,
}

/// The most a control frame may carry (§5.5).
pub const MAX_CONTROL: usize = 125;

/// The most a close reason may hold: a control frame's payload less the 2-byte code.
pub const MAX_REASON: usize = MAX_CONTROL - 2;

fn head(out: &mut Vec<u8>, opcode: OpCode, rsv1: bool, len: usize) {
    let h = FrameHeader {
        is_final: true,
        rsv1,
        rsv2: false,
        rsv3: false,
        opcode,
        mask: None,
    };
    // Writing into a Vec cannot fail.
    let _ = h.format(len as u64, out);
}

/// Appends one unfragmented data frame; `compressed` sets RSV1 (permessage-deflate, RFC 7692
/// §6) on a payload that is already compressed.
pub fn message(out: &mut Vec<u8>, kind: Kind, compressed: bool, payload: &[u8]) {
    let opcode = match kind {
        Kind::Text => OpCode::Data(Data::Text),
        Kind::Binary => OpCode::Data(Data::Binary),
    };
    out.reserve(10 + payload.len());
    head(out, opcode, compressed, payload.len());
    out.extend_from_slice(payload);
}

/// One data frame as shared bytes (a broadcast's frame, queued on many sockets).
pub fn message_bytes(kind: Kind, compressed: bool, payload: &[u8]) -> Bytes {
    let mut out = Vec::with_capacity(10 + payload.len());
    message(&mut out, kind, compressed, payload);
    Bytes::from(out)
}

/// Appends a ping or pong; the payload is cut to what a control frame may carry.
pub fn control(out: &mut Vec<u8>, pong: bool, payload: &[u8]) {
    let payload = &payload[..payload.len().min(MAX_CONTROL)];
    let opcode = OpCode::Control(if pong { Control::Pong } else { Control::Ping });
    head(out, opcode, false, payload.len());
    out.extend_from_slice(payload);
}

/// Appends a close frame: `None` is a close without a status code (§5.5.1); the reason is cut
/// at a character boundary to [`MAX_REASON`] bytes.
pub fn close(out: &mut Vec<u8>, code: Option<u16>, reason: &str) {
    let opcode = OpCode::Control(Control::Close);
    match code {
        None => head(out, opcode, false, 0),
        Some(code) => {
            let reason = truncate(reason, MAX_REASON);
            head(out, opcode, false, 2 + reason.len());
            out.extend_from_slice(&code.to_be_bytes());
            out.extend_from_slice(reason.as_bytes());
        }
    }
}

/// `s` cut to at most `max` bytes at a character boundary.
pub fn truncate(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

/// Whether a close code may be sent or received on the wire (§7.4): 1005, 1006 and 1015 are
/// only ever reported locally, and unassigned codes below 3000 are refused.
pub fn code_allowed(code: u16) -> bool {
    tungstenite::protocol::frame::coding::CloseCode::from(code).is_allowed()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lengths_use_the_shortest_form() {
        for (len, header) in [
            (0usize, 2usize),
            (125, 2),
            (126, 4),
            (65535, 4),
            (65536, 10),
        ] {
            let mut out = Vec::new();
            message(&mut out, Kind::Binary, false, &vec![0; len]);
            assert_eq!(out.len(), header + len, "{len}");
            assert_eq!(out[0], 0x82);
        }
    }

    #[test]
    fn text_with_rsv1_and_close_with_code() {
        let mut out = Vec::new();
        message(&mut out, Kind::Text, true, b"hi");
        assert_eq!(out, [0xc1, 2, b'h', b'i']);
        out.clear();
        close(&mut out, Some(1000), "bye");
        assert_eq!(out, [0x88, 5, 0x03, 0xe8, b'b', b'y', b'e']);
        out.clear();
        close(&mut out, None, "ignored");
        assert_eq!(out, [0x88, 0]);
    }

    #[test]
    fn reasons_are_cut_at_a_character_boundary() {
        let long = "é".repeat(100); // 200 bytes
        let mut out = Vec::new();
        close(&mut out, Some(1000), &long);
        assert_eq!(out[1] as usize, 2 + 122);
        assert!(std::str::from_utf8(&out[4..]).is_ok());
    }

    #[test]
    fn close_codes_on_the_wire() {
        for ok in [
            1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 3000, 4999,
        ] {
            assert!(code_allowed(ok), "{ok}");
        }
        for bad in [0, 999, 1004, 1005, 1006, 1015, 1016, 2999, 5000] {
            assert!(!code_allowed(bad), "{bad}");
        }
    }
}
