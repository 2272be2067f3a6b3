//! The load generator behind `covetpy bench`: HTTP/1.1 or HTTP/2 keep-alive connections, plain
//! or TLS, spread over OS threads, each a current-thread tokio runtime; latencies in an
//! HdrHistogram; closed-loop (wrk) or constant-rate (wrk2, corrected for coordinated omission)
//! pacing. No pyo3 here: `bridge/bench.rs` is the Python edge.
//!
//! [`run`] resolves the target, encodes the request once, checks a TLS handshake, starts the
//! threads, prints the progress line while they work and merges what they recorded into a
//! [`Report`]. Per connection: `conn.rs` (HTTP/1.1), `h2_conn.rs` (HTTP/2), `fresh.rs` (one
//! request per connection, `--new-conn`), all opened by `dial.rs` (TCP, then `tls.rs`).
//! [`run_ws_until`] does the same for `ws://` URLs (WebSocket echo and subscribe, `ws*.rs`).

mod budget;
mod conn;
mod dial;
mod fresh;
mod h2_conn;
mod progress;
mod rate;
mod report;
mod response;
mod stats;
mod target;
mod timer;
mod tls;
mod worker;
mod ws;
mod ws_conn;
mod ws_frame;
mod ws_handshake;

use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

pub use progress::grouped;
pub use report::{Report, Transport, PERCENTILES};
pub use stats::{ErrorKind, Stats};
pub use target::{RequestSpec, Target};
pub use tls::TlsOptions;
pub use ws::{run_ws_until, Publish, WsMode, WsReport, WsSpec};

use dial::Dialer;
use fresh::Exchange;
use progress::Progress;
use stats::Live;
use worker::{Common, Job, Share};

/// How often the coordinating thread checks for an interrupt.
const POLL: Duration = Duration::from_millis(100);

/// What to run.
#[derive(Debug, Clone)]
pub struct Options {
    /// `http[s]://host[:port]/path`.
    pub url: String,
    /// Connections kept open at once.
    pub connections: usize,
    /// OS threads, each with its own runtime (at most one per connection).
    pub threads: usize,
    /// Stop after this long (`-d`).
    pub duration: Option<Duration>,
    /// Stop after this many requests (`-n`); with `duration` too, whichever comes first.
    pub requests: Option<u64>,
    /// Requests per second for all connections together (`--rate`); closed loop if `None`.
    pub rate: Option<f64>,
    /// Requests outstanding at most per connection, written together (`--pipeline`).
    pub pipeline: usize,
    /// HTTP/2 (`--h2`): prior knowledge (h2c) for `http://`, ALPN `h2` for `https://`.
    pub h2: bool,
    /// Streams in flight at most per HTTP/2 connection (`--streams`).
    pub streams: usize,
    /// Every request on a new connection, closed after it (`--new-conn`).
    pub new_conn: bool,
    /// How an `https://` server's certificate is checked.
    pub tls: TlsOptions,
    /// Method, headers and body.
    pub request: RequestSpec,
    /// Connect timeout, and how long outstanding requests may go without an answer byte.
    pub timeout: Duration,
    /// Print the progress line on stderr.
    pub progress: bool,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            url: String::new(),
            connections: 64,
            threads: 1,
            duration: None,
            requests: None,
            rate: None,
            pipeline: 1,
            h2: false,
            streams: 1,
            new_conn: false,
            tls: TlsOptions::default(),
            request: RequestSpec {
                method: "GET".into(),
                headers: Vec::new(),
                body: Vec::new(),
            },
            timeout: Duration::from_secs(5),
            progress: true,
        }
    }
}

/// Why a run could not start.
#[derive(Debug)]
pub enum BenchError {
    /// An option or the URL is not usable; the message says which and why.
    Invalid(String),
    /// The system refused something the run needs (name resolution, a thread, a runtime).
    Io(String, std::io::Error),
}

impl std::fmt::Display for BenchError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            BenchError::Invalid(msg) | BenchError::Io(msg, _) => f.write_str(msg),
        }
    }
}

impl std::error::Error for BenchError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            BenchError::Invalid(_) => None,
            BenchError::Io(_, e) => Some(e),
        }
    }
}

impl Options {
    fn validate(&self) -> Result<(), BenchError> {
        let bad = |msg: &str| Err(BenchError::Invalid(msg.into()));
        if self.connections == 0 {
            return bad("connections must be at least 1");
        }
        if self.threads == 0 {
            return bad("threads must be at least 1");
        }
        if self.pipeline == 0 {
            return bad("pipeline must be at least 1");
        }
        if self.requests == Some(0) {
            return bad("requests must be at least 1");
        }
        if self.duration.is_some_and(|d| d.is_zero()) {
            return bad("duration must be positive");
        }
        if self.duration.is_none() && self.requests.is_none() {
            return bad("give a duration or a number of requests");
        }
        if self.rate.is_some_and(|r| !(r.is_finite() && r > 0.0)) {
            return bad("rate must be a positive number of requests per second");
        }
        if self.timeout.is_zero() {
            return bad("timeout must be positive");
        }
        if self.streams == 0 {
            return bad("streams must be at least 1");
        }
        if self.streams > 1 && !self.h2 {
            return bad("--streams is for HTTP/2 (--h2); HTTP/1.1 pipelines with --pipeline");
        }
        if self.h2 && self.pipeline > 1 {
            return bad("--pipeline is HTTP/1.1 pipelining; with --h2 use --streams");
        }
        if self.new_conn && (self.pipeline > 1 || self.streams > 1) {
            return bad("--new-conn sends one request per connection: no --pipeline or --streams");
        }
        let target = Target::parse(&self.url)?;
        if target.websocket && (self.h2 || self.new_conn) {
            return bad("--h2 and --new-conn are for http:// and https:// URLs");
        }
        if !target.tls && self.tls.is_set() {
            return bad("--insecure and --cacert are for https:// URLs");
        }
        Ok(())
    }

    /// The protocol as the report names it.
    fn protocol(&self, target: &Target) -> &'static str {
        match (self.h2, target.tls) {
            (false, _) => "HTTP/1.1",
            (true, true) => "h2",
            (true, false) => "h2c",
        }
    }

    /// What every connection of a thread does.
    fn job(&self, dialer: Dialer, target: &Target, h1: &[u8]) -> Result<Job, BenchError> {
        let head_only = self.request.method == "HEAD";
        let h2 = || h2_conn::Plan::new(dialer.clone(), &self.request, target, self.streams);
        let h1 = || conn::Plan::new(dialer.clone(), h1, self.pipeline, head_only);
        Ok(match (self.new_conn, self.h2) {
            (false, false) => Job::H1(h1()),
            (false, true) => Job::H2(h2()?),
            (true, false) => Job::Fresh(Exchange::H1(h1())),
            (true, true) => Job::Fresh(Exchange::H2(h2()?)),
        })
    }
}

/// The HTTP/1.1 request bytes: with `--new-conn`, asking the server to close after its
/// answer (fresh.rs says why), unless the caller set `Connection` itself.
fn h1_request(opts: &Options, target: &Target) -> Result<Vec<u8>, BenchError> {
    let given = |name: &str| {
        opts.request
            .headers
            .iter()
            .any(|(n, _)| n.eq_ignore_ascii_case(name))
    };
    if opts.new_conn && !given("connection") {
        let mut spec = opts.request.clone();
        spec.headers.push(("connection".into(), "close".into()));
        return spec.encode(target);
    }
    opts.request.encode(target)
}

/// Runs the benchmark to the end.
pub fn run(opts: &Options) -> Result<Report, BenchError> {
    run_until(opts, || false)
}

/// Runs the benchmark; `interrupted` is asked every 100 ms and stops the run early when it
/// says so (the Python edge passes a check for Ctrl-C). The report then covers what was done.
pub fn run_until(
    opts: &Options,
    mut interrupted: impl FnMut() -> bool,
) -> Result<Report, BenchError> {
    opts.validate()?;
    let target = Target::parse(&opts.url)?;
    if target.websocket {
        return Err(BenchError::Invalid(format!(
            "{}: a ws:// URL is a WebSocket run (run_ws_until)",
            opts.url
        )));
    }
    let request = h1_request(opts, &target)?;
    let addr = target.resolve(opts.timeout)?;
    let (dialer, tls_version) = Dialer::for_run(opts, &target, addr)?;
    let threads = opts.threads.min(opts.connections);

    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let (done_tx, done_rx) = mpsc::channel::<()>();
    let lives: Vec<Arc<Live>> = (0..threads).map(|_| Arc::new(Live::default())).collect();
    let conns = split(opts.connections as u64, &vec![1; threads]);
    let budgets: Vec<Option<u64>> = match opts.requests {
        Some(n) => split(n, &conns).into_iter().map(Some).collect(),
        None => vec![None; threads],
    };
    let start = Instant::now();
    let common = Common {
        start,
        deadline: opts.duration.map(|d| start + d),
        rate: opts.rate,
        total_conns: opts.connections,
    };
    let mut handles = Vec::with_capacity(threads);
    let mut first_conn = 0;
    for t in 0..threads {
        let share = Share {
            first_conn,
            conns: conns[t] as usize,
            requests: budgets[t],
        };
        first_conn += share.conns;
        let job = opts.job(dialer.clone(), &target, &request)?;
        let (common, stop, live, done) = (
            common.clone(),
            stop_rx.clone(),
            lives[t].clone(),
            done_tx.clone(),
        );
        let handle = std::thread::Builder::new()
            .name(format!("covetpy-bench-{t}"))
            .spawn(move || {
                let result = worker::run(job, share, common, stop, live);
                let _ = done.send(());
                result
            })
            .map_err(|e| BenchError::Io(format!("cannot start a load thread: {e}"), e))?;
        handles.push(handle);
    }
    drop(done_tx);

    let mut progress = opts.progress.then(|| Progress::new(start));
    let mut next_tick = start + Duration::from_secs(1);
    let mut was_interrupted = false;
    let mut finished = 0;
    while finished < threads {
        let now = Instant::now();
        let wait = next_tick.saturating_duration_since(now).min(POLL);
        match done_rx.recv_timeout(wait) {
            Ok(()) => finished += 1,
            Err(mpsc::RecvTimeoutError::Timeout) => {}
            Err(mpsc::RecvTimeoutError::Disconnected) => break,
        }
        if !was_interrupted && interrupted() {
            was_interrupted = true;
            stop_tx.send_replace(true);
        }
        let now = Instant::now();
        if now >= next_tick && finished < threads {
            if let Some(p) = progress.as_mut() {
                let requests = lives.iter().map(|l| l.requests()).sum();
                let errors = lives.iter().map(|l| l.errors()).sum();
                p.tick(now, requests, errors);
            }
            next_tick += Duration::from_secs(1);
        }
    }
    if let Some(p) = &progress {
        p.finish();
    }

    let mut parts = Vec::with_capacity(threads);
    let mut end = start;
    for handle in handles {
        let (stats, ended) = handle
            .join()
            .map_err(|_| BenchError::Invalid("a load thread panicked".into()))?
            .map_err(|e| BenchError::Io(format!("cannot start a tokio runtime: {e}"), e))?;
        end = end.max(ended);
        parts.push(stats);
    }
    drop(stop_tx);
    Ok(Report {
        url: opts.url.clone(),
        method: opts.request.method.clone(),
        connections: opts.connections,
        threads,
        pipeline: opts.pipeline,
        rate: opts.rate,
        transport: Transport {
            protocol: opts.protocol(&target),
            tls: tls_version,
            streams: if opts.h2 { opts.streams } else { 1 },
            new_conn: opts.new_conn,
        },
        elapsed: end - start,
        interrupted: was_interrupted,
        stats: Report::merge(parts),
    })
}

/// Splits `n` in proportion to `weights`; the remainder goes one each to the first parts.
fn split(n: u64, weights: &[u64]) -> Vec<u64> {
    let total: u64 = weights.iter().sum();
    let mut parts: Vec<u64> = weights
        .iter()
        .map(|w| (u128::from(n) * u128::from(*w) / u128::from(total)) as u64)
        .collect();
    let mut left = n - parts.iter().sum::<u64>();
    for p in parts.iter_mut() {
        if left == 0 {
            break;
        }
        *p += 1;
        left -= 1;
    }
    parts
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_is_exact_and_proportional() {
        assert_eq!(split(64, &[1, 1, 1]), [22, 21, 21]);
        assert_eq!(split(7, &[2, 2, 1]), [3, 3, 1]);
        assert_eq!(split(2000, &[4, 4]), [1000, 1000]);
        assert_eq!(split(1, &[1, 1]), [1, 0]);
    }

    fn opts(url: &str) -> Options {
        Options {
            url: url.into(),
            requests: Some(10),
            progress: false,
            ..Options::default()
        }
    }

    #[test]
    fn invalid_options_are_refused_before_anything_starts() {
        let cases = [
            Options {
                connections: 0,
                ..opts("http://127.0.0.1:1/")
            },
            Options {
                threads: 0,
                ..opts("http://127.0.0.1:1/")
            },
            Options {
                pipeline: 0,
                ..opts("http://127.0.0.1:1/")
            },
            Options {
                requests: Some(0),
                ..opts("http://127.0.0.1:1/")
            },
            Options {
                requests: None,
                ..opts("http://127.0.0.1:1/")
            },
            Options {
                rate: Some(0.0),
                ..opts("http://127.0.0.1:1/")
            },
            Options {
                rate: Some(f64::NAN),
                ..opts("http://127.0.0.1:1/")
            },
            Options {
                duration: Some(Duration::ZERO),
                ..opts("http://127.0.0.1:1/")
            },
            Options {
                streams: 0,
                ..opts("http://127.0.0.1:1/")
            },
            Options {
                streams: 4,
                ..opts("http://127.0.0.1:1/")
            },
            Options {
                h2: true,
                pipeline: 4,
                ..opts("http://127.0.0.1:1/")
            },
            Options {
                new_conn: true,
                h2: true,
                streams: 4,
                ..opts("http://127.0.0.1:1/")
            },
            Options {
                new_conn: true,
                pipeline: 2,
                ..opts("http://127.0.0.1:1/")
            },
            Options {
                tls: TlsOptions {
                    insecure: true,
                    cacert: None,
                },
                ..opts("http://127.0.0.1:1/")
            },
            Options {
                tls: TlsOptions {
                    insecure: true,
                    cacert: Some("ca.pem".into()),
                },
                ..opts("https://127.0.0.1:1/")
            },
            Options {
                h2: true,
                ..opts("ws://127.0.0.1:1/")
            },
            opts("wss://127.0.0.1/"),
        ];
        for o in cases {
            assert!(matches!(run(&o), Err(BenchError::Invalid(_))), "{o:?}");
        }
    }

    #[test]
    fn requests_are_shared_exactly_across_threads() {
        // Nothing listens: every request fails to connect, and exactly n are attempted.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let o = Options {
            connections: 5,
            threads: 3,
            requests: Some(7),
            timeout: Duration::from_secs(1),
            ..opts(&format!("http://127.0.0.1:{port}/"))
        };
        let report = run(&o).unwrap();
        assert_eq!(report.threads, 3);
        assert_eq!(report.stats.requests, 0);
        assert_eq!(report.stats.error_count(ErrorKind::Connect), 7);
    }
}
