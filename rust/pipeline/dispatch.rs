//! The dispatch stage: what the pipeline hands to whoever runs the handlers, and what it gets
//! back.
//!
//! The pipeline knows nothing of Python: the bridge implements [`Dispatch`]. Only owned Rust data
//! crosses here, so IO threads never touch a Python object and never need the GIL.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use tokio::sync::{oneshot, OwnedSemaphorePermit};

use crate::auth::{Identity, Pending};
use crate::io::{Peer, Secure};
use crate::log::{self, Level};
use crate::pipeline::answers::timed_out;
use crate::pipeline::body_pipe::BodyPipe;
use crate::pipeline::call::CallMeta;
use crate::pipeline::exchange::Exchange;
use crate::pipeline::route::{Param, Routed};
use crate::pipeline::Ctx;
use crate::protocol::h1::RequestHead;
use crate::protocol::response::Response;
use crate::websocket::Session;

/// A routed request with its whole body, waiting for a handler.
pub struct Job {
    /// The parsed head (method, target, headers), zero-copy over the bytes received.
    pub head: RequestHead,
    /// The decoded body (empty when there is none).
    pub body: Bytes,
    /// The route id Python gave this route.
    pub route: usize,
    /// Path parameters in path order.
    pub params: Vec<Param>,
    /// The request id the built-in RequestId middleware accepted or made.
    pub request_id: Option<Box<str>>,
    /// The client.
    pub peer: Peer,
    /// Where the response goes.
    pub reply: Reply,
    /// Names this request in [`Dispatch::cancel`].
    pub id: u64,
    /// Its trace and deadline.
    pub call: CallMeta,
    /// When it was queued for the handler thread (kept only while metrics are recorded: the
    /// wait for the GIL is measured from here).
    pub queued: Option<std::time::Instant>,
    /// The WebSocket a WebSocket route's upgrade request opens (None for every other job).
    pub ws: Option<Arc<Session>>,
    /// A mount's body, streamed while it arrives (`body` is empty then); None for every
    /// other route, whose body is read whole before dispatch.
    pub pipe: Option<Arc<BodyPipe>>,
    /// The connection's TLS parameters and client identity (None in cleartext).
    pub secure: Option<Arc<Secure>>,
    /// The request's trailer fields as `name: value\r\n` lines (HTTP/2 requests that sent
    /// them).
    pub trailers: Option<Vec<u8>>,
    /// What the authentication layers verified (`request.auth`).
    pub identity: Option<Arc<Identity>>,
    /// What Python must still decide about authentication (its gate runs first).
    pub pending: Option<Pending>,
}

/// How the protocol serves a route's requests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RouteKind {
    /// A request with its whole body, one answer.
    Http,
    /// Only WebSocket upgrades: they open a [`Session`].
    WebSocket,
    /// A mounted app (ASGI or WSGI): every method under a prefix, the body streamed through a
    /// [`BodyPipe`], and WebSocket upgrades open a [`Session`] too.
    Mount,
}

/// The one-shot return path of a job to its connection. It holds the request's admission
/// slot, given back when the reply is sent or dropped.
pub struct Reply {
    pub(crate) tx: oneshot::Sender<Response>,
    /// Held for its drop: the slot goes back when the reply is sent or dropped.
    pub(crate) _slot: Option<OwnedSemaphorePermit>,
}

impl Reply {
    /// Sends the response; `false` if the connection has gone away (the client left or the
    /// request timed out and was answered 504).
    pub fn send(self, response: Response) -> bool {
        let Reply { tx, _slot } = self;
        // The slot goes back first: the client may send its next request as soon as this
        // answer is out, and that request must find the slot free.
        drop(_slot);
        tx.send(response).is_ok()
    }
}

/// Why the server no longer waits for a job's reply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cancel {
    /// The client closed the connection.
    Disconnected,
    /// The handler took longer than its timeout; the client got 504.
    TimedOut,
}

impl Cancel {
    /// The name Python sees.
    pub fn as_str(self) -> &'static str {
        match self {
            Cancel::Disconnected => "disconnected",
            Cancel::TimedOut => "timeout",
        }
    }
}

/// Runs handlers for routed requests; implemented by the Python bridge (and by tests).
pub trait Dispatch: Send + Sync + 'static {
    /// Takes a job; must not block (the caller is an IO thread).
    fn dispatch(&self, job: Job);
    /// Called once when the server has stopped after a drain.
    fn stopped(&self) {}
    /// Called by an IO thread before it waits for events: deferred wake-ups go out now.
    fn flush(&self) {}
    /// A response fixed at start-up for `route`, answered by the IO thread without a job
    /// (and so without Python): static routes and declared cached responses.
    fn fixed_response(&self, route: usize) -> Option<Response> {
        let _ = route;
        None
    }
    /// How `route`'s requests are served.
    fn kind(&self, route: usize) -> RouteKind {
        let _ = route;
        RouteKind::Http
    }
    /// How long `route`'s handler may take; `default` is the server's `request_timeout`.
    fn timeout(&self, route: usize, default: Option<Duration>) -> Option<Duration> {
        let _ = route;
        default
    }
    /// The server stopped waiting for job `id` (client gone, or timed out and answered 504):
    /// stop its handler if it can be stopped. Called on an IO thread; must not block.
    fn cancel(&self, id: u64, why: Cancel) {
        let _ = (id, why);
    }
}

/// What the protocol keeps of a dispatched job to wait for its answer.
pub struct Dispatched {
    /// The answer, when the handler sends it.
    pub rx: oneshot::Receiver<Response>,
    /// Names the job in [`Dispatch::cancel`].
    pub id: u64,
    /// How long the handler may take from now (504 after), if it has a limit.
    pub limit: Option<Duration>,
    /// The request's whole time limit (counted from its head's arrival), for the 504's text.
    pub stated: Option<Duration>,
}

impl Ctx {
    /// Hands a routed, admitted request with its whole body to the handlers. `slot` is its
    /// admission slot, given back when the reply is sent or dropped (a WebSocket's session
    /// holds its own slot until the accept: `slot` is None then); `ws` its WebSocket, `pipe`
    /// the body still arriving (a mount's).
    #[inline]
    #[allow(clippy::too_many_arguments)]
    pub fn dispatch_job(
        &self,
        head: RequestHead,
        body: Bytes,
        routed: Routed,
        slot: Option<OwnedSemaphorePermit>,
        peer: Peer,
        ex: &mut Exchange,
        ws: Option<Arc<Session>>,
        pipe: Option<Arc<BodyPipe>>,
    ) -> Dispatched {
        let (tx, rx) = oneshot::channel();
        let id = self.shared.next_id();
        let route = routed.route;
        let call = CallMeta::read(
            &head,
            ex.started,
            self.dispatch.timeout(route, self.config.request_timeout),
            self.config.b3,
        );
        // The deadline counts from the head's arrival: what the body and the admission queue
        // took is already spent.
        let limit = call.limit.map(|l| l.saturating_sub(ex.started.elapsed()));
        ex.trace = Some(call.trace);
        if let Some(s) = &mut ex.sample {
            s.route = Some(route);
            s.request_body = body.len() as u64;
        }
        let request_id = ex.request_id().map(Box::from);
        let job = Job {
            head,
            body,
            route,
            params: routed.params,
            request_id,
            peer,
            reply: Reply { tx, _slot: slot },
            id,
            call,
            queued: ex.sample.as_ref().map(|_| std::time::Instant::now()),
            ws,
            pipe,
            secure: ex.secure.clone(),
            trailers: ex.trailers.take(),
            identity: routed.identity,
            pending: routed.pending,
        };
        self.dispatch.dispatch(job);
        Dispatched {
            rx,
            id,
            limit,
            stated: call.limit,
        }
    }

    /// The handler of job `id` did not answer within `stated`: it is cancelled, counted, logged,
    /// and the client gets 504.
    pub fn timed_out(&self, peer: &Peer, id: u64, stated: Duration) -> Response {
        self.dispatch.cancel(id, Cancel::TimedOut);
        if let Some(m) = &self.shared.metrics {
            m.timeout();
        }
        let secs = stated.as_secs_f64();
        log::write(
            Level::Warning,
            format_args!("{peer}: 504: the handler did not answer within {secs} s"),
        );
        timed_out(stated)
    }
}
