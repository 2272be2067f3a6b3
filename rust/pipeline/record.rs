//! The record stage: the metrics sample of a request, counted in flight from its head and
//! recorded with its answer ([`Exchange::respond`](super::Exchange::respond) for a full body,
//! [`Exchange::record_streamed`](super::Exchange::record_streamed) for a stream).

use std::sync::Arc;
use std::time::Instant;

use crate::metrics::Registry;
use crate::protocol::h1::Method;

/// A request being measured: counted in flight until its answer is written (or the
/// connection ends), then recorded.
pub(crate) struct Sample {
    registry: Arc<Registry>,
    pub(crate) route: Option<usize>,
    method: Method,
    started: Instant,
    pub(crate) request_body: u64,
}

impl Sample {
    pub(crate) fn new(registry: &Arc<Registry>, method: &Method, started: Instant) -> Sample {
        registry.active_inc();
        Sample {
            registry: registry.clone(),
            route: None,
            method: method.clone(),
            started,
            request_body: 0,
        }
    }

    pub(crate) fn record(self, status: u16, response_body: u64) {
        self.registry.record(
            self.route,
            self.method.as_str().as_bytes(),
            status,
            self.started.elapsed(),
            self.request_body,
            response_body,
        );
    }
}

impl Drop for Sample {
    fn drop(&mut self) {
        // Recorded or not (the client left), it is no longer in flight.
        self.registry.active_dec();
    }
}
