//! Cases cite RFC 6455 sections.

use super::*;

/// A client frame: masked with a fixed mask (§5.3).
fn frame(first: u8, payload: &[u8]) -> Vec<u8> {
    let mask = [0x37, 0xfa, 0x21, 0x3d];
    let mut out = vec![first];
    match payload.len() {
        n if n < 126 => out.push(0x80 | n as u8),
        n if n < 65536 => {
            out.push(0x80 | 126);
            out.extend_from_slice(&(n as u16).to_be_bytes());
        }
        n => {
            out.push(0x80 | 127);
            out.extend_from_slice(&(n as u64).to_be_bytes());
        }
    }
    out.extend_from_slice(&mask);
    out.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i & 3]));
    out
}

fn all(reader: &mut Reader, bytes: &[u8]) -> Vec<Result<Incoming, Failure>> {
    let mut buf = BytesMut::from(bytes);
    let mut out = Vec::new();
    loop {
        match reader.next(&mut buf) {
            Ok(Some(e)) => out.push(Ok(e)),
            Ok(None) => return out,
            Err(f) => {
                out.push(Err(f));
                return out;
            }
        }
    }
}

fn text(s: &str) -> Result<Incoming, Failure> {
    Ok(Incoming::Message(
        Kind::Text,
        Bytes::copy_from_slice(s.as_bytes()),
    ))
}

#[test]
fn rfc_example_single_frame_masked_text() {
    // §5.7: a single-frame masked text message containing "Hello".
    let bytes = [
        0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58,
    ];
    assert_eq!(
        all(&mut Reader::new(1 << 20, None), &bytes),
        [text("Hello")]
    );
}

#[test]
fn fragments_reassemble_with_a_ping_between() {
    // §5.4: control frames may be injected in the middle of a fragmented message.
    let mut bytes = frame(0x01, b"Hel");
    bytes.extend(frame(0x89, b"p"));
    bytes.extend(frame(0x80, b"lo"));
    let got = all(&mut Reader::new(1 << 20, None), &bytes);
    assert_eq!(
        got,
        [Ok(Incoming::Ping(Bytes::from_static(b"p"))), text("Hello")]
    );
}

#[test]
fn bytes_arriving_one_at_a_time_give_the_same_events() {
    let mut bytes = frame(0x82, &[1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11]);
    bytes.extend(frame(0x88, &[0x03, 0xe8, b'o', b'k']));
    let mut r = Reader::new(1 << 20, None);
    let mut buf = BytesMut::new();
    let mut got = Vec::new();
    for b in bytes {
        buf.extend_from_slice(&[b]);
        while let Some(e) = r.next(&mut buf).unwrap() {
            got.push(e);
        }
    }
    assert_eq!(
        got,
        [
            Incoming::Message(
                Kind::Binary,
                Bytes::from_static(&[1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11])
            ),
            Incoming::Close(Some(1000), Box::from("ok")),
        ]
    );
}

#[test]
fn unmasked_client_frames_fail_1002() {
    // §5.1: a server MUST close on an unmasked frame.
    let got = all(&mut Reader::new(1 << 20, None), &[0x81, 0x02, b'h', b'i']);
    assert_eq!(got[0].as_ref().unwrap_err().code, 1002);
}

#[test]
fn protocol_errors_fail_1002() {
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("§5.2 RSV2", frame(0xa1, b"x")),
        ("§5.2 RSV1 without an extension", frame(0xc1, b"x")),
        ("§5.2 reserved data opcode", frame(0x83, b"")),
        ("§5.2 reserved control opcode", frame(0x8b, b"")),
        ("§5.5 fragmented ping", frame(0x09, b"")),
        ("§5.5 control over 125 bytes", frame(0x89, &[0; 126])),
        ("§5.4 continuation first", frame(0x80, b"x")),
        ("§5.5.1 one-byte close", frame(0x88, &[3])),
        ("§7.4 close code 1005", frame(0x88, &[0x03, 0xed])),
        ("§7.4 close code 999", frame(0x88, &[0x03, 0xe7])),
    ];
    for (case, bytes) in cases {
        let got = all(&mut Reader::new(1 << 20, None), &bytes);
        assert_eq!(
            got.last().unwrap().as_ref().unwrap_err().code,
            1002,
            "{case}"
        );
    }
    // §5.4: a new data message while one is unfinished.
    let mut bytes = frame(0x01, b"a");
    bytes.extend(frame(0x81, b"b"));
    let got = all(&mut Reader::new(1 << 20, None), &bytes);
    assert_eq!(got[0].as_ref().unwrap_err().code, 1002);
}

#[test]
fn invalid_utf8_fails_1007_as_soon_as_it_arrives() {
    // §8.1: invalid UTF-8 in a text message fails the connection; the bad byte is in the
    // first half of a frame whose second half never comes.
    let bytes = frame(0x81, &[b'a', 0xff, b'b', b'c', b'd', b'e']);
    let mut r = Reader::new(1 << 20, None);
    let mut buf = BytesMut::from(&bytes[..bytes.len() - 3]);
    assert_eq!(r.next(&mut buf).unwrap_err().code, 1007);
    // A character split across fragments is fine; one left incomplete at the end is not.
    let euro = "€".as_bytes();
    let mut bytes = frame(0x01, &euro[..1]);
    bytes.extend(frame(0x80, &euro[1..]));
    assert_eq!(all(&mut Reader::new(1 << 20, None), &bytes), [text("€")]);
    let got = all(&mut Reader::new(1 << 20, None), &frame(0x81, &euro[..2]));
    assert_eq!(got[0].as_ref().unwrap_err().code, 1007);
    // §5.5.1: a close reason must be UTF-8 too.
    let got = all(
        &mut Reader::new(1 << 20, None),
        &frame(0x88, &[0x03, 0xe8, 0xff]),
    );
    assert_eq!(got[0].as_ref().unwrap_err().code, 1007);
}

#[test]
fn a_message_over_the_limit_fails_1009_from_its_header() {
    let mut r = Reader::new(16, None);
    // Only the header of a 1 MiB frame: refused before the payload is buffered.
    let mut buf = BytesMut::from(&[0x82u8, 0x80 | 127, 0, 0, 0, 0, 0, 16, 0, 0, 1, 2, 3, 4][..]);
    assert_eq!(r.next(&mut buf).unwrap_err().code, 1009);
    // Fragments adding up past it.
    let mut bytes = frame(0x02, &[0; 10]);
    bytes.extend(frame(0x80, &[0; 10]));
    let got = all(&mut Reader::new(16, None), &bytes);
    assert_eq!(got[0].as_ref().unwrap_err().code, 1009);
}

#[test]
fn empty_close_and_pong() {
    let mut bytes = frame(0x8a, b"x");
    bytes.extend(frame(0x88, b""));
    assert_eq!(
        all(&mut Reader::new(1 << 20, None), &bytes),
        [Ok(Incoming::Pong), Ok(Incoming::Close(None, Box::from("")))]
    );
}

#[test]
fn unmask_matches_the_bytewise_definition_at_every_phase() {
    let mask = [1, 2, 3, 4];
    let data: Vec<u8> = (0..37).collect();
    for offset in 0..4u64 {
        let mut fast = data.clone();
        unmask(&mut fast, mask, offset);
        let slow: Vec<u8> = data
            .iter()
            .enumerate()
            .map(|(i, b)| b ^ mask[(i + offset as usize) & 3])
            .collect();
        assert_eq!(fast, slow, "offset {offset}");
    }
}

#[test]
fn a_length_near_2_pow_64_after_a_fragment_fails_1009_and_does_not_wrap() {
    let mut bytes = frame(0x02, &[0; 10]);
    bytes.extend_from_slice(&[0x80, 0x80 | 127]);
    bytes.extend_from_slice(&(u64::MAX - 4).to_be_bytes());
    bytes.extend_from_slice(&[1, 2, 3, 4]);
    let got = all(&mut Reader::new(1 << 20, None), &bytes);
    assert_eq!(got[0].as_ref().unwrap_err().code, 1009);
}
