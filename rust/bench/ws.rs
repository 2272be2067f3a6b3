//! `covetpy bench ws://…`: WebSocket loads over the same threads, pacing, histogram, progress
//! line and JSON as the HTTP mode.
//!
//! - `echo`: every socket sends messages and times each echo, keeping up to a window in
//!   flight (`--pipeline`), closed loop or at a constant total rate (`--rate`, latency from
//!   the intended send time as in the HTTP mode).
//! - `subscribe`: every socket only receives and counts deliveries; the publisher is another
//!   program, or one more socket of the bench (`--publish-rate`) whose messages carry a
//!   timestamp, so each delivery's latency is known.
//!
//! The measured part starts once every socket is open (or after `--timeout` of waiting): a
//! thousand upgrades take a while and are not what a broadcast figure is about.

use std::rc::Rc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

use tokio::sync::watch;
use tokio::task::{JoinSet, LocalSet};

use super::budget::Budget;
use super::progress::Progress;
use super::report::{Report, Transport};
use super::stats::Stats;
use super::target::Target;
use super::timer::Pacer;
use super::ws_conn::{
    echo, publish, stamp_len, subscribe, EchoSocket, Gate, WsLive, WsPlan, WsRecorder,
};
use super::{split, BenchError, Options, POLL};

pub use super::ws_conn::Publish;

/// What a WebSocket run does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WsMode {
    /// Send and time echoes.
    Echo,
    /// Only receive (and, with a publisher, publish from one more socket).
    Subscribe,
}

/// The WebSocket part of [`Options`] (the rest is shared with the HTTP mode: connections,
/// threads, duration, `-n` as messages, rate, pipeline as the window, timeout).
#[derive(Debug, Clone)]
pub struct WsSpec {
    /// Echo or subscribe.
    pub mode: WsMode,
    /// Bytes per message sent (echo messages, published messages).
    pub message_size: usize,
    /// Binary messages rather than text.
    pub binary: bool,
    /// Subscribe mode: the bench publishes (and how), or `None` for an outside publisher.
    pub publish: Option<Publish>,
}

impl Default for WsSpec {
    fn default() -> Self {
        WsSpec {
            mode: WsMode::Echo,
            message_size: 1024,
            binary: false,
            publish: None,
        }
    }
}

/// A WebSocket run's report: the HTTP mode's, with messages in place of requests, plus what
/// only WebSocket runs have.
#[derive(Debug, Clone)]
pub struct WsReport {
    /// Messages received (echoes or deliveries) are its `requests`.
    pub report: Report,
    /// The settings.
    pub spec: WsSpec,
    /// Messages the bench's publisher sent.
    pub published: u64,
    /// Sockets that had completed the upgrade when the measurement started.
    pub opened: usize,
}

impl WsReport {
    /// The HTTP report's JSON with `"ws"` added (`mode`, `message_size`, `binary`,
    /// `publish_rate`, `published`, `opened`); `requests` counts messages received.
    pub fn to_json(&self) -> String {
        let mut json = self.report.to_json();
        json.pop(); // the closing brace
        let publish = match self.spec.publish {
            None => "null".to_string(),
            Some(Publish::Closed) => "\"max\"".to_string(),
            Some(Publish::Rate(r)) => format!("{r}"),
        };
        json.push_str(&format!(
            ",\"ws\":{{\"mode\":\"{}\",\"message_size\":{},\"binary\":{},\"publish_rate\":{publish},\
             \"published\":{},\"opened\":{}}}}}",
            match self.spec.mode {
                WsMode::Echo => "echo",
                WsMode::Subscribe => "subscribe",
            },
            self.spec.message_size,
            self.spec.binary,
            self.published,
            self.opened,
        ));
        json
    }
}

fn validate(opts: &Options, spec: &WsSpec) -> Result<(), BenchError> {
    let bad = |msg: String| Err(BenchError::Invalid(msg));
    if spec.mode == WsMode::Echo && spec.publish.is_some() {
        return bad("--publish-rate is for --ws-mode subscribe".into());
    }
    if spec.mode == WsMode::Subscribe && opts.rate.is_some() {
        return bad("--rate paces echo sockets; a subscriber's pace is --publish-rate".into());
    }
    if let Some(Publish::Rate(r)) = spec.publish {
        if !(r.is_finite() && r > 0.0) {
            return bad("publish rate must be a positive number of messages per second".into());
        }
    }
    let need = if spec.publish.is_some() {
        stamp_len(spec.binary)
    } else {
        1
    };
    if spec.message_size < need {
        return bad(format!(
            "message size must be at least {need} bytes here (published messages start with a timestamp)"
        ));
    }
    if spec.mode == WsMode::Subscribe && opts.requests.is_some() && spec.publish.is_none() {
        return bad(
            "-n with --ws-mode subscribe needs the bench's publisher (--publish-rate)".into(),
        );
    }
    Ok(())
}

/// Runs a WebSocket benchmark; `interrupted` is asked every 100 ms, as in [`super::run_until`].
pub fn run_ws_until(
    opts: &Options,
    spec: &WsSpec,
    mut interrupted: impl FnMut() -> bool,
) -> Result<WsReport, BenchError> {
    opts.validate()?;
    validate(opts, spec)?;
    let target = Target::parse(&opts.url)?;
    if !target.websocket {
        return Err(BenchError::Invalid(format!(
            "{}: expected a ws:// URL",
            opts.url
        )));
    }
    let addr = target.resolve(opts.timeout)?;
    let threads = opts.threads.min(opts.connections);
    let payload = if spec.binary {
        vec![0u8; spec.message_size]
    } else {
        vec![b'x'; spec.message_size]
    };
    let plan = WsPlan {
        addr,
        target,
        payload,
        binary: spec.binary,
        window: opts.pipeline,
        timeout: opts.timeout,
        stamped: spec.publish.is_some(),
    };

    let (stop_tx, stop_rx) = watch::channel(false);
    let (gate_tx, gate_rx) = watch::channel(None::<Instant>);
    let (done_tx, done_rx) = mpsc::channel::<()>();
    let ready = Arc::new(AtomicUsize::new(0));
    let lives: Vec<Arc<WsLive>> = (0..threads).map(|_| Arc::new(WsLive::default())).collect();
    let conns = split(opts.connections as u64, &vec![1; threads]);
    let budgets: Vec<Option<u64>> = match (opts.requests, spec.mode) {
        (Some(n), WsMode::Echo) => split(n, &conns).into_iter().map(Some).collect(),
        _ => vec![None; threads],
    };
    let launched = Instant::now();
    let mut handles = Vec::with_capacity(threads);
    let mut first_conn = 0;
    for t in 0..threads {
        let job = Job {
            plan: WsPlan {
                payload: plan.payload.clone(),
                target: plan.target.clone(),
                ..plan
            },
            spec: spec.clone(),
            first_conn,
            conns: conns[t] as usize,
            total_conns: opts.connections,
            budget: budgets[t],
            expect: opts.requests.filter(|_| spec.mode == WsMode::Subscribe),
            rate: opts.rate,
            // One publisher, on the first thread.
            publisher: if t == 0 { spec.publish } else { None },
        };
        first_conn += job.conns;
        let (stop, gate, live, ready, done) = (
            stop_rx.clone(),
            gate_rx.clone(),
            lives[t].clone(),
            ready.clone(),
            done_tx.clone(),
        );
        let handle = std::thread::Builder::new()
            .name(format!("covetpy-bench-ws-{t}"))
            .spawn(move || {
                let result = thread(job, stop, gate, live, ready);
                let _ = done.send(());
                result
            })
            .map_err(|e| BenchError::Io(format!("cannot start a load thread: {e}"), e))?;
        handles.push(handle);
    }
    drop(done_tx);

    // Wait for every socket to be open (the publisher's is opened after the gate).
    let open_by = launched + opts.timeout;
    let mut was_interrupted = false;
    let mut finished = 0;
    while ready.load(Ordering::Relaxed) < opts.connections && Instant::now() < open_by {
        if let Ok(()) = done_rx.recv_timeout(Duration::from_millis(5)) {
            finished += 1;
        }
        if interrupted() {
            was_interrupted = true;
            break;
        }
    }
    let opened = ready.load(Ordering::Relaxed);
    let start = Instant::now();
    gate_tx.send_replace(Some(start));
    let deadline = opts.duration.map(|d| start + d);
    if was_interrupted {
        stop_tx.send_replace(true);
    }

    let mut progress = opts.progress.then(|| Progress::new(start));
    let mut next_tick = start + Duration::from_secs(1);
    while finished < threads {
        let now = Instant::now();
        let mut wait = next_tick.saturating_duration_since(now).min(POLL);
        if let Some(d) = deadline {
            wait = wait.min(d.saturating_duration_since(now));
        }
        match done_rx.recv_timeout(wait) {
            Ok(()) => finished += 1,
            Err(mpsc::RecvTimeoutError::Timeout) => {}
            Err(mpsc::RecvTimeoutError::Disconnected) => break,
        }
        let now = Instant::now();
        if !*stop_tx.borrow() && deadline.is_some_and(|d| now >= d) {
            stop_tx.send_replace(true);
        }
        if !was_interrupted && interrupted() {
            was_interrupted = true;
            stop_tx.send_replace(true);
        }
        if now >= next_tick && finished < threads {
            if let Some(p) = progress.as_mut() {
                let messages = lives.iter().map(|l| l.messages()).sum();
                let errors = lives.iter().map(|l| l.errors()).sum();
                p.tick(now, messages, errors);
            }
            next_tick += Duration::from_secs(1);
        }
    }
    if let Some(p) = &progress {
        p.finish();
    }

    let mut parts = Vec::with_capacity(threads);
    let mut published = 0;
    let mut end = start;
    for handle in handles {
        let (stats, sent, ended) = handle
            .join()
            .map_err(|_| BenchError::Invalid("a load thread panicked".into()))?
            .map_err(|e| BenchError::Io(format!("cannot start a tokio runtime: {e}"), e))?;
        end = end.max(ended);
        published += sent;
        parts.push(stats);
    }
    drop(stop_tx);
    let method = match spec.mode {
        WsMode::Echo => "WS echo",
        WsMode::Subscribe => "WS subscribe",
    };
    Ok(WsReport {
        report: Report {
            url: opts.url.clone(),
            method: method.into(),
            connections: opts.connections,
            threads,
            pipeline: opts.pipeline,
            rate: opts.rate,
            transport: Transport::default(),
            elapsed: end.saturating_duration_since(start),
            interrupted: was_interrupted,
            stats: Report::merge(parts),
        },
        spec: spec.clone(),
        published,
        opened,
    })
}

/// One thread's share of the sockets.
struct Job {
    plan: WsPlan,
    spec: WsSpec,
    first_conn: usize,
    conns: usize,
    total_conns: usize,
    budget: Option<u64>,
    expect: Option<u64>,
    rate: Option<f64>,
    publisher: Option<Publish>,
}

/// Runs one thread's sockets until they finish or `stop` turns true; returns what they
/// recorded, the messages published and when the thread stopped.
fn thread(
    job: Job,
    mut stop: watch::Receiver<bool>,
    gate: Gate,
    live: Arc<WsLive>,
    ready: Arc<AtomicUsize>,
) -> std::io::Result<(Stats, u64, Instant)> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let local = LocalSet::new();
    let rec = Rc::new(WsRecorder::new(live));
    let budget = Rc::new(Budget::new(job.budget));
    let plan = Rc::new(job.plan);
    let ended = local.block_on(&rt, async {
        let pacer = match (job.rate, job.spec.mode) {
            (Some(_), WsMode::Echo) => Some(Rc::new(Pacer::new(job.conns)?)),
            _ => None,
        };
        let mut sockets = JoinSet::new();
        for i in 0..job.conns {
            match job.spec.mode {
                WsMode::Echo => {
                    let me = EchoSocket {
                        rate: job.rate,
                        index: job.first_conn + i,
                        total: job.total_conns,
                        clock: pacer.clone().map(|p| (p, i)),
                    };
                    sockets.spawn_local(echo(
                        plan.clone(),
                        me,
                        budget.clone(),
                        rec.clone(),
                        ready.clone(),
                        gate.clone(),
                    ))
                }
                WsMode::Subscribe => sockets.spawn_local(subscribe(
                    plan.clone(),
                    job.expect,
                    rec.clone(),
                    ready.clone(),
                )),
            };
        }
        // The publisher runs beside the subscribers but is not waited for: the run ends
        // when they have what they expect (`-n`), the deadline passes or it is stopped.
        let publisher = job.publisher.map(|how| {
            tokio::task::spawn_local(publish(
                plan.clone(),
                how,
                job.expect,
                rec.clone(),
                gate.clone(),
            ))
        });
        let all_done = async { while sockets.join_next().await.is_some() {} };
        let timer = async {
            match &pacer {
                Some(p) => p.run().await,
                None => std::future::pending().await,
            }
        };
        let result = tokio::select! {
            _ = all_done => Ok(()),
            _ = stop.wait_for(|s| *s) => Ok(()),
            r = timer => r,
        };
        if let Some(p) = publisher {
            p.abort();
        }
        result.map(|()| Instant::now())
    })?;
    drop(local);
    let (stats, published) = rec.take();
    Ok((stats, published, ended))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts(url: &str) -> Options {
        Options {
            url: url.into(),
            requests: Some(10),
            progress: false,
            timeout: Duration::from_secs(1),
            ..Options::default()
        }
    }

    #[test]
    fn refuses_bad_combinations() {
        let echo_pub = WsSpec {
            publish: Some(Publish::Closed),
            ..WsSpec::default()
        };
        let sub = WsSpec {
            mode: WsMode::Subscribe,
            ..WsSpec::default()
        };
        let tiny = WsSpec {
            message_size: 8,
            publish: Some(Publish::Rate(10.0)),
            ..sub.clone()
        };
        let cases = [
            (opts("ws://127.0.0.1:1/"), echo_pub),
            (
                Options {
                    rate: Some(10.0),
                    ..opts("ws://127.0.0.1:1/")
                },
                sub.clone(),
            ),
            (opts("ws://127.0.0.1:1/"), sub.clone()),
            (opts("ws://127.0.0.1:1/"), tiny),
            (opts("http://127.0.0.1:1/"), WsSpec::default()),
            (opts("wss://127.0.0.1:1/"), WsSpec::default()),
        ];
        for (o, s) in cases {
            let r = run_ws_until(&o, &s, || false);
            assert!(matches!(r, Err(BenchError::Invalid(_))), "{s:?} {o:?}");
        }
    }

    #[test]
    fn json_adds_the_ws_fields() {
        let r = WsReport {
            report: Report {
                url: "ws://x/".into(),
                method: "WS subscribe".into(),
                connections: 2,
                threads: 1,
                pipeline: 1,
                rate: None,
                transport: Transport::default(),
                elapsed: Duration::from_secs(1),
                interrupted: false,
                stats: Stats::default(),
            },
            spec: WsSpec {
                mode: WsMode::Subscribe,
                message_size: 64,
                binary: true,
                publish: Some(Publish::Rate(100.0)),
            },
            published: 100,
            opened: 2,
        };
        let json = r.to_json();
        assert!(json.ends_with(
            r#","ws":{"mode":"subscribe","message_size":64,"binary":true,"publish_rate":100,"published":100,"opened":2}}"#
        ), "{json}");
        assert_eq!(json.matches('{').count(), json.matches('}').count());
    }
}
