use http::{HeaderMap, Request};

use super::head::{request_head, response_headers, HeadError};
use crate::protocol::h1::{Limits, Version};

fn parts(req: Request<()>) -> http::request::Parts {
    req.into_parts().0
}

#[test]
fn pseudo_fields_become_the_request_line_and_host() {
    // RFC 9113 §8.3.1: :authority stands for Host.
    let p = parts(
        Request::get("https://example.com/a/b?x=1")
            .header("accept", "text/plain")
            .body(())
            .unwrap(),
    );
    let h = request_head(&p, &Limits::default()).unwrap();
    assert_eq!(h.method().as_str(), "GET");
    assert_eq!(h.path(), b"/a/b");
    assert_eq!(h.query(), Some(&b"x=1"[..]));
    assert_eq!(h.header("host"), Some(&b"example.com"[..]));
    assert_eq!(h.header("accept"), Some(&b"text/plain"[..]));
    assert_eq!(h.version(), Version::Http2);
}

#[test]
fn cookie_fields_are_joined() {
    // RFC 9113 §8.2.3: several cookie fields are one, joined with "; ".
    let p = parts(
        Request::get("http://h/")
            .header("cookie", "a=1")
            .header("cookie", "b=2")
            .body(())
            .unwrap(),
    );
    let h = request_head(&p, &Limits::default()).unwrap();
    assert_eq!(h.header("cookie"), Some(&b"a=1; b=2"[..]));
}

#[test]
fn authority_wins_over_host() {
    let p = parts(
        Request::get("http://right/")
            .header("host", "wrong")
            .body(())
            .unwrap(),
    );
    let h = request_head(&p, &Limits::default()).unwrap();
    assert_eq!(h.header("host"), Some(&b"right"[..]));
}

#[test]
fn no_authority_and_no_host_is_refused() {
    let p = parts(Request::get("/only-a-path").body(()).unwrap());
    assert_eq!(
        request_head(&p, &Limits::default()).unwrap_err(),
        HeadError::NoAuthority
    );
}

#[test]
fn limits_apply_as_for_http11() {
    let limits = Limits {
        max_header_bytes: 200,
        ..Limits::default()
    };
    let p = parts(
        Request::get("http://h/")
            .header("x-big", "v".repeat(300))
            .body(())
            .unwrap(),
    );
    assert!(matches!(
        request_head(&p, &limits),
        Err(HeadError::Proto(_))
    ));
}

#[test]
fn response_block_becomes_fields_without_connection_specific_ones() {
    let mut m = HeaderMap::new();
    response_headers(
        b"Content-Type: text/plain\r\nconnection: close\r\nX-A: 1\r\nx-a: 2\r\n",
        &mut m,
    );
    assert_eq!(m.get("content-type").unwrap(), "text/plain");
    assert!(m.get("connection").is_none());
    assert_eq!(m.get_all("x-a").iter().count(), 2);
}

#[test]
fn an_extended_connect_is_the_get_of_its_path_saying_upgrade_websocket() {
    // RFC 8441 §4-5: :method CONNECT, :protocol websocket, :path, :authority.
    let p = parts(
        Request::connect("https://example.com/chat?room=1")
            .extension(h2::ext::Protocol::from_static("websocket"))
            .header("sec-websocket-version", "13")
            .header("cookie", "a=1")
            .header("cookie", "b=2")
            .body(())
            .unwrap(),
    );
    let h = super::head::websocket_head(&p, &Limits::default()).unwrap();
    assert_eq!(h.method().as_str(), "GET");
    assert_eq!(h.path(), b"/chat");
    assert_eq!(h.query(), Some(&b"room=1"[..]));
    assert_eq!(h.header("host"), Some(&b"example.com"[..]));
    assert_eq!(h.header("upgrade"), Some(&b"websocket"[..]));
    assert_eq!(h.header("cookie"), Some(&b"a=1; b=2"[..]));
    assert_eq!(h.header("connection"), None);
    assert_eq!(h.version(), Version::Http2);
}
