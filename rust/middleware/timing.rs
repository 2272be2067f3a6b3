//! The timing layer: `Server-Timing: total;dur=<ms>` (W3C Server Timing), the time from
//! `on_request` to `on_response`, so from the parsed head to the encoded answer's head. For a
//! streamed body that is the time to its first byte, not to its end.

use std::time::Instant;

use crate::protocol::response::Response;

/// Appends `server-timing: total;dur=<milliseconds with 3 decimals>`.
pub(super) fn on_response(start: Instant, now: Instant, response: &mut Response) {
    let us = now.saturating_duration_since(start).as_micros();
    // Integers only: exact 3 decimals, and cheaper than `write!` with a float.
    let frac = (us % 1000) as u16;
    let digits = [frac / 100, frac / 10 % 10, frac % 10].map(|d| b'0' + d as u8);
    let block = &mut response.header_block;
    block.extend_from_slice(b"server-timing: total;dur=");
    block.extend_from_slice(itoa::Buffer::new().format(us / 1000).as_bytes());
    block.push(b'.');
    block.extend_from_slice(&digits);
    block.extend_from_slice(b"\r\n");
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::middleware::headers;
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
