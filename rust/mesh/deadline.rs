//! Request deadlines a caller or the mesh announces: gRPC's `grpc-timeout` and Envoy's
//! `x-envoy-expected-rq-timeout-ms`. The effective deadline is the tightest of those and the
//! route's own timeout; a malformed header is ignored, never an error (the request still runs,
//! under the other limits).

use std::time::Duration;

/// Most digits of a `grpc-timeout` value (gRPC over HTTP/2, "Requests": `TimeoutValue` is at
/// most 8 digits).
const GRPC_MAX_DIGITS: usize = 8;

/// Parses `grpc-timeout` (gRPC over HTTP/2, "Requests"): 1 to 8 ASCII digits then one unit,
/// `H` hours, `M` minutes, `S` seconds, `m` ms, `u` µs, `n` ns (case matters: `M` ≠ `m`).
///
/// The spec says "positive integer" but `0` is taken as a deadline already passed, as grpc-go
/// and tonic do: the caller has no time left, and an immediate timeout is what it asked for.
pub fn parse_grpc_timeout(v: &[u8]) -> Option<Duration> {
    let (&unit, digits) = v.split_last()?;
    if digits.is_empty() || digits.len() > GRPC_MAX_DIGITS {
        return None;
    }
    // At most 8 digits, so no overflow: 99_999_999 hours is 3.6e11 s.
    let n = parse_digits(digits)?;
    Some(match unit {
        b'H' => Duration::from_secs(n * 3600),
        b'M' => Duration::from_secs(n * 60),
        b'S' => Duration::from_secs(n),
        b'm' => Duration::from_millis(n),
        b'u' => Duration::from_micros(n),
        b'n' => Duration::from_nanos(n),
        _ => return None,
    })
}

/// Parses `x-envoy-expected-rq-timeout-ms` (Envoy router filter): decimal milliseconds.
/// Junk, a sign, whitespace or a value past `u64` gives `None`.
///
/// `0` also gives `None`: in Envoy a zero route timeout disables the timeout, so a zero here
/// means "no deadline", not "already expired" (Envoy itself only sends the header when the
/// timeout is set).
pub fn parse_envoy_timeout_ms(v: &[u8]) -> Option<Duration> {
    match parse_digits(v)? {
        0 => None,
        ms => Some(Duration::from_millis(ms)),
    }
}

/// The deadline a request runs under: the smallest of the route's timeout and the valid
/// headers present. Invalid headers are ignored.
pub fn effective(
    route: Option<Duration>,
    grpc: Option<&[u8]>,
    envoy: Option<&[u8]>,
) -> Option<Duration> {
    [
        route,
        grpc.and_then(parse_grpc_timeout),
        envoy.and_then(parse_envoy_timeout_ms),
    ]
    .into_iter()
    .flatten()
    .min()
}

/// A non-empty run of ASCII digits as a `u64`; `None` on anything else or on overflow.
fn parse_digits(v: &[u8]) -> Option<u64> {
    if v.is_empty() {
        return None;
    }
    v.iter().try_fold(0u64, |acc, &b| {
        let d = b.checked_sub(b'0').filter(|d| *d < 10)?;
        acc.checked_mul(10)?.checked_add(u64::from(d))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn grpc_units() {
        let cases: &[(&[u8], Duration)] = &[
            (b"1H", Duration::from_secs(3600)),
            (b"2M", Duration::from_secs(120)),
            (b"30S", Duration::from_secs(30)),
            (b"100m", Duration::from_millis(100)),
            (b"250u", Duration::from_micros(250)),
            (b"99999999n", Duration::from_nanos(99_999_999)),
            (b"99999999H", Duration::from_secs(99_999_999 * 3600)),
            (b"0m", Duration::ZERO),
            (b"00000005S", Duration::from_secs(5)),
        ];
        for (v, want) in cases {
            assert_eq!(parse_grpc_timeout(v), Some(*want), "{v:?}");
        }
    }

    #[test]
    fn grpc_rejects_junk() {
        for v in [
            &b""[..],
            b"S",
            b"10",
            b"123456789S",
            b"10s",
            b"10h",
            b"1.5S",
            b"-1S",
            b"+1S",
            b" 1S",
            b"1S ",
            b"1SS",
            b"\xff\xffS",
        ] {
            assert_eq!(parse_grpc_timeout(v), None, "{v:?}");
        }
    }

    #[test]
    fn envoy_ms() {
        assert_eq!(
            parse_envoy_timeout_ms(b"15000"),
            Some(Duration::from_secs(15))
        );
        assert_eq!(
            parse_envoy_timeout_ms(b"18446744073709551615"),
            Some(Duration::from_millis(u64::MAX))
        );
        for v in [
            &b""[..],
            b"0",
            b"18446744073709551616",
            b"99999999999999999999999",
            b"15s",
            b"-5",
            b"+5",
            b" 5",
            b"1e3",
            b"1.5",
        ] {
            assert_eq!(parse_envoy_timeout_ms(v), None, "{v:?}");
        }
    }

    #[test]
    fn effective_is_the_smallest_valid() {
        let s = Duration::from_secs;
        assert_eq!(effective(None, None, None), None);
        assert_eq!(effective(Some(s(30)), None, None), Some(s(30)));
        assert_eq!(effective(Some(s(30)), Some(b"5S"), None), Some(s(5)));
        assert_eq!(
            effective(Some(s(30)), Some(b"5S"), Some(b"2000")),
            Some(s(2))
        );
        assert_eq!(
            effective(Some(s(1)), Some(b"5S"), Some(b"2000")),
            Some(s(1))
        );
        assert_eq!(effective(None, Some(b"junk"), Some(b"2000")), Some(s(2)));
        assert_eq!(
            effective(Some(s(3)), Some(b"junk"), Some(b"junk")),
            Some(s(3))
        );
        assert_eq!(
            effective(None, Some(b"0S"), Some(b"0")),
            Some(Duration::ZERO)
        );
    }

    proptest! {
        #[test]
        fn grpc_round_trips(n in 0u64..100_000_000, unit in 0usize..6) {
            let units = [('H', 3_600_000_000_000u128), ('M', 60_000_000_000), ('S', 1_000_000_000),
                ('m', 1_000_000), ('u', 1_000), ('n', 1)];
            let (c, nanos) = units[unit];
            let d = parse_grpc_timeout(format!("{n}{c}").as_bytes()).unwrap();
            prop_assert_eq!(d.as_nanos(), u128::from(n) * nanos);
        }

        #[test]
        fn never_panics(v in proptest::collection::vec(any::<u8>(), 0..24)) {
            let _ = parse_grpc_timeout(&v);
            let _ = parse_envoy_timeout_ms(&v);
            let _ = effective(None, Some(&v), Some(&v));
        }
    }
}
