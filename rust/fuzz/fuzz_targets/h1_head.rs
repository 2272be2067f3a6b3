//! `parse_head` on arbitrary bytes, under tiny and default limits.
//!
//! Never panics; a head it returns is exactly the bytes it consumed and obeys every limit and
//! rule the parser promises; a prefix of the input parses to "need more" or to the same answer
//! as the whole (so TCP segmentation cannot change the verdict); and the bytes after a head,
//! past its body, parse as the next pipelined request the same way.

#![no_main]

use _core::protocol::h1::{parse_head, BodyDecoder, BodyFraming, Limits, ProtoError, Version};
use bytes::BytesMut;
use libfuzzer_sys::fuzz_target;

/// Small enough that the fuzzer reaches every limit with short inputs.
const TINY: Limits = Limits {
    max_request_line: 32,
    max_header_bytes: 128,
    max_headers: 4,
    max_body: 64,
};

/// Most requests one input is followed through (pipelining).
const MAX_MESSAGES: usize = 8;

/// What `parse_head` made of a buffer, comparable across calls.
#[derive(Debug, PartialEq)]
enum Outcome {
    Need,
    Failed(ProtoError),
    /// Bytes consumed (leading empty lines included) and the head's own bytes.
    Head(usize, Vec<u8>),
}

fn outcome(data: &[u8], limits: &Limits) -> Outcome {
    let mut buf = BytesMut::from(data);
    match parse_head(&mut buf, limits) {
        Ok(None) => {
            assert_eq!(&buf[..], data, "Ok(None) must leave the buffer alone");
            Outcome::Need
        }
        Err(e) => {
            assert_eq!(&buf[..], data, "an error must leave the buffer alone");
            Outcome::Failed(e)
        }
        Ok(Some(h)) => Outcome::Head(data.len() - buf.len(), h.raw().to_vec()),
    }
}

fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

/// A few cut points, spread by a cheap hash of the input so each input tries different ones.
fn cut_points(data: &[u8], consumed: Option<usize>) -> Vec<usize> {
    let len = data.len();
    let mut cuts = vec![len / 2, len.saturating_sub(1)];
    if let Some(c) = consumed {
        cuts.extend([c.saturating_sub(1), c]);
    }
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in data {
        h = (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3);
    }
    for _ in 0..4 {
        h = h.rotate_left(17).wrapping_mul(0x9e37_79b9_7f4a_7c15);
        cuts.push((h % (len as u64 + 1)) as usize);
    }
    cuts
}

/// Checks one head against the input it came from; returns bytes consumed and its framing.
fn check_head(data: &[u8], limits: &Limits) -> Option<(usize, BodyFraming)> {
    let whole = outcome(data, limits);
    let consumed = match &whole {
        Outcome::Head(n, _) => Some(*n),
        _ => None,
    };
    // Split invariance: the server calls parse_head again after every read, so a prefix may
    // only say "need more" or give the answer the whole input gives. One latitude: when the
    // whole is refused, a prefix may be refused for another reason (a partial line already
    // over a size limit, 414/431, where the whole line is refused for its content, 400).
    for cut in cut_points(data, consumed) {
        let part = outcome(&data[..cut], limits);
        let ok = match (&whole, &part) {
            (Outcome::Head(n, _), _) if cut < *n => part == Outcome::Need,
            (Outcome::Failed(_), Outcome::Failed(_)) => true,
            _ => part == Outcome::Need || part == whole,
        };
        assert!(
            ok,
            "prefix of {cut} bytes gave {part:?}, whole input {whole:?}"
        );
    }

    let mut buf = BytesMut::from(data);
    let h = match parse_head(&mut buf, limits) {
        Ok(Some(h)) => h,
        _ => return None,
    };
    let consumed = data.len() - buf.len();
    let raw = h.raw();
    let skip = consumed - raw.len();
    assert!(
        data[..skip].chunks(2).all(|c| c == b"\r\n"),
        "only empty lines may precede a head"
    );
    assert_eq!(&data[skip..consumed], &raw[..]);
    assert!(raw.ends_with(b"\r\n\r\n"));
    assert!(raw.len() <= limits.max_header_bytes);
    for (i, &b) in raw.iter().enumerate() {
        assert_ne!(b, 0, "NUL in an accepted head");
        if b == b'\n' {
            assert_eq!(raw[i - 1], b'\r', "bare LF in an accepted head");
        }
        if b == b'\r' {
            assert_eq!(raw.get(i + 1), Some(&b'\n'), "bare CR in an accepted head");
        }
    }
    let lines: Vec<&[u8]> = raw[..raw.len() - 4].split(|&b| b == b'\n').collect();
    let request_line = lines[0].strip_suffix(b"\r").unwrap_or(lines[0]);
    assert!(request_line.len() <= limits.max_request_line);
    let mut expected_line = Vec::new();
    expected_line.extend_from_slice(h.method().as_str().as_bytes());
    expected_line.push(b' ');
    expected_line.extend_from_slice(h.target());
    expected_line.push(b' ');
    expected_line.extend_from_slice(h.version().as_str().as_bytes());
    assert_eq!(request_line, &expected_line[..], "request line");

    // Header lines: everything between the request line and the empty line.
    assert_eq!(h.header_count(), lines.len() - 1);
    assert!(h.header_count() <= limits.max_headers);
    assert_eq!(h.headers().count(), h.header_count());
    for (name, value) in h.headers() {
        assert!(!name.is_empty() && name.iter().all(|&b| is_tchar(b)));
        assert!(!value.starts_with(b" ") && !value.starts_with(b"\t"));
        assert!(!value.ends_with(b" ") && !value.ends_with(b"\t"));
        assert!(!value.iter().any(|&b| matches!(b, b'\r' | b'\n' | 0)));
    }
    let named = |n: &'static str| {
        h.headers()
            .filter(move |(k, _)| k.eq_ignore_ascii_case(n.as_bytes()))
    };
    let hosts = named("host").count();
    assert!(hosts <= 1);
    if h.version() == Version::Http11 {
        assert_eq!(hosts, 1, "HTTP/1.1 without Host accepted");
    }
    let lengths: Vec<&[u8]> = named("content-length").map(|(_, v)| v).collect();
    let te = named("transfer-encoding").count();
    match h.framing() {
        BodyFraming::Length(n) => {
            assert!(n > 0 && n <= limits.max_body);
            assert_eq!(lengths.len(), 1);
            assert!(lengths[0].iter().all(u8::is_ascii_digit));
            let declared = std::str::from_utf8(lengths[0])
                .ok()
                .and_then(|s| s.parse().ok());
            assert_eq!(
                declared,
                Some(n),
                "framing length is the Content-Length value"
            );
            assert_eq!(te, 0);
        }
        BodyFraming::Chunked => {
            assert!(te > 0 && lengths.is_empty());
            assert_eq!(h.version(), Version::Http11);
        }
        BodyFraming::Empty => {
            assert_eq!(te, 0);
            assert!(lengths.len() <= 1);
            assert!(lengths.iter().all(|v| v.iter().all(|&b| b == b'0')));
        }
    }

    // The target and its parts.
    let target = h.target();
    assert!(!target.is_empty() && !target.contains(&b'#'));
    if target.starts_with(b"/") {
        let mut rebuilt = h.path().to_vec();
        if let Some(q) = h.query() {
            rebuilt.push(b'?');
            rebuilt.extend_from_slice(q);
        }
        assert_eq!(&rebuilt[..], target, "path and query split the target");
        assert!(!h.path().contains(&b'?'));
    }
    let _ = (
        h.host(),
        h.keep_alive(),
        h.expects_continue(),
        h.header("host"),
    );
    Some((consumed, h.framing()))
}

fuzz_target!(|data: &[u8]| {
    for limits in [TINY, Limits::default()] {
        // Follow the input as one connection: head, body, next head...
        let mut at = 0;
        for _ in 0..MAX_MESSAGES {
            let Some((consumed, framing)) = check_head(&data[at..], &limits) else {
                break;
            };
            at += consumed;
            let mut buf = BytesMut::from(&data[at..]);
            let mut body = BytesMut::new();
            let mut dec = BodyDecoder::new(framing, limits.max_body, limits.max_header_bytes);
            match dec.decode(&mut buf, &mut body) {
                Ok(true) => {
                    assert!(body.len() as u64 <= limits.max_body);
                    if let BodyFraming::Length(n) = framing {
                        assert_eq!(body.len() as u64, n);
                    }
                    at = data.len() - buf.len();
                }
                Ok(false) | Err(_) => break,
            }
        }
    }
});
