use super::*;
use crate::middleware::tests::{body, head};

fn upgrade(origin: &str, host: &str) -> RequestHead {
    head(&format!(
        "GET /ws HTTP/1.1\r\nhost: {host}\r\nupgrade: websocket\r\nconnection: Upgrade\r\n\
         sec-websocket-version: 13\r\nsec-websocket-key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
         origin: {origin}\r\n\r\n"
    ))
}

fn listed(entries: &[&str]) -> WebSocketOrigins {
    WebSocketOrigins::new(Some(entries)).unwrap()
}

#[test]
fn listed_origins_compare_scheme_host_and_port() {
    let o = listed(&["https://app.example.com", "http://localhost:8000"]);
    assert!(o.allows(b"https://app.example.com", None));
    assert!(o.allows(b"HTTPS://App.Example.COM:443", None));
    assert!(o.allows(b"http://localhost:8000", None));
    assert!(!o.allows(b"http://app.example.com", None));
    assert!(!o.allows(b"https://app.example.com:8443", None));
    assert!(!o.allows(b"https://evil.example.com", None));
    assert!(!o.allows(b"http://localhost:8001", None));
    assert!(!o.allows(b"null", None));
    assert!(!o.allows(b"https://app.example.com/path", None));
    assert!(!o.allows(b"", None));
}

#[test]
fn default_is_same_origin() {
    let o = WebSocketOrigins::new::<&str>(None).unwrap();
    assert!(o.allows(b"http://127.0.0.1:8000", Some(b"127.0.0.1:8000")));
    assert!(o.allows(b"https://Example.com", Some(b"example.com")));
    assert!(o.allows(b"https://example.com", Some(b"example.com:443")));
    assert!(o.allows(b"http://[::1]:9000", Some(b"[::1]:9000")));
    assert!(!o.allows(b"https://example.com", Some(b"example.com:80")));
    assert!(!o.allows(b"http://127.0.0.1:8001", Some(b"127.0.0.1:8000")));
    assert!(!o.allows(b"https://evil.com", Some(b"example.com")));
    assert!(!o.allows(b"https://example.com", None));
    assert!(!o.allows(b"null", Some(b"example.com")));
}

#[test]
fn star_allows_any_origin() {
    let o = listed(&["*"]);
    assert!(o.allows(b"https://anything.example", None));
    assert!(o.allows(b"null", None));
}

#[test]
fn refuses_a_foreign_upgrade_with_403_naming_the_origin() {
    let o = listed(&["https://app.example.com"]);
    assert!(o
        .check(&upgrade("https://app.example.com", "api.example.com"))
        .is_ok());
    let r = o
        .check(&upgrade("https://evil.example", "api.example.com"))
        .unwrap_err();
    assert_eq!(r.status, 403);
    assert!(body(&r).contains("origin https://evil.example not allowed"));
    let same = WebSocketOrigins::new::<&str>(None).unwrap();
    assert!(same
        .check(&upgrade("http://localhost:8000", "localhost:8000"))
        .is_ok());
    assert_eq!(
        same.check(&upgrade("http://localhost:8000", "localhost:9000"))
            .map_err(|r| r.status),
        Err(403)
    );
}

#[test]
fn only_websocket_upgrades_are_checked() {
    let o = listed(&["https://app.example.com"]);
    let plain = head("GET /ws HTTP/1.1\r\nhost: a\r\norigin: https://evil.example\r\n\r\n");
    assert!(o.check(&plain).is_ok());
    let h2c = head(
        "GET / HTTP/1.1\r\nhost: a\r\nupgrade: h2c\r\nconnection: upgrade\r\n\
         origin: https://evil.example\r\n\r\n",
    );
    assert!(o.check(&h2c).is_ok());
    // The token is case-insensitive and may sit in a list.
    let listed_token = head(
        "GET / HTTP/1.1\r\nhost: a\r\nupgrade: h2c, WebSocket\r\n\
         origin: https://evil.example\r\n\r\n",
    );
    assert_eq!(o.check(&listed_token).map_err(|r| r.status), Err(403));
}

#[test]
fn no_origin_passes_and_two_are_refused() {
    let o = listed(&["https://app.example.com"]);
    let bare = head("GET / HTTP/1.1\r\nhost: a\r\nupgrade: websocket\r\n\r\n");
    assert!(o.check(&bare).is_ok());
    let two = head(
        "GET / HTTP/1.1\r\nhost: a\r\nupgrade: websocket\r\norigin: https://app.example.com\r\n\
         origin: https://evil.example\r\n\r\n",
    );
    assert_eq!(o.check(&two).map_err(|r| r.status), Err(403));
}

#[test]
fn a_long_origin_is_quoted_short() {
    let o = listed(&["https://app.example.com"]);
    let long = format!("https://{}.example", "a".repeat(5000));
    let r = o.check(&upgrade(&long, "a")).unwrap_err();
    assert!(body(&r).len() < 600);
}

#[test]
fn refuses_bad_entries() {
    for e in [
        "",
        "app.example.com",
        "https://",
        "https://app.example.com/",
        "https://app.example.com:99999",
        "https://app.example.com:",
        "https://user@app.example.com",
        "custom://host",
        "null",
    ] {
        assert!(WebSocketOrigins::new(Some(&[e])).is_err(), "{e:?}");
    }
    assert!(WebSocketOrigins::new(Some(&["custom://host:1"])).is_ok());
    assert!(WebSocketOrigins::new(Some(&["http://[::1]:8000"])).is_ok());
}
