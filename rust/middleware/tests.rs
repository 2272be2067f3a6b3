//! Helpers for the layers' tests, and tests of the pipeline as a whole (order, early answers).

use std::time::{Duration, Instant};

use bytes::BytesMut;

use super::compress::{CompressConfig, Encoding};
use super::cors::CorsConfig;
use super::ratelimit::{RateKey, RateLimitConfig};
use super::request_id::RequestIdConfig;
use super::security::SecurityConfig;
use super::*;
use crate::protocol::h1::{parse_head, Limits};
use crate::protocol::response::Body;

/// A parsed request head from its text.
pub(crate) fn head(text: &str) -> RequestHead {
    let mut buf = BytesMut::from(text.as_bytes());
    parse_head(&mut buf, &Limits::default())
        .expect("valid head")
        .expect("complete head")
}

/// The value of a response header, as text.
pub(crate) fn header(r: &Response, name: &str) -> Option<String> {
    headers::get(&r.header_block, name).map(|v| String::from_utf8_lossy(v).into_owned())
}

/// A full body as text.
pub(crate) fn body(r: &Response) -> String {
    match &r.body {
        Body::Full(b) => String::from_utf8_lossy(b).into_owned(),
        _ => panic!("full body expected"),
    }
}

fn peer() -> Peer {
    Peer::Tcp("192.0.2.7:40000".parse().unwrap())
}

fn cors() -> Layer {
    Layer::Cors(
        cors::Cors::new(CorsConfig {
            allow_origins: vec!["https://app.dev".into()],
            ..Default::default()
        })
        .unwrap(),
    )
}

fn request_id() -> Layer {
    Layer::RequestId(request_id::RequestId::new(RequestIdConfig::default()).unwrap())
}

fn rate_limit(burst: u32) -> Layer {
    Layer::RateLimit(
        ratelimit::RateLimit::new(RateLimitConfig {
            rate: 1.0,
            burst,
            key: RateKey::Peer,
            max_keys: 100,
        })
        .unwrap(),
    )
}

fn all_layers() -> Vec<Layer> {
    vec![
        Layer::Timing,
        request_id(),
        Layer::Security(security::SecurityHeaders::new(SecurityConfig::default()).unwrap()),
        Layer::Hosts(hosts::TrustedHosts::new(&["example.com"]).unwrap()),
        cors(),
        Layer::BodyLimit(1000),
        rate_limit(100),
        Layer::Compress(compress::Compress::new(CompressConfig::default()).unwrap()),
    ]
}

const GET: &str = "GET / HTTP/1.1\r\nhost: example.com\r\norigin: https://app.dev\r\n\
                   accept-encoding: gzip\r\nx-request-id: req-1\r\n\r\n";

#[test]
fn empty_pipeline() {
    let p = Pipeline::new(vec![]).unwrap();
    assert!(p.is_empty());
    assert!(p.names().is_empty());
    assert_eq!(p.body_limit(10), 10);
    let ctx = p.on_request(&head(GET), &peer(), Instant::now()).unwrap();
    let mut r = Response::full(200, "application/json", vec![b'x'; 5000]);
    let before = r.header_block.clone();
    assert!(p.on_response(&ctx, false, &mut r).is_none());
    assert_eq!(r.header_block, before);
    assert_eq!(ctx.request_id(), None);
}

#[test]
fn every_layer_on_a_passing_request() {
    let p = Pipeline::new(all_layers()).unwrap();
    assert_eq!(
        p.names(),
        [
            "timing",
            "request_id",
            "security_headers",
            "trusted_hosts",
            "cors",
            "body_limit",
            "rate_limit",
            "compress"
        ]
    );
    assert_eq!(p.body_limit(10_000), 1000);
    assert_eq!(p.limiters().count(), 1);
    let t = Instant::now();
    let ctx = p.on_request(&head(GET), &peer(), t).unwrap();
    assert_eq!(ctx.request_id(), Some("req-1"));
    assert_eq!(ctx.encoding(), Some(Encoding::Gzip));
    let mut r = Response::full(200, "application/json", vec![b'x'; 5000]);
    assert!(p.on_response(&ctx, false, &mut r).is_none());
    assert_eq!(header(&r, "content-encoding").as_deref(), Some("gzip"));
    assert_eq!(header(&r, "x-request-id").as_deref(), Some("req-1"));
    assert_eq!(
        header(&r, "access-control-allow-origin").as_deref(),
        Some("https://app.dev")
    );
    assert_eq!(header(&r, "x-frame-options").as_deref(), Some("DENY"));
    assert!(header(&r, "server-timing")
        .unwrap()
        .starts_with("total;dur="));
    // Innermost first: compression's Vary comes before CORS's, timing is last.
    let names: Vec<_> = headers::lines(&r.header_block)
        .map(|(n, _)| String::from_utf8_lossy(n).into_owned())
        .collect();
    let pos = |n: &str| names.iter().position(|x| x == n).unwrap();
    assert!(pos("content-encoding") < pos("access-control-allow-origin"));
    assert!(pos("x-request-id") < pos("server-timing"));
    assert_eq!(names.last().map(String::as_str), Some("server-timing"));
}

#[test]
fn early_answers_see_only_the_outer_layers() {
    let p = Pipeline::new(all_layers()).unwrap();
    let t = Instant::now();
    let bad_host = GET.replace("host: example.com", "host: evil.com");
    let early = p.on_request(&head(&bad_host), &peer(), t).unwrap_err();
    assert_eq!(early.response.status, 400);
    assert!(!early.close);
    let mut r = early.response;
    let _ = p.on_response(&early.ctx, false, &mut r);
    // Outside trusted_hosts: timing, request id, security. Inside: cors, compress.
    assert_eq!(header(&r, "x-request-id").as_deref(), Some("req-1"));
    assert!(header(&r, "server-timing").is_some());
    assert!(header(&r, "x-content-type-options").is_some());
    assert_eq!(header(&r, "access-control-allow-origin"), None);
    assert_eq!(header(&r, "vary"), None);

    let big = GET.replace("\r\n\r\n", "\r\ncontent-length: 1001\r\n\r\n");
    let early = p.on_request(&head(&big), &peer(), t).unwrap_err();
    assert_eq!(early.response.status, 413);
    assert!(early.close, "the body was not read: close");
    let mut r = early.response;
    let _ = p.on_response(&early.ctx, false, &mut r);
    assert_eq!(
        header(&r, "access-control-allow-origin").as_deref(),
        Some("https://app.dev")
    );
}

#[test]
fn order_is_explicit() {
    // A 429 carries the request id when RequestId is outside RateLimit, not otherwise.
    let t = Instant::now();
    let h = head(GET);
    for (layers, has_id) in [
        (vec![request_id(), rate_limit(1)], true),
        (vec![rate_limit(1), request_id()], false),
    ] {
        let p = Pipeline::new(layers).unwrap();
        assert!(p.on_request(&h, &peer(), t).is_ok());
        let early = p.on_request(&h, &peer(), t).unwrap_err();
        let mut r = early.response;
        assert_eq!(r.status, 429);
        let _ = p.on_response(&early.ctx, false, &mut r);
        assert_eq!(header(&r, "x-request-id").is_some(), has_id);
        assert_eq!(header(&r, "retry-after").as_deref(), Some("1"));
    }
}

#[test]
fn preflight_is_answered_with_outer_headers() {
    let p = Pipeline::new(vec![request_id(), cors(), rate_limit(1)]).unwrap();
    let pre = head(
        "OPTIONS /x HTTP/1.1\r\nhost: a\r\norigin: https://app.dev\r\n\
         access-control-request-method: GET\r\n\r\n",
    );
    let t = Instant::now();
    for _ in 0..3 {
        // Preflights do not reach the rate limit inside CORS.
        let early = p.on_request(&pre, &peer(), t).unwrap_err();
        let mut r = early.response;
        let _ = p.on_response(&early.ctx, false, &mut r);
        assert_eq!(r.status, 204);
        assert!(header(&r, "x-request-id").is_some());
        assert_eq!(
            header(&r, "access-control-allow-origin").as_deref(),
            Some("https://app.dev")
        );
    }
}

#[test]
fn duplicates_of_stateful_layers_are_refused() {
    let e = Pipeline::new(vec![request_id(), cors(), request_id()])
        .err()
        .unwrap();
    assert!(e.to_string().contains("request_id"), "{e}");
    assert!(Pipeline::new(vec![Layer::BodyLimit(1), Layer::BodyLimit(2)]).is_ok());
}

#[test]
fn timing_measures_from_on_request() {
    let p = Pipeline::new(vec![Layer::Timing]).unwrap();
    let ctx = p
        .on_request(
            &head(GET),
            &peer(),
            Instant::now() - Duration::from_millis(1500),
        )
        .unwrap();
    let mut r = Response::full(200, "text/plain", "x");
    let _ = p.on_response(&ctx, false, &mut r);
    let v = header(&r, "server-timing").unwrap();
    let ms: f64 = v.trim_start_matches("total;dur=").parse().unwrap();
    assert!((1500.0..2500.0).contains(&ms), "{v}");
}

#[test]
fn pipeline_is_shared_between_threads() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<Pipeline>();
    fn assert_send<T: Send>() {}
    assert_send::<Ctx>();
    assert_send::<StreamEncoder>();
}
