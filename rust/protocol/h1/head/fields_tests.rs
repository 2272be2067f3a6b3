//! Unit tests for `fields`: Host, Content-Length, Transfer-Encoding, Connection, Expect and
//! field values, through the whole parser. Helpers come from the `head` tests.

use super::super::tests::{bad, err, ok, parse, parse_with, req};
use super::super::{Limits, ProtoError};
use crate::protocol::h1::BodyFraming;

#[test]
fn rfc9112_3_2_host_required_unique_and_valid() {
    assert_eq!(
        err(b"GET / HTTP/1.1\r\n\r\n"),
        ProtoError::BadRequest("missing Host header")
    );
    assert_eq!(ok(b"GET / HTTP/1.0\r\n\r\n").host(), None);
    bad(&req("Host: example.com\r\n"));
    bad(&req("HOST: other\r\n"));
    for v in [
        "a b", "a/b", "user@h", "h:x", "h:99999", "[::1", "[zz]", "h%zz", ":80", "a\\b",
    ] {
        bad(format!("GET / HTTP/1.1\r\nHost: {v}\r\n\r\n").as_bytes());
    }
    for v in [
        "example.com:8080",
        "[::1]:80",
        "127.0.0.1",
        "h:",
        "xn--d-1a.example",
        "a%20b",
    ] {
        let h = ok(format!("GET / HTTP/1.1\r\nHost: {v}\r\n\r\n").as_bytes());
        assert_eq!(h.host(), Some(v.as_bytes()));
    }
    // An empty Host is what a client sends when the target has no authority.
    assert_eq!(
        ok(b"GET / HTTP/1.1\r\nHost:\r\n\r\n").host(),
        Some(&b""[..])
    );
    // HTTP/1.0 too must not send a bad or duplicated Host.
    bad(b"GET / HTTP/1.0\r\nHost: a b\r\n\r\n");
}

#[test]
fn rfc9110_8_6_content_length() {
    assert_eq!(
        ok(&req("Content-Length: 42\r\n")).framing(),
        BodyFraming::Length(42)
    );
    assert_eq!(
        ok(&req("content-length: 0\r\n")).framing(),
        BodyFraming::Empty
    );
    assert_eq!(
        ok(&req("Content-Length: 007\r\n")).framing(),
        BodyFraming::Length(7)
    );
    for v in [
        "+5",
        "-5",
        "5 5",
        "0x5",
        "5,5",
        "5, 5",
        "",
        "5a",
        "1e3",
        "99999999999999999999",
    ] {
        let e = err(&req(&format!("Content-Length: {v}\r\n")));
        assert_eq!(e, ProtoError::BadRequest("invalid Content-Length"), "{v:?}");
    }
    // RFC 9112 §6.3 item 5: two lines are refused, even when equal (we are strict).
    bad(&req("Content-Length: 5\r\nContent-Length: 5\r\n"));
    assert_eq!(
        err(&req("Content-Length: 10485761\r\n")),
        ProtoError::BodyTooLarge
    );
    assert_eq!(
        err(&req("Content-Length: 9999999999999999999\r\n")),
        ProtoError::BodyTooLarge
    );
    let big = Limits {
        max_body: u64::MAX,
        ..Limits::default()
    };
    let h = parse_with(&req("Content-Length: 9999999999999999999\r\n"), &big)
        .unwrap()
        .unwrap();
    assert_eq!(h.framing(), BodyFraming::Length(9_999_999_999_999_999_999));
}

#[test]
fn rfc9112_6_1_transfer_encoding() {
    for v in ["chunked", "Chunked", "CHUNKED", " chunked "] {
        assert_eq!(
            ok(&req(&format!("Transfer-Encoding: {v}\r\n"))).framing(),
            BodyFraming::Chunked
        );
    }
    let both = err(&req("Transfer-Encoding: chunked\r\nContent-Length: 5\r\n"));
    assert_eq!(
        both,
        ProtoError::BadRequest("Content-Length and Transfer-Encoding together")
    );
    assert_eq!(
        both.reason(),
        "Content-Length and Transfer-Encoding together"
    );
    bad(b"POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n");
    let unsupported = ProtoError::NotImplemented("transfer coding not supported");
    for v in [
        "gzip, chunked",
        "identity, chunked",
        "x-custom ,chunked",
        "gzip;q=1, chunked",
    ] {
        assert_eq!(
            err(&req(&format!("Transfer-Encoding: {v}\r\n"))),
            unsupported,
            "{v}"
        );
    }
    assert_eq!(
        err(&req(
            "Transfer-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n"
        )),
        unsupported
    );
    for v in [
        "gzip",
        "identity",
        "chunked, gzip",
        "chunked, chunked",
        "",
        " , ",
        "chunked;a=b",
        "chunked x",
        "\"chunked\"",
    ] {
        bad(&req(&format!("Transfer-Encoding: {v}\r\n")));
    }
    bad(&req(
        "Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n",
    ));
    // RFC 9110 §5.6.1.2: empty list elements are ignored, not an error.
    for v in [",chunked", "chunked,", "chunked, ,", " ,gzip, ,chunked"] {
        let head = parse(req(&format!("Transfer-Encoding: {v}\r\n")).as_slice());
        if v.contains("gzip") {
            assert!(matches!(head, Err(ProtoError::NotImplemented(_))), "{v}");
        } else {
            assert!(matches!(head, Ok(Some(_))), "{v}");
        }
    }
}

#[test]
fn rfc9112_9_3_persistence() {
    assert!(ok(&req("")).keep_alive());
    assert!(!ok(&req("Connection: close\r\n")).keep_alive());
    assert!(!ok(&req("Connection: Keep-Alive, CLOSE\r\n")).keep_alive());
    assert!(!ok(&req("Connection: upgrade\r\nConnection: close\r\n")).keep_alive());
    assert!(ok(&req("Connection: closed, keep-alive\r\n")).keep_alive());
    assert!(!ok(b"GET / HTTP/1.0\r\n\r\n").keep_alive());
    assert!(ok(b"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n").keep_alive());
    assert!(ok(b"GET / HTTP/1.0\r\nConnection: Upgrade,Keep-Alive\r\n\r\n").keep_alive());
    assert!(!ok(b"GET / HTTP/1.0\r\nConnection: keep-alive, close\r\n\r\n").keep_alive());
}

#[test]
fn rfc9110_10_1_1_expect() {
    assert!(ok(&req("Expect: 100-continue\r\n")).expects_continue());
    assert!(ok(&req("Expect: 100-Continue\r\n")).expects_continue());
    assert!(!ok(b"GET / HTTP/1.0\r\nExpect: 100-continue\r\n\r\n").expects_continue());
    assert_eq!(err(&req("Expect: foo\r\n")), ProtoError::ExpectationFailed);
    assert_eq!(
        err(&req("Expect: 100-continue, foo\r\n")),
        ProtoError::ExpectationFailed
    );
    assert_eq!(
        err(&req("Expect: 100-continue=1\r\n")),
        ProtoError::ExpectationFailed
    );
    assert_eq!(
        err(b"GET / HTTP/1.0\r\nExpect: bar\r\n\r\n"),
        ProtoError::ExpectationFailed
    );
}

#[test]
fn rfc9110_5_5_field_values() {
    let h =
        ok(b"GET / HTTP/1.1\r\nHost: h\r\nX: \t a \t b \t\r\nY:\r\nZ: caf\xc3\xa9 \xff\r\n\r\n");
    assert_eq!(h.header("x"), Some(&b"a \t b"[..]));
    assert_eq!(h.header("y"), Some(&b""[..]));
    assert_eq!(h.header("z"), Some(&b"caf\xc3\xa9 \xff"[..]));
    bad(&req("X: a\x7fb\r\n"));
    bad(&req("X: a\x01b\r\n"));
}
