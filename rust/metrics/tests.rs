//! Several registries in one directory standing in for worker processes, scraped and parsed
//! back from the text format.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::Duration;

use super::layout::{self, H_CAPACITY, H_MAGIC, H_VERSION};
use super::{mark_closed, scrape, Registry, ShedReason, TlsFailure};

/// A pid above the kernel's pid_max (at most 2^22): no such process.
const DEAD_PID: u32 = 0x7fff_fff0;

/// A fresh directory, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> TempDir {
        static N: AtomicUsize = AtomicUsize::new(0);
        let n = N.fetch_add(1, Ordering::Relaxed);
        let dir =
            std::env::temp_dir().join(format!("covetpy-metrics-{}-{name}-{n}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }

    fn file(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

type LabelSet = BTreeMap<String, String>;

/// One sample line.
#[derive(Debug)]
struct Sample {
    name: String,
    labels: LabelSet,
    value: f64,
}

/// Parses exposition text, checking its structure: each family has one HELP and one TYPE line
/// before its samples, and its samples are not interleaved with another family's.
fn parse(text: &str) -> Vec<Sample> {
    assert!(text.ends_with('\n'));
    let mut samples = Vec::new();
    let mut families: BTreeMap<String, String> = BTreeMap::new();
    let mut current = String::new();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# HELP ") {
            let name = rest.split(' ').next().unwrap().to_string();
            assert!(!families.contains_key(&name), "second HELP for {name}");
            current = name;
        } else if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest.split_once(' ').unwrap();
            assert_eq!(name, current, "TYPE right after HELP");
            assert!(["counter", "gauge", "histogram"].contains(&kind));
            families.insert(name.to_string(), kind.to_string());
        } else {
            let sample = parse_sample(line);
            let family = match families[&current].as_str() {
                "histogram" => ["_bucket", "_sum", "_count"]
                    .iter()
                    .find_map(|s| sample.name.strip_suffix(s))
                    .unwrap_or_else(|| panic!("histogram sample {line}")),
                _ => sample.name.as_str(),
            };
            assert_eq!(family, current, "sample outside its family: {line}");
            samples.push(sample);
        }
    }
    samples
}

fn parse_sample(line: &str) -> Sample {
    let (head, value) = line.rsplit_once(' ').unwrap();
    let value = match value {
        "+Inf" => f64::INFINITY,
        v => v.parse().unwrap_or_else(|_| panic!("value in {line}")),
    };
    let Some((name, rest)) = head.split_once('{') else {
        return Sample {
            name: head.to_string(),
            labels: LabelSet::new(),
            value,
        };
    };
    let mut labels = LabelSet::new();
    let mut chars = rest.strip_suffix('}').unwrap().chars().peekable();
    while chars.peek().is_some() {
        let key: String = chars.by_ref().take_while(|&c| c != '=').collect();
        assert_eq!(chars.next(), Some('"'));
        let mut v = String::new();
        loop {
            match chars.next().unwrap() {
                '"' => break,
                '\\' => v.push(match chars.next().unwrap() {
                    'n' => '\n',
                    c @ ('\\' | '"') => c,
                    c => panic!("bad escape \\{c} in {line}"),
                }),
                c => v.push(c),
            }
        }
        labels.insert(key, v);
        if chars.peek() == Some(&',') {
            chars.next();
        }
    }
    Sample {
        name: name.to_string(),
        labels,
        value,
    }
}

/// One histogram read back: `(le, cumulative count)` in order, sum, count.
#[derive(Debug, Default)]
struct Parsed {
    buckets: Vec<(f64, f64)>,
    sum: f64,
    count: f64,
}

/// The histograms of family `name` by label set (without `le`): buckets `(le, cumulative)` in
/// order, sum, count. Checks that buckets are cumulative and end at +Inf, and count == +Inf.
fn histograms(samples: &[Sample], name: &str) -> BTreeMap<LabelSet, Parsed> {
    let mut out: BTreeMap<LabelSet, Parsed> = BTreeMap::new();
    for s in samples {
        let Some(suffix) = s.name.strip_prefix(name) else {
            continue;
        };
        let mut labels = s.labels.clone();
        let le = labels.remove("le");
        let entry = out.entry(labels).or_default();
        match (suffix, le) {
            ("_bucket", Some(le)) => {
                let le = if le == "+Inf" {
                    f64::INFINITY
                } else {
                    le.parse().unwrap()
                };
                entry.buckets.push((le, s.value));
            }
            ("_sum", None) => entry.sum = s.value,
            ("_count", None) => entry.count = s.value,
            _ => panic!("unexpected sample {s:?}"),
        }
    }
    for (labels, Parsed { buckets, count, .. }) in &out {
        assert!(
            buckets
                .windows(2)
                .all(|w| w[0].0 < w[1].0 && w[0].1 <= w[1].1),
            "{labels:?} not cumulative"
        );
        assert_eq!(
            buckets.last().unwrap(),
            &(f64::INFINITY, *count),
            "{labels:?}: _count != +Inf bucket"
        );
    }
    out
}

fn value(samples: &[Sample], name: &str, labels: &[(&str, &str)]) -> f64 {
    let want: LabelSet = labels
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    samples
        .iter()
        .find(|s| s.name == name && s.labels == want)
        .map_or(0.0, |s| s.value)
}

fn scrape_parsed(dir: &Path) -> Vec<Sample> {
    parse(&scrape(dir).unwrap())
}

fn routes(names: &[&str]) -> Vec<String> {
    names.iter().map(|s| s.to_string()).collect()
}

/// The `i`-th request of the concurrent test: spread over routes (and none), methods (and an
/// unknown one), statuses and every bucket including +Inf.
fn request(i: u64) -> (Option<usize>, &'static [u8], u16, Duration, u64, u64) {
    let route = [Some(0), Some(1), None][(i % 3) as usize];
    let method: &[u8] = [&b"GET"[..], b"POST", b"BREW"][(i / 3 % 3) as usize];
    let status = [200, 404][(i / 9 % 2) as usize];
    let duration = Duration::from_micros(i * 7919 % 20_000_000);
    (
        route,
        method,
        status,
        duration,
        i * 131 % 100_000,
        i * 977 % 30_000_000,
    )
}

#[test]
fn workers_sum_exactly_while_written_concurrently() {
    const THREADS: u64 = 4;
    const PER_THREAD: u64 = 3000;
    let dir = TempDir::new("sum");
    let table = routes(&["/users/{id}", "/items"]);
    let workers = [
        Arc::new(Registry::create_at(&dir.file("covetpy-1.metrics"), &table).unwrap()),
        Arc::new(Registry::create_at(&dir.file("covetpy-2.metrics"), &table).unwrap()),
    ];
    let done = Arc::new(AtomicBool::new(false));
    // Scrapes while the workers write: every intermediate output must be well-formed.
    let reader = {
        let (dir, done) = (dir.0.clone(), done.clone());
        thread::spawn(move || {
            let mut scrapes = 0;
            while !done.load(Ordering::Acquire) || scrapes == 0 {
                let samples = scrape_parsed(&dir);
                histograms(&samples, "http_server_request_duration_seconds");
                histograms(&samples, "http_server_response_body_size_bytes");
                scrapes += 1;
            }
        })
    };
    let writers: Vec<_> = (0..THREADS * 2)
        .map(|t| {
            let registry = workers[(t % 2) as usize].clone();
            thread::spawn(move || {
                for i in t * PER_THREAD..(t + 1) * PER_THREAD {
                    let (route, method, status, duration, req, resp) = request(i);
                    registry.record(route, method, status, duration, req, resp);
                }
            })
        })
        .collect();
    writers.into_iter().for_each(|w| w.join().unwrap());
    done.store(true, Ordering::Release);
    reader.join().unwrap();

    // What the text must say, computed from the requests and the bounds printed in it.
    let mut expected: BTreeMap<LabelSet, Vec<(Duration, u64, u64)>> = BTreeMap::new();
    for i in 0..THREADS * 2 * PER_THREAD {
        let (route, method, status, duration, req, resp) = request(i);
        let mut labels = LabelSet::new();
        let method = if method == b"BREW" {
            "_OTHER"
        } else {
            std::str::from_utf8(method).unwrap()
        };
        labels.insert("http_request_method".into(), method.into());
        labels.insert("http_response_status_code".into(), status.to_string());
        if let Some(r) = route {
            labels.insert("http_route".into(), table[r].clone());
        }
        expected
            .entry(labels)
            .or_default()
            .push((duration, req, resp));
    }
    let samples = scrape_parsed(&dir.0);
    let durations = histograms(&samples, "http_server_request_duration_seconds");
    let requests = histograms(&samples, "http_server_request_body_size_bytes");
    let responses = histograms(&samples, "http_server_response_body_size_bytes");
    assert_eq!(durations.len(), 3 * 3 * 2);
    assert_eq!(
        durations.keys().collect::<Vec<_>>(),
        expected.keys().collect::<Vec<_>>()
    );
    for (labels, reqs) in &expected {
        let Parsed {
            buckets,
            sum,
            count,
        } = &durations[labels];
        assert_eq!(*count, reqs.len() as f64);
        for &(le, n) in buckets {
            let within = reqs
                .iter()
                .filter(|r| r.0.as_nanos() as f64 / 1e9 <= le)
                .count();
            assert_eq!(n, within as f64, "{labels:?} le={le}");
        }
        let secs: f64 = reqs.iter().map(|r| r.0.as_secs_f64()).sum();
        assert!((sum - secs).abs() <= secs * 1e-9, "{sum} vs {secs}");
        for (hists, size) in [(&requests, 1), (&responses, 2)] {
            let Parsed {
                buckets,
                sum,
                count,
            } = &hists[labels];
            let sizes: Vec<u64> = reqs
                .iter()
                .map(|r| if size == 1 { r.1 } else { r.2 })
                .collect();
            assert_eq!(*count, sizes.len() as f64);
            assert_eq!(*sum, sizes.iter().sum::<u64>() as f64);
            for &(le, n) in buckets {
                assert_eq!(n, sizes.iter().filter(|&&s| s as f64 <= le).count() as f64);
            }
        }
    }
    assert_eq!(
        value(&samples, "covetpy_metrics_series_overflow_total", &[]),
        0.0
    );
}

#[test]
fn dead_workers_keep_counters_and_lose_gauges() {
    let dir = TempDir::new("dead");
    let table = routes(&["/users/{id}"]);
    let live = Registry::create_at(&dir.file("covetpy-10.metrics"), &table).unwrap();
    let dead = Registry::open(
        &dir.file("covetpy-11.metrics"),
        &table,
        layout::CAPACITY,
        DEAD_PID,
    )
    .unwrap();
    let closing = Registry::create_at(&dir.file("covetpy-12.metrics"), &table).unwrap();
    let ms = Duration::from_millis(1);
    for r in [&live, &dead, &dead, &closing] {
        r.record(Some(0), b"GET", 200, ms, 0, 10);
    }
    live.active_inc();
    dead.active_inc();
    dead.active_inc();
    closing.active_inc();
    dead.timeout();
    let labels = [
        ("http_request_method", "GET"),
        ("http_response_status_code", "200"),
        ("http_route", "/users/{id}"),
    ];

    let samples = scrape_parsed(&dir.0);
    assert_eq!(
        value(&samples, "http_server_active_requests", &[]),
        2.0,
        "live + closing, not dead"
    );
    assert_eq!(
        value(
            &samples,
            "http_server_request_duration_seconds_count",
            &labels
        ),
        4.0
    );
    assert_eq!(value(&samples, "covetpy_request_timeouts_total", &[]), 1.0);

    // A clean exit marks the file closed: its gauge goes, its counts stay.
    drop(closing);
    drop(dead);
    let samples = scrape_parsed(&dir.0);
    assert_eq!(value(&samples, "http_server_active_requests", &[]), 1.0);
    assert_eq!(
        value(
            &samples,
            "http_server_request_duration_seconds_count",
            &labels
        ),
        4.0
    );

    live.active_dec();
    assert_eq!(
        value(&scrape_parsed(&dir.0), "http_server_active_requests", &[]),
        0.0
    );
}

#[test]
fn a_dead_workers_file_marked_closed_loses_its_gauge_even_if_its_pid_is_reused() {
    let dir = TempDir::new("mark-closed");
    // A worker that died without closing its file, whose pid now belongs to a live process
    // (this test's own): the scrape would count its in-flight request forever.
    let pid = std::process::id();
    let path = dir.file(&format!("covetpy-{pid}.metrics"));
    let crashed = Registry::open(&path, &["/a".to_string()], 8, pid).unwrap();
    crashed.active_inc();
    crashed.record(Some(0), b"GET", 200, Duration::from_millis(1), 0, 2);
    std::mem::forget(crashed); // no drop: as if the process had been killed
    let active = |d: &Path| value(&scrape_parsed(d), "http_server_active_requests", &[]);
    assert_eq!(active(&dir.0), 1.0);
    assert!(mark_closed(&dir.0, pid).unwrap());
    assert_eq!(active(&dir.0), 0.0);
    let labels = [
        ("http_request_method", "GET"),
        ("http_response_status_code", "200"),
        ("http_route", "/a"),
    ];
    let count = "http_server_request_duration_seconds_count";
    assert_eq!(
        value(&scrape_parsed(&dir.0), count, &labels),
        1.0,
        "counts stay"
    );
    // No file for that pid, or a file of another pid under its name: nothing is touched.
    assert!(!mark_closed(&dir.0, DEAD_PID).unwrap());
    let other = dir.file(&format!("covetpy-{DEAD_PID}.metrics"));
    fs::copy(&path, &other).unwrap();
    assert!(
        !mark_closed(&dir.0, DEAD_PID).unwrap(),
        "the header names another pid"
    );
}

#[test]
fn full_table_overflows_into_one_unlabelled_series() {
    let dir = TempDir::new("overflow");
    let r = Registry::open(&dir.file("covetpy-30.metrics"), &[], 8, std::process::id()).unwrap();
    for status in 200..220 {
        r.record(None, b"GET", status, Duration::from_millis(3), 1, 1);
    }
    // Series that found a slot keep it.
    r.record(None, b"GET", 200, Duration::from_millis(3), 1, 1);
    r.record(None, b"GET", 207, Duration::from_millis(3), 1, 1);

    let samples = scrape_parsed(&dir.0);
    assert_eq!(
        value(&samples, "covetpy_metrics_series_overflow_total", &[]),
        12.0
    );
    let durations = histograms(&samples, "http_server_request_duration_seconds");
    assert_eq!(durations.len(), 8 + 1);
    let overflow: LabelSet = [("otel_metric_overflow".to_string(), "true".to_string())].into();
    assert_eq!(durations[&overflow].count, 12.0);
    assert_eq!(durations.values().map(|h| h.count).sum::<f64>(), 22.0);
    fn status(s: &str) -> [(&str, &str); 2] {
        [
            ("http_request_method", "GET"),
            ("http_response_status_code", s),
        ]
    }
    assert_eq!(
        value(
            &samples,
            "http_server_request_duration_seconds_count",
            &status("200")
        ),
        2.0
    );
    assert_eq!(
        value(
            &samples,
            "http_server_request_duration_seconds_count",
            &status("207")
        ),
        2.0
    );
    assert_eq!(
        value(
            &samples,
            "http_server_request_duration_seconds_count",
            &status("208")
        ),
        0.0
    );
    assert_eq!(
        histograms(&samples, "http_server_request_body_size_bytes")[&overflow].count,
        12.0
    );
}

#[test]
fn route_labels_are_escaped() {
    let dir = TempDir::new("escape");
    let tricky = "/a\"b\\c\nd/{ü}";
    let r = Registry::create_at(&dir.file("covetpy-40.metrics"), &routes(&[tricky])).unwrap();
    r.record(Some(0), b"PATCH", 201, Duration::ZERO, 0, 0);
    let text = scrape(&dir.0).unwrap();
    assert!(
        text.contains(r#"http_route="/a\"b\\c\nd/{ü}",le="0.005"} 1"#),
        "{text}"
    );
    let samples = parse(&text);
    let labels = [
        ("http_request_method", "PATCH"),
        ("http_response_status_code", "201"),
        ("http_route", tricky),
    ];
    assert_eq!(
        value(
            &samples,
            "http_server_request_duration_seconds_count",
            &labels
        ),
        1.0
    );
}

#[test]
fn unfinished_damaged_and_foreign_files_are_skipped() {
    let dir = TempDir::new("damaged");
    let good = dir.file("covetpy-50.metrics");
    let r = Registry::create_at(&good, &routes(&["/"])).unwrap();
    for _ in 0..3 {
        r.record(Some(0), b"GET", 200, Duration::from_millis(1), 0, 0);
    }
    let bytes = fs::read(&good).unwrap();
    let with_word = |word: usize, value: u64| {
        let mut b = bytes.clone();
        b[word * 8..word * 8 + 8].copy_from_slice(&value.to_ne_bytes());
        b
    };
    let files: [(&str, Vec<u8>); 9] = [
        ("covetpy-51.metrics", Vec::new()),
        // Created and sized, header not written yet.
        ("covetpy-52.metrics", vec![0; 4096]),
        // Cut short: the header promises more than the file holds.
        ("covetpy-53.metrics", bytes[..bytes.len() / 2].to_vec()),
        ("covetpy-54.metrics", with_word(H_VERSION, 99)),
        // The previous layout (a 512-byte header): its route table is elsewhere.
        ("covetpy-58.metrics", with_word(H_VERSION, 2)),
        (
            "covetpy-55.metrics",
            with_word(H_MAGIC, u64::from_le_bytes(*b"NotOurs!")),
        ),
        ("covetpy-56.metrics", with_word(H_CAPACITY, 3)),
        // Valid, but not named like a metrics file: never read.
        ("covetpy-.metrics", bytes.clone()),
        (".covetpy-50.metrics.tmp", bytes.clone()),
    ];
    for (name, content) in files {
        fs::write(dir.file(name), content).unwrap();
    }
    fs::create_dir(dir.file("covetpy-57.metrics")).unwrap();

    let samples = scrape_parsed(&dir.0);
    let labels = [
        ("http_request_method", "GET"),
        ("http_response_status_code", "200"),
        ("http_route", "/"),
    ];
    assert_eq!(
        value(
            &samples,
            "http_server_request_duration_seconds_count",
            &labels
        ),
        3.0
    );
    assert_eq!(
        histograms(&samples, "http_server_request_duration_seconds").len(),
        1
    );
}

#[test]
fn shed_timeouts_and_gil_wait_sum_across_workers() {
    let dir = TempDir::new("shed");
    let a = Registry::create_at(&dir.file("covetpy-60.metrics"), &[]).unwrap();
    let b = Registry::create_at(&dir.file("covetpy-61.metrics"), &[]).unwrap();
    for (n, reason) in ShedReason::ALL.into_iter().enumerate() {
        for _ in 0..=n {
            a.shed(reason);
            b.shed(reason);
        }
    }
    a.timeout();
    b.timeout();
    a.gil_wait(Duration::from_micros(10));
    b.gil_wait(Duration::from_micros(11));
    b.gil_wait(Duration::from_secs(2));

    let samples = scrape_parsed(&dir.0);
    for (n, reason) in ShedReason::ALL.into_iter().enumerate() {
        let got = value(
            &samples,
            "covetpy_requests_shed_total",
            &[("reason", reason.label())],
        );
        assert_eq!(got, 2.0 * (n + 1) as f64, "{reason:?}");
    }
    assert_eq!(value(&samples, "covetpy_request_timeouts_total", &[]), 2.0);
    let gil = &histograms(&samples, "covetpy_gil_wait_seconds")[&LabelSet::new()];
    assert_eq!(gil.buckets[0], (0.00001, 1.0), "10 µs is within le=0.00001");
    assert_eq!(gil.buckets[1], (0.000025, 2.0));
    assert_eq!(gil.buckets[gil.buckets.len() - 2], (1.0, 2.0));
    assert_eq!(gil.count, 3.0);
    assert!((gil.sum - 2.000021).abs() < 1e-12);
}

#[test]
fn tls_failures_sum_across_workers_by_reason() {
    let dir = TempDir::new("tls");
    let a = Registry::create_at(&dir.file("covetpy-70.metrics"), &[]).unwrap();
    let b = Registry::create_at(&dir.file("covetpy-71.metrics"), &[]).unwrap();
    // Every reason but the last: n + 1 in one worker, 10 more in the other for even n.
    let counted = &TlsFailure::ALL[..TlsFailure::ALL.len() - 1];
    let expected = |n: usize| {
        if n < counted.len() {
            n + 1 + 10 * usize::from(n.is_multiple_of(2))
        } else {
            0
        }
    };
    for (n, &reason) in counted.iter().enumerate() {
        for _ in 0..=n {
            a.tls_failure(reason);
        }
        if n % 2 == 0 {
            for _ in 0..10 {
                b.tls_failure(reason);
            }
        }
    }
    // Other counters are untouched.
    a.shed(ShedReason::QueueFull);

    let text = scrape(&dir.0).unwrap();
    let samples = parse(&text);
    for (n, reason) in TlsFailure::ALL.into_iter().enumerate() {
        let got = value(
            &samples,
            "covetpy_tls_handshake_failures_total",
            &[("reason", reason.label())],
        );
        assert_eq!(got, expected(n) as f64, "{reason:?}");
    }
    assert_eq!(
        value(
            &samples,
            "covetpy_requests_shed_total",
            &[("reason", "queue_full")]
        ),
        1.0
    );
    let mut family = String::from(
        "# HELP covetpy_tls_handshake_failures_total TLS handshakes that failed, by reason.\n\
         # TYPE covetpy_tls_handshake_failures_total counter\n",
    );
    for (n, reason) in TlsFailure::ALL.into_iter().enumerate() {
        family.push_str(&format!(
            "covetpy_tls_handshake_failures_total{{reason=\"{}\"}} {}\n",
            reason.label(),
            expected(n)
        ));
    }
    assert!(text.contains(&family), "{text}");
    assert!(text.contains("covetpy_tls_handshake_failures_total{reason=\"other\"} 0\n"));
}

#[test]
fn tls_failure_reasons_are_distinct_and_in_file_order() {
    let labels: Vec<&str> = TlsFailure::ALL.iter().map(|r| r.label()).collect();
    assert_eq!(
        labels,
        [
            "timeout",
            "not_tls",
            "bad_certificate",
            "no_certificate",
            "protocol_version",
            "no_alpn",
            "other"
        ]
    );
    for (i, reason) in TlsFailure::ALL.into_iter().enumerate() {
        assert_eq!(reason as usize, i, "{reason:?}");
    }
}

#[test]
fn empty_directory_renders_zeros_and_missing_directory_fails() {
    let dir = TempDir::new("empty");
    let samples = scrape_parsed(&dir.0);
    assert_eq!(value(&samples, "http_server_active_requests", &[]), 0.0);
    assert_eq!(value(&samples, "covetpy_gil_wait_seconds_count", &[]), 0.0);
    let tls: Vec<_> = samples
        .iter()
        .filter(|s| s.name == "covetpy_tls_handshake_failures_total")
        .map(|s| (s.labels["reason"].as_str(), s.value))
        .collect();
    let zeros: Vec<_> = TlsFailure::ALL.iter().map(|r| (r.label(), 0.0)).collect();
    assert_eq!(tls, zeros, "every reason, zeros included");
    assert!(histograms(&samples, "http_server_request_duration_seconds").is_empty());
    assert!(scrape(&dir.file("missing")).is_err());
}

#[test]
fn create_names_the_file_after_the_pid() {
    let dir = TempDir::new("create");
    let r = Registry::create(&dir.0, &routes(&["/x"])).unwrap();
    let name = format!("covetpy-{}.metrics", std::process::id());
    let files: Vec<_> = fs::read_dir(&dir.0)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(
        files,
        [std::ffi::OsString::from(name)],
        "no temporary file left behind"
    );
    r.record(Some(0), b"DELETE", 204, Duration::from_millis(1), 0, 0);
    let labels = [
        ("http_request_method", "DELETE"),
        ("http_response_status_code", "204"),
        ("http_route", "/x"),
    ];
    assert_eq!(
        value(
            &scrape_parsed(&dir.0),
            "http_server_request_duration_seconds_count",
            &labels
        ),
        1.0
    );
}

#[test]
fn registry_is_shared_by_io_threads() {
    fn shareable<T: Send + Sync>() {}
    shareable::<Registry>();
}
