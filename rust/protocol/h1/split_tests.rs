//! Split and pipelining properties, with the parser fed exactly as `server::conn` feeds it.
//!
//! The server calls `parse_head` whenever its buffer is non-empty and reads more on Ok(None);
//! once a head is complete it decodes the body (unless the framing is Empty) from the same
//! buffer with `BodyDecoder::new(framing, max_body, max_header_bytes)`, reading more on
//! Ok(false); what is left in the buffer starts the next request (RFC 9112 §9.3.2). TCP may
//! split the bytes anywhere, so every generated request, a head with a Content-Length or
//! chunked body, must come out as its model says whether it arrives whole, cut at any single
//! byte boundary, in any number of pieces, or one byte per read; and requests pipelined in
//! one buffer must come out in order, each complete, with nothing left over.
//!
//! Unlike `proptests.rs`, which compares split runs with the whole run, every run here is
//! compared with the model the request was generated from (version, target forms, Host,
//! Connection, Expect and framing included).

use bytes::BytesMut;
use proptest::prelude::*;

use super::{parse_head, BodyDecoder, BodyFraming, Limits, ProtoError, RequestHead, Version};

/// Everything the server reads off a request, for comparison.
#[derive(Debug, Clone, PartialEq)]
struct Seen {
    method: String,
    version: Version,
    target: Vec<u8>,
    path: Vec<u8>,
    query: Option<Vec<u8>>,
    host: Option<Vec<u8>>,
    headers: Vec<(Vec<u8>, Vec<u8>)>,
    framing: BodyFraming,
    keep_alive: bool,
    expects_continue: bool,
    raw: Vec<u8>,
    body: Vec<u8>,
}

fn seen(h: &RequestHead, body: &[u8]) -> Seen {
    Seen {
        method: h.method().as_str().to_owned(),
        version: h.version(),
        target: h.target().to_vec(),
        path: h.path().to_vec(),
        query: h.query().map(<[u8]>::to_vec),
        host: h.host().map(<[u8]>::to_vec),
        headers: h.headers().map(|(n, v)| (n.to_vec(), v.to_vec())).collect(),
        framing: h.framing(),
        keep_alive: h.keep_alive(),
        expects_continue: h.expects_continue(),
        raw: h.raw().to_vec(),
        body: body.to_vec(),
    }
}

/// The read side of one connection, as in `server::conn`: `reads` are what successive socket
/// reads return. Returns the requests read and the bytes buffered when the reads ran out.
fn serve(reads: &[&[u8]], limits: &Limits) -> Result<(Vec<Seen>, Vec<u8>), ProtoError> {
    let mut reads = reads.iter();
    let mut rbuf = BytesMut::new();
    let mut requests = Vec::new();
    loop {
        // read_head
        let head = loop {
            if !rbuf.is_empty() {
                if let Some(h) = parse_head(&mut rbuf, limits)? {
                    break h;
                }
            }
            match reads.next() {
                Some(piece) => rbuf.extend_from_slice(piece),
                None => return Ok((requests, rbuf.to_vec())),
            }
        };
        // read_body
        let mut body = BytesMut::new();
        if head.framing() != BodyFraming::Empty {
            let mut decoder =
                BodyDecoder::new(head.framing(), limits.max_body, limits.max_header_bytes);
            while !decoder.decode(&mut rbuf, &mut body)? {
                match reads.next() {
                    Some(piece) => rbuf.extend_from_slice(piece),
                    // A body cut short: report what is buffered, the request is not complete.
                    None => return Ok((requests, rbuf.to_vec())),
                }
            }
        }
        requests.push(seen(&head, &body));
    }
}

/// `bytes` cut at `cuts` (taken modulo its length) into non-empty reads.
fn pieces<'a>(bytes: &'a [u8], cuts: &[usize]) -> Vec<&'a [u8]> {
    let mut at: Vec<usize> = cuts.iter().map(|c| c % (bytes.len() + 1)).collect();
    at.extend([0, bytes.len()]);
    at.sort_unstable();
    at.dedup();
    at.windows(2).map(|w| &bytes[w[0]..w[1]]).collect()
}

/// The request-target and what the head must report for it (RFC 9112 §3.2).
#[derive(Debug, Clone)]
enum Target {
    /// origin-form: path and optional query.
    Origin(String, Option<String>),
    /// absolute-form: authority, path (may be empty: means "/"), optional query.
    Absolute(String, String, Option<String>),
    /// asterisk-form, OPTIONS only.
    Asterisk,
}

#[derive(Debug, Clone)]
enum Body {
    None,
    /// The body and how many leading zeros its Content-Length has.
    Length(Vec<u8>, usize),
    /// Chunks (may be empty lists), size-line style, extensions, trailer fields, TE spelling.
    Chunked {
        chunks: Vec<Vec<u8>>,
        upper: bool,
        zeros: usize,
        ext: Option<&'static str>,
        trailers: Vec<(String, Vec<u8>)>,
        te: &'static str,
    },
}

/// A generated request: enough to write its bytes and to say what it must parse to.
#[derive(Debug, Clone)]
struct Model {
    leading_crlf: usize,
    method: &'static str,
    http10: bool,
    target: Target,
    host: Option<(&'static str, &'static str)>,
    /// Extra fields (name, value as sent, with OWS); then where the framing fields go.
    extra: Vec<(String, Vec<u8>)>,
    rotate: usize,
    /// Connection value as sent, and whether it says close / keep-alive.
    connection: Option<(&'static str, bool, bool)>,
    expect: Option<&'static str>,
    body: Body,
}

impl Model {
    /// The request as sent, and what the server must read from it.
    fn render(&self) -> (Vec<u8>, Seen) {
        let (target, path, query, authority) = match &self.target {
            Target::Origin(p, q) => {
                let t = match q {
                    Some(q) => format!("{p}?{q}"),
                    None => p.clone(),
                };
                (t, p.clone(), q.clone(), None)
            }
            Target::Absolute(a, p, q) => {
                let mut t = format!("http://{a}{p}");
                if let Some(q) = q {
                    t.push('?');
                    t.push_str(q);
                }
                let path = if p.is_empty() { "/".into() } else { p.clone() };
                (t, path, q.clone(), Some(a.clone()))
            }
            Target::Asterisk => ("*".into(), "*".into(), None, None),
        };
        let version = if self.http10 {
            Version::Http10
        } else {
            Version::Http11
        };

        let mut fields: Vec<(Vec<u8>, Vec<u8>)> = self
            .extra
            .iter()
            .map(|(n, v)| (n.as_bytes().to_vec(), v.clone()))
            .collect();
        if let Some((name, value)) = self.host {
            fields.push((name.into(), value.into()));
        }
        if let Some((value, _, _)) = self.connection {
            fields.push((b"Connection".to_vec(), value.into()));
        }
        if let Some(value) = self.expect {
            fields.push((b"Expect".to_vec(), value.into()));
        }
        let (framing, wire_body, body) = match &self.body {
            Body::None => (BodyFraming::Empty, Vec::new(), Vec::new()),
            Body::Length(b, zeros) => {
                let value = format!(" {}{} ", "0".repeat(*zeros), b.len());
                fields.push((b"Content-Length".to_vec(), value.into_bytes()));
                let framing = match b.len() {
                    0 => BodyFraming::Empty,
                    n => BodyFraming::Length(n as u64),
                };
                (framing, b.clone(), b.clone())
            }
            Body::Chunked {
                chunks,
                upper,
                zeros,
                ext,
                trailers,
                te,
            } => {
                fields.push((b"Transfer-Encoding".to_vec(), te.as_bytes().to_vec()));
                let mut wire = Vec::new();
                let size_line = |wire: &mut Vec<u8>, n: usize| {
                    let size = if *upper {
                        format!("{n:X}")
                    } else {
                        format!("{n:x}")
                    };
                    wire.extend_from_slice("0".repeat(*zeros).as_bytes());
                    wire.extend_from_slice(size.as_bytes());
                    wire.extend_from_slice(ext.unwrap_or("").as_bytes());
                    wire.extend_from_slice(b"\r\n");
                };
                for c in chunks {
                    size_line(&mut wire, c.len());
                    wire.extend_from_slice(c);
                    wire.extend_from_slice(b"\r\n");
                }
                size_line(&mut wire, 0);
                for (n, v) in trailers {
                    wire.extend_from_slice(n.as_bytes());
                    wire.push(b':');
                    wire.extend_from_slice(v);
                    wire.extend_from_slice(b"\r\n");
                }
                wire.extend_from_slice(b"\r\n");
                (BodyFraming::Chunked, wire, chunks.concat())
            }
        };
        if !fields.is_empty() {
            let k = self.rotate % fields.len();
            fields.rotate_left(k);
        }

        let mut raw = format!("{} {target} {}\r\n", self.method, version.as_str()).into_bytes();
        for (n, v) in &fields {
            raw.extend_from_slice(n);
            raw.push(b':');
            raw.extend_from_slice(v);
            raw.extend_from_slice(b"\r\n");
        }
        raw.extend_from_slice(b"\r\n");
        let mut wire = b"\r\n".repeat(self.leading_crlf);
        wire.extend_from_slice(&raw);
        wire.extend_from_slice(&wire_body);

        let (close, keep) = self.connection.map_or((false, false), |(_, c, k)| (c, k));
        let host = authority
            .map(String::into_bytes)
            .or_else(|| self.host.map(|(_, v)| trim(v.as_bytes()).to_vec()));
        let expected = Seen {
            method: self.method.to_owned(),
            version,
            target: target.into_bytes(),
            path: path.into_bytes(),
            query: query.map(String::into_bytes),
            host,
            headers: fields
                .iter()
                .map(|(n, v)| (n.clone(), trim(v).to_vec()))
                .collect(),
            framing,
            keep_alive: if self.http10 { keep && !close } else { !close },
            expects_continue: self.expect.is_some() && !self.http10,
            raw,
            body,
        };
        (wire, expected)
    }

    /// The same request, asking to keep the connection open (for all but the last of a
    /// pipeline: the server stops reading after a request that closes).
    fn kept_alive(mut self) -> Model {
        self.connection = self.http10.then_some(("keep-alive", false, true));
        self
    }
}

fn trim(v: &[u8]) -> &[u8] {
    super::token::trim_ows(v)
}

/// Field names other than the five that frame or route the request (generated separately).
fn field_name() -> impl Strategy<Value = String> {
    "[A-Za-z][A-Za-z0-9!#$%&'*+.^_`|~-]{0,10}".prop_filter("framing field", |n| {
        ![
            "host",
            "content-length",
            "transfer-encoding",
            "connection",
            "expect",
        ]
        .contains(&n.to_ascii_lowercase().as_str())
    })
}

/// A field value as sent: visible ASCII, obs-text, inner SP/HTAB, OWS on either side.
fn field_value() -> impl Strategy<Value = Vec<u8>> {
    let byte =
        prop_oneof![8 => 0x21u8..=0x7e, 1 => 0x80u8..=0xff, 1 => Just(b' '), 1 => Just(b'\t')];
    proptest::collection::vec(byte, 0..20)
}

fn target() -> impl Strategy<Value = Target> {
    let path = "/[A-Za-z0-9._~!$&'()*+,;=:@%/-]{0,16}";
    let query = proptest::option::of("[A-Za-z0-9=&%/?:@._~-]{0,12}");
    prop_oneof![
        6 => (path, query.clone()).prop_map(|(p, q)| Target::Origin(p, q)),
        2 => (
            prop_oneof![Just("example.org"), Just("Example.ORG:8080"), Just("[::1]"), Just("10.0.0.1:81")],
            prop_oneof![Just(String::new()), path.prop_map(String::from)],
            query,
        )
            .prop_map(|(a, p, q)| Target::Absolute(a.to_owned(), p, q)),
        1 => Just(Target::Asterisk),
    ]
}

fn body(http10: bool) -> impl Strategy<Value = Body> {
    let bytes = |max| proptest::collection::vec(any::<u8>(), 0..max);
    let length = (bytes(200), 0usize..3).prop_map(|(b, z)| Body::Length(b, z));
    let chunked = (
        proptest::collection::vec(proptest::collection::vec(any::<u8>(), 1..60), 0..5),
        any::<bool>(),
        0usize..3,
        proptest::option::of(prop_oneof![
            Just(";a=b"),
            Just(" ; name = \"q \\\" v\" ;flag"),
            Just(";x"),
        ]),
        proptest::collection::vec((field_name(), field_value()), 0..3),
        prop_oneof![
            Just("chunked"),
            Just(" Chunked "),
            Just(", chunked"),
            Just("CHUNKED")
        ],
    )
        .prop_map(|(chunks, upper, zeros, ext, trailers, te)| Body::Chunked {
            chunks,
            upper,
            zeros,
            ext,
            trailers,
            te,
        });
    if http10 {
        // Transfer-Encoding in HTTP/1.0 is refused (RFC 9112 §6.1).
        prop_oneof![Just(Body::None), length].boxed()
    } else {
        prop_oneof![1 => Just(Body::None), 2 => length, 2 => chunked].boxed()
    }
}

fn request() -> impl Strategy<Value = Model> {
    any::<bool>().prop_flat_map(|http10| {
        let host = prop_oneof![
            Just(("Host", "example.com")),
            Just(("host", " example.com:8080 ")),
            Just(("HOST", "[::1]:80")),
            Just(("Host", "")),
        ];
        // HTTP/1.0 may omit Host; HTTP/1.1 must send exactly one (RFC 9112 §3.2).
        let host = if http10 {
            proptest::option::of(host).boxed()
        } else {
            host.prop_map(Some).boxed()
        };
        let method = prop_oneof![
            Just("GET"),
            Just("HEAD"),
            Just("POST"),
            Just("PUT"),
            Just("DELETE"),
            Just("PATCH"),
            Just("TRACE"),
            Just("M-SEARCH"),
        ];
        let connection = proptest::option::of(prop_oneof![
            Just(("close", true, false)),
            Just(("keep-alive", false, true)),
            Just(("Keep-Alive, Upgrade", false, true)),
            Just((" CLOSE ,keep-alive", true, true)),
        ]);
        (
            0usize..3,
            method,
            target(),
            host,
            proptest::collection::vec((field_name(), field_value()), 0..6),
            any::<usize>(),
            connection,
            proptest::option::of(prop_oneof![Just("100-continue"), Just("100-Continue")]),
            body(http10),
        )
            .prop_map(
                move |(
                    leading_crlf,
                    method,
                    target,
                    host,
                    extra,
                    rotate,
                    connection,
                    expect,
                    body,
                )| {
                    let method = if matches!(target, Target::Asterisk) {
                        "OPTIONS"
                    } else {
                        method
                    };
                    Model {
                        leading_crlf,
                        method,
                        http10,
                        target,
                        host,
                        extra,
                        rotate,
                        connection,
                        expect,
                        body,
                    }
                },
            )
    })
}

fn cuts() -> impl Strategy<Value = Vec<usize>> {
    proptest::collection::vec(any::<usize>(), 0..24)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// A request cut in two at every byte boundary, and read one byte at a time, is read as
    /// its model says.
    #[test]
    fn one_request_split_at_every_byte(model in request()) {
        let limits = Limits::default();
        let (bytes, expected) = model.render();
        let expected = Ok((vec![expected], Vec::new()));
        prop_assert_eq!(&serve(&[&bytes], &limits), &expected, "whole");
        for i in 0..=bytes.len() {
            let (a, b) = bytes.split_at(i);
            prop_assert_eq!(&serve(&[a, b], &limits), &expected, "split at {}", i);
        }
        let bytewise: Vec<&[u8]> = bytes.chunks(1).collect();
        prop_assert_eq!(&serve(&bytewise, &limits), &expected, "one byte per read");
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// A request in any number of pieces is read as its model says.
    #[test]
    fn one_request_in_arbitrary_pieces(model in request(), cuts in cuts()) {
        let limits = Limits::default();
        let (bytes, expected) = model.render();
        prop_assert_eq!(
            serve(&pieces(&bytes, &cuts), &limits),
            Ok((vec![expected], Vec::new()))
        );
    }

    /// Pipelined requests in one buffer come out in order, each complete, nothing left over;
    /// after each one the buffer holds exactly the requests still to come. The same holds
    /// when the stream arrives in arbitrary pieces.
    #[test]
    fn pipelined_requests_in_order(
        models in proptest::collection::vec(request(), 1..6),
        cuts in cuts(),
    ) {
        let limits = Limits::default();
        let last = models.len() - 1;
        let rendered: Vec<(Vec<u8>, Seen)> = models
            .into_iter()
            .enumerate()
            .map(|(i, m)| if i < last { m.kept_alive() } else { m }.render())
            .collect();
        let stream: Vec<u8> = rendered.iter().flat_map(|(b, _)| b.clone()).collect();
        let expected: Vec<Seen> = rendered.iter().map(|(_, s)| s.clone()).collect();

        // One buffer holding everything: step through it request by request.
        let mut rbuf = BytesMut::from(&stream[..]);
        for (i, (_, want)) in rendered.iter().enumerate() {
            let head = match parse_head(&mut rbuf, &limits) {
                Ok(Some(head)) => head,
                other => return Err(TestCaseError::fail(format!("request {i}: {other:?}"))),
            };
            let mut body = BytesMut::new();
            let mut decoder = BodyDecoder::new(head.framing(), limits.max_body, limits.max_header_bytes);
            prop_assert_eq!(decoder.decode(&mut rbuf, &mut body), Ok(true), "request {} body", i);
            prop_assert_eq!(&seen(&head, &body), want, "request {}", i);
            let rest: Vec<u8> = rendered[i + 1..].iter().flat_map(|(b, _)| b.clone()).collect();
            prop_assert_eq!(&rbuf[..], &rest[..], "after request {}", i);
        }
        prop_assert!(rbuf.is_empty());

        let expected = Ok((expected, Vec::new()));
        prop_assert_eq!(&serve(&[&stream], &limits), &expected, "whole");
        prop_assert_eq!(&serve(&pieces(&stream, &cuts), &limits), &expected, "pieces");
    }
}
