use super::*;
use crate::middleware::tests::{head, header};

fn cors(origins: &[&str], credentials: bool) -> Cors {
    Cors::new(CorsConfig {
        allow_origins: origins.iter().map(|o| o.to_string()).collect(),
        allow_methods: vec!["GET".into(), "PUT".into()],
        allow_headers: vec!["X-Token".into()],
        expose_headers: vec!["x-total".into()],
        allow_credentials: credentials,
        max_age: Some(300),
    })
    .unwrap()
}

fn preflight(origin: &str, method: &str, hdrs: &str) -> RequestHead {
    head(&format!(
        "OPTIONS /items HTTP/1.1\r\nhost: api\r\norigin: {origin}\r\n\
         access-control-request-method: {method}\r\n\
         access-control-request-headers: {hdrs}\r\n\r\n"
    ))
}

#[test]
fn preflight_allowed_is_answered_204() {
    let c = cors(&["https://app.example.com/"], false);
    let r = c
        .on_request(&preflight(
            "https://app.example.com",
            "PUT",
            "x-token, content-type",
        ))
        .unwrap_err();
    assert_eq!(r.status, 204);
    assert_eq!(
        header(&r, "access-control-allow-origin").as_deref(),
        Some("https://app.example.com")
    );
    assert_eq!(
        header(&r, "access-control-allow-methods").as_deref(),
        Some("GET, PUT")
    );
    assert_eq!(
        header(&r, "access-control-allow-headers").as_deref(),
        Some("accept, accept-language, content-language, content-type, x-token")
    );
    assert_eq!(header(&r, "access-control-max-age").as_deref(), Some("300"));
    assert_eq!(header(&r, "vary").as_deref(), Some("origin"));
    assert_eq!(header(&r, "access-control-allow-credentials"), None);
    assert!(matches!(&r.body, Body::Full(b) if b.is_empty()));
}

#[test]
fn preflight_denied_is_403() {
    let c = cors(&["https://app.example.com"], false);
    let denied = [
        preflight("https://evil.example.com", "PUT", ""),
        preflight("https://app.example.com", "DELETE", ""),
        preflight("https://app.example.com", "PUT", "x-other"),
    ];
    for (h, why) in denied.iter().zip(["origin", "method", "x-other"]) {
        let r = c.on_request(h).unwrap_err();
        assert_eq!(r.status, 403);
        assert!(crate::middleware::tests::body(&r).contains(why), "{why}");
        assert_eq!(header(&r, "access-control-allow-origin"), None);
    }
    // Safelisted methods pass whatever is configured: browsers never ask about them.
    assert_eq!(
        c.on_request(&preflight("https://app.example.com", "POST", ""))
            .unwrap_err()
            .status,
        204
    );
}

#[test]
fn any_origin_without_credentials_is_star() {
    let c = cors(&["*"], false);
    let r = c
        .on_request(&preflight("https://x.dev", "PUT", ""))
        .unwrap_err();
    assert_eq!(
        header(&r, "access-control-allow-origin").as_deref(),
        Some("*")
    );
    assert_eq!(header(&r, "vary"), None);
    let actual = head("GET / HTTP/1.1\r\nhost: a\r\norigin: https://x.dev\r\n\r\n");
    let allowed = c.on_request(&actual).ok().unwrap();
    assert_eq!(allowed, Allowed::Any);
    let mut resp = Response::full(200, "text/plain", "x");
    c.on_response(&allowed, &mut resp);
    assert_eq!(
        header(&resp, "access-control-allow-origin").as_deref(),
        Some("*")
    );
    assert_eq!(
        header(&resp, "access-control-expose-headers").as_deref(),
        Some("x-total")
    );
}

#[test]
fn credentials_echo_the_origin_never_star() {
    let c = cors(&["*"], true);
    let actual = head("GET / HTTP/1.1\r\nhost: a\r\norigin: https://x.dev\r\n\r\n");
    let allowed = c.on_request(&actual).ok().unwrap();
    let mut resp = Response::full(200, "text/plain", "x");
    c.on_response(&allowed, &mut resp);
    assert_eq!(
        header(&resp, "access-control-allow-origin").as_deref(),
        Some("https://x.dev")
    );
    assert_eq!(
        header(&resp, "access-control-allow-credentials").as_deref(),
        Some("true")
    );
    assert_eq!(header(&resp, "vary").as_deref(), Some("origin"));
    let r = c
        .on_request(&preflight("https://x.dev", "PUT", ""))
        .unwrap_err();
    assert_eq!(
        header(&r, "access-control-allow-origin").as_deref(),
        Some("https://x.dev")
    );
    assert_eq!(
        header(&r, "access-control-allow-credentials").as_deref(),
        Some("true")
    );
}

#[test]
fn any_method_and_header_echo_the_request() {
    let c = Cors::new(CorsConfig {
        allow_origins: vec!["https://a.dev".into()],
        allow_methods: vec!["*".into()],
        allow_headers: vec!["*".into()],
        ..Default::default()
    })
    .unwrap();
    let r = c
        .on_request(&preflight("https://a.dev", "PURGE", "x-a, x-b"))
        .unwrap_err();
    assert_eq!(r.status, 204);
    assert_eq!(
        header(&r, "access-control-allow-methods").as_deref(),
        Some("PURGE")
    );
    assert_eq!(
        header(&r, "access-control-allow-headers").as_deref(),
        Some("x-a, x-b")
    );
}

#[test]
fn disallowed_origin_gets_no_cors_headers_but_vary() {
    let c = cors(&["https://app.example.com"], true);
    let actual = head("GET / HTTP/1.1\r\nhost: a\r\norigin: https://evil.dev\r\n\r\n");
    let allowed = c.on_request(&actual).ok().unwrap();
    assert_eq!(allowed, Allowed::No);
    let mut resp = Response::full(200, "text/plain", "x");
    c.on_response(&allowed, &mut resp);
    assert_eq!(header(&resp, "access-control-allow-origin"), None);
    assert_eq!(header(&resp, "access-control-allow-credentials"), None);
    assert_eq!(header(&resp, "vary").as_deref(), Some("origin"));
}

#[test]
fn options_without_request_method_is_not_a_preflight() {
    let c = cors(&["https://app.example.com"], false);
    let h = head("OPTIONS / HTTP/1.1\r\nhost: a\r\norigin: https://app.example.com\r\n\r\n");
    assert_eq!(c.on_request(&h).ok().unwrap(), Allowed::Listed(0));
    let no_origin =
        head("OPTIONS / HTTP/1.1\r\nhost: a\r\naccess-control-request-method: PUT\r\n\r\n");
    assert_eq!(c.on_request(&no_origin).ok().unwrap(), Allowed::No);
}

#[test]
fn handler_set_cors_headers_are_kept() {
    let c = cors(&["*"], false);
    let mut resp = Response::full(200, "text/plain", "x");
    resp.header_block
        .extend_from_slice(b"Access-Control-Allow-Origin: https://mine\r\n");
    c.on_response(&Allowed::Any, &mut resp);
    assert_eq!(
        header(&resp, "access-control-allow-origin").as_deref(),
        Some("https://mine")
    );
    assert_eq!(header(&resp, "access-control-expose-headers"), None);
}

#[test]
fn refuses_bad_configuration() {
    for origins in [
        vec!["app.example.com"],
        vec!["https://a.com/path"],
        vec!["https://a\r\nx: y"],
    ] {
        let cfg = CorsConfig {
            allow_origins: origins.iter().map(|o| o.to_string()).collect(),
            ..Default::default()
        };
        assert!(Cors::new(cfg).is_err(), "{origins:?}");
    }
    let cfg = CorsConfig {
        allow_headers: vec!["x y".into()],
        ..Default::default()
    };
    assert!(Cors::new(cfg).is_err());
}
