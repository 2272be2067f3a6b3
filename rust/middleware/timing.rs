//! The timing layer: `Server-Timing: total;dur=<ms>` (W3C Server Timing), the time from
//! `on_request` to `on_response`, so from the parsed head to the encoded answer's head. For a
//! streamed body that is the time to its first byte, not to its end.

use std::io::Write;
use std::time::Instant;

use super::headers;
use crate::server::job::Response;

/// Appends `server-timing: total;dur=<milliseconds with 3 decimals>`.
pub(super) fn on_response(start: Instant, now: Instant, response: &mut Response) {
    let us = now.saturating_duration_since(start).as_micros();
    let mut value = Vec::with_capacity(24);
    // Integer arithmetic: no float formatting on the hot path, and exact 3 decimals.
    let _ = write!(value, "total;dur={}.{:03}", us / 1000, us % 1000);
    headers::push(&mut response.header_block, "server-timing", &value);
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn milliseconds_with_three_decimals() {
        let t = Instant::now();
        let mut r = Response::full(200, "text/plain", "x");
        on_response(t, t + Duration::from_micros(12_345), &mut r);
        assert_eq!(
            headers::get(&r.header_block, "server-timing"),
            Some(&b"total;dur=12.345"[..])
        );
        let mut r = Response::full(200, "text/plain", "x");
        on_response(t, t + Duration::from_micros(7), &mut r);
        assert_eq!(
            headers::get(&r.header_block, "server-timing"),
            Some(&b"total;dur=0.007"[..])
        );
    }
}
