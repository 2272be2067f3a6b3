//! The request pipeline: what every request goes through whatever protocol carried it.
//!
//! route → admit → built-in middleware → dispatch → respond → record, one stage per file:
//!
//! - [`front`] (`front.rs`): health probes, then the built-in middleware's request side, then
//!   [`route`]; what comes out is either an answer now or a routed request, and the
//!   [`Exchange`] that follows the request to its answer.
//! - `route.rs`: the router's lookup, turned into a route and owned params, or 404/405 or a
//!   response fixed at start-up.
//! - `admit.rs`: the worker's in-flight slots and the bounded wait for one; [`Ctx::refused`]
//!   answers 503 when there is none.
//! - `dispatch.rs`: the [`Job`] handed to whoever runs the handlers ([`Dispatch`], the Python
//!   bridge), and its one-shot [`Reply`]; [`Ctx::dispatch_job`] builds and sends it.
//! - `respond.rs` ([`Exchange::respond`]): the built-in middleware's response side and the
//!   sidecar's header (`sidecar.rs`) on whatever answer goes out.
//! - `record.rs`: the metrics sample and the access log line of the request.
//!
//! A protocol drives it: `server/conn.rs` (HTTP/1.1) reads the head, calls [`front`], reads the
//! body, admits and dispatches, waits, calls [`Exchange::respond`], encodes and writes, and
//! records. HTTP/1 framing (keep-alive, pipelining, 100-continue, chunked) never enters here,
//! so HTTP/2 streams and WebSocket upgrades can drive the same stages. No pyo3, no sockets:
//! Python is reached only through [`Dispatch`].

pub mod admit;
pub mod answers;
pub mod body_pipe;
pub mod call;
pub mod dispatch;
mod exchange;
mod front;
mod record;
mod respond;
mod route;
mod sidecar;
pub mod state;
#[cfg(test)]
mod tests;

use std::sync::Arc;

pub use body_pipe::BodyPipe;
pub use call::CallMeta;
pub use dispatch::{Cancel, Dispatch, Dispatched, Job, Reply, RouteKind};
pub use exchange::Exchange;
pub use front::{front, Front};
pub use route::{Param, Routed};
pub use state::Shared;

use crate::config::ServerConfig;
use crate::middleware::Pipeline as Middleware;
use crate::router::Router;

/// What the pipeline needs, shared by every connection of an IO thread.
pub struct Ctx {
    /// The server's configuration.
    pub config: Arc<ServerConfig>,
    /// The route table.
    pub router: Arc<Router>,
    /// Whoever runs the handlers.
    pub dispatch: Arc<dyn Dispatch>,
    /// The worker's state: admission slots, metrics, health, drain.
    pub shared: Arc<Shared>,
    /// The built-in middleware (empty: skipped per request).
    pub middleware: Arc<Middleware>,
    /// The authentication layers and route policies (None: no layers).
    pub auth: Option<Arc<crate::auth::Auth>>,
}
