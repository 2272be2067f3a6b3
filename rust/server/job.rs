//! What the server hands to whoever runs the handlers, and what it gets back.
//!
//! The server knows nothing of Python: the bridge implements [`Dispatch`]. Only owned Rust data
//! crosses here, so IO threads never touch a Python object and never need the GIL.

use std::time::Duration;

use bytes::Bytes;
use tokio::sync::{mpsc, oneshot, OwnedSemaphorePermit};

use crate::io::Peer;
use crate::protocol::h1::RequestHead;
use crate::router::ParamValue;
use crate::server::call::CallMeta;

/// A path parameter, converted and owned (it outlives the router's borrow of the path).
#[derive(Debug, Clone, PartialEq)]
pub enum Param {
    /// `str` converter.
    Str(Box<str>),
    /// `int` converter.
    Int(i64),
    /// `float` converter.
    Float(f64),
    /// `uuid` converter, canonical lower-case text.
    Uuid(Box<str>),
    /// `path` converter.
    Path(Box<str>),
}

impl From<&ParamValue<'_>> for Param {
    fn from(v: &ParamValue<'_>) -> Self {
        match v {
            ParamValue::Str(s) => Param::Str(s.as_ref().into()),
            ParamValue::Int(i) => Param::Int(*i),
            ParamValue::Float(f) => Param::Float(*f),
            ParamValue::Uuid(s) => Param::Uuid(s.as_ref().into()),
            ParamValue::Path(s) => Param::Path(s.as_ref().into()),
        }
    }
}

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

/// A response body.
pub enum Body {
    /// The whole body, sent with Content-Length.
    Full(Bytes),
    /// Chunks produced over time, sent with chunked encoding.
    Stream(StreamBody),
}

/// The receiving end of a streamed body. The stream ends at `Chunk::End`; a sender dropped
/// without it means the producer failed, and the connection is cut.
pub struct StreamBody {
    /// Chunks, bounded so a fast producer waits for a slow client (backpressure).
    pub rx: mpsc::Receiver<Chunk>,
    /// Told after chunks are taken, so a producer waiting for room can be woken.
    pub on_space: Option<std::sync::Arc<dyn OnSpace>>,
}

impl Drop for StreamBody {
    fn drop(&mut self) {
        // The connection is done with the stream (finished, failed or dropped at a drain
        // deadline): wake a producer waiting for room so it sees the closed channel and stops,
        // instead of waiting forever.
        self.rx.close();
        if let Some(n) = &self.on_space {
            n.space();
        }
    }
}

/// Wakes a stream producer when its channel has room again.
pub trait OnSpace: Send + Sync {
    /// Called by the consumer after it took chunks out of the channel.
    fn space(&self);
}

/// One item of a streamed body.
pub enum Chunk {
    /// More data.
    Data(Bytes),
    /// The body is complete.
    End,
}

/// A response from a handler.
pub struct Response {
    /// Status code, 100..=999 checked by the producer.
    pub status: u16,
    /// Header lines already validated and encoded as `name: value\r\n`, without Date,
    /// Content-Length, Transfer-Encoding or Connection, which the server writes.
    pub header_block: Vec<u8>,
    /// The body.
    pub body: Body,
}

impl Response {
    /// A copy of a response with a full body (streams cannot be copied: None).
    pub fn try_clone(&self) -> Option<Response> {
        match &self.body {
            Body::Full(b) => Some(Response {
                status: self.status,
                header_block: self.header_block.clone(),
                body: Body::Full(b.clone()),
            }),
            Body::Stream(_) => None,
        }
    }

    /// A response with a full body and one content-type.
    pub fn full(status: u16, content_type: &str, body: impl Into<Bytes>) -> Self {
        let mut header_block = Vec::with_capacity(16 + content_type.len());
        header_block.extend_from_slice(b"content-type: ");
        header_block.extend_from_slice(content_type.as_bytes());
        header_block.extend_from_slice(b"\r\n");
        Response {
            status,
            header_block,
            body: Body::Full(body.into()),
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
