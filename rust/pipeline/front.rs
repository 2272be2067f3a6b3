//! The front of the pipeline, run on a complete request head before its body is read: health
//! probes, the built-in middleware's request side, then the route stage.

use std::time::Instant;

use crate::io::Peer;
use crate::log;
use crate::metrics::ShedReason;
use crate::pipeline::answers::probe;
use crate::pipeline::exchange::Exchange;
use crate::pipeline::record::Sample;
use crate::pipeline::route::{route, Routed};
use crate::pipeline::Ctx;
use crate::protocol::h1::{RequestHead, Version};
use crate::protocol::response::Response;

/// What the front decided for a request.
pub enum Front {
    /// Route it on: read its body, admit it, dispatch it.
    Routed(Routed),
    /// Answer it without a handler (probe, middleware, 404, 405, fixed response).
    Answer {
        /// The answer.
        response: Response,
        /// A middleware refused the body unread (413): answer and close instead of reading it.
        unread: bool,
    },
}

/// Runs the front stages on a request whose head was complete at `started`; `path` is its
/// path as UTF-8.
#[inline]
pub fn front(
    ctx: &Ctx,
    head: &RequestHead,
    path: &str,
    peer: &Peer,
    started: Instant,
) -> (Front, Exchange) {
    let mut mw = None;
    let mut unread = false;
    let probed = probe(&ctx.config, head.method(), path, &ctx.shared);
    // Built-in middleware see every request but the probes (a sidecar's probe must not be
    // refused for its Host or rate); one may answer it here, without Python.
    let early = match probed {
        None if !ctx.middleware.is_empty() => {
            match ctx.middleware.on_request(head, peer, started) {
                Ok(c) => {
                    mw = Some(c);
                    None
                }
                Err(early) => {
                    let early = *early;
                    mw = Some(early.ctx);
                    unread = early.close;
                    Some(early.response)
                }
            }
        }
        _ => None,
    };
    let probed_path = probed.is_some();
    if let (Some(m), Some(429)) = (&ctx.shared.metrics, early.as_ref().map(|r| r.status)) {
        m.shed(ShedReason::RateLimited);
    }
    let front = match probed.or(early) {
        // Health probes are answered here, before routing: they work while Python is
        // saturated or blocked, and a route cannot shadow them.
        Some(response) => Front::Answer { response, unread },
        None => match route(ctx, head.method().as_str(), path) {
            Ok(routed) => Front::Routed(routed),
            Err(response) => Front::Answer {
                response,
                unread: false,
            },
        },
    };
    let exchange = Exchange {
        started,
        mw,
        trace: None,
        // Probes are not requests of the service: a scrape would be mostly probes.
        sample: match (&ctx.shared.metrics, probed_path) {
            (Some(m), false) => Some(Sample::new(m, head.method(), started)),
            _ => None,
        },
        access: log::access_enabled().then(|| {
            let version = match head.version() {
                Version::Http10 => "1.0",
                Version::Http11 => "1.1",
                Version::Http2 => "2",
            };
            (
                head.method().as_str().to_owned(),
                head.target().to_vec(),
                version,
            )
        }),
        secure: None,
        trailers: None,
    };
    (front, exchange)
}
