//! The HTTP/1.1 `Upgrade: h2c` request (RFC 7540 §3.2; RFC 9113 §3.1 deprecates it but
//! clients such as curl `--http2` still send it in cleartext): the request becomes stream 1 of
//! the HTTP/2 connection. The `h2` crate cannot start a connection with a stream already open,
//! so stream 1's HEADERS frame is made here (END_STREAM: an upgrade request with a body is
//! served over HTTP/1.1 instead) and slipped in after the client's preface and first SETTINGS
//! frame (`io::async_io::Inject`): the crate then reads what a prior-knowledge client would
//! have sent. The header block uses only HPACK literals without indexing (RFC 7541 §6.2.2), so
//! the client's own later header blocks decode against an untouched dynamic table.
//!
//! `HTTP2-Settings` is checked but not applied as a SETTINGS frame of its own: the crate would
//! acknowledge it, and RFC 7540 §3.2.1 says the 101 already did (curl rejects the extra ACK).
//! The client's first SETTINGS frame, which follows its preface, carries the same values.

use base64::Engine;

use crate::protocol::h1::{BodyFraming, RequestHead};

/// The client connection preface (RFC 9113 §3.4).
pub const PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// Largest HEADERS or CONTINUATION payload before the server's SETTINGS apply (RFC 9113
/// §4.2: SETTINGS_MAX_FRAME_SIZE starts at 16384).
const MAX_FRAME: usize = 16_384;

fn lists(head: &RequestHead, name: &str, token: &str) -> bool {
    head.headers()
        .filter(|(n, _)| n.eq_ignore_ascii_case(name.as_bytes()))
        .flat_map(|(_, v)| v.split(|&b| b == b','))
        .any(|t| t.trim_ascii().eq_ignore_ascii_case(token.as_bytes()))
}

/// Whether `head` asks for h2c: `Upgrade: h2c`, `Connection: Upgrade, HTTP2-Settings`, one
/// `HTTP2-Settings` field, and no body.
pub fn wants_h2c(head: &RequestHead) -> bool {
    head.framing() == BodyFraming::Empty
        && lists(head, "upgrade", "h2c")
        && lists(head, "connection", "upgrade")
        && lists(head, "connection", "http2-settings")
        && head
            .headers()
            .filter(|(n, _)| n.eq_ignore_ascii_case(b"http2-settings"))
            .count()
            == 1
}

/// The answer that switches the connection (RFC 7540 §3.2).
pub const SWITCHING: &[u8] =
    b"HTTP/1.1 101 Switching Protocols\r\nconnection: Upgrade\r\nupgrade: h2c\r\n\r\n";

/// Stream 1's HEADERS (and CONTINUATION) frames for `head`. None when `HTTP2-Settings` is not
/// base64url of whole settings (6 bytes each).
pub fn stream_one(head: &RequestHead) -> Option<Vec<u8>> {
    let settings = head.header("http2-settings")?;
    let settings = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(settings.trim_ascii())
        .ok()?;
    if settings.len() % 6 != 0 {
        return None;
    }
    let mut out = Vec::with_capacity(256 + head.target().len());
    let mut block = Vec::with_capacity(256);
    literal(&mut block, b":method", head.method().as_str().as_bytes());
    literal(&mut block, b":scheme", b"http");
    if let Some(host) = head.header("host") {
        literal(&mut block, b":authority", host);
    }
    literal(&mut block, b":path", head.target());
    let mut name = Vec::new();
    for (n, v) in head.headers() {
        name.clear();
        name.extend(n.iter().map(u8::to_ascii_lowercase));
        // Connection-specific fields have no place in HTTP/2 (RFC 9113 §8.2.2); `host` is
        // `:authority` now.
        let skip = matches!(
            &name[..],
            b"host"
                | b"connection"
                | b"upgrade"
                | b"http2-settings"
                | b"keep-alive"
                | b"proxy-connection"
                | b"transfer-encoding"
        ) || (&name[..] == b"te" && !v.trim_ascii().eq_ignore_ascii_case(b"trailers"));
        if !skip {
            literal(&mut block, &name, v);
        }
    }
    // HEADERS (END_STREAM), then CONTINUATION frames if the block is longer than a frame.
    let mut pieces = block.chunks(MAX_FRAME).peekable();
    let mut first = true;
    while let Some(piece) = pieces.next() {
        let end_headers = if pieces.peek().is_none() { 0x4 } else { 0 };
        let (kind, flags) = if first {
            (0x1, 0x1 | end_headers)
        } else {
            (0x9, end_headers)
        };
        frame_head(&mut out, piece.len(), kind, flags, 1);
        out.extend_from_slice(piece);
        first = false;
    }
    Some(out)
}

fn frame_head(out: &mut Vec<u8>, len: usize, kind: u8, flags: u8, stream: u32) {
    out.extend_from_slice(&[(len >> 16) as u8, (len >> 8) as u8, len as u8, kind, flags]);
    out.extend_from_slice(&stream.to_be_bytes());
}

/// A literal field without indexing, new name, no Huffman (RFC 7541 §6.2.2).
fn literal(out: &mut Vec<u8>, name: &[u8], value: &[u8]) {
    out.push(0x00);
    integer(out, name.len());
    out.extend_from_slice(name);
    integer(out, value.len());
    out.extend_from_slice(value);
}

/// An HPACK integer with a 7-bit prefix and the H bit clear (RFC 7541 §5.1).
fn integer(out: &mut Vec<u8>, mut n: usize) {
    if n < 127 {
        out.push(n as u8);
        return;
    }
    out.push(127);
    n -= 127;
    while n >= 128 {
        out.push((n % 128) as u8 | 0x80);
        n /= 128;
    }
    out.push(n as u8);
}

#[cfg(test)]
mod tests {
    use bytes::BytesMut;

    use super::*;
    use crate::protocol::h1::{parse_head, Limits};

    fn head(text: &str) -> RequestHead {
        parse_head(&mut BytesMut::from(text), &Limits::default())
            .unwrap()
            .unwrap()
    }

    const UPGRADE: &str = "GET /a?b=1 HTTP/1.1\r\nHost: example.com\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAARAAAAA\r\nX-Big: v\r\n\r\n";

    #[test]
    fn an_upgrade_request_is_recognised_only_when_whole() {
        assert!(wants_h2c(&head(UPGRADE)));
        let no_settings = UPGRADE.replace("HTTP2-Settings: AAMAAABkAARAAAAA\r\n", "");
        assert!(!wants_h2c(&head(&no_settings)));
        let with_body = UPGRADE.replace("X-Big: v", "Content-Length: 1");
        assert!(!wants_h2c(&head(&with_body)));
    }

    #[test]
    fn the_request_becomes_stream_one() {
        let hs = stream_one(&head(UPGRADE)).unwrap();
        // HEADERS on stream 1 with END_STREAM and END_HEADERS.
        assert_eq!((hs[3], hs[4], &hs[5..9]), (1, 5, &[0, 0, 0, 1][..]));
        let block = &hs[9..];
        let text = String::from_utf8_lossy(block);
        for part in [
            ":method",
            "GET",
            ":path",
            "/a?b=1",
            ":authority",
            "example.com",
            "x-big",
        ] {
            assert!(text.contains(part), "{part} missing in {text:?}");
        }
        assert!(!text.contains("upgrade") && !text.contains("http2-settings"));
    }

    #[test]
    fn bad_settings_are_refused() {
        let bad = UPGRADE.replace("AAMAAABkAARAAAAA", "AAMAAABk!");
        assert!(stream_one(&head(&bad)).is_none());
        // One setting (6 bytes) is whole; 3 bytes are not.
        let one = UPGRADE.replace("AAMAAABkAARAAAAA", "AAMAAABk");
        assert!(stream_one(&head(&one)).is_some());
        let short = UPGRADE.replace("AAMAAABkAARAAAAA", "AAMA");
        assert!(stream_one(&head(&short)).is_none());
    }

    #[test]
    fn long_integers_use_continuation_bytes() {
        let mut out = Vec::new();
        integer(&mut out, 1337);
        // RFC 7541 C.1.2 encodes 1337 with a 5-bit prefix; with 7 bits: 127, then 1210.
        assert_eq!(out, vec![127, 0xba, 0x09]);
    }
}
