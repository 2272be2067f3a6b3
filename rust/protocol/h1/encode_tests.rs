//! Unit tests for `encode`.

use super::*;

const DATE: &[u8] = b"Sun, 06 Nov 1994 08:49:37 GMT";

fn head(status: u16, body_len: Option<u64>, close: bool, ka10: bool) -> String {
    let mut out = Vec::new();
    let headers: Vec<(Box<str>, Box<[u8]>)> = vec![("x-a".into(), b"1".to_vec().into())];
    write_head(&mut out, status, &headers, body_len, close, ka10, DATE);
    String::from_utf8(out).unwrap()
}

#[test]
fn rfc9112_4_status_line_and_fields() {
    assert_eq!(
        head(200, Some(5), false, false),
        "HTTP/1.1 200 OK\r\ndate: Sun, 06 Nov 1994 08:49:37 GMT\r\nx-a: 1\r\ncontent-length: 5\r\n\r\n"
    );
    // RFC 9112 §4: the reason phrase may be empty, the SP before it may not.
    assert!(head(599, Some(0), false, false).starts_with("HTTP/1.1 599 \r\n"));
}

#[test]
fn rfc9112_6_framing_and_connection() {
    let chunked = head(200, None, true, false);
    assert!(
        chunked.ends_with("transfer-encoding: chunked\r\nconnection: close\r\n\r\n"),
        "{chunked}"
    );
    let ka = head(200, Some(0), false, true);
    assert!(
        ka.ends_with("content-length: 0\r\nconnection: keep-alive\r\n\r\n"),
        "{ka}"
    );
    // close wins over keep-alive.
    let both = head(200, Some(0), true, true);
    assert!(both.contains("connection: close\r\n") && !both.contains("keep-alive"));
}

#[test]
fn rfc9110_8_6_no_framing_for_1xx_204_304() {
    for s in [101, 204] {
        let h = head(s, Some(3), false, false);
        assert!(
            !h.contains("content-length") && !h.contains("transfer-encoding"),
            "{h}"
        );
        let h = head(s, None, false, false);
        assert!(
            !h.contains("content-length") && !h.contains("transfer-encoding"),
            "{h}"
        );
    }
    assert!(head(304, Some(3), false, false).contains("content-length: 3\r\n"));
    assert!(!head(304, None, false, false).contains("transfer-encoding"));
}

#[test]
fn write_head_accepts_str_and_byte_pairs() {
    let mut out = Vec::new();
    write_head(
        &mut out,
        404,
        [("a", "b"), ("c", "d")],
        Some(0),
        false,
        false,
        DATE,
    );
    assert!(out.starts_with(b"HTTP/1.1 404 Not Found\r\n"));
    let mut out2 = Vec::new();
    let pairs: Vec<(Vec<u8>, Vec<u8>)> = vec![
        (b"a".to_vec(), b"b".to_vec()),
        (b"c".to_vec(), b"d".to_vec()),
    ];
    write_head(&mut out2, 404, pairs, Some(0), false, false, DATE);
    assert_eq!(out, out2);
}

#[test]
fn rfc9112_7_1_chunks() {
    let mut out = Vec::new();
    write_chunk(&mut out, b"hello");
    write_chunk(&mut out, b"");
    write_chunk(&mut out, &[b'x'; 26]);
    write_last_chunk(&mut out);
    let mut expected = b"5\r\nhello\r\n1a\r\n".to_vec();
    expected.extend([b'x'; 26]);
    expected.extend(b"\r\n0\r\n\r\n");
    assert_eq!(out, expected);
    let mut big = Vec::new();
    write_chunk(&mut big, &vec![0u8; 0x1000]);
    assert!(big.starts_with(b"1000\r\n"));
}

#[test]
fn encoded_chunks_decode_back() {
    use crate::protocol::h1::{BodyDecoder, BodyFraming};
    let mut out = Vec::new();
    for piece in [&b"a"[..], b"bc", &[7u8; 300]] {
        write_chunk(&mut out, piece);
    }
    write_last_chunk(&mut out);
    let mut dec = BodyDecoder::new(BodyFraming::Chunked, 1 << 20, 0);
    let mut buf = bytes::BytesMut::from(&out[..]);
    let mut body = bytes::BytesMut::new();
    assert_eq!(dec.decode(&mut buf, &mut body), Ok(true));
    assert_eq!(body.len(), 303);
}

#[test]
fn error_response() {
    let mut out = Vec::new();
    let err = ProtoError::BadRequest("Content-Length and Transfer-Encoding together");
    write_error(&mut out, &err, DATE);
    let body = "400 Bad Request: Content-Length and Transfer-Encoding together\n";
    let expected = format!(
        "HTTP/1.1 400 Bad Request\r\ndate: Sun, 06 Nov 1994 08:49:37 GMT\r\n\
         content-type: text/plain; charset=utf-8\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    );
    assert_eq!(String::from_utf8(out).unwrap(), expected);
    let mut out = Vec::new();
    write_error(&mut out, &ProtoError::HeadersTooLarge, DATE);
    let text = String::from_utf8(out).unwrap();
    assert!(text.starts_with("HTTP/1.1 431 Request Header Fields Too Large\r\n"));
    assert!(text.ends_with(
        "\r\n\r\n431 Request Header Fields Too Large: request header fields too large\n"
    ));
}

#[test]
fn every_error_status_has_a_phrase() {
    for e in [
        ProtoError::RequestLineTooLong,
        ProtoError::HeadersTooLarge,
        ProtoError::TooManyHeaders,
        ProtoError::BodyTooLarge,
        ProtoError::BadRequest("x"),
        ProtoError::VersionNotSupported,
        ProtoError::NotImplemented("x"),
        ProtoError::ExpectationFailed,
        ProtoError::HeaderTimeout,
        ProtoError::BodyTimeout,
    ] {
        assert!(!reason_phrase(e.status()).is_empty(), "{e:?}");
    }
    assert_eq!(reason_phrase(999), "");
    assert_eq!(CONTINUE_100, b"HTTP/1.1 100 Continue\r\n\r\n");
}

#[test]
fn rfc9110_5_6_2_and_5_5_header_validation() {
    assert!(valid_header_name(b"X-Custom_1.a~!#$%&'*+^`|"));
    for n in [&b""[..], b"a b", b"a:b", b"a\r", b"(x)", b"\xff"] {
        assert!(!valid_header_name(n), "{n:?}");
    }
    assert!(valid_header_value(b"text/plain; q=\"1\"\t \x80\xff"));
    assert!(valid_header_value(b""));
    for v in [&b"a\rb"[..], b"a\nb", b"a\0b", b"\x01", b"\x1f", b"\x7f"] {
        assert!(!valid_header_value(v), "{v:?}");
    }
}

#[test]
fn response_head_with_length_and_keep_alive_10() {
    let mut out = Vec::new();
    write_response_head(
        &mut out,
        200,
        b"x-a: 1\r\n",
        Framing::Length(5),
        false,
        true,
        b"D",
    );
    assert_eq!(
        out,
        b"HTTP/1.1 200 OK\r\ndate: D\r\nx-a: 1\r\ncontent-length: 5\r\nconnection: keep-alive\r\n\r\n"
    );
}

#[test]
fn response_head_without_framing_for_204() {
    let mut out = Vec::new();
    write_response_head(&mut out, 204, b"", Framing::None, true, false, b"D");
    assert_eq!(
        out,
        b"HTTP/1.1 204 No Content\r\ndate: D\r\nconnection: close\r\n\r\n"
    );
}
