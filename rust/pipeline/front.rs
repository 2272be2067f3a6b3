//! The front of the pipeline, run on a complete request head before its body is read: health
//! probes, the built-in middleware's request side, then the route stage.

use std::time::Instant;

use crate::auth::{Auth, Outcome};
use crate::io::Peer;
use crate::log;
use crate::metrics::ShedReason;
use crate::pipeline::answers::probe;
use crate::pipeline::dispatch::RouteKind;
use crate::pipeline::exchange::Exchange;
use crate::pipeline::record::Sample;
use crate::pipeline::route::{route, Found, Routed};
use crate::pipeline::Ctx;
use crate::protocol::h1::{BodyFraming, RequestHead, Version};
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
            Ok(found) => match &ctx.auth {
                None => match found {
                    Found::Routed(routed) => Front::Routed(routed),
                    Found::Fixed(_, response) => Front::Answer {
                        response,
                        unread: false,
                    },
                },
                Some(auth) => authenticate(ctx, auth, found, head, peer, started, mw.as_ref()),
            },
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

/// The authentication stage, after routing (the route's policy is known) and before the body
/// is read: a refusal is answered now, without Python, and never reads the body.
#[inline(never)]
fn authenticate(
    ctx: &Ctx,
    auth: &Auth,
    found: Found,
    head: &RequestHead,
    peer: &Peer,
    started: Instant,
    mw: Option<&crate::middleware::Ctx>,
) -> Front {
    let (route, fixed) = match &found {
        Found::Routed(r) => (r.route, false),
        Found::Fixed(id, _) => (*id, true),
    };
    // A fixed response never reaches Python, and a mount's requests go straight to the
    // hosted app: what Python would decide there is refused instead (fail closed).
    let python_ok = !fixed && ctx.dispatch.kind(route) != RouteKind::Mount;
    let outcome = auth.check(head, route, started, true, python_ok);
    if log::enabled(log::Level::Info) {
        auth.audit(head, &outcome, mw.and_then(|m| m.request_id()), peer);
    }
    match (outcome, found) {
        (Outcome::Refused(failure, by), _) => {
            if let Some(m) = &ctx.shared.metrics {
                m.auth_failure(failure.reason);
            }
            Front::Answer {
                response: auth.refusal(&failure, by),
                // A refused request's body is not read: the connection closes after the answer
                // when there is one (it may be large), and stays open when there is none.
                unread: !matches!(head.framing(), BodyFraming::Empty),
            }
        }
        (_, Found::Fixed(_, response)) => Front::Answer {
            response,
            unread: false,
        },
        (Outcome::Verified(id), Found::Routed(mut r)) => {
            r.identity = Some(id);
            Front::Routed(r)
        }
        (Outcome::Pending(p), Found::Routed(mut r)) => {
            r.pending = Some(p);
            Front::Routed(r)
        }
        (Outcome::Anonymous, Found::Routed(r)) => Front::Routed(r),
    }
}
