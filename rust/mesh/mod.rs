//! Service-mesh headers, parsed without Python: trusted proxies, client certificates, trace context, deadlines.
//!
//! Each file reads one family of headers from bytes and never fails a request: a value that
//! does not parse is ignored (or restarts the trace), so a bad header costs information, never
//! availability.
//!
//! - [`trace`]: W3C `traceparent`/`tracestate` and B3, and the server span ([`ServerTrace`]).
//! - [`deadline`]: `grpc-timeout` and `x-envoy-expected-rq-timeout-ms` against the route timeout.
//! - [`forwarded`]: `Forwarded` / `X-Forwarded-*` believed only from trusted proxies.
//! - [`xfcc`]: Envoy's `x-forwarded-client-cert`, the client certificate a sidecar saw.

pub mod deadline;
pub mod forwarded;
pub mod trace;
pub mod xfcc;

pub use forwarded::{IpNet, Origin, TrustPolicy};
pub use trace::{B3Input, ServerTrace, TraceParent};
pub use xfcc::{PeerIdentity, XfccError};

/// Strips optional whitespace (SP, HTAB) from both ends of a field value or list element
/// (RFC 9110 §5.6.3).
fn trim_ows(mut s: &[u8]) -> &[u8] {
    while let [b' ' | b'\t', rest @ ..] = s {
        s = rest;
    }
    while let [rest @ .., b' ' | b'\t'] = s {
        s = rest;
    }
    s
}
