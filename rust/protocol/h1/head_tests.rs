//! Unit tests for `head`: one test (or a small group) per rule, named after its RFC section.

use super::*;
use crate::protocol::h1::BodyFraming;

pub(super) fn parse_with(s: &[u8], limits: &Limits) -> Result<Option<RequestHead>, ProtoError> {
    let mut buf = BytesMut::from(s);
    let before = buf.clone();
    let r = parse_head(&mut buf, limits);
    if !matches!(r, Ok(Some(_))) {
        assert_eq!(
            buf, before,
            "buffer must be untouched unless a head is returned"
        );
    }
    r
}

pub(super) fn parse(s: &[u8]) -> Result<Option<RequestHead>, ProtoError> {
    parse_with(s, &Limits::default())
}

pub(super) fn ok(s: &[u8]) -> RequestHead {
    match parse(s) {
        Ok(Some(h)) => h,
        other => panic!(
            "expected a head for {:?}, got {other:?}",
            String::from_utf8_lossy(s)
        ),
    }
}

pub(super) fn err(s: &[u8]) -> ProtoError {
    match parse(s) {
        Err(e) => e,
        other => panic!(
            "expected an error for {:?}, got {other:?}",
            String::from_utf8_lossy(s)
        ),
    }
}

pub(super) fn bad(s: &[u8]) {
    assert!(
        matches!(err(s), ProtoError::BadRequest(_)),
        "{:?}",
        String::from_utf8_lossy(s)
    );
}

/// A minimal HTTP/1.1 request with extra header lines.
pub(super) fn req(extra: &str) -> Vec<u8> {
    format!("GET / HTTP/1.1\r\nHost: example.com\r\n{extra}\r\n").into_bytes()
}

#[test]
fn parses_simple_get_and_leaves_the_rest() {
    let mut buf = BytesMut::from(
        &b"GET /a/b?x=1&y HTTP/1.1\r\nHost: example.com\r\nX-Foo:  bar \r\nx-foo: baz\r\n\r\nNEXT"
            [..],
    );
    let h = parse_head(&mut buf, &Limits::default()).unwrap().unwrap();
    assert_eq!(&buf[..], b"NEXT");
    assert_eq!(h.method(), &Method::Get);
    assert_eq!(h.version(), Version::Http11);
    assert_eq!(h.target(), b"/a/b?x=1&y");
    assert_eq!(h.path(), b"/a/b");
    assert_eq!(h.query(), Some(&b"x=1&y"[..]));
    assert_eq!(h.header_count(), 3);
    let all: Vec<_> = h.headers().collect();
    assert_eq!(all[1], (&b"X-Foo"[..], &b"bar"[..]));
    assert_eq!(all[2], (&b"x-foo"[..], &b"baz"[..]));
    assert_eq!(h.header("X-FOO"), Some(&b"bar"[..]));
    assert_eq!(h.header("missing"), None);
    assert_eq!(h.host(), Some(&b"example.com"[..]));
    assert_eq!(h.framing(), BodyFraming::Empty);
    assert!(h.keep_alive());
    assert!(!h.expects_continue());
    assert!(h.raw().starts_with(b"GET /a/b") && h.raw().ends_with(b"baz\r\n\r\n"));
}

#[test]
fn query_absent_or_empty() {
    assert_eq!(ok(&req("")).query(), None);
    let mut r = b"GET /p? HTTP/1.1\r\nHost: h\r\n\r\n".to_vec();
    assert_eq!(ok(&r).query(), Some(&b""[..]));
    r = b"GET /p?a?b HTTP/1.1\r\nHost: h\r\n\r\n".to_vec();
    assert_eq!(
        (ok(&r).path(), ok(&r).query()),
        (&b"/p"[..], Some(&b"a?b"[..]))
    );
}

#[test]
fn partial_head_needs_more() {
    let full = req("X: y\r\n");
    for i in 0..full.len() {
        assert!(matches!(parse(&full[..i]), Ok(None)), "prefix {i}");
    }
    ok(&full);
}

#[test]
fn rfc9112_2_2_leading_empty_lines_ignored() {
    let mut buf = BytesMut::from(&b"\r\n\r\nGET / HTTP/1.1\r\nHost: h\r\n\r\n"[..]);
    let h = parse_head(&mut buf, &Limits::default()).unwrap().unwrap();
    assert!(buf.is_empty());
    assert!(h.raw().starts_with(b"GET"));
    assert!(matches!(parse(b"\r\n\r"), Ok(None)));
    bad(b"\nGET / HTTP/1.1\r\nHost: h\r\n\r\n");
    bad(b"\r\rGET / HTTP/1.1\r\nHost: h\r\n\r\n");
    // Bounded by the request-line limit.
    let limits = Limits {
        max_request_line: 10,
        ..Limits::default()
    };
    let many = b"\r\n".repeat(6);
    assert_eq!(
        parse_with(&many, &limits).unwrap_err(),
        ProtoError::RequestLineTooLong
    );
}

/// Issue 13 (point 4): a ClientHello on the cleartext port waited for the header timeout.
#[test]
fn first_bytes_that_are_not_http1_are_refused_before_a_line_ends() {
    use crate::protocol::h1::sniff::{H2_PREFACE, NOT_HTTP1, TLS};
    // Partial input, no line end yet: refused all the same, not "need more".
    assert_eq!(err(b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03"), TLS);
    assert_eq!(err(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"), H2_PREFACE);
    assert_eq!(err(b"PRI * HTTP/2"), H2_PREFACE);
    assert_eq!(err(b"\x00\x01\x02"), NOT_HTTP1);
    // Also after the empty lines RFC 9112 §2.2 lets a client send first.
    assert_eq!(err(b"\r\n\x16\x03\x01"), TLS);
    assert_eq!(err(b"\r\n\r\nG\x00T"), NOT_HTTP1);
    // Before the size checks: the answer is the same whatever the limits and the length.
    let tiny = Limits {
        max_request_line: 4,
        max_header_bytes: 8,
        ..Limits::default()
    };
    let mut long = b"\x16\x03\x01".to_vec();
    long.extend(std::iter::repeat_n(b'a', 100));
    assert_eq!(parse_with(&long, &tiny).unwrap_err(), TLS);
    // A request that is only begun, and one after empty lines, still parse as before.
    assert!(matches!(parse(b"PRI * HTTP/"), Ok(None)));
    assert!(matches!(parse(b"\r\n"), Ok(None)));
    assert!(matches!(parse(b"GET"), Ok(None)));
    assert!(ok(b"\r\nGET / HTTP/1.1\r\nHost: h\r\n\r\n")
        .raw()
        .starts_with(b"GET"));
}

#[test]
fn rfc9112_3_request_line_too_long() {
    let limits = Limits {
        max_request_line: 20,
        ..Limits::default()
    };
    // "GET /123456 HTTP/1.1" is exactly 20 bytes.
    assert!(
        parse_with(b"GET /123456 HTTP/1.1\r\nHost: h\r\n\r\n", &limits)
            .unwrap()
            .is_some()
    );
    let e = parse_with(b"GET /1234567 HTTP/1.1\r\nHost: h\r\n\r\n", &limits);
    assert_eq!(e.unwrap_err(), ProtoError::RequestLineTooLong);
    // Partial: no line end yet, already too long.
    assert_eq!(
        parse_with(b"GET /1234567890123456789", &limits).unwrap_err(),
        ProtoError::RequestLineTooLong
    );
    // Exactly at the limit plus the CR of the CRLF: still waiting.
    assert!(matches!(
        parse_with(b"GET /123456 HTTP/1.1\r", &limits),
        Ok(None)
    ));
}

#[test]
fn rfc6585_5_head_too_large() {
    let limits = Limits {
        max_header_bytes: 64,
        ..Limits::default()
    };
    // 16 + 9 + 5 + 2 = 32 bytes of framing around the value of X.
    let head = format!("GET / HTTP/1.1\r\nHost: h\r\nX: {}\r\n\r\n", "v".repeat(32));
    assert_eq!(head.len(), 64);
    assert!(parse_with(head.as_bytes(), &limits).unwrap().is_some());
    let longer = format!("GET / HTTP/1.1\r\nHost: h\r\nX: {}\r\n\r\n", "v".repeat(33));
    assert_eq!(
        parse_with(longer.as_bytes(), &limits).unwrap_err(),
        ProtoError::HeadersTooLarge
    );
    // Partial: complete lines already over the limit.
    let partial = format!("GET / HTTP/1.1\r\nX: {}\r\n", "v".repeat(60));
    assert_eq!(
        parse_with(partial.as_bytes(), &limits).unwrap_err(),
        ProtoError::HeadersTooLarge
    );
    // Partial: a header line that never ends.
    let mut endless = b"GET / HTTP/1.1\r\nX: ".to_vec();
    endless.extend(vec![b'a'; 100]);
    assert_eq!(
        parse_with(&endless, &limits).unwrap_err(),
        ProtoError::HeadersTooLarge
    );
}

#[test]
fn rfc6585_5_too_many_headers() {
    let limits = Limits {
        max_headers: 3,
        ..Limits::default()
    };
    assert!(parse_with(&req("A: 1\r\nB: 2\r\n"), &limits)
        .unwrap()
        .is_some());
    let e = parse_with(&req("A: 1\r\nB: 2\r\nC: 3\r\n"), &limits).unwrap_err();
    assert_eq!(e, ProtoError::TooManyHeaders);
    // Detected before the head is complete.
    let partial = b"GET / HTTP/1.1\r\nA: 1\r\nB: 2\r\nC: 3\r\nD: 4\r\n";
    assert_eq!(
        parse_with(partial, &limits).unwrap_err(),
        ProtoError::TooManyHeaders
    );
}

#[test]
fn more_headers_than_the_stack_array() {
    let limits = Limits {
        max_headers: 300,
        ..Limits::default()
    };
    let extra: String = (0..200).map(|i| format!("X-{i}: {i}\r\n")).collect();
    let h = parse_with(&req(&extra), &limits).unwrap().unwrap();
    assert_eq!(h.header_count(), 201);
    assert_eq!(h.header("x-199"), Some(&b"199"[..]));
}

#[test]
fn rfc9112_2_2_bare_lf_rejected() {
    bad(b"GET / HTTP/1.1\nHost: h\r\n\r\n");
    bad(b"GET / HTTP/1.1\r\nHost: h\n\r\n");
    bad(b"GET / HTTP/1.1\r\nHost: h\r\n\n");
    bad(b"GET / HTTP/1.1\r\nHost: h\nX: y\r\n\r\n");
    // Detected before the head is complete.
    bad(b"GET / HTTP/1.1\nHost: h");
}

#[test]
fn rfc9112_2_2_bare_cr_and_nul_rejected() {
    bad(b"GET /\r HTTP/1.1\r\nHost: h\r\n\r\n");
    bad(b"GET / HTTP/1.1\r\nHost: h\r\nX: a\rb\r\n\r\n");
    bad(b"GET / HTTP/1.1\r\nHost: h\r\nX: a\0b\r\n\r\n");
    bad(b"GET /\0 HTTP/1.1\r\nHost: h\r\n\r\n");
    bad(b"GET / HTTP/1.1\r\nHost: h\r\nX: ab\r\r\n\r\n");
}

#[test]
fn rfc9112_5_2_obs_fold_rejected() {
    bad(&req("X: a\r\n  continued\r\n"));
    bad(&req("X: a\r\n\tcontinued\r\n"));
}

#[test]
fn rfc9112_5_1_no_whitespace_before_colon() {
    bad(&req("X : a\r\n"));
    bad(&req("X\t: a\r\n"));
}

#[test]
fn rfc9110_5_6_2_tokens_in_method_and_field_name() {
    bad(b"GE(T / HTTP/1.1\r\nHost: h\r\n\r\n");
    bad(b" GET / HTTP/1.1\r\nHost: h\r\n\r\n");
    bad(&req("Fo@o: a\r\n"));
    bad(&req("F\"o: a\r\n"));
    bad(&req(": empty name\r\n"));
    bad(&req("no colon\r\n"));
}

#[test]
fn rfc9112_3_request_line_shape() {
    bad(b"GET  / HTTP/1.1\r\nHost: h\r\n\r\n");
    bad(b"GET / HTTP/1.1 \r\nHost: h\r\n\r\n");
    bad(b"GET /\r\nHost: h\r\n\r\n");
    bad(b"GET / a HTTP/1.1\r\nHost: h\r\n\r\n");
    bad(b"GET\t/ HTTP/1.1\r\nHost: h\r\n\r\n");
}

#[test]
fn rfc9112_2_3_versions() {
    let h = ok(b"GET / HTTP/1.0\r\n\r\n");
    assert_eq!(h.version(), Version::Http10);
    assert_eq!(h.version().as_str(), "HTTP/1.0");
    assert_eq!(h.header_count(), 0);
    for v in ["HTTP/2.0", "HTTP/1.2", "HTTP/3", "HTTP/0.9", "HTTP/9.9"] {
        let r = format!("GET / {v}\r\nHost: h\r\n\r\n");
        assert_eq!(err(r.as_bytes()), ProtoError::VersionNotSupported, "{v}");
    }
    for v in [
        "http/1.1",
        "HTTP/11",
        "HTTP/1.1x",
        "HTTX/1.1",
        "HTTP/1.",
        "HTTP/10.0",
        "HTTP/",
    ] {
        let r = format!("GET / {v}\r\nHost: h\r\n\r\n");
        bad(r.as_bytes());
    }
}

#[test]
fn rfc9110_9_1_methods_are_case_sensitive_tokens() {
    assert_eq!(
        ok(b"PURGE / HTTP/1.0\r\n\r\n").method(),
        &Method::Other("PURGE".into())
    );
    assert_eq!(ok(b"get / HTTP/1.0\r\n\r\n").method().as_str(), "get");
    for m in [
        "GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "TRACE", "X-Y",
    ] {
        let parsed = Method::from_bytes(m.as_bytes()).unwrap();
        assert_eq!(parsed.as_str(), m);
        assert_eq!(
            ok(format!("{m} / HTTP/1.0\r\n\r\n").as_bytes()).method(),
            &parsed
        );
    }
    assert_eq!(Method::from_bytes(b""), None);
    assert_eq!(Method::from_bytes(b"G T"), None);
}

#[test]
fn rfc9112_3_2_2_absolute_form() {
    let h = ok(b"GET http://Example.com:8080/p/q?x HTTP/1.1\r\nHost: other\r\n\r\n");
    assert_eq!(h.path(), b"/p/q");
    assert_eq!(h.query(), Some(&b"x"[..]));
    // The target's authority overrides Host.
    assert_eq!(h.host(), Some(&b"Example.com:8080"[..]));
    assert_eq!(h.header("host"), Some(&b"other"[..]));
    let h = ok(b"GET HTTPS://h HTTP/1.1\r\nHost: h\r\n\r\n");
    assert_eq!((h.path(), h.query()), (&b"/"[..], None));
    let h = ok(b"GET http://h?q=1 HTTP/1.1\r\nHost: h\r\n\r\n");
    assert_eq!((h.path(), h.query()), (&b"/"[..], Some(&b"q=1"[..])));
    let h = ok(b"GET http://[::1]:80/ HTTP/1.1\r\nHost: h\r\n\r\n");
    assert_eq!(h.host(), Some(&b"[::1]:80"[..]));
    bad(b"GET ftp://h/ HTTP/1.1\r\nHost: h\r\n\r\n");
    bad(b"GET http:///p HTTP/1.1\r\nHost: h\r\n\r\n");
    bad(b"GET http://user@h/p HTTP/1.1\r\nHost: h\r\n\r\n");
    bad(b"GET http://h:99999/ HTTP/1.1\r\nHost: h\r\n\r\n");
    // Still needs Host in HTTP/1.1 (RFC 9112 §3.2).
    bad(b"GET http://h/ HTTP/1.1\r\n\r\n");
}

#[test]
fn rfc9112_3_2_4_asterisk_form_only_with_options() {
    let h = ok(b"OPTIONS * HTTP/1.1\r\nHost: h\r\n\r\n");
    assert_eq!(
        (h.target(), h.path(), h.query()),
        (&b"*"[..], &b"*"[..], None)
    );
    bad(b"GET * HTTP/1.1\r\nHost: h\r\n\r\n");
    bad(b"OPTIONS *x HTTP/1.1\r\nHost: h\r\n\r\n");
}

#[test]
fn rfc9112_3_2_3_authority_form_only_with_connect() {
    let h = ok(b"CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n");
    assert_eq!(h.host(), Some(&b"example.com:443"[..]));
    assert_eq!(h.path(), b"");
    ok(b"CONNECT [2001:db8::1]:443 HTTP/1.1\r\nHost: x\r\n\r\n");
    bad(b"CONNECT example.com HTTP/1.1\r\nHost: h\r\n\r\n");
    bad(b"CONNECT example.com: HTTP/1.1\r\nHost: h\r\n\r\n");
    bad(b"CONNECT /p HTTP/1.1\r\nHost: h\r\n\r\n");
    bad(b"GET example.com:443 HTTP/1.1\r\nHost: h\r\n\r\n");
    bad(b"GET p HTTP/1.1\r\nHost: h\r\n\r\n");
}

#[test]
fn rfc9110_4_2_5_fragment_rejected() {
    bad(b"GET /p#frag HTTP/1.1\r\nHost: h\r\n\r\n");
    bad(b"GET http://h/#x HTTP/1.1\r\nHost: h\r\n\r\n");
}

#[test]
fn two_heads_back_to_back() {
    let mut two = req("A: 1\r\n");
    two.extend(b"POST /x HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n\r\nabc");
    let mut buf = BytesMut::from(&two[..]);
    let a = parse_head(&mut buf, &Limits::default()).unwrap().unwrap();
    let b = parse_head(&mut buf, &Limits::default()).unwrap().unwrap();
    assert_eq!(
        (a.header("a"), b.method()),
        (Some(&b"1"[..]), &Method::Post)
    );
    assert_eq!(&buf[..], b"abc");
    assert!(matches!(
        parse_head(&mut buf, &Limits::default()),
        Ok(None) | Err(_)
    ));
}

#[test]
fn a_refused_head_gets_the_same_answer_however_it_is_cut() {
    // Found by the h1_head fuzz target: sizes were checked after content on complete lines
    // and before it on partial ones, so the status depended on where TCP split the head.
    let mut long_line = b"GET /".to_vec();
    long_line.extend(std::iter::repeat_n(b'a', 8200));
    long_line.extend_from_slice(b" HTTP/1.1\n");
    let mut big_field = b"GET / HTTP/1.1\r\nHost: h\r\nX: \0".to_vec();
    big_field.extend(std::iter::repeat_n(b'a', 65536));
    big_field.extend_from_slice(b"\r\n");
    for (input, want) in [(long_line, 414), (big_field, 431)] {
        let whole = parse(&input).map(|_| ()).unwrap_err().status();
        let cut = parse(&input[..input.len() - 1])
            .map(|_| ())
            .unwrap_err()
            .status();
        assert_eq!((whole, cut), (want, want));
    }
}
