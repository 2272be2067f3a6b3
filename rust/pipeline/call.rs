//! What a request carries on to the calls it makes: its trace and its deadline, read from the
//! head in one pass over the header fields.

use std::time::{Duration, Instant};

use crate::mesh::deadline;
use crate::mesh::trace::{B3Input, ServerTrace};
use crate::protocol::h1::RequestHead;

/// A request's place in a distributed call: this server's span of it and its deadline.
#[derive(Debug, Clone, Copy)]
pub struct CallMeta {
    /// This server's span: the caller's trace continued, or a new one.
    pub trace: ServerTrace,
    /// When the head was complete (the deadline counts from here).
    pub received: Instant,
    /// How long the caller waits: the smallest of `grpc-timeout`,
    /// `x-envoy-expected-rq-timeout-ms` and the route's own timeout. 504 after.
    pub limit: Option<Duration>,
}

/// The header fields the mesh reads, found in one pass.
#[derive(Default)]
struct Found<'a> {
    traceparent: Option<&'a [u8]>,
    grpc_timeout: Option<&'a [u8]>,
    envoy_timeout: Option<&'a [u8]>,
    b3: Option<&'a [u8]>,
    b3_trace: Option<&'a [u8]>,
    b3_span: Option<&'a [u8]>,
    b3_sampled: Option<&'a [u8]>,
    b3_flags: Option<&'a [u8]>,
}

impl CallMeta {
    /// Reads the trace context and deadline headers of `head`; B3 only when `b3` is on.
    /// `route_limit` is the route's (or the server's) own timeout.
    pub fn read(
        head: &RequestHead,
        received: Instant,
        route_limit: Option<Duration>,
        b3: bool,
    ) -> CallMeta {
        let mut f = Found::default();
        for (name, value) in head.headers() {
            // One pass, names compared by length first: most requests carry none of these
            // fields, so most fields cost one length check (instead of a scan per name).
            let slot = match name.len() {
                11 if name.eq_ignore_ascii_case(b"traceparent") => &mut f.traceparent,
                12 if name.eq_ignore_ascii_case(b"grpc-timeout") => &mut f.grpc_timeout,
                30 if name.eq_ignore_ascii_case(b"x-envoy-expected-rq-timeout-ms") => {
                    &mut f.envoy_timeout
                }
                2 if b3 && name.eq_ignore_ascii_case(b"b3") => &mut f.b3,
                12 if b3 && name.eq_ignore_ascii_case(b"x-b3-traceid") => &mut f.b3_trace,
                11 if b3 && name.eq_ignore_ascii_case(b"x-b3-spanid") => &mut f.b3_span,
                12 if b3 && name.eq_ignore_ascii_case(b"x-b3-sampled") => &mut f.b3_sampled,
                10 if b3 && name.eq_ignore_ascii_case(b"x-b3-flags") => &mut f.b3_flags,
                _ => continue,
            };
            // The first field of a name counts (a repeated one is a client's mistake).
            slot.get_or_insert(value);
        }
        let b3_input = match (f.b3, f.b3_trace, f.b3_span) {
            (Some(v), _, _) => Some(B3Input::Single(v)),
            (None, Some(trace_id), Some(span_id)) => Some(B3Input::Multi {
                trace_id,
                span_id,
                sampled: f.b3_sampled,
                flags: f.b3_flags,
            }),
            _ => None,
        };
        CallMeta {
            trace: ServerTrace::from_incoming(f.traceparent, b3_input),
            received,
            limit: deadline::effective(route_limit, f.grpc_timeout, f.envoy_timeout),
        }
    }

    /// When the caller stops waiting, if it said.
    pub fn deadline(&self) -> Option<Instant> {
        self.limit.map(|l| self.received + l)
    }
}
