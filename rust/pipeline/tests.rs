//! The stages without a socket: a head goes through the front, a response through respond.

use std::sync::{Arc, Mutex};
use std::time::Instant;

use bytes::BytesMut;

use super::*;
use crate::config::{Admission, ServerConfig};
use crate::io::Peer;
use crate::middleware::{self, Layer};
use crate::protocol::h1::{parse_head, Limits, RequestHead};
use crate::protocol::response::{Body, Response};
use crate::router::RouteSpec;

/// Keeps the jobs it is given; route 2 has a response fixed at start-up.
#[derive(Default)]
struct Keep(Mutex<Vec<Job>>);

impl Dispatch for Keep {
    fn dispatch(&self, job: Job) {
        self.0.lock().unwrap().push(job);
    }
    fn fixed_response(&self, route: usize) -> Option<Response> {
        (route == 2).then(|| Response::full(200, "text/plain", "fixed"))
    }
}

fn ctx(layers: Vec<Layer>) -> (Ctx, Arc<Keep>) {
    let routes = [
        (1, "GET", "/users/{id:int}"),
        (2, "GET", "/static"),
        (3, "POST", "/items"),
    ]
    .map(|(id, m, p)| RouteSpec {
        id,
        methods: vec![m.into()],
        path: p.into(),
    });
    let keep = Arc::new(Keep::default());
    let config = ServerConfig::default();
    let ctx = Ctx {
        config: Arc::new(config),
        router: Arc::new(Router::new(&routes).unwrap()),
        dispatch: keep.clone(),
        shared: Shared::new(&Admission::default(), None),
        middleware: Arc::new(middleware::Pipeline::new(layers).unwrap()),
        auth: None,
    };
    (ctx, keep)
}

fn head(text: &str) -> RequestHead {
    parse_head(&mut BytesMut::from(text.as_bytes()), &Limits::default())
        .unwrap()
        .unwrap()
}

fn peer() -> Peer {
    Peer::Tcp("192.0.2.7:40000".parse().unwrap())
}

fn run_front(ctx: &Ctx, text: &str) -> (Front, Exchange) {
    let h = head(text);
    let path = std::str::from_utf8(h.path()).unwrap().to_owned();
    front(ctx, &h, &path, &peer(), Instant::now())
}

fn answer(f: Front) -> Response {
    match f {
        Front::Answer { response, .. } => response,
        Front::Routed(r) => panic!("answer expected, routed to {r:?}"),
    }
}

#[test]
fn a_route_is_found_with_its_params() {
    let (ctx, _) = ctx(vec![]);
    match run_front(&ctx, "GET /users/42 HTTP/1.1\r\nhost: a\r\n\r\n").0 {
        Front::Routed(r) => {
            assert_eq!(r.route, 1);
            assert_eq!(r.params, vec![Param::Int(42)]);
        }
        Front::Answer { .. } => panic!("routed expected"),
    }
}

#[test]
fn no_route_is_404_wrong_method_405_with_allow() {
    let (ctx, _) = ctx(vec![]);
    let r = answer(run_front(&ctx, "GET /nope HTTP/1.1\r\nhost: a\r\n\r\n").0);
    assert_eq!(r.status, 404);
    let r = answer(run_front(&ctx, "DELETE /items HTTP/1.1\r\nhost: a\r\n\r\n").0);
    assert_eq!(r.status, 405);
    assert!(r.header_block.windows(11).any(|w| w == b"allow: POST"));
}

#[test]
fn a_fixed_response_and_a_probe_are_answered_without_a_job() {
    let (ctx, keep) = ctx(vec![]);
    let r = answer(run_front(&ctx, "GET /static HTTP/1.1\r\nhost: a\r\n\r\n").0);
    assert!(matches!(r.body, Body::Full(ref b) if &b[..] == b"fixed"));
    let r = answer(run_front(&ctx, "GET /livez HTTP/1.1\r\nhost: a\r\n\r\n").0);
    assert_eq!(r.status, 200);
    assert!(keep.0.lock().unwrap().is_empty());
}

#[test]
fn a_probe_skips_the_middleware() {
    let hosts = crate::middleware::hosts::TrustedHosts::new(&["example.com"]).unwrap();
    let (ctx, _) = ctx(vec![Layer::Hosts(hosts)]);
    let (f, ex) = run_front(&ctx, "GET /livez HTTP/1.1\r\nhost: a\r\n\r\n");
    assert_eq!(answer(f).status, 200);
    assert!(ex.mw.is_none());
    let (f, ex) = run_front(&ctx, "GET /static HTTP/1.1\r\nhost: a\r\n\r\n");
    assert_eq!(answer(f).status, 400);
    assert!(ex.mw.is_some());
}

#[test]
fn a_routed_request_is_dispatched_with_its_body_and_params() {
    let (ctx, keep) = ctx(vec![]);
    let (f, mut ex) = run_front(
        &ctx,
        "POST /items HTTP/1.1\r\nhost: a\r\ncontent-length: 2\r\n\r\n",
    );
    let Front::Routed(routed) = f else {
        panic!("routed expected")
    };
    let slot = ctx.shared.gate.try_admit().unwrap();
    let h = head("POST /items HTTP/1.1\r\nhost: a\r\ncontent-length: 2\r\n\r\n");
    let mut d = ctx.dispatch_job(
        h,
        "hi".into(),
        routed,
        Some(slot),
        peer(),
        &mut ex,
        None,
        None,
    );
    assert!(ex.trace.is_some());
    let job = keep.0.lock().unwrap().pop().unwrap();
    assert_eq!((job.route, &job.body[..], job.id), (3, &b"hi"[..], d.id));
    assert!(job.reply.send(Response::full(201, "text/plain", "")));
    assert_eq!(d.rx.try_recv().unwrap().status, 201);
}

#[test]
fn respond_adds_the_sidecar_header_only_while_health_fails() {
    let (ctx, _) = ctx(vec![]);
    let (_, mut ex) = run_front(&ctx, "GET /static HTTP/1.1\r\nhost: a\r\n\r\n");
    let mut r = Response::full(200, "text/plain", "x");
    ex.respond(&ctx, false, &mut r);
    let fail = b"x-envoy-immediate-health-check-fail: true\r\n";
    assert!(!r.header_block.ends_with(fail));
    ctx.shared.set_started();
    ctx.shared.set_ready(false, "db down");
    let mut r = Response::full(200, "text/plain", "x");
    ex.respond(&ctx, false, &mut r);
    assert!(r.header_block.ends_with(fail));
}
