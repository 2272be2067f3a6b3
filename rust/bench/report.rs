//! The result of a run: the threads' stats merged, the rates derived from them, and the JSON
//! that `--json` writes and the Python side reads (built by hand: a dozen fields do not need
//! a serialization framework).

use std::fmt::Write;
use std::time::Duration;

use super::stats::{ErrorKind, Stats};

/// The percentiles reported, as (quantile, label).
pub const PERCENTILES: [(f64, &str); 6] = [
    (0.50, "50"),
    (0.75, "75"),
    (0.90, "90"),
    (0.99, "99"),
    (0.999, "99.9"),
    (0.9999, "99.99"),
];

/// How the requests travelled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transport {
    /// `HTTP/1.1`, `h2` (HTTP/2 over TLS) or `h2c` (HTTP/2 over TCP, prior knowledge).
    pub protocol: &'static str,
    /// For `https://`: the TLS version a handshake before the run settled (`TLSv1.3`), or
    /// `TLS` when no connection opened then.
    pub tls: Option<&'static str>,
    /// Streams in flight at most per HTTP/2 connection.
    pub streams: usize,
    /// Every request went on a new connection.
    pub new_conn: bool,
}

impl Default for Transport {
    fn default() -> Self {
        Transport {
            protocol: "HTTP/1.1",
            tls: None,
            streams: 1,
            new_conn: false,
        }
    }
}

/// Everything a run measured, with the settings that produced it.
#[derive(Debug, Clone)]
pub struct Report {
    /// The target URL.
    pub url: String,
    /// The request method.
    pub method: String,
    /// Connections opened (at once).
    pub connections: usize,
    /// Load threads.
    pub threads: usize,
    /// Requests outstanding at most per connection.
    pub pipeline: usize,
    /// The requested constant rate, if any.
    pub rate: Option<f64>,
    /// The protocol, TLS version, streams per connection.
    pub transport: Transport,
    /// From the start of the run to the end of its last thread.
    pub elapsed: Duration,
    /// Stopped early (Ctrl-C).
    pub interrupted: bool,
    /// The merged counts and latencies.
    pub stats: Stats,
}

impl Report {
    /// Merges the threads' stats.
    pub fn merge(parts: impl IntoIterator<Item = Stats>) -> Stats {
        let mut all = Stats::default();
        for part in parts {
            all.merge(&part);
        }
        all
    }

    /// Responses per second over the whole run.
    pub fn requests_per_sec(&self) -> f64 {
        per_sec(self.stats.requests, self.elapsed)
    }

    /// Latency at each of [`PERCENTILES`], in microseconds.
    pub fn percentiles(&self) -> [(&'static str, u64); 6] {
        PERCENTILES.map(|(q, label)| (label, self.stats.latency.value_at_quantile(q)))
    }

    /// The report as a JSON object (latencies in microseconds, sizes in bytes).
    pub fn to_json(&self) -> String {
        let s = &self.stats;
        let h = &s.latency;
        let mut out = String::with_capacity(1024);
        out.push('{');
        let _ = write!(
            out,
            "\"url\":{},\"method\":{}",
            quote(&self.url),
            quote(&self.method)
        );
        let _ = write!(
            out,
            ",\"connections\":{},\"threads\":{},\"pipeline\":{},\"rate\":{}",
            self.connections,
            self.threads,
            self.pipeline,
            self.rate.map_or("null".into(), number)
        );
        let t = &self.transport;
        let _ = write!(
            out,
            ",\"protocol\":{},\"tls_version\":{},\"streams\":{},\"new_conn\":{}",
            quote(t.protocol),
            t.tls.map_or("null".into(), quote),
            t.streams,
            t.new_conn
        );
        let _ = write!(
            out,
            ",\"duration_s\":{},\"interrupted\":{}",
            decimals(self.elapsed.as_secs_f64(), 6),
            self.interrupted
        );
        let _ = write!(
            out,
            ",\"requests\":{},\"requests_per_s\":{}",
            s.requests,
            number(self.requests_per_sec())
        );
        let _ = write!(
            out,
            ",\"bytes_read\":{},\"bytes_written\":{},\"bytes_read_per_s\":{}",
            s.bytes_read,
            s.bytes_written,
            number(per_sec(s.bytes_read, self.elapsed))
        );
        let statuses: Vec<String> = s.statuses().map(|(c, n)| format!("\"{c}\":{n}")).collect();
        let _ = write!(out, ",\"status_counts\":{{{}}}", statuses.join(","));
        let errors: Vec<String> = ErrorKind::ALL
            .iter()
            .map(|k| format!("\"{}\":{}", k.name(), s.error_count(*k)))
            .collect();
        let _ = write!(
            out,
            ",\"errors\":{{{}}},\"errors_total\":{},\"reconnects\":{}",
            errors.join(","),
            s.errors_total(),
            s.reconnects
        );
        let empty = h.is_empty();
        let (min, max) = if empty { (0, 0) } else { (h.min(), h.max()) };
        let _ = write!(
            out,
            ",\"latency_us\":{{\"min\":{min},\"mean\":{},\"stdev\":{},\"max\":{max},\"percentiles\":{{",
            number(h.mean()),
            number(h.stdev())
        );
        let pcts: Vec<String> = self
            .percentiles()
            .iter()
            .map(|(l, v)| format!("\"{l}\":{v}"))
            .collect();
        let _ = write!(out, "{}}}}}}}", pcts.join(","));
        out
    }
}

fn per_sec(n: u64, elapsed: Duration) -> f64 {
    let secs = elapsed.as_secs_f64();
    if secs > 0.0 {
        n as f64 / secs
    } else {
        0.0
    }
}

/// A finite number with three decimals at most (JSON has no NaN or infinity: null then).
fn number(x: f64) -> String {
    decimals(x, 3)
}

/// A finite number with `places` decimals at most, trailing zeros dropped; else null.
fn decimals(x: f64, places: usize) -> String {
    if !x.is_finite() {
        return "null".into();
    }
    let s = format!("{x:.places$}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    if s == "-0" {
        "0".into()
    } else {
        s.into()
    }
}

/// A JSON string literal (RFC 8259 §7).
fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report(stats: Stats) -> Report {
        Report {
            url: "http://127.0.0.1:8000/\"q\"".into(),
            method: "GET".into(),
            connections: 8,
            threads: 2,
            pipeline: 1,
            rate: None,
            transport: Transport::default(),
            elapsed: Duration::from_secs(2),
            interrupted: false,
            stats,
        }
    }

    #[test]
    fn percentiles_of_a_known_distribution() {
        let mut a = Stats::default();
        let mut b = Stats::default();
        // 1..=10_000 µs, split over two threads.
        for us in 1..=10_000u64 {
            let s = if us % 2 == 0 { &mut a } else { &mut b };
            s.response(200, Duration::from_micros(us));
        }
        let r = report(Report::merge([a, b]));
        assert_eq!(r.stats.requests, 10_000);
        let p = r.percentiles();
        let expect = [5_000, 7_500, 9_000, 9_900, 9_990, 9_999];
        for ((label, got), want) in p.iter().zip(expect) {
            // Three significant digits: within 0.1 %.
            assert!(
                got.abs_diff(want) * 1000 <= want,
                "p{label}: {got} vs {want}"
            );
        }
        assert_eq!(r.requests_per_sec(), 5_000.0);
    }

    #[test]
    fn json_has_every_field_and_parses_back() {
        let mut s = Stats::default();
        s.response(200, Duration::from_micros(150));
        s.response(200, Duration::from_micros(250));
        s.response(404, Duration::from_micros(350));
        s.errors[ErrorKind::Timeout as usize] = 2;
        s.bytes_read = 300;
        let json = report(s).to_json();
        assert!(json.starts_with(r#"{"url":"http://127.0.0.1:8000/\"q\"","method":"GET","connections":8,"threads":2,"pipeline":1,"rate":null,"protocol":"HTTP/1.1","tls_version":null,"streams":1,"new_conn":false,"duration_s":2,"#), "{json}");
        for needle in [
            r#""requests":3,"requests_per_s":1.5,"#,
            r#""bytes_read":300,"bytes_written":0,"bytes_read_per_s":150,"#,
            r#""status_counts":{"200":2,"404":1}"#,
            r#""errors":{"connect":0,"read":0,"write":0,"timeout":2,"parse":0,"closed":0,"tls":0,"reset":0},"errors_total":2,"reconnects":0"#,
            r#""latency_us":{"min":150,"mean":250,"#,
            r#""max":350,"percentiles":{"50":250,"75":350,"90":350,"99":350,"99.9":350,"99.99":350}}}"#,
        ] {
            assert!(json.contains(needle), "{needle} not in {json}");
        }
        assert_eq!(json.matches('{').count(), json.matches('}').count());
    }

    #[test]
    fn empty_run_is_valid_json() {
        let mut r = report(Stats::default());
        r.rate = Some(2000.0);
        r.transport = Transport {
            protocol: "h2",
            tls: Some("TLSv1.3"),
            streams: 10,
            new_conn: true,
        };
        r.elapsed = Duration::ZERO;
        let json = r.to_json();
        assert!(json.contains(r#""rate":2000,"protocol":"h2","tls_version":"TLSv1.3","streams":10,"new_conn":true,"#), "{json}");
        assert!(
            json.contains(r#""requests":0,"requests_per_s":0,"#),
            "{json}"
        );
        assert!(
            json.contains(r#""latency_us":{"min":0,"mean":0,"stdev":0,"max":0,"#),
            "{json}"
        );
    }

    #[test]
    fn numbers_and_strings() {
        assert_eq!(number(1.5), "1.5");
        assert_eq!(number(76012.34567), "76012.346");
        assert_eq!(number(-0.0001), "0");
        assert_eq!(number(f64::NAN), "null");
        assert_eq!(decimals(0.0355, 6), "0.0355");
        assert_eq!(quote("a\"b\\c\n\u{1}é"), "\"a\\\"b\\\\c\\n\\u0001é\"");
    }
}
