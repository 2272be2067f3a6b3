//! Cases cite RFC 6455 sections.

use bytes::BytesMut;

use super::*;
use crate::protocol::h1::{parse_head, Limits};

fn head(raw: &str) -> RequestHead {
    let mut buf = BytesMut::from(raw.replace('\n', "\r\n").as_bytes());
    parse_head(&mut buf, &Limits::default()).unwrap().unwrap()
}

const GOOD: &str = "GET /chat HTTP/1.1\nHost: server.example.com\nUpgrade: websocket\n\
Connection: keep-alive, Upgrade\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\n\
Sec-WebSocket-Protocol: chat, superchat\nSec-WebSocket-Version: 13\n\n";

#[test]
fn the_rfc_example_is_accepted_with_its_accept_key() {
    // §1.3: the key of the example gives s3pPLMBiTxaQ9kYGzzhZRbK+xOo=.
    let up = check(&head(GOOD)).unwrap();
    assert_eq!(up.accept, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
    assert_eq!(up.subprotocols, [Box::from("chat"), Box::from("superchat")]);
    let h = accept_headers(&up, Some("chat"), None, b"x-a: 1\r\n");
    let h = String::from_utf8(h).unwrap();
    assert!(h.contains("sec-websocket-accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"));
    assert!(h.contains("sec-websocket-protocol: chat\r\n"));
    assert!(h.ends_with("x-a: 1\r\n"));
}

#[test]
fn other_versions_get_426_naming_13() {
    // §4.4.
    let r = check(&head(&GOOD.replace("Version: 13", "Version: 8"))).unwrap_err();
    assert_eq!(r, Refusal::Version);
    let resp = r.response();
    assert_eq!(resp.status, 426);
    let h = String::from_utf8(resp.header_block).unwrap();
    assert!(h.contains("sec-websocket-version: 13\r\n"), "{h}");
}

#[test]
fn malformed_upgrades_get_400() {
    // §4.2.1 items 1-6.
    let bad = [
        GOOD.replace("dGhlIHNhbXBsZSBub25jZQ==", "short=="),
        GOOD.replace("dGhlIHNhbXBsZSBub25jZQ==", "dGhlIHNhbXBsZSBub25jZQ!="),
        GOOD.replace("Connection: keep-alive, Upgrade", "Connection: keep-alive"),
        GOOD.replace("GET", "POST"),
        GOOD.replace("HTTP/1.1", "HTTP/1.0"),
        GOOD.replace(
            "Sec-WebSocket-Protocol: chat, superchat",
            "Sec-WebSocket-Protocol: a b",
        ),
        GOOD.replace(
            "Host:",
            "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\nHost:",
        ),
        GOOD.replace("\n\n", "\nContent-Length: 2\n\n"),
    ];
    for raw in bad {
        let r = check(&head(&raw)).unwrap_err();
        assert!(matches!(r, Refusal::Bad(_)), "{raw}: {r:?}");
        assert_eq!(r.response().status, 400);
    }
}

#[test]
fn a_plain_request_is_not_an_upgrade() {
    let plain = head("GET /chat HTTP/1.1\nHost: a\n\n");
    assert!(!is_upgrade(&plain));
    assert_eq!(check(&plain).unwrap_err(), Refusal::NotUpgrade);
    assert_eq!(Refusal::NotUpgrade.response().status, 426);
    // Token lists are case-insensitive (§4.2.1 items 3, 4).
    assert!(is_upgrade(&head(
        "GET / HTTP/1.1\nHost: a\nUpgrade: h2c, WebSocket\n\n"
    )));
}

/// An extended CONNECT (RFC 8441 §4) as the HTTP/2 layer makes its head.
fn h2_head(fields: &[(&str, &str)]) -> RequestHead {
    let mut req = http::Request::builder()
        .method("CONNECT")
        .uri("https://server.example.com/chat?room=1")
        .extension(h2::ext::Protocol::from_static("websocket"));
    for (n, v) in fields {
        req = req.header(*n, *v);
    }
    let (parts, ()) = req.body(()).unwrap().into_parts();
    crate::protocol::h2::websocket_head(&parts, &Limits::default()).unwrap()
}

#[test]
fn an_extended_connect_needs_no_key_and_answers_without_one() {
    // RFC 8441 §5: no Sec-WebSocket-Key / -Accept, no Connection; version and subprotocols
    // as in RFC 6455.
    let h = h2_head(&[
        ("sec-websocket-version", "13"),
        ("sec-websocket-protocol", "chat, superchat"),
    ]);
    assert!(is_upgrade(&h));
    let up = check(&h).unwrap();
    assert_eq!(up.accept, "");
    assert_eq!(up.subprotocols, [Box::from("chat"), Box::from("superchat")]);
    let block = accept_headers(&up, Some("chat"), Some("permessage-deflate"), b"x-a: 1\r\n");
    assert_eq!(
        String::from_utf8(block).unwrap(),
        "sec-websocket-protocol: chat\r\nsec-websocket-extensions: permessage-deflate\r\n\
         x-a: 1\r\n"
    );
}

#[test]
fn an_extended_connect_is_checked_like_an_upgrade() {
    let no_version = h2_head(&[]);
    assert_eq!(check(&no_version).unwrap_err(), Refusal::Version);
    let v8 = h2_head(&[("sec-websocket-version", "8")]);
    assert_eq!(check(&v8).unwrap_err(), Refusal::Version);
    let bad_protocol = h2_head(&[
        ("sec-websocket-version", "13"),
        ("sec-websocket-protocol", "a b"),
    ]);
    assert!(matches!(check(&bad_protocol), Err(Refusal::Bad(_))));
    let body = h2_head(&[("sec-websocket-version", "13"), ("content-length", "2")]);
    assert!(matches!(check(&body), Err(Refusal::Bad(_))));
    // A key is not used over HTTP/2: one sent anyway changes nothing.
    let keyed = h2_head(&[
        ("sec-websocket-version", "13"),
        ("sec-websocket-key", "not even base64"),
    ]);
    assert_eq!(check(&keyed).unwrap().accept, "");
}

#[test]
fn a_plain_http2_request_is_not_an_upgrade() {
    let (parts, ()) = http::Request::get("https://a/chat")
        .header("sec-websocket-version", "13")
        .body(())
        .unwrap()
        .into_parts();
    let h = crate::protocol::h2::request_head(&parts, &Limits::default()).unwrap();
    assert!(!is_upgrade(&h));
    assert_eq!(check(&h).unwrap_err(), Refusal::NotUpgrade);
}
