//! Unit tests for `body`, named after the RFC 9112 sections they check.

use super::*;

const MAX: u64 = 1 << 20;

/// Decodes `input` fed whole; returns (done, body, leftover).
fn run(framing: BodyFraming, input: &[u8]) -> Result<(bool, Vec<u8>, Vec<u8>), ProtoError> {
    let mut dec = BodyDecoder::new(framing, MAX, 1024);
    let mut buf = BytesMut::from(input);
    let mut out = BytesMut::new();
    let done = dec.decode(&mut buf, &mut out)?;
    assert_eq!(done, dec.is_done());
    Ok((done, out.to_vec(), buf.to_vec()))
}

/// Decodes `input` fed one byte at a time; bytes never fed count as leftover.
fn run_bytewise(
    framing: BodyFraming,
    input: &[u8],
) -> Result<(bool, Vec<u8>, Vec<u8>), ProtoError> {
    let mut dec = BodyDecoder::new(framing, MAX, 1024);
    let mut buf = BytesMut::new();
    let mut out = BytesMut::new();
    let mut fed = 0;
    let mut done = dec.decode(&mut buf, &mut out)?;
    while !done && fed < input.len() {
        buf.extend_from_slice(&input[fed..fed + 1]);
        fed += 1;
        done = dec.decode(&mut buf, &mut out)?;
    }
    let mut rest = buf.to_vec();
    rest.extend_from_slice(&input[fed..]);
    Ok((done, out.to_vec(), rest))
}

fn chunked(input: &[u8]) -> Result<(bool, Vec<u8>, Vec<u8>), ProtoError> {
    let whole = run(BodyFraming::Chunked, input);
    let bytewise = run_bytewise(BodyFraming::Chunked, input);
    assert_eq!(
        whole,
        bytewise,
        "whole vs byte-at-a-time for {:?}",
        String::from_utf8_lossy(input)
    );
    whole
}

fn chunked_err(input: &[u8]) -> ProtoError {
    match chunked(input) {
        Err(e) => e,
        Ok(r) => panic!(
            "expected an error for {:?}, got {r:?}",
            String::from_utf8_lossy(input)
        ),
    }
}

fn chunked_bad(input: &[u8]) {
    assert!(
        matches!(chunked_err(input), ProtoError::BadRequest(_)),
        "{:?}",
        String::from_utf8_lossy(input)
    );
}

#[test]
fn rfc9112_6_3_empty_body_is_done_at_once() {
    assert_eq!(
        run(BodyFraming::Empty, b"GET").unwrap(),
        (true, vec![], b"GET".to_vec())
    );
    assert_eq!(
        run(BodyFraming::Length(0), b"x").unwrap(),
        (true, vec![], b"x".to_vec())
    );
}

#[test]
fn rfc9112_6_2_content_length_whole_body_is_moved() {
    let mut buf = BytesMut::from(&b"helloNEXT"[..]);
    let ptr = buf.as_ptr();
    let mut out = BytesMut::new();
    let mut dec = BodyDecoder::new(BodyFraming::Length(5), MAX, 0);
    assert!(dec.decode(&mut buf, &mut out).unwrap());
    assert_eq!((&out[..], &buf[..]), (&b"hello"[..], &b"NEXT"[..]));
    assert_eq!(out.as_ptr(), ptr, "moved, not copied");
    assert!(dec.is_done());
    // Done stays done and consumes nothing more.
    assert!(dec.decode(&mut buf, &mut out).unwrap());
    assert_eq!(&buf[..], b"NEXT");
}

#[test]
fn rfc9112_6_2_content_length_in_pieces() {
    let mut dec = BodyDecoder::new(BodyFraming::Length(6), MAX, 0);
    let mut out = BytesMut::new();
    let mut buf = BytesMut::from(&b"ab"[..]);
    assert!(!dec.decode(&mut buf, &mut out).unwrap());
    assert!(buf.is_empty());
    assert!(!dec.decode(&mut buf, &mut out).unwrap());
    buf.extend_from_slice(b"cdefGET");
    assert!(dec.decode(&mut buf, &mut out).unwrap());
    assert_eq!((&out[..], &buf[..]), (&b"abcdef"[..], &b"GET"[..]));
    assert_eq!(
        run_bytewise(BodyFraming::Length(3), b"abcd").unwrap(),
        (true, b"abc".to_vec(), b"d".to_vec())
    );
}

#[test]
fn rfc9110_15_5_14_content_length_over_limit() {
    let mut dec = BodyDecoder::new(BodyFraming::Length(11), 10, 0);
    let e = dec.decode(&mut BytesMut::from(&b"x"[..]), &mut BytesMut::new());
    assert_eq!(e, Err(ProtoError::BodyTooLarge));
}

#[test]
fn rfc9112_7_1_chunked_basic() {
    let (done, body, rest) = chunked(b"5\r\nhello\r\n6\r\n world\r\n0\r\n\r\nNEXT").unwrap();
    assert!(done);
    assert_eq!((body, rest), (b"hello world".to_vec(), b"NEXT".to_vec()));
    assert_eq!(
        chunked(b"A\r\n0123456789\r\na\r\n0123456789\r\n0\r\n\r\n")
            .unwrap()
            .1
            .len(),
        20
    );
    assert_eq!(chunked(b"0\r\n\r\n").unwrap(), (true, vec![], vec![]));
    assert_eq!(chunked(b"000\r\n\r\n").unwrap(), (true, vec![], vec![]));
    assert_eq!(
        chunked(b"5\r\nhel").unwrap(),
        (false, b"hel".to_vec(), vec![])
    );
}

#[test]
fn rfc9112_7_1_chunk_size_is_exactly_hexdig() {
    for bad in [
        &b"+5"[..],
        b"-5",
        b" 5",
        b"5 ",
        b"0x5",
        b"",
        b"g",
        b"5\t",
        b"\t5",
    ] {
        let mut input = bad.to_vec();
        input.extend(b"\r\nhello\r\n0\r\n\r\n");
        assert_eq!(
            chunked_err(&input),
            ProtoError::BadRequest("invalid chunk size"),
            "{bad:?}"
        );
    }
    // 17 digits can never be valid, even with leading zeros.
    let mut dec = BodyDecoder::new(BodyFraming::Chunked, u64::MAX, 0);
    let e = dec.decode(
        &mut BytesMut::from(&b"00000000000000001\r\n"[..]),
        &mut BytesMut::new(),
    );
    assert_eq!(e, Err(ProtoError::BadRequest("invalid chunk size")));
    // 16 digits are fine when the limit allows.
    let mut dec = BodyDecoder::new(BodyFraming::Chunked, u64::MAX, 0);
    let r = dec.decode(
        &mut BytesMut::from(&b"ffffffffffffffff\r\nab"[..]),
        &mut BytesMut::new(),
    );
    assert_eq!(r, Ok(false));
}

#[test]
fn rfc9110_15_5_14_chunked_total_over_limit() {
    let mut dec = BodyDecoder::new(BodyFraming::Chunked, 8, 0);
    let mut out = BytesMut::new();
    let mut buf = BytesMut::from(&b"5\r\nhello\r\n4\r\n"[..]);
    assert_eq!(
        dec.decode(&mut buf, &mut out),
        Err(ProtoError::BodyTooLarge)
    );
    // Refused as soon as the size says so, before any data.
    let mut dec = BodyDecoder::new(BodyFraming::Chunked, 8, 0);
    let r = dec.decode(
        &mut BytesMut::from(&b"ffffffffffffffff"[..]),
        &mut BytesMut::new(),
    );
    assert_eq!(r, Err(ProtoError::BodyTooLarge));
    // Exactly the limit is fine.
    let mut dec = BodyDecoder::new(BodyFraming::Chunked, 8, 0);
    let mut buf = BytesMut::from(&b"5\r\nhello\r\n3\r\nabc\r\n0\r\n\r\n"[..]);
    assert_eq!(dec.decode(&mut buf, &mut out), Ok(true));
}

#[test]
fn rfc9112_7_1_1_chunk_extensions() {
    for ext in [
        &b";a"[..],
        b";a=b",
        b";a=\"q \\\" s\"",
        b";a;b=c;d=\"\"",
        b";n=\"\xff\"",
        // BWS around `;` and `=` is parsed and removed (RFC 9110 §5.6.3).
        b"; a",
        b";a =b",
        b";a= b",
        b" ;a",
        b"\t; a = \"x\" ;b",
    ] {
        let mut input = b"5".to_vec();
        input.extend(ext);
        input.extend(b"\r\nhello\r\n0;last\r\n\r\n");
        assert_eq!(chunked(&input).unwrap().1, b"hello".to_vec(), "{ext:?}");
    }
    for ext in [
        &b";"[..],
        b"; ",
        b";a ",
        b";a=b ",
        b";a=",
        b";a=\"x",
        b";a=\"x\"y",
        b";a=b c",
        b";=b",
        b";a=\"\x01\"",
        b";a=\"\\\x7f\"",
    ] {
        let mut input = b"5".to_vec();
        input.extend(ext);
        input.extend(b"\r\nhello\r\n0\r\n\r\n");
        assert_eq!(
            chunked_err(&input),
            ProtoError::BadRequest("invalid chunk extension"),
            "{ext:?}"
        );
    }
}

#[test]
fn rfc9112_7_1_1_chunk_size_line_bounded() {
    let mut input = b"5;a=".to_vec();
    input.extend(vec![b'x'; 4096]);
    input.extend(b"\r\nhello\r\n0\r\n\r\n");
    assert_eq!(
        chunked_err(&input),
        ProtoError::BadRequest("chunk-size line too long")
    );
    let mut ok = b"5;a=".to_vec();
    ok.extend(vec![b'x'; 4092]);
    ok.extend(b"\r\nhello\r\n0\r\n\r\n");
    assert!(chunked(&ok).unwrap().0);
}

#[test]
fn rfc9112_7_1_chunk_data_followed_by_exactly_crlf() {
    chunked_bad(b"5\r\nhello!\r\n0\r\n\r\n");
    chunked_bad(b"5\r\nhello\n0\r\n\r\n");
    chunked_bad(b"5\r\nhello\r0\r\n\r\n");
    chunked_bad(b"5\r\nhell\r\n0\r\n\r\n");
}

#[test]
fn rfc9112_2_2_bare_lf_and_cr_in_chunked() {
    assert_eq!(
        chunked_err(b"5\nhello\r\n0\r\n\r\n"),
        ProtoError::BadRequest("bare LF in chunked body")
    );
    chunked_bad(b"5\rhello\r\n0\r\n\r\n");
    chunked_bad(b"5;a\nhello\r\n0\r\n\r\n");
    chunked_bad(b"0\r\n\n");
    chunked_bad(b"0\r\n\r\r");
    chunked_bad(b"0\r\nX: y\n\r\n");
    chunked_bad(b"0\r\nX: y\rz\r\n\r\n");
}

#[test]
fn rfc9112_7_1_2_trailers_validated_and_discarded() {
    let (done, body, rest) = chunked(b"3\r\nabc\r\n0\r\nX-Sum: 1 2\r\nY:\r\n\r\nGET /").unwrap();
    assert!(done);
    assert_eq!((body, rest), (b"abc".to_vec(), b"GET /".to_vec()));
    chunked_bad(b"0\r\nX: y\r\n  folded\r\n\r\n");
    chunked_bad(b"0\r\nX : y\r\n\r\n");
    chunked_bad(b"0\r\n: y\r\n\r\n");
    chunked_bad(b"0\r\nX y\r\n\r\n");
    chunked_bad(b"0\r\nX: a\0b\r\n\r\n");
    chunked_bad(b"0\r\nX: a\x7fb\r\n\r\n");
    // Bounded by max_trailer_bytes.
    let mut dec = BodyDecoder::new(BodyFraming::Chunked, MAX, 16);
    let mut buf = BytesMut::from(&b"0\r\nX-Long: 0123456789\r\n\r\n"[..]);
    assert_eq!(
        dec.decode(&mut buf, &mut BytesMut::new()),
        Err(ProtoError::HeadersTooLarge)
    );
    let mut dec = BodyDecoder::new(BodyFraming::Chunked, MAX, 16);
    let mut buf = BytesMut::from(&b"0\r\nX: 0123456789\r\n\r\n"[..]);
    assert_eq!(dec.decode(&mut buf, &mut BytesMut::new()), Ok(true));
}

#[test]
fn errors_are_sticky() {
    let mut dec = BodyDecoder::new(BodyFraming::Chunked, MAX, 0);
    let mut out = BytesMut::new();
    let e = dec.decode(&mut BytesMut::from(&b"z"[..]), &mut out);
    assert_eq!(e, Err(ProtoError::BadRequest("invalid chunk size")));
    let again = dec.decode(&mut BytesMut::from(&b"0\r\n\r\n"[..]), &mut out);
    assert_eq!(again, e);
    assert!(!dec.is_done());
}

#[test]
fn empty_input_needs_more() {
    let mut dec = BodyDecoder::new(BodyFraming::Chunked, MAX, 0);
    assert_eq!(
        dec.decode(&mut BytesMut::new(), &mut BytesMut::new()),
        Ok(false)
    );
    let mut dec = BodyDecoder::new(BodyFraming::Length(1), MAX, 0);
    assert_eq!(
        dec.decode(&mut BytesMut::new(), &mut BytesMut::new()),
        Ok(false)
    );
}
