//! Property tests for the request side: head parser and body decoder together.
//!
//! (1) No input makes them panic (they face the open internet; RFC 9112 §11.2 counts parser
//! robustness as security). (2) TCP delivers a request in arbitrary pieces, so the result must
//! not depend on where the reads split it. (3) Pipelined requests (RFC 9112 §9.3.2) share a
//! buffer, so each message must end exactly where it should, losing and stealing nothing.

use bytes::BytesMut;
use proptest::prelude::*;

use crate::protocol::h1::token::trim_ows;
use crate::protocol::h1::{parse_head, BodyDecoder, BodyFraming, Limits, ProtoError, RequestHead};

/// What a request amounts to for comparison.
#[derive(Debug, Clone, PartialEq)]
struct Msg {
    method: String,
    target: Vec<u8>,
    headers: Vec<(Vec<u8>, Vec<u8>)>,
    framing: BodyFraming,
    keep_alive: bool,
    body: Vec<u8>,
}

fn summarize(h: &RequestHead, body: &[u8]) -> Msg {
    Msg {
        method: h.method().as_str().to_owned(),
        target: h.target().to_vec(),
        headers: h.headers().map(|(n, v)| (n.to_vec(), v.to_vec())).collect(),
        framing: h.framing(),
        keep_alive: h.keep_alive(),
        body: body.to_vec(),
    }
}

/// Feeds `pieces` into one connection buffer the way the server loop does; returns the
/// complete messages and the bytes left over.
fn drive(pieces: &[&[u8]]) -> Result<(Vec<Msg>, Vec<u8>), ProtoError> {
    let limits = Limits::default();
    let mut buf = BytesMut::new();
    let mut msgs = Vec::new();
    let mut current: Option<(RequestHead, BodyDecoder, BytesMut)> = None;
    for piece in pieces {
        buf.extend_from_slice(piece);
        loop {
            let (head, decoder, body) = match current.as_mut() {
                Some(c) => c,
                None => match parse_head(&mut buf, &limits)? {
                    Some(h) => {
                        let d = BodyDecoder::new(h.framing(), limits.max_body, 4096);
                        current.insert((h, d, BytesMut::new()))
                    }
                    None => break,
                },
            };
            if !decoder.decode(&mut buf, body)? {
                break;
            }
            msgs.push(summarize(head, body));
            current = None;
        }
    }
    Ok((msgs, buf.to_vec()))
}

/// Splits `bytes` at the given cut points (taken modulo its length).
fn pieces<'a>(bytes: &'a [u8], cuts: &[usize]) -> Vec<&'a [u8]> {
    let mut at: Vec<usize> = cuts.iter().map(|c| c % (bytes.len() + 1)).collect();
    at.push(0);
    at.push(bytes.len());
    at.sort_unstable();
    at.dedup();
    at.windows(2).map(|w| &bytes[w[0]..w[1]]).collect()
}

#[derive(Debug, Clone)]
enum Body {
    None,
    Length(Vec<u8>),
    /// Chunks (non-empty), uppercase hex, an extension on each chunk, trailer fields.
    Chunked(Vec<Vec<u8>>, bool, bool, Vec<(String, Vec<u8>)>),
}

const FRAMING_NAMES: [&str; 5] = [
    "host",
    "content-length",
    "transfer-encoding",
    "connection",
    "expect",
];

fn field_name() -> impl Strategy<Value = String> {
    "[A-Za-z][A-Za-z0-9!#$%&'*+.^_`|~-]{0,12}"
        .prop_filter("framing fields are generated separately", |n| {
            !FRAMING_NAMES.contains(&n.to_ascii_lowercase().as_str())
        })
}

/// A field value as sent: may have OWS around it, tabs inside, and obs-text.
fn field_value() -> impl Strategy<Value = Vec<u8>> {
    let byte =
        prop_oneof![8 => 0x21u8..=0x7e, 1 => 0x80u8..=0xff, 1 => Just(b' '), 1 => Just(b'\t')];
    proptest::collection::vec(byte, 0..24)
}

fn body() -> impl Strategy<Value = Body> {
    let data = proptest::collection::vec(any::<u8>(), 1..40);
    prop_oneof![
        Just(Body::None),
        proptest::collection::vec(any::<u8>(), 0..200).prop_map(Body::Length),
        (
            proptest::collection::vec(data, 0..5),
            any::<bool>(),
            any::<bool>(),
            proptest::collection::vec((field_name(), field_value()), 0..3),
        )
            .prop_map(|(c, upper, ext, t)| Body::Chunked(c, upper, ext, t)),
    ]
}

/// A valid HTTP/1.1 request: its bytes and what it must parse to.
fn request() -> impl Strategy<Value = (Vec<u8>, Msg)> {
    let method = prop_oneof![
        Just("GET"),
        Just("HEAD"),
        Just("POST"),
        Just("PUT"),
        Just("DELETE"),
        Just("PATCH"),
        Just("OPTIONS"),
        Just("PURGE")
    ];
    let target = "/[A-Za-z0-9._~/!$&'()*+,;=:@-]{0,20}(\\?[A-Za-z0-9=&%/?]{0,12})?";
    let headers = proptest::collection::vec((field_name(), field_value()), 0..8);
    (
        method,
        target,
        headers,
        body(),
        any::<bool>(),
        any::<bool>(),
    )
        .prop_map(|(method, target, headers, body, close, leading_crlf)| {
            let mut out = Vec::new();
            if leading_crlf {
                out.extend_from_slice(b"\r\n");
            }
            out.extend_from_slice(
                format!("{method} {target} HTTP/1.1\r\nHost: example.com\r\n").as_bytes(),
            );
            let mut expected = vec![(b"Host".to_vec(), b"example.com".to_vec())];
            let mut add = |out: &mut Vec<u8>, name: &[u8], value: &[u8]| {
                out.extend_from_slice(name);
                out.extend_from_slice(b":");
                out.extend_from_slice(value);
                out.extend_from_slice(b"\r\n");
                expected.push((name.to_vec(), trim_ows(value).to_vec()));
            };
            for (n, v) in &headers {
                add(&mut out, n.as_bytes(), v);
            }
            if close {
                add(&mut out, b"Connection", b" close");
            }
            let (framing, wire_body, decoded) = match &body {
                Body::None => (BodyFraming::Empty, Vec::new(), Vec::new()),
                Body::Length(b) => {
                    add(
                        &mut out,
                        b"Content-Length",
                        format!(" {}", b.len()).as_bytes(),
                    );
                    let f = if b.is_empty() {
                        BodyFraming::Empty
                    } else {
                        BodyFraming::Length(b.len() as u64)
                    };
                    (f, b.clone(), b.clone())
                }
                Body::Chunked(chunks, upper, ext, trailers) => {
                    add(&mut out, b"Transfer-Encoding", b" chunked");
                    let mut wire = Vec::new();
                    for c in chunks {
                        let size = if *upper {
                            format!("{:X}", c.len())
                        } else {
                            format!("{:x}", c.len())
                        };
                        wire.extend_from_slice(size.as_bytes());
                        if *ext {
                            wire.extend_from_slice(b";a=b;q=\"x \\\" y\";flag");
                        }
                        wire.extend_from_slice(b"\r\n");
                        wire.extend_from_slice(c);
                        wire.extend_from_slice(b"\r\n");
                    }
                    wire.extend_from_slice(b"0\r\n");
                    for (n, v) in trailers {
                        wire.extend_from_slice(n.as_bytes());
                        wire.extend_from_slice(b":");
                        wire.extend_from_slice(v);
                        wire.extend_from_slice(b"\r\n");
                    }
                    wire.extend_from_slice(b"\r\n");
                    (BodyFraming::Chunked, wire, chunks.concat())
                }
            };
            out.extend_from_slice(b"\r\n");
            out.extend_from_slice(&wire_body);
            let msg = Msg {
                method: method.to_owned(),
                target: target.into_bytes(),
                headers: expected,
                framing,
                keep_alive: !close,
                body: decoded,
            };
            (out, msg)
        })
}

/// Raw material that reaches deep into both parsers more often than uniform bytes do.
fn soup() -> impl Strategy<Value = Vec<u8>> {
    const TOKENS: &[&[u8]] = &[
        b"GET ",
        b"POST ",
        b"CONNECT ",
        b"OPTIONS ",
        b"/ ",
        b"* ",
        b"http://h/ ",
        b"h:1 ",
        b"HTTP/1.1",
        b"HTTP/1.0",
        b"HTTP/2",
        b"\r\n",
        b"\n",
        b"\r",
        b"Host: a",
        b"Host:",
        b"Transfer-Encoding: ",
        b"chunked",
        b"gzip",
        b"Content-Length: ",
        b"5",
        b"0",
        b"ffffffffffffffff",
        b";a=\"b\"",
        b"hello",
        b":",
        b" ",
        b"\t",
        b",",
        b"\0",
        b"\xff",
        b"Expect: 100-continue",
        b"Connection: close",
        b"X: y",
    ];
    let token = proptest::sample::select(TOKENS);
    let piece = prop_oneof![
        4 => token.prop_map(|t| t.to_vec()),
        1 => proptest::collection::vec(any::<u8>(), 0..8),
    ];
    proptest::collection::vec(piece, 0..40).prop_map(|v| v.concat())
}

fn input() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![proptest::collection::vec(any::<u8>(), 0..512), soup()]
}

/// Calls every accessor, so that a bad offset anywhere would panic here.
fn touch(h: &RequestHead) {
    let _ = (
        h.method().as_str(),
        h.version().as_str(),
        h.target(),
        h.path(),
        h.query(),
    );
    let _ = (
        h.headers().count(),
        h.header_count(),
        h.header("host"),
        h.host(),
        h.raw().len(),
    );
    let _ = (h.framing(), h.keep_alive(), h.expects_continue());
}

/// Decodes `input` for `framing`, fed in `cuts` pieces: (done, body, leftover) or error.
fn decode_pieces(
    framing: BodyFraming,
    input: &[u8],
    cuts: &[usize],
) -> Result<(bool, Vec<u8>, Vec<u8>), ProtoError> {
    let mut dec = BodyDecoder::new(framing, 1 << 16, 64);
    let mut buf = BytesMut::new();
    let mut out = BytesMut::new();
    let mut done = dec.decode(&mut buf, &mut out)?;
    let mut fed = 0;
    for p in pieces(input, cuts) {
        if done {
            break;
        }
        buf.extend_from_slice(p);
        fed += p.len();
        done = dec.decode(&mut buf, &mut out)?;
        assert_eq!(done, dec.is_done());
    }
    let mut rest = buf.to_vec();
    rest.extend_from_slice(&input[fed..]);
    Ok((done, out.to_vec(), rest))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// (1) parse_head never panics, leaves the buffer untouched unless it returns a head,
    /// and a returned head is a prefix of the input that every accessor can read.
    #[test]
    fn parse_head_never_panics(bytes in input(), tiny in any::<bool>()) {
        let limits = if tiny {
            Limits { max_request_line: 16, max_header_bytes: 64, max_headers: 3, max_body: 10 }
        } else {
            Limits::default()
        };
        let mut buf = BytesMut::from(&bytes[..]);
        match parse_head(&mut buf, &limits) {
            Ok(Some(h)) => {
                touch(&h);
                prop_assert!(bytes.ends_with(&buf));
                prop_assert!(bytes[..bytes.len() - buf.len()].ends_with(h.raw()));
            }
            Ok(None) | Err(_) => prop_assert_eq!(&buf[..], &bytes[..]),
        }
    }

    /// (2) First bytes refused as not HTTP/1.x are refused the same way in any longer input
    /// that starts with them, so TCP segmentation cannot change that verdict (issue 13).
    #[test]
    fn not_http1_refusal_holds_for_every_extension(bytes in input(), cut in any::<usize>()) {
        use crate::protocol::h1::sniff::{H2_PREFACE, NOT_HTTP1, TLS};
        let cut = cut % (bytes.len() + 1);
        let limits = Limits::default();
        let part = parse_head(&mut BytesMut::from(&bytes[..cut]), &limits);
        if let Err(e @ (TLS | H2_PREFACE | NOT_HTTP1)) = part {
            prop_assert_eq!(parse_head(&mut BytesMut::from(&bytes[..]), &limits).err(), Some(e));
        }
    }

    /// (1) A first byte no method can start with is refused on its own, without waiting.
    #[test]
    fn a_first_byte_outside_the_method_alphabet_is_refused_at_once(b in any::<u8>()) {
        let refused = parse_head(&mut BytesMut::from(&[b][..]), &Limits::default()).is_err();
        let may_start = crate::protocol::h1::token::is_tchar(b) || b == b'\r';
        prop_assert_eq!(refused, !may_start);
    }

    /// (1) The body decoder never panics or hangs on any bytes, and (2) its result does not
    /// depend on how the input is split.
    #[test]
    fn body_decoder_never_panics_and_ignores_splits(
        bytes in input(),
        cuts in proptest::collection::vec(any::<usize>(), 0..12),
        len in 0u64..70_000,
        kind in 0u8..3,
    ) {
        let framing = match kind {
            0 => BodyFraming::Chunked,
            1 => BodyFraming::Length(len),
            _ => BodyFraming::Empty,
        };
        let whole = decode_pieces(framing, &bytes, &[]);
        let split = decode_pieces(framing, &bytes, &cuts);
        prop_assert_eq!(&whole, &split);
        let bytewise: Vec<usize> = (0..bytes.len()).collect();
        prop_assert_eq!(&whole, &decode_pieces(framing, &bytes, &bytewise));
    }

    /// (2) A valid request parses to what was sent, however it is split.
    #[test]
    fn valid_request_in_arbitrary_pieces((bytes, msg) in request(), cuts in proptest::collection::vec(any::<usize>(), 0..16)) {
        let expected = (vec![msg], Vec::new());
        prop_assert_eq!(&drive(&[&bytes[..]]), &Ok(expected.clone()));
        prop_assert_eq!(&drive(&pieces(&bytes, &cuts)), &Ok(expected.clone()));
        let bytewise: Vec<&[u8]> = bytes.chunks(1).collect();
        prop_assert_eq!(&drive(&bytewise), &Ok(expected));
    }

    /// (3) Two pipelined requests in one stream come out as two, nothing lost or extra.
    #[test]
    fn pipelined_requests((a, ma) in request(), (b, mb) in request(), cuts in proptest::collection::vec(any::<usize>(), 0..8)) {
        let both = [a, b].concat();
        let expected = Ok((vec![ma, mb], Vec::new()));
        prop_assert_eq!(&drive(&[&both[..]]), &expected);
        prop_assert_eq!(&drive(&pieces(&both, &cuts)), &expected);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    /// (2) Every single split point of a valid request gives the same result.
    #[test]
    fn valid_request_split_at_every_byte((bytes, msg) in request()) {
        let expected = Ok((vec![msg], Vec::new()));
        for i in 0..=bytes.len() {
            prop_assert_eq!(&drive(&[&bytes[..i], &bytes[i..]]), &expected, "split at {}", i);
        }
    }
}
