//! What goes in and out of the client: requests, responses, settings.

use std::time::Duration;

use bytes::Bytes;

/// One outbound request.
#[derive(Debug, Clone)]
pub struct Request {
    /// The method token (`GET`, `POST`, ...).
    pub method: Bytes,
    /// `host:port` to connect to (the pool key); also the `Host` header when none is given.
    pub authority: String,
    /// The request target in origin form: path and query (`/a?b=1`).
    pub target: Bytes,
    /// Header fields in order; `Host` and `Content-Length` are added when absent.
    pub headers: Vec<(Bytes, Bytes)>,
    /// The body (sent with `Content-Length`).
    pub body: Bytes,
    /// Time allowed to open a connection (bounded by `timeout` too).
    pub connect_timeout: Option<Duration>,
    /// Time allowed for the whole request, from submission to the last body byte.
    pub timeout: Option<Duration>,
}

/// A complete response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    /// The final status code (interim 1xx responses are skipped).
    pub status: u16,
    /// Header fields in the order received.
    pub headers: Vec<(Bytes, Bytes)>,
    /// The decoded body (chunked framing removed).
    pub body: Bytes,
}

/// Settings of a [`ClientRuntime`](super::ClientRuntime).
#[derive(Debug, Clone)]
pub struct ClientConfig {
    /// Idle keep-alive connections kept per authority; more are closed when returned.
    pub max_idle_per_host: usize,
    /// An idle connection older than this is closed instead of reused. The default (4 s) is
    /// below the keep-alive timeout of CovetPy's own server, uvicorn and Node (5 s), so in
    /// the common case this side closes first and no request is sent on a connection the
    /// server is closing.
    pub idle_timeout: Duration,
    /// Largest response body accepted.
    pub max_body: u64,
}

impl Default for ClientConfig {
    fn default() -> Self {
        ClientConfig {
            max_idle_per_host: 32,
            idle_timeout: Duration::from_secs(4),
            max_body: 64 * 1024 * 1024,
        }
    }
}

/// Largest response head (status line and fields) accepted.
pub const MAX_HEAD: usize = 64 * 1024;
/// Most header fields in a response head.
pub const MAX_HEADERS: usize = 128;
