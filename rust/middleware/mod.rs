//! Built-in middleware done in Rust (issue 6): a request these layers answer or reject never
//! reaches Python, and the headers they add cost no Python call.
//!
//! Python declares the layers once, in order; the worker builds one [`Pipeline`] and shares it
//! by all its IO threads. Per request the connection calls:
//!
//! 1. [`Pipeline::on_request`] after parsing the head, before routing. Layers run outermost
//!    first; one may answer (CORS preflight, 400 untrusted host, 403 cross-site WebSocket
//!    upgrade, 413, 429), and then the layers inside it never see the request.
//! 2. [`Pipeline::on_response`] on whatever answer goes out for the request (the handler's, the
//!    server's 404/405/504, a fixed response, or the early answer of step 1), just before it is
//!    encoded. Only the layers that saw the request see its response, innermost first, as in
//!    any onion: with `[RequestId, RateLimit]` a 429 carries the request id; with
//!    `[RateLimit, RequestId]` it does not. That is what "ordering is explicit" means.
//!
//! What the connection does with them (when the pipeline is not empty):
//!
//! - `Err(early)`: treat `early.response` like any answer found before dispatch (a 404, say),
//!   keeping `early.ctx` for step 2; if `early.close`, the body was refused unread (413): close
//!   after the answer instead of reading it.
//! - Read chunked bodies with [`Pipeline::body_limit`] as the limit.
//! - Keep the [`Ctx`] with the pending answer; [`Ctx::request_id`] goes into the Job and logs.
//! - Call `on_response` once per answer, before `encode`; a returned [`StreamEncoder`] must
//!   encode every chunk of the streamed body (see its docs).
//! - Health probes are best answered before step 1: a load balancer probing by IP address
//!   would otherwise get 400 from the trusted hosts layer, or 429.
//!
//! No pyo3 here: the bridge turns Python's configuration into the `*Config` structs.

mod body_limit;
pub mod compress;
pub mod cors;
mod headers;
pub mod hosts;
pub mod origins;
pub mod ratelimit;
pub mod request_id;
pub mod security;
mod timing;

#[cfg(test)]
mod cost_tests;
#[cfg(test)]
mod tests;

use std::fmt;
use std::time::Instant;

use crate::io::Peer;
use crate::protocol::h1::RequestHead;
use crate::protocol::response::Response;

pub use compress::{Encoding, StreamEncoder};

/// One built-in middleware, configured.
pub enum Layer {
    /// Cross-origin resource sharing; answers preflights.
    Cors(cors::Cors),
    /// Response compression negotiated by `Accept-Encoding`.
    Compress(compress::Compress),
    /// Accepts or generates a request id and echoes it.
    RequestId(request_id::RequestId),
    /// Security response headers (nosniff, frame options, HSTS, CSP, ...).
    Security(security::SecurityHeaders),
    /// Refuses requests for hosts not listed (400).
    Hosts(hosts::TrustedHosts),
    /// Refuses WebSocket upgrades from origins not allowed (403).
    WsOrigins(origins::WebSocketOrigins),
    /// Refuses request bodies larger than this many bytes (413).
    BodyLimit(usize),
    /// Per-client token bucket (429 with `Retry-After`).
    RateLimit(ratelimit::RateLimit),
    /// `Server-Timing: total;dur=...`.
    Timing,
}

impl Layer {
    /// The layer's name in `covetpy routes --middleware` and in configuration errors.
    pub fn name(&self) -> &'static str {
        match self {
            Layer::Cors(_) => "cors",
            Layer::Compress(_) => "compress",
            Layer::RequestId(_) => "request_id",
            Layer::Security(_) => "security_headers",
            Layer::Hosts(_) => "trusted_hosts",
            Layer::WsOrigins(_) => "websocket_origins",
            Layer::BodyLimit(_) => "body_limit",
            Layer::RateLimit(_) => "rate_limit",
            Layer::Timing => "timing",
        }
    }

    /// Layers that keep per-request state in [`Ctx`] may appear once (a second one would
    /// overwrite the first one's state); the others may repeat (two rate limits, say).
    fn unique(&self) -> bool {
        matches!(
            self,
            Layer::Cors(_) | Layer::Compress(_) | Layer::RequestId(_)
        )
    }
}

/// A configuration the layers refuse, with what is wrong (naming the option); the bridge
/// raises it as `covetpy.ConfigError`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError(pub String);

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ConfigError {}

/// The built-in middleware of a worker, in the user's declared order (outermost first).
/// Shared by all IO threads (`Send + Sync`); per-request state lives in [`Ctx`].
pub struct Pipeline {
    layers: Vec<Layer>,
    /// About how many header bytes the layers add to a response, reserved at once so the
    /// block grows once rather than once per header.
    reserve: usize,
}

/// What the layers remember about one request between `on_request` and `on_response`.
#[derive(Debug)]
pub struct Ctx {
    /// When `on_request` ran (for `Server-Timing`).
    start: Instant,
    /// Layers `[0, ran)` saw the request; they, and only they, see the response.
    ran: usize,
    /// The accepted or generated request id (RequestId layer).
    request_id: Option<Box<str>>,
    /// What the CORS layer decided for an actual (not preflight) request.
    cors: cors::Allowed,
    /// The coding chosen from `Accept-Encoding` (Compress layer); `None` = identity.
    encoding: Option<Encoding>,
}

/// A request answered by a layer in `on_request`: the answer and the request's [`Ctx`], which
/// the connection passes to `on_response` with the answer like any other.
pub struct Early {
    /// Per-request state of the layers outside the one that answered.
    pub ctx: Ctx,
    /// The answer (problem+json, or a 204 preflight).
    pub response: Response,
    /// The request's body was not read and should not be (413): close the connection after
    /// the answer instead of reading it.
    pub close: bool,
}

impl fmt::Debug for Early {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Early")
            .field("ctx", &self.ctx)
            .field("status", &self.response.status)
            .field("close", &self.close)
            .finish_non_exhaustive()
    }
}

impl Pipeline {
    /// A pipeline of `layers`, outermost first. Refuses a second layer of a kind that keeps
    /// per-request state (CORS, compression, request id).
    pub fn new(layers: Vec<Layer>) -> Result<Pipeline, ConfigError> {
        for (i, layer) in layers.iter().enumerate() {
            if layer.unique() && layers[..i].iter().any(|l| l.name() == layer.name()) {
                return Err(ConfigError(format!(
                    "the {} middleware is declared twice",
                    layer.name()
                )));
            }
        }
        let reserve = layers
            .iter()
            .map(|l| match l {
                Layer::Cors(_) => 160,
                Layer::Compress(_) => 48,
                Layer::RequestId(_) => 64,
                Layer::Security(s) => s.headers().map(|(n, v)| n.len() + v.len() + 4).sum(),
                Layer::Timing => 40,
                Layer::Hosts(_)
                | Layer::WsOrigins(_)
                | Layer::BodyLimit(_)
                | Layer::RateLimit(_) => 0,
            })
            .sum();
        Ok(Pipeline { layers, reserve })
    }

    /// Whether there are no layers: the connection can skip both hooks.
    pub fn is_empty(&self) -> bool {
        self.layers.is_empty()
    }

    /// The layers' names in order, outermost first.
    pub fn names(&self) -> Vec<String> {
        self.layers.iter().map(|l| l.name().to_owned()).collect()
    }

    /// The rate limiters of the pipeline (for metrics or Python-side checks).
    pub fn limiters(&self) -> impl Iterator<Item = &ratelimit::RateLimit> {
        self.layers.iter().filter_map(|l| match l {
            Layer::RateLimit(r) => Some(r),
            _ => None,
        })
    }

    /// Runs the layers over a parsed request head, before routing. `Err` answers the request
    /// without Python; `now` is the time the head was parsed.
    pub fn on_request(
        &self,
        head: &RequestHead,
        peer: &Peer,
        now: Instant,
    ) -> Result<Ctx, Box<Early>> {
        let mut ctx = Ctx {
            start: now,
            ran: 0,
            request_id: None,
            cors: cors::Allowed::No,
            encoding: None,
        };
        for (i, layer) in self.layers.iter().enumerate() {
            let refused = match layer {
                Layer::Cors(c) => match c.on_request(head) {
                    Ok(allowed) => {
                        ctx.cors = allowed;
                        None
                    }
                    Err(answer) => Some((answer, false)),
                },
                Layer::Compress(c) => {
                    ctx.encoding = c.negotiate(head);
                    None
                }
                Layer::RequestId(r) => {
                    ctx.request_id = Some(r.on_request(head));
                    None
                }
                Layer::Security(_) | Layer::Timing => None,
                Layer::Hosts(h) => h.check(head).err().map(|r| (r, false)),
                Layer::WsOrigins(o) => o.check(head).err().map(|r| (r, false)),
                Layer::BodyLimit(max) => body_limit::check(head, *max).err().map(|r| (r, true)),
                Layer::RateLimit(r) => r.on_request(head, peer, now).err().map(|r| (r, false)),
            };
            if let Some((response, close)) = refused {
                ctx.ran = i;
                return Err(Box::new(Early {
                    ctx,
                    response,
                    close,
                }));
            }
        }
        ctx.ran = self.layers.len();
        Ok(ctx)
    }

    /// The largest request body to accept: the least of `server_max` and every BodyLimit
    /// layer (for chunked bodies, whose size is known only while reading them).
    pub fn body_limit(&self, server_max: usize) -> usize {
        self.layers
            .iter()
            .filter_map(|l| match l {
                Layer::BodyLimit(n) => Some(*n),
                _ => None,
            })
            .fold(server_max, usize::min)
    }

    /// Runs the layers that saw the request over its answer, innermost first: adds headers,
    /// compresses a full body. `head_only` is true for HEAD requests (the body is not sent,
    /// so it is not compressed either).
    ///
    /// For a streamed body that is to be compressed, the headers are set here and the
    /// returned [`StreamEncoder`] must encode every chunk (see its docs); `None` means the
    /// stream is sent as produced.
    #[must_use = "a returned StreamEncoder must encode the streamed body"]
    pub fn on_response(
        &self,
        ctx: &Ctx,
        head_only: bool,
        response: &mut Response,
    ) -> Option<StreamEncoder> {
        let mut encoder = None;
        response.header_block.reserve(self.reserve);
        for layer in self.layers[..ctx.ran.min(self.layers.len())].iter().rev() {
            match layer {
                Layer::Cors(c) => c.on_response(&ctx.cors, response),
                Layer::Compress(c) => encoder = c.on_response(ctx.encoding, head_only, response),
                Layer::RequestId(r) => {
                    if let Some(id) = &ctx.request_id {
                        r.on_response(id, response);
                    }
                }
                Layer::Security(s) => s.on_response(response),
                Layer::Timing => timing::on_response(ctx.start, Instant::now(), response),
                Layer::Hosts(_)
                | Layer::WsOrigins(_)
                | Layer::BodyLimit(_)
                | Layer::RateLimit(_) => {}
            }
        }
        encoder
    }
}

impl Ctx {
    /// The request id (when a RequestId layer saw the request): for the Job, logs and Python.
    pub fn request_id(&self) -> Option<&str> {
        self.request_id.as_deref()
    }

    /// The content coding chosen for the response, if the Compress layer chose one.
    pub fn encoding(&self) -> Option<Encoding> {
        self.encoding
    }
}
