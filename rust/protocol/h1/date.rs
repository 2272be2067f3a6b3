//! The `Date` header value (RFC 9110 §6.6.1), cached per thread.
//!
//! An origin server with a clock MUST send Date in 2xx-5xx responses, so every response needs
//! it; formatting an IMF-fixdate costs on the order of 100 ns, while the value changes only
//! once a second. Each thread keeps the last value and the second it belongs to, and
//! formats again only when the second changes. Per thread, so no lock and no atomics.

use std::cell::Cell;
use std::io::Write;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Length of an IMF-fixdate, e.g. `Sun, 06 Nov 1994 08:49:37 GMT`.
pub const HTTP_DATE_LEN: usize = 29;

/// 9999-12-31T23:59:59Z: the last second a four-digit year can show (httpdate panics past it).
const MAX_SECS: u64 = 253_402_300_799;

thread_local! {
    /// (second since the epoch, its formatted value); u64::MAX means "nothing cached yet".
    static CACHE: Cell<(u64, [u8; HTTP_DATE_LEN])> =
        const { Cell::new((u64::MAX, [0; HTTP_DATE_LEN])) };
}

/// The current time as an IMF-fixdate (`Sun, 06 Nov 1994 08:49:37 GMT`), for the Date header.
pub fn http_date() -> [u8; HTTP_DATE_LEN] {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
        .min(MAX_SECS);
    CACHE.with(|cache| {
        let (cached_secs, cached) = cache.get();
        if cached_secs == secs {
            return cached;
        }
        let fresh = format_secs(secs);
        cache.set((secs, fresh));
        fresh
    })
}

/// Formats `secs` after the epoch (at most `MAX_SECS`) as an IMF-fixdate.
fn format_secs(secs: u64) -> [u8; HTTP_DATE_LEN] {
    let mut out = *b"Thu, 01 Jan 1970 00:00:00 GMT";
    let date = httpdate::HttpDate::from(UNIX_EPOCH + Duration::from_secs(secs.min(MAX_SECS)));
    let mut slot = &mut out[..];
    // Always exactly 29 bytes for years 1970-9999; on the impossible failure keep the epoch.
    if write!(slot, "{date}").is_err() || !slot.is_empty() {
        out = *b"Thu, 01 Jan 1970 00:00:00 GMT";
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn imf_fixdate_format_rfc_9110_section_5_6_7() {
        assert_eq!(&format_secs(0), b"Thu, 01 Jan 1970 00:00:00 GMT");
        assert_eq!(&format_secs(784_111_777), b"Sun, 06 Nov 1994 08:49:37 GMT");
        assert_eq!(&format_secs(MAX_SECS), b"Fri, 31 Dec 9999 23:59:59 GMT");
        assert_eq!(&format_secs(u64::MAX), b"Fri, 31 Dec 9999 23:59:59 GMT");
    }

    #[test]
    fn http_date_is_now_and_cached() {
        let a = http_date();
        let parsed = httpdate::parse_http_date(std::str::from_utf8(&a).unwrap()).unwrap();
        let now = SystemTime::now();
        let diff = now.duration_since(parsed).unwrap_or_default();
        assert!(diff < Duration::from_secs(5), "{diff:?}");
        let b = http_date();
        let parsed_b = httpdate::parse_http_date(std::str::from_utf8(&b).unwrap()).unwrap();
        assert!(parsed_b >= parsed, "cached date went backwards");
        assert_eq!(&a[25..], b" GMT");
    }
}
