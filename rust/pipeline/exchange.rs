//! What follows one request from the front of the pipeline to its answer, whatever protocol
//! carries it: the built-in middleware's state, the trace, the metrics sample, the access-log
//! fields. It is recorded (`record.rs`) once its answer is out.

use std::sync::Arc;
use std::time::Instant;

use crate::io::{Peer, Secure};
use crate::log;
use crate::mesh::trace::ServerTrace;
use crate::middleware;
use crate::pipeline::record::Sample;

/// One request's state between [`front`](super::front) and [`Exchange::respond`] / record.
pub struct Exchange {
    /// When the request's head was complete: durations and the deadline count from here.
    pub started: Instant,
    /// The built-in middleware's state for this request (None: no middleware, or a probe).
    pub(crate) mw: Option<middleware::Ctx>,
    /// This server's span of the request (requests answered in Rust have none).
    pub(crate) trace: Option<ServerTrace>,
    /// What the metrics record of it (None: no metrics, or a probe).
    pub(crate) sample: Option<Sample>,
    /// Method, target and HTTP version ("1.1", "2") for the access log, when it is on.
    pub(crate) access: Option<(String, Vec<u8>, &'static str)>,
    /// The connection's TLS parameters and client identity (None in cleartext).
    pub secure: Option<Arc<Secure>>,
    /// The request's trailer fields (`name: value\r\n` lines; HTTP/2), handed to the job.
    pub trailers: Option<Vec<u8>>,
}

impl Exchange {
    /// The request id the built-in RequestId middleware accepted or made.
    #[inline]
    pub fn request_id(&self) -> Option<&str> {
        self.mw.as_ref().and_then(|c| c.request_id())
    }

    /// Records a streamed answer once it has been sent (also when cut short: what was sent of
    /// it). A full body was recorded by [`Exchange::respond`].
    #[inline]
    pub fn record_streamed(&mut self, status: u16, sent: u64) {
        if let Some(s) = self.sample.take() {
            s.record(status, sent);
        }
    }

    /// Writes the access-log line (when the log is on) of an answer of `bytes` bytes on the wire.
    #[inline]
    pub fn log_access(&self, peer: &Peer, status: u16, bytes: usize) {
        self.log_line(peer, status, bytes, None);
    }

    /// Writes a WebSocket's access-log line when it closes: the status that opened it (101
    /// over HTTP/1.1, 200 over HTTP/2), the bytes it sent, its whole duration and its close
    /// code.
    pub fn log_closed(&self, peer: &Peer, status: u16, bytes: usize, code: u16) {
        self.log_line(peer, status, bytes, Some(code));
    }

    fn log_line(&self, peer: &Peer, status: u16, bytes: usize, close: Option<u16>) {
        if let Some((method, target, version)) = &self.access {
            log::access(
                &peer.to_string(),
                method,
                target,
                status,
                bytes,
                self.started.elapsed().as_micros(),
                self.request_id(),
                self.trace.as_ref(),
                close,
                version,
            );
        }
    }
}
