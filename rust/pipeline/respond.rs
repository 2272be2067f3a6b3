//! The respond stage: whatever answer goes out for a request (the handler's, the pipeline's
//! own, a fixed one, a middleware's early one) passes here once, just before the protocol
//! encodes it.

use crate::middleware::StreamEncoder;
use crate::pipeline::exchange::Exchange;
use crate::pipeline::{sidecar, Ctx};
use crate::protocol::response::{Body, Response};

impl Exchange {
    /// Runs the built-in middleware's response side and the sidecar stage on `response`, and
    /// records a full body in the metrics (a streamed one is recorded once sent, with
    /// [`Exchange::record_streamed`]). A returned encoder must encode every chunk of a streamed
    /// body.
    #[inline]
    pub fn respond(
        &mut self,
        ctx: &Ctx,
        head_only: bool,
        response: &mut Response,
    ) -> Option<StreamEncoder> {
        let encoder = match &self.mw {
            Some(mw) => ctx.middleware.on_response(mw, head_only, response),
            None => None,
        };
        sidecar::on_response(&ctx.shared, response);
        if let Body::Full(b) = &response.body {
            if let Some(s) = self.sample.take() {
                s.record(response.status, b.len() as u64);
            }
        }
        encoder
    }
}
