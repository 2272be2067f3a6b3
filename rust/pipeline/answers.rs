//! The answers the pipeline gives by itself: health probes, 500 when a handler dropped its
//! reply, 504 when it took too long (503 when over capacity is the admit stage's).

use std::time::Duration;

use crate::config::ServerConfig;
use crate::pipeline::state::Shared;
use crate::protocol::h1::Method;
use crate::protocol::problem::{escape, problem};
use crate::protocol::response::Response;

/// The answer to a health probe, if `path` is one. Liveness is 200 while the IO thread
/// answers at all (it never looks at dependencies: a failing database must not get the pod
/// restarted). Start-up is 200 once the application's start-up hooks finished. Readiness is
/// 200 while started and ready (the checks pass, no shutdown begun), so a load balancer or a
/// sidecar stops sending new requests before the worker goes; Python clears it first thing on
/// shutdown. A drain alone (a worker replaced in a reload) leaves it as it is.
pub fn probe(cfg: &ServerConfig, method: &Method, path: &str, shared: &Shared) -> Option<Response> {
    if !matches!(method, Method::Get | Method::Head) {
        return None;
    }
    let (status, body): (u16, Vec<u8>) = if cfg.livez_path.as_deref() == Some(path) {
        (200, b"{\"status\":\"alive\"}".to_vec())
    } else if cfg.readyz_path.as_deref() == Some(path) {
        if !shared.is_started() {
            (503, b"{\"status\":\"starting\"}".to_vec())
        } else if shared.is_ready() {
            (200, b"{\"status\":\"ready\"}".to_vec())
        } else {
            let why = escape(&shared.not_ready_reason());
            (
                503,
                format!("{{\"status\":\"not ready\",\"reason\":\"{why}\"}}").into_bytes(),
            )
        }
    } else if cfg.startupz_path.as_deref() == Some(path) {
        match shared.is_started() {
            true => (200, b"{\"status\":\"started\"}".to_vec()),
            false => (503, b"{\"status\":\"starting\"}".to_vec()),
        }
    } else {
        return None;
    };
    let mut r = Response::full(status, "application/json", body);
    r.header_block
        .extend_from_slice(b"cache-control: no-store\r\n");
    Some(r)
}

/// The handler side dropped the reply without answering (a bug, or the worker is stopping).
pub fn unanswered() -> Response {
    problem(500, "the request was not answered")
}

/// 504 for a handler that did not answer within `stated` (the request's whole time limit).
pub fn timed_out(stated: Duration) -> Response {
    let secs = stated.as_secs_f64();
    problem(504, &format!("the handler did not answer within {secs} s"))
}
