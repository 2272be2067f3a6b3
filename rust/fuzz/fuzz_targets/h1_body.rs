//! `BodyDecoder` for chunked and Content-Length framings, fed in pieces.
//!
//! Input, so that seeds stay readable and mutations stay meaningful:
//!
//! ```text
//! chunked max=65536 trailers=256     framing line: `chunked`, `length N` or `empty`
//! 3,7,20                             cut points (byte offsets into the body, any separator)
//! 5\r\nhello\r\n0\r\n\r\n            the body bytes as they arrive, to the end of the input
//! ```
//!
//! The decoded result (body, completion, leftover bytes, or the error) must be the same fed
//! whole, cut at the given points, or one byte at a time; it must obey its framing; and the
//! body bytes, chunk-encoded at the cut points, must decode back to themselves.

#![no_main]

use _core::protocol::h1::{BodyDecoder, BodyFraming, ProtoError};
use bytes::BytesMut;
use libfuzzer_sys::fuzz_target;

/// (done, decoded body, bytes after the body) or the error.
type Decoded = Result<(bool, Vec<u8>, Vec<u8>), ProtoError>;

struct Case<'a> {
    framing: BodyFraming,
    max_body: u64,
    max_trailers: usize,
    cuts: Vec<usize>,
    body: &'a [u8],
}

fn number(s: &[u8]) -> Option<u64> {
    std::str::from_utf8(s).ok()?.parse().ok()
}

/// Reads the two control lines; anything unparsable falls back to a default, never rejects.
fn case(data: &[u8]) -> Case<'_> {
    let mut lines = data.splitn(3, |&b| b == b'\n');
    let (control, cuts, body) = match (lines.next(), lines.next(), lines.next()) {
        (Some(c), Some(k), Some(b)) => (c, k, b),
        _ => (&b"chunked"[..], &b""[..], data),
    };
    let mut words = control.split(|&b| b == b' ').filter(|w| !w.is_empty());
    let framing = match words.next() {
        Some(b"length") => BodyFraming::Length(words.next().and_then(number).unwrap_or(0)),
        Some(b"empty") => BodyFraming::Empty,
        _ => BodyFraming::Chunked,
    };
    let (mut max_body, mut max_trailers) = (1 << 16, 256);
    for w in words {
        if let Some(v) = w.strip_prefix(b"max=").and_then(number) {
            max_body = v;
        } else if let Some(v) = w.strip_prefix(b"trailers=").and_then(number) {
            max_trailers = v.min(1 << 20) as usize;
        }
    }
    let cuts = cuts
        .split(|b| !b.is_ascii_digit())
        .filter_map(number)
        .map(|c| (c % (body.len() as u64 + 1)) as usize)
        .take(64)
        .collect();
    Case {
        framing,
        max_body,
        max_trailers,
        cuts,
        body,
    }
}

/// Feeds `input` in the pieces between `cuts` the way the server does: decode, and on
/// Ok(false) append the next read and decode again; stop once done.
fn decode(c: &Case<'_>, input: &[u8], cuts: &[usize]) -> Decoded {
    let mut at: Vec<usize> = cuts.to_vec();
    at.extend([0, input.len()]);
    at.sort_unstable();
    at.dedup();
    let mut dec = BodyDecoder::new(c.framing, c.max_body, c.max_trailers);
    let mut buf = BytesMut::new();
    let mut out = BytesMut::new();
    let mut fed = 0;
    let run = |dec: &mut BodyDecoder, buf: &mut BytesMut, out: &mut BytesMut| {
        let r = dec.decode(buf, out);
        match r {
            Ok(done) => assert_eq!(done, dec.is_done()),
            // After an error every call repeats it (the connection is closed on the first).
            Err(e) => assert_eq!(dec.decode(buf, out), Err(e)),
        }
        r
    };
    let mut done = run(&mut dec, &mut buf, &mut out)?;
    for w in at.windows(2) {
        if done {
            break;
        }
        buf.extend_from_slice(&input[w[0]..w[1]]);
        fed = w[1];
        done = run(&mut dec, &mut buf, &mut out)?;
    }
    let mut rest = buf.to_vec();
    rest.extend_from_slice(&input[fed..]);
    Ok((done, out.to_vec(), rest))
}

/// What any successful decode must look like for its framing.
fn check_framing(c: &Case<'_>, (done, out, rest): &(bool, Vec<u8>, Vec<u8>)) {
    assert!(out.len() as u64 <= c.max_body, "body over max_body");
    assert!(
        c.body.ends_with(rest),
        "leftover is not the end of the input"
    );
    if !done {
        assert!(rest.is_empty(), "need-more with input left unread");
    }
    let consumed = &c.body[..c.body.len() - rest.len()];
    match c.framing {
        BodyFraming::Empty | BodyFraming::Length(0) => {
            assert!(*done && out.is_empty() && rest == c.body);
        }
        BodyFraming::Length(n) => {
            assert_eq!(out, consumed, "Content-Length body is the bytes themselves");
            assert_eq!(*done, out.len() as u64 == n);
        }
        BodyFraming::Chunked => {
            assert!(out.len() <= consumed.len());
            if *done {
                assert!(consumed.ends_with(b"\r\n"), "chunked body ends with CRLF");
            }
        }
    }
}

/// `data` as a chunked body cut at `cuts`, then a pipelined request.
fn encode_chunked(data: &[u8], cuts: &[usize], ext: bool, upper: bool) -> Vec<u8> {
    let mut at: Vec<usize> = cuts.iter().map(|&c| c.min(data.len())).collect();
    at.extend([0, data.len()]);
    at.sort_unstable();
    at.dedup();
    let mut wire = Vec::new();
    for w in at.windows(2) {
        let chunk = &data[w[0]..w[1]];
        let size = if upper {
            format!("{:X}", chunk.len())
        } else {
            format!("{:x}", chunk.len())
        };
        wire.extend_from_slice(size.as_bytes());
        if ext {
            wire.extend_from_slice(b" ; name = \"v\\\"al\" ;flag");
        }
        wire.extend_from_slice(b"\r\n");
        wire.extend_from_slice(chunk);
        wire.extend_from_slice(b"\r\n");
    }
    wire.extend_from_slice(b"0\r\nX-Trailer: t\r\n\r\nGET / HTTP/1.1\r\n");
    wire
}

fuzz_target!(|data: &[u8]| {
    let c = case(data);
    let whole = decode(&c, c.body, &[]);
    if let Ok(r) = &whole {
        check_framing(&c, r);
    }
    assert_eq!(decode(&c, c.body, &c.cuts), whole, "cut at {:?}", c.cuts);
    let every: Vec<usize> = (1..c.body.len()).collect();
    assert_eq!(decode(&c, c.body, &every), whole, "one byte at a time");

    // Round trip: any bytes, chunk-encoded at any points, decode back to themselves.
    if c.body.len() as u64 <= c.max_body && c.max_trailers >= 14 {
        let wire = encode_chunked(
            c.body,
            &c.cuts,
            c.cuts.len() % 2 == 1,
            data.len().is_multiple_of(2),
        );
        let chunked = Case {
            framing: BodyFraming::Chunked,
            ..c
        };
        let expected = Ok((true, chunked.body.to_vec(), b"GET / HTTP/1.1\r\n".to_vec()));
        assert_eq!(decode(&chunked, &wire, &[]), expected);
        assert_eq!(decode(&chunked, &wire, &chunked.cuts), expected);
    }
});
