//! The sidecar stage: what a service-mesh proxy in front of the worker is told on every answer.

use crate::pipeline::state::Shared;
use crate::protocol::response::Response;

/// While the worker fails its health (started, not ready), every answer tells Envoy to take
/// this host out of its active health checking's rotation at once instead of at the next
/// check (`x-envoy-immediate-health-check-fail`).
#[inline]
pub(crate) fn on_response(shared: &Shared, response: &mut Response) {
    if shared.failing_health() {
        response
            .header_block
            .extend_from_slice(b"x-envoy-immediate-health-check-fail: true\r\n");
    }
}
