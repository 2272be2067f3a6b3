//! One HTTP/1.1 keep-alive connection, plain or TLS: writes the pre-encoded request (a batch
//! of up to `depth` pipelined copies in one write), reads and frames the answers, records each
//! one's latency and status, and opens the connection again when it closes or fails. [`once`]
//! is the single exchange of a `--new-conn` connection (rust/bench/fresh.rs).

use std::collections::VecDeque;
use std::rc::Rc;
use std::time::{Duration, Instant};

use bytes::{Buf, BytesMut};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::budget::Budget;
use super::dial::{Dialer, Io};
use super::rate::Pacing;
use super::response::{Parser, Step};
use super::stats::{ErrorKind, Recorder};
use super::timer::Pacer;

/// Read buffer size. Large enough that a batch of pipelined answers is one read.
const READ_SIZE: usize = 32 * 1024;

/// A response head still incomplete after this many bytes is refused.
const MAX_HEAD: usize = 64 * 1024;

/// Pause after a failed connect, so a target that is down is not hammered in a tight loop.
pub const CONNECT_BACKOFF: Duration = Duration::from_millis(10);

/// What every connection of a thread sends and how.
#[derive(Debug)]
pub struct Plan {
    /// How connections are opened.
    pub dialer: Dialer,
    /// The request repeated `depth` times: a batch of `k` is the first `k` copies.
    pub batch: Box<[u8]>,
    /// Length of one request.
    pub request_len: usize,
    /// Requests outstanding at most per connection (`--pipeline`).
    pub depth: usize,
    /// The method is HEAD: answers have no body.
    pub head_only: bool,
    /// Connect timeout, and how long outstanding requests may go without a byte of answer.
    pub timeout: Duration,
}

impl Plan {
    /// A plan for `request` sent `depth` at a time; the dialer's timeout is the answer
    /// timeout too.
    pub fn new(dialer: Dialer, request: &[u8], depth: usize, head_only: bool) -> Plan {
        Plan {
            timeout: dialer.timeout,
            dialer,
            batch: request.repeat(depth).into_boxed_slice(),
            request_len: request.len(),
            depth,
            head_only,
        }
    }

    /// One copy of the request.
    pub fn request(&self) -> &[u8] {
        &self.batch[..self.request_len]
    }
}

/// How a connection's session ended.
#[derive(Debug, PartialEq, Eq)]
enum End {
    /// The budget is spent and every request answered or counted as failed.
    Finished,
    /// The connection is gone or unusable; open another.
    Reconnect,
}

/// How a connection waits for its scheduled sends: its thread's pacer and its index there.
pub type Clock = Option<(Rc<Pacer>, usize)>;

/// Runs one connection until its thread's budget is spent (or the thread drops it at the
/// deadline). `clock` is set for constant-rate runs.
pub async fn drive(
    plan: Rc<Plan>,
    mut pacing: Pacing,
    clock: Clock,
    budget: Rc<Budget>,
    rec: Rc<Recorder>,
) {
    let mut first = true;
    while !budget.exhausted() {
        if !first {
            rec.reconnect();
        }
        first = false;
        let stream = match plan.dialer.dial().await {
            Ok(stream) => stream,
            Err(kind) => {
                // With -n, an attempt that could not even connect is one failed request, so
                // a target that is down ends the run instead of retrying forever.
                rec.error(kind, budget.claim(1));
                tokio::time::sleep(CONNECT_BACKOFF).await;
                continue;
            }
        };
        if session(stream, &plan, &mut pacing, &clock, &budget, &rec).await == End::Finished {
            return;
        }
    }
}

/// One open connection: send what the pacing allows, read answers, repeat.
async fn session(
    mut stream: Io,
    plan: &Plan,
    pacing: &mut Pacing,
    clock: &Clock,
    budget: &Budget,
    rec: &Recorder,
) -> End {
    let mut buf = BytesMut::with_capacity(READ_SIZE);
    let mut parser = Parser::new(plan.head_only);
    // When each outstanding request's latency counts from, oldest first.
    let mut starts: VecDeque<Instant> = VecDeque::with_capacity(plan.depth);
    let mut last_io = Instant::now();
    // The answer timeout is re-armed only when it fires (to the last byte seen plus the
    // timeout), not on every response: a timer-wheel update per response would cost more
    // than everything else on the hot path.
    let silence = tokio::time::sleep(plan.timeout);
    tokio::pin!(silence);
    loop {
        let now = Instant::now();
        let n = budget.claim(pacing.ready(now, starts.len(), plan.depth));
        if n > 0 {
            starts.extend((0..n).map(|_| pacing.start(now)));
            let bytes = &plan.batch[..n * plan.request_len];
            // The flush is a no-op for TCP; TLS may keep the last record back when the
            // socket was full.
            if stream.write_all(bytes).await.is_err() || stream.flush().await.is_err() {
                rec.error(ErrorKind::Write, starts.len());
                return End::Reconnect;
            }
            rec.wrote(bytes.len());
            last_io = now;
        }
        if starts.is_empty() && budget.exhausted() {
            return End::Finished;
        }
        // The next scheduled send (never in a closed-loop run: answers drive those).
        let due = match (budget.exhausted(), clock) {
            (false, Some(clock)) => pacing.next_due(starts.len(), plan.depth).zip(Some(clock)),
            _ => None,
        };
        if buf.capacity() - buf.len() < READ_SIZE / 4 {
            buf.reserve(READ_SIZE);
        }
        // The read stays armed even with nothing outstanding (between scheduled sends), so a
        // server closing an idle connection is noticed then, not blamed on the next request.
        tokio::select! {
            biased;
            read = stream.read_buf(&mut buf) => {
                let now = Instant::now();
                match read.or_else(tls_eof) {
                    Ok(0) => return closed(&mut parser, &mut starts, now, rec),
                    Ok(k) => {
                        rec.read(k);
                        last_io = now;
                        if let Some(end) = consume(&mut buf, &mut parser, &mut starts, now, rec) {
                            return end;
                        }
                    }
                    Err(_) => {
                        rec.error(ErrorKind::Read, starts.len());
                        return End::Reconnect;
                    }
                }
            }
            _ = async { if let Some((at, (pacer, i))) = due { pacer.sleep_until(*i, at).await } },
                if due.is_some() => {}
            _ = &mut silence => {
                let now = Instant::now();
                if !starts.is_empty() && now.duration_since(last_io) >= plan.timeout {
                    rec.error(ErrorKind::Timeout, starts.len());
                    return End::Reconnect;
                }
                let from = if starts.is_empty() { now } else { last_io };
                silence.as_mut().reset((from + plan.timeout).into());
            }
        }
    }
}

/// A TLS peer that closes without close_notify makes rustls report `UnexpectedEof` (a
/// truncation attack could hide there, RFC 8446 §6.1); the response framing still tells a
/// complete answer from a cut one, so it is read as the close it is, as HTTP clients do.
/// Plain TCP never reports it.
fn tls_eof(e: std::io::Error) -> std::io::Result<usize> {
    if e.kind() == std::io::ErrorKind::UnexpectedEof {
        Ok(0)
    } else {
        Err(e)
    }
}

/// Frames the answers in `buf` received at `now`; `Some` when the connection must end.
fn consume(
    buf: &mut BytesMut,
    parser: &mut Parser,
    starts: &mut VecDeque<Instant>,
    now: Instant,
    rec: &Recorder,
) -> Option<End> {
    let mut at = 0;
    let end = loop {
        match parser.advance(&buf[at..]) {
            Ok(Step {
                used,
                done: Some(done),
            }) => {
                at += used;
                // An answer to nothing we asked: the exchange is out of step, start afresh.
                let Some(start) = starts.pop_front() else {
                    break Some(End::Reconnect);
                };
                rec.response(done.status, now.saturating_duration_since(start));
                if done.close {
                    rec.error(ErrorKind::Closed, starts.len());
                    break Some(End::Reconnect);
                }
            }
            Ok(Step { used, done: None }) => {
                at += used;
                if used == 0 || at == buf.len() {
                    break None;
                }
            }
            Err(_) => {
                rec.error(ErrorKind::Parse, starts.len());
                break Some(End::Reconnect);
            }
        }
    };
    buf.advance(at);
    if end.is_none() && buf.len() > MAX_HEAD {
        rec.error(ErrorKind::Parse, starts.len());
        return Some(End::Reconnect);
    }
    end
}

/// The server closed the connection: a body framed by the close completes, anything else
/// outstanding is lost.
fn closed(
    parser: &mut Parser,
    starts: &mut VecDeque<Instant>,
    now: Instant,
    rec: &Recorder,
) -> End {
    if let Ok(Some(done)) = parser.eof() {
        if let Some(start) = starts.pop_front() {
            rec.response(done.status, now.saturating_duration_since(start));
        }
    }
    rec.error(ErrorKind::Closed, starts.len());
    End::Reconnect
}

/// Sends one request on `io` and reads its answer (`--new-conn`); the caller bounds the time
/// it may take. Returns the status, or the kind the request is lost to.
pub async fn once(io: &mut Io, plan: &Plan, rec: &Recorder) -> Result<u16, ErrorKind> {
    let request = plan.request();
    io.write_all(request).await.map_err(|_| ErrorKind::Write)?;
    io.flush().await.map_err(|_| ErrorKind::Write)?;
    rec.wrote(request.len());
    let mut parser = Parser::new(plan.head_only);
    let mut buf = BytesMut::with_capacity(READ_SIZE);
    loop {
        match io.read_buf(&mut buf).await.or_else(tls_eof) {
            Ok(0) => {
                return match parser.eof() {
                    Ok(Some(done)) => Ok(done.status),
                    Ok(None) => Err(ErrorKind::Closed),
                    Err(_) => Err(ErrorKind::Parse),
                }
            }
            Ok(k) => rec.read(k),
            Err(_) => return Err(ErrorKind::Read),
        }
        loop {
            let step = parser.advance(&buf).map_err(|_| ErrorKind::Parse)?;
            buf.advance(step.used);
            if let Some(done) = step.done {
                return Ok(done.status);
            }
            if step.used == 0 || buf.is_empty() {
                break;
            }
        }
        if buf.len() > MAX_HEAD {
            return Err(ErrorKind::Parse);
        }
        if buf.capacity() - buf.len() < READ_SIZE / 4 {
            buf.reserve(READ_SIZE);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::net::SocketAddr;
    use std::sync::Arc;

    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpListener;

    use super::*;
    use crate::bench::stats::Live;

    const OK: &[u8] = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok";

    /// Serves `answer(i)` for the i-th request (one per `\r\n\r\n`) on every connection.
    async fn server(answer: fn(usize) -> &'static [u8]) -> SocketAddr {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::task::spawn_local(async move {
            loop {
                let (mut s, _) = listener.accept().await.unwrap();
                tokio::task::spawn_local(async move {
                    let mut seen = 0;
                    let mut buf = Vec::new();
                    let mut chunk = [0u8; 4096];
                    loop {
                        let Ok(n) = s.read(&mut chunk).await else {
                            return;
                        };
                        if n == 0 {
                            return;
                        }
                        buf.extend_from_slice(&chunk[..n]);
                        while let Some(p) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                            buf.drain(..p + 4);
                            let a = answer(seen);
                            seen += 1;
                            if a.is_empty() {
                                return; // close without answering
                            }
                            if s.write_all(a).await.is_err() {
                                return;
                            }
                        }
                    }
                });
            }
        });
        addr
    }

    fn run_conn(
        answer: fn(usize) -> &'static [u8],
        requests: u64,
        depth: usize,
    ) -> crate::bench::stats::Stats {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let local = tokio::task::LocalSet::new();
        local.block_on(&rt, async move {
            let addr = server(answer).await;
            let plan = Rc::new(Plan::new(
                Dialer::plain(addr, Duration::from_secs(5)),
                b"GET / HTTP/1.1\r\nhost: x\r\n\r\n",
                depth,
                false,
            ));
            let rec = Rc::new(Recorder::new(Arc::new(Live::default())));
            let budget = Rc::new(Budget::new(Some(requests)));
            drive(plan, Pacing::Closed, None, budget, rec.clone()).await;
            rec.take()
        })
    }

    #[test]
    fn exact_request_count_with_pipelining() {
        let stats = run_conn(|_| OK, 100, 16);
        assert_eq!(stats.requests, 100);
        assert_eq!(stats.statuses().collect::<Vec<_>>(), [(200, 100)]);
        assert_eq!(stats.errors_total(), 0);
        assert_eq!(stats.reconnects, 0);
        assert_eq!(stats.bytes_read, 100 * OK.len() as u64);
    }

    #[test]
    fn reconnects_after_close_counting_lost_requests() {
        // Every 10th request on a connection is answered by closing it.
        let stats = run_conn(|i| if i == 9 { b"" } else { OK }, 50, 1);
        assert_eq!(stats.requests + stats.errors_total(), 50);
        assert_eq!(stats.error_count(ErrorKind::Closed), 5);
        assert_eq!(
            stats.reconnects, 4,
            "five connections: the first and four reopened"
        );
    }

    #[test]
    fn connection_close_answer_loses_the_rest_of_the_batch() {
        const CLOSE: &[u8] = b"HTTP/1.1 503 Busy\r\nconnection: close\r\ncontent-length: 0\r\n\r\n";
        let stats = run_conn(|i| if i == 3 { CLOSE } else { OK }, 8, 8);
        // 3 OK + the 503; the 4 pipelined after it are lost; then nothing is left to send.
        assert_eq!(stats.statuses().collect::<Vec<_>>(), [(200, 3), (503, 1)]);
        assert_eq!(stats.error_count(ErrorKind::Closed), 4);
    }

    #[test]
    fn refused_connections_count_against_the_budget() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let addr = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap(); // closed at once
        let stats = rt.block_on(async {
            let plan = Rc::new(Plan::new(
                Dialer::plain(addr, Duration::from_secs(1)),
                b"GET / HTTP/1.1\r\n\r\n",
                1,
                false,
            ));
            let rec = Rc::new(Recorder::new(Arc::new(Live::default())));
            drive(
                plan,
                Pacing::Closed,
                None,
                Rc::new(Budget::new(Some(3))),
                rec.clone(),
            )
            .await;
            rec.take()
        });
        assert_eq!(stats.error_count(ErrorKind::Connect), 3);
        assert_eq!(stats.requests, 0);
    }
}
