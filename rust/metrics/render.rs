//! The Prometheus text exposition format 0.0.4: one `# HELP` and one `# TYPE` line per metric
//! family, then its samples, families in name order.
//!
//! A histogram `x` is rendered as cumulative `x_bucket{le="…"}` samples (`le` is an inclusive
//! upper bound) ending with `le="+Inf"`, then `x_sum` and `x_count`, which equals the `+Inf`
//! bucket. Label values escape backslash, double quote and line feed as `\\`, `\"`, `\n`.

use std::fmt::Write;

use super::layout::{BODY_BOUNDS, DURATION_BOUNDS_NS, GIL_BOUNDS_NS};
use super::totals::{Labels, SeriesTotals, Totals};
use super::{AuthFailure, ShedReason, TlsFailure};

/// The unit a histogram stores and the unit it is rendered in.
#[derive(Clone, Copy)]
enum Unit {
    /// Stored in nanoseconds, rendered in seconds (Prometheus' base unit).
    Seconds,
    /// Stored and rendered in bytes.
    Bytes,
}

impl Unit {
    fn write(self, out: &mut String, value: u64) {
        // `{}` of an f64 is the shortest decimal that reads back as the same f64 (0.005, not
        // 0.005000000000000001), never in exponent notation; both parse as Go floats.
        let _ = match self {
            Unit::Seconds => write!(out, "{}", value as f64 / 1e9),
            Unit::Bytes => write!(out, "{value}"),
        };
    }
}

/// A request histogram family: name, help, bounds, unit, and which histogram of a series.
type RequestFamily = (
    &'static str,
    &'static str,
    &'static [u64],
    Unit,
    fn(&SeriesTotals) -> (&[u64], u64),
);

/// The three request histograms, in name order.
const REQUEST_FAMILIES: [RequestFamily; 3] = [
    (
        "http_server_request_body_size_bytes",
        "Size of HTTP server request bodies.",
        &BODY_BOUNDS,
        Unit::Bytes,
        |s| (&s.request.buckets, s.request.sum),
    ),
    (
        "http_server_request_duration_seconds",
        "Duration of HTTP server requests.",
        &DURATION_BOUNDS_NS,
        Unit::Seconds,
        |s| (&s.duration.buckets, s.duration.sum),
    ),
    (
        "http_server_response_body_size_bytes",
        "Size of HTTP server response bodies.",
        &BODY_BOUNDS,
        Unit::Bytes,
        |s| (&s.response.buckets, s.response.sum),
    ),
];

/// The label set of the overflow series, the OpenTelemetry SDKs' `otel.metric.overflow=true`.
const OVERFLOW_LABELS: &str = "otel_metric_overflow=\"true\"";

/// Renders `totals`.
pub(super) fn render(t: &Totals) -> String {
    // About 2.5 KiB per request series (45 samples of ~60 bytes).
    let mut out = String::with_capacity(4096 + 2560 * (t.series.len() + 1));

    let name = "covetpy_gil_wait_seconds";
    let help =
        "Time requests waited between being queued by an IO thread and taken by the Python thread.";
    family(&mut out, name, "histogram", help);
    histogram(
        &mut out,
        name,
        "",
        &GIL_BOUNDS_NS,
        Unit::Seconds,
        (&t.gil.buckets, t.gil.sum),
    );

    let counters = [
        (
            "covetpy_metrics_series_overflow_total",
            "Requests recorded without labels because the series table was full.",
            t.overflowed,
        ),
        (
            "covetpy_request_timeouts_total",
            "Requests answered 504 because the handler exceeded its time limit.",
            t.timeouts,
        ),
    ];
    for (name, help, value) in counters {
        family(&mut out, name, "counter", help);
        let _ = writeln!(out, "{name} {value}");
    }

    let name = "covetpy_requests_shed_total";
    family(
        &mut out,
        name,
        "counter",
        "Requests refused before reaching a handler, by reason.",
    );
    for reason in ShedReason::ALL {
        let _ = writeln!(
            out,
            "{name}{{reason=\"{}\"}} {}",
            reason.label(),
            t.shed[reason as usize]
        );
    }

    let name = "covetpy_tls_handshake_failures_total";
    family(
        &mut out,
        name,
        "counter",
        "TLS handshakes that failed, by reason.",
    );
    for reason in TlsFailure::ALL {
        let _ = writeln!(
            out,
            "{name}{{reason=\"{}\"}} {}",
            reason.label(),
            t.tls_failures[reason as usize]
        );
    }

    let name = "covetpy_auth_failures_total";
    family(
        &mut out,
        name,
        "counter",
        "Requests refused by authentication or authorization, by reason.",
    );
    for reason in AuthFailure::ALL {
        let _ = writeln!(
            out,
            "{name}{{reason=\"{}\"}} {}",
            reason.label(),
            t.auth_failures[reason as usize]
        );
    }

    websocket(&mut out, &t.ws);

    let name = "http_server_active_requests";
    family(
        &mut out,
        name,
        "gauge",
        "Number of active HTTP server requests.",
    );
    let _ = writeln!(out, "{name} {}", t.active);

    let labels: Vec<String> = t.series.keys().map(series_labels).collect();
    let has_overflow = t.overflow.duration.buckets.iter().any(|&b| b != 0);
    for (name, help, bounds, unit, pick) in REQUEST_FAMILIES {
        family(&mut out, name, "histogram", help);
        for (l, s) in labels.iter().zip(t.series.values()) {
            histogram(&mut out, name, l, bounds, unit, pick(s));
        }
        if has_overflow {
            histogram(
                &mut out,
                name,
                OVERFLOW_LABELS,
                bounds,
                unit,
                pick(&t.overflow),
            );
        }
    }
    out
}

/// The `# HELP` and `# TYPE` lines of a family (help texts here hold no `\` or line feed,
/// the two characters HELP would need escaped).
fn family(out: &mut String, name: &str, kind: &str, help: &str) {
    debug_assert!(!help.contains(['\\', '\n']));
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
}

/// The samples of one histogram with `labels` (already rendered, without braces).
fn histogram(
    out: &mut String,
    name: &str,
    labels: &str,
    bounds: &[u64],
    unit: Unit,
    h: (&[u64], u64),
) {
    let (buckets, sum) = h;
    debug_assert_eq!(bounds.len() + 1, buckets.len());
    let sep = if labels.is_empty() { "" } else { "," };
    let mut cumulative = 0u64;
    for (&bound, &n) in bounds.iter().zip(buckets) {
        cumulative = cumulative.wrapping_add(n);
        let _ = write!(out, "{name}_bucket{{{labels}{sep}le=\"");
        unit.write(out, bound);
        let _ = writeln!(out, "\"}} {cumulative}");
    }
    cumulative = cumulative.wrapping_add(buckets[bounds.len()]);
    let _ = writeln!(
        out,
        "{name}_bucket{{{labels}{sep}le=\"+Inf\"}} {cumulative}"
    );
    let braced = if labels.is_empty() {
        String::new()
    } else {
        format!("{{{labels}}}")
    };
    let _ = write!(out, "{name}_sum{braced} ");
    unit.write(out, sum);
    let _ = writeln!(out, "\n{name}_count{braced} {cumulative}");
}

/// The labels of a request series, in name order; `http_route` is omitted for requests that
/// matched no route, as the semantic conventions ask.
fn series_labels(l: &Labels) -> String {
    let mut out = format!(
        "http_request_method=\"{}\",http_response_status_code=\"{}\"",
        l.method, l.status
    );
    if let Some(route) = &l.route {
        out.push_str(",http_route=\"");
        escape_label(&mut out, route);
        out.push('"');
    }
    out
}

/// Appends `value` escaped for a label value.
fn escape_label(out: &mut String, value: &str) {
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
}

/// The WebSocket families: worker totals (per route they are not kept: one more series block
/// per route for traffic most apps never have).
fn websocket(out: &mut String, ws: &super::totals::WsTotals) {
    let name = "covetpy_websocket_connections";
    family(out, name, "gauge", "Open WebSocket connections.");
    let _ = writeln!(out, "{name} {}", ws.open);
    for (name, help, vin, vout) in [
        (
            "covetpy_websocket_messages_total",
            "WebSocket messages, by direction.",
            ws.messages_in,
            ws.messages_out,
        ),
        (
            "covetpy_websocket_bytes_total",
            "WebSocket payload bytes received (after decompression) and frame bytes sent.",
            ws.bytes_in,
            ws.bytes_out,
        ),
    ] {
        family(out, name, "counter", help);
        let _ = writeln!(out, "{name}{{direction=\"in\"}} {vin}");
        let _ = writeln!(out, "{name}{{direction=\"out\"}} {vout}");
    }
    let name = "covetpy_websocket_broadcast_dropped_total";
    family(
        out,
        name,
        "counter",
        "Broadcast messages dropped or refused because a subscriber's send queue was full.",
    );
    let _ = writeln!(out, "{name} {}", ws.dropped);
    let name = "covetpy_websocket_closes_total";
    family(
        out,
        name,
        "counter",
        "Closed WebSocket connections, by close code.",
    );
    for (i, n) in ws.closes.iter().enumerate() {
        match super::layout::WS_CLOSE_CODES.get(i) {
            Some(code) => {
                let _ = writeln!(out, "{name}{{code=\"{code}\"}} {n}");
            }
            None => {
                let _ = writeln!(out, "{name}{{code=\"other\"}} {n}");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_backslash_quote_and_line_feed_only() {
        let mut out = String::new();
        escape_label(&mut out, "a\\b\"c\nd\te/é");
        assert_eq!(out, "a\\\\b\\\"c\\nd\te/é");
    }

    #[test]
    fn histogram_is_cumulative_with_count_equal_to_inf() {
        let h = (&[1, 0, 2, 3][..], 1_500_000);
        let mut out = String::new();
        histogram(
            &mut out,
            "x",
            "a=\"b\"",
            &[10_000, 5_000_000, 1_000_000_000],
            Unit::Seconds,
            h,
        );
        let expected = "x_bucket{a=\"b\",le=\"0.00001\"} 1\n\
                        x_bucket{a=\"b\",le=\"0.005\"} 1\n\
                        x_bucket{a=\"b\",le=\"1\"} 3\n\
                        x_bucket{a=\"b\",le=\"+Inf\"} 6\n\
                        x_sum{a=\"b\"} 0.0015\n\
                        x_count{a=\"b\"} 6\n";
        assert_eq!(out, expected);
    }

    #[test]
    fn unlabelled_histogram_has_no_empty_braces() {
        let mut out = String::new();
        histogram(&mut out, "y", "", &[64], Unit::Bytes, (&[0, 1], 100));
        assert_eq!(
            out,
            "y_bucket{le=\"64\"} 0\ny_bucket{le=\"+Inf\"} 1\ny_sum 100\ny_count 1\n"
        );
    }

    #[test]
    fn unmatched_route_omits_the_label() {
        let l = Labels {
            route: None,
            method: "_OTHER",
            status: 404,
        };
        assert_eq!(
            series_labels(&l),
            "http_request_method=\"_OTHER\",http_response_status_code=\"404\""
        );
    }
}
