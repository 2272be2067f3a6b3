//! One HTTP/2 connection (`--h2`): h2c with prior knowledge over TCP (RFC 9113 §3.3), or h2
//! selected by ALPN over TLS. It keeps up to `--streams` requests in flight: closed loop, a
//! new stream opens as soon as one is answered; at a constant rate, when the schedule says,
//! with at most `--streams` outstanding. Each response body is read to its end and its
//! flow-control capacity released, so the server's window never closes. [`once`] is the single
//! exchange of a `--new-conn` connection (rust/bench/fresh.rs).
//!
//! The `h2` crate does the framing: its connection runs as a task of its own, and each stream
//! is a task that records its response, so the connection's loop only decides when to open.

use std::cell::Cell;
use std::future::poll_fn;
use std::pin::pin;
use std::rc::Rc;
use std::task::Poll;
use std::time::{Duration, Instant};

use bytes::Bytes;
use h2::client::{Connection, ResponseFuture, SendRequest};
use http::header::{HeaderName, HeaderValue, CONTENT_LENGTH};
use http::{Method, Request, Uri};
use tokio::task::{JoinHandle, JoinSet};

use super::budget::Budget;
use super::conn::{Clock, CONNECT_BACKOFF};
use super::dial::{Counted, Dialer, Io};
use super::rate::Pacing;
use super::stats::{ErrorKind, Recorder};
use super::target::{RequestSpec, Target};
use super::BenchError;

/// Receive window of each stream. h2's default, 64 KiB, would make a server pause for a
/// WINDOW_UPDATE every 64 KiB of a large body; 1 MiB lets a typical response go in one window.
const STREAM_WINDOW: u32 = 1 << 20;

/// Receive window of the connection: room for 16 streams' full windows at once, so that
/// `--streams 16` of large bodies are not held back by the connection's window. A limit, not
/// an allocation: unread data is what takes memory, and bodies are released as they arrive.
const CONNECTION_WINDOW: u32 = 16 << 20;

/// Header fields HTTP/2 forbids in requests (RFC 9113 §8.2.2): HTTP/1.1's connection-level
/// fields. `te` is allowed with the value `trailers` only.
const CONNECTION_SPECIFIC: [&str; 5] = [
    "connection",
    "keep-alive",
    "proxy-connection",
    "transfer-encoding",
    "upgrade",
];

/// What every HTTP/2 connection of a thread sends.
#[derive(Debug)]
pub struct Plan {
    /// How connections are opened.
    pub dialer: Dialer,
    /// The request head every stream sends (cloned per stream: the header map is the only
    /// allocation, the URI shares its bytes).
    pub request: Request<()>,
    /// The request body; empty ends the stream with the headers.
    pub body: Bytes,
    /// Streams in flight at most per connection (`--streams`).
    pub streams: usize,
    /// How long streams in flight may go without a response frame.
    pub timeout: Duration,
}

impl Plan {
    /// A plan for `spec` sent to `target`, `streams` at a time.
    pub fn new(
        dialer: Dialer,
        spec: &RequestSpec,
        target: &Target,
        streams: usize,
    ) -> Result<Plan, BenchError> {
        Ok(Plan {
            timeout: dialer.timeout,
            dialer,
            request: request(spec, target)?,
            body: Bytes::copy_from_slice(&spec.body),
            streams,
        })
    }
}

/// The request head of `spec` for HTTP/2: pseudo-header fields from the URL (a `Host` given
/// with `-H` becomes `:authority`, RFC 9113 §8.3.1), the other fields lowercased.
pub fn request(spec: &RequestSpec, target: &Target) -> Result<Request<()>, BenchError> {
    spec.check()?;
    let bad = |msg: String| BenchError::Invalid(msg);
    let mut authority = target.authority.clone();
    let mut req = Request::new(());
    *req.method_mut() = Method::from_bytes(spec.method.as_bytes())
        .map_err(|_| bad(format!("bad method {:?}", spec.method)))?;
    for (name, value) in &spec.headers {
        let lower = name.to_ascii_lowercase();
        let value = value.trim();
        if lower == "host" {
            authority = value.to_string();
            continue;
        }
        if CONNECTION_SPECIFIC.contains(&lower.as_str())
            || (lower == "te" && !value.eq_ignore_ascii_case("trailers"))
        {
            return Err(bad(format!(
                "{name} is a connection-specific header, which HTTP/2 forbids (RFC 9113 §8.2.2)"
            )));
        }
        let name = HeaderName::from_bytes(lower.as_bytes())
            .map_err(|_| bad(format!("bad header name {name:?}")))?;
        let value = HeaderValue::from_str(value)
            .map_err(|_| bad(format!("bad value for header {name}")))?;
        req.headers_mut().append(name, value);
    }
    if !spec.body.is_empty() || spec.expects_body() {
        req.headers_mut()
            .insert(CONTENT_LENGTH, HeaderValue::from(spec.body.len()));
    }
    // An absolute URI: h2 takes `:scheme` and `:authority` from it.
    let uri = format!("{}://{authority}{}", target.scheme(), target.path);
    *req.uri_mut() = uri.parse::<Uri>().map_err(|e| bad(format!("{uri}: {e}")))?;
    Ok(req)
}

/// How a connection's session ended.
#[derive(Debug, PartialEq, Eq)]
enum End {
    /// The budget is spent and every stream answered or counted as failed.
    Finished,
    /// The connection is gone or unusable; open another.
    Reconnect,
}

/// The kind a request lost to `e` counts as.
fn kind(e: &h2::Error) -> ErrorKind {
    if let Some(io) = e.get_io() {
        // h2 reports the peer's close with streams open as a broken pipe.
        return if io.kind() == std::io::ErrorKind::BrokenPipe {
            ErrorKind::Closed
        } else {
            ErrorKind::Read
        };
    }
    if e.is_remote() && (e.is_reset() || e.is_go_away()) {
        ErrorKind::Reset
    } else {
        // A frame of the server's broke the protocol (or it is not an HTTP/2 server: an
        // HTTP/1.1 answer to the preface does not frame).
        ErrorKind::Parse
    }
}

async fn handshake(
    io: Io,
    rec: &Rc<Recorder>,
) -> Result<(SendRequest<Bytes>, Connection<Counted, Bytes>), h2::Error> {
    h2::client::Builder::new()
        .initial_window_size(STREAM_WINDOW)
        .initial_connection_window_size(CONNECTION_WINDOW)
        .enable_push(false)
        .handshake(Counted::new(io, rec.clone()))
        .await
}

/// Opens one stream with the plan's request; `send` must be ready.
fn open(send: &mut SendRequest<Bytes>, plan: &Plan) -> Result<ResponseFuture, h2::Error> {
    let end = plan.body.is_empty();
    let (response, mut body) = send.send_request(plan.request.clone(), end)?;
    if !end {
        // Buffered by h2 until the stream's send window allows it.
        body.send_data(plan.body.clone(), true)?;
    }
    Ok(response)
}

/// Waits for a stream's response and reads its body to the end; `seen` is stamped on every
/// frame, for the connection's answer timeout.
async fn receive(response: ResponseFuture, seen: &Cell<Instant>) -> Result<u16, ErrorKind> {
    let response = response.await.map_err(|e| kind(&e))?;
    seen.set(Instant::now());
    let status = response.status().as_u16();
    let mut body = response.into_body();
    while let Some(chunk) = body.data().await {
        let chunk = chunk.map_err(|e| kind(&e))?;
        seen.set(Instant::now());
        // Releasing what was read reopens the window (RFC 9113 §5.2); the error only says
        // the stream is already gone, which the next read reports.
        let _ = body.flow_control().release_capacity(chunk.len());
    }
    // The end of the stream, trailers or not.
    body.trailers().await.map_err(|e| kind(&e))?;
    Ok(status)
}

/// One stream of a keep-alive connection, recorded when it ends.
async fn stream(
    response: ResponseFuture,
    start: Instant,
    rec: Rc<Recorder>,
    seen: Rc<Cell<Instant>>,
) {
    match receive(response, &seen).await {
        Ok(status) => rec.response(status, start.elapsed()),
        Err(kind) => rec.error(kind, 1),
    }
}

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
        let opened = match plan.dialer.dial().await {
            Ok(io) => establish(io, plan.timeout, &rec).await,
            Err(kind) => Err(kind),
        };
        let (send, conn) = match opened {
            Ok(pair) => pair,
            Err(kind) => {
                // As for HTTP/1.1: with -n, a connection that cannot open costs a request.
                rec.error(kind, budget.claim(1));
                tokio::time::sleep(CONNECT_BACKOFF).await;
                continue;
            }
        };
        if session(send, conn, &plan, &mut pacing, &clock, &budget, &rec).await == End::Finished {
            return;
        }
    }
}

/// Starts HTTP/2 on `io` and runs its connection as a task of its own; returns once the
/// server's SETTINGS are in. They precede its answer to a PING (its preface comes first, RFC
/// 9113 §3.4), so one round trip tells the stream limit: without it, the first `--streams`
/// would open before the limit is known, and a server allowing fewer would refuse the rest.
async fn establish(
    io: Io,
    timeout: Duration,
    rec: &Rc<Recorder>,
) -> Result<(SendRequest<Bytes>, JoinHandle<Result<(), h2::Error>>), ErrorKind> {
    let (send, mut conn) = handshake(io, rec).await.map_err(|e| kind(&e))?;
    let ping = conn.ping_pong();
    let conn = tokio::task::spawn_local(conn);
    if let Some(mut ping) = ping {
        let pong = tokio::time::timeout(timeout, ping.ping(h2::Ping::opaque())).await;
        match pong {
            Ok(Ok(_)) => {}
            // Not an HTTP/2 server, typically: its HTTP/1.1 answer to the preface does not
            // frame.
            Ok(Err(e)) => {
                conn.abort();
                return Err(kind(&e));
            }
            Err(_) => {
                conn.abort();
                return Err(ErrorKind::Timeout);
            }
        }
    }
    Ok((send, conn))
}

/// How many more streams may open at `now` with `in_flight` of at most `depth` open.
fn room(pacing: &Pacing, now: Instant, in_flight: usize, depth: usize) -> usize {
    match pacing {
        // Unlike HTTP/1.1 pipelining (a batch when none is outstanding), each answered
        // stream is replaced at once: streams are independent.
        Pacing::Closed => depth.saturating_sub(in_flight),
        Pacing::Constant(_) => pacing.ready(now, in_flight, depth),
    }
}

/// One open connection: open streams as the pacing allows, until it ends.
async fn session(
    mut send: SendRequest<Bytes>,
    mut conn: JoinHandle<Result<(), h2::Error>>,
    plan: &Plan,
    pacing: &mut Pacing,
    clock: &Clock,
    budget: &Budget,
    rec: &Rc<Recorder>,
) -> End {
    let mut streams: JoinSet<()> = JoinSet::new();
    let seen = Rc::new(Cell::new(Instant::now()));
    let mut alive = true;
    // Re-armed only when it fires, as in conn.rs: a timer update per stream would cost more
    // than the check.
    let silence = tokio::time::sleep(plan.timeout);
    tokio::pin!(silence);
    loop {
        let now = Instant::now();
        // The server's SETTINGS_MAX_CONCURRENT_STREAMS caps `--streams`: h2 would hold the
        // rest back, and their latency would count the wait.
        let depth = plan.streams.min(send.current_max_send_streams()).max(1);
        let mut blocked = false;
        while alive && room(pacing, now, streams.len(), depth) > 0 {
            match poll_fn(|cx| Poll::Ready(send.poll_ready(cx))).await {
                // h2 holds a stream back until the server allows it (its limit was not known
                // yet when the stream opened); the select below waits for that.
                Poll::Pending => {
                    blocked = true;
                    break;
                }
                Poll::Ready(Err(_)) => {
                    alive = false;
                    break;
                }
                Poll::Ready(Ok(())) => {}
            }
            if budget.claim(1) == 0 {
                break;
            }
            let start = pacing.start(now);
            match open(&mut send, plan) {
                Ok(response) => {
                    streams.spawn_local(stream(response, start, rec.clone(), seen.clone()));
                    seen.set(now);
                }
                Err(e) => {
                    rec.error(kind(&e), 1);
                    alive = false;
                }
            }
        }
        if streams.is_empty() && (budget.exhausted() || !alive) {
            if !alive {
                conn.abort();
                return End::Reconnect;
            }
            // Done: dropping the last handle makes h2 end the connection with GOAWAY.
            return End::Finished;
        }
        let due = match (alive && !budget.exhausted(), clock) {
            (true, Some(clock)) => pacing.next_due(streams.len(), depth).zip(Some(clock)),
            _ => None,
        };
        tokio::select! {
            biased;
            Some(_) = streams.join_next(), if !streams.is_empty() => {}
            // The server said GOAWAY or the connection failed: the streams it did not answer
            // end with errors, then a new connection opens.
            _ = &mut conn, if alive => alive = false,
            ready = poll_fn(|cx| send.poll_ready(cx)), if blocked && alive => {
                alive = ready.is_ok();
            }
            _ = async { if let Some((at, (pacer, i))) = due { pacer.sleep_until(*i, at).await } },
                if due.is_some() => {}
            _ = &mut silence => {
                let now = Instant::now();
                if !streams.is_empty() && now.duration_since(seen.get()) >= plan.timeout {
                    rec.error(ErrorKind::Timeout, streams.len());
                    streams.abort_all();
                    conn.abort();
                    return End::Reconnect;
                }
                let from = if streams.is_empty() { now } else { seen.get() };
                silence.as_mut().reset((from + plan.timeout).into());
            }
        }
    }
}

/// The one stream of a `--new-conn` connection: handshake, request, response, then GOAWAY
/// and close. The response is recorded when it ends, before the close.
pub async fn once(
    io: Io,
    plan: &Plan,
    start: Instant,
    rec: &Rc<Recorder>,
) -> Result<(), ErrorKind> {
    let (mut send, conn) = handshake(io, rec).await.map_err(|e| kind(&e))?;
    let mut conn = pin!(conn);
    let response = open(&mut send, plan).map_err(|e| kind(&e))?;
    // With no handle left, h2 ends the connection (GOAWAY) once the stream is done.
    drop(send);
    let seen = Cell::new(start);
    let exchange = async {
        tokio::select! {
            // The stream first: the connection ends only after it, never in its place.
            biased;
            status = receive(response, &seen) => status,
            end = &mut conn => Err(match end {
                Ok(()) => ErrorKind::Closed,
                Err(e) => kind(&e),
            }),
        }
    };
    let status = tokio::time::timeout(plan.timeout, exchange)
        .await
        .map_err(|_| ErrorKind::Timeout)??;
    rec.response(status, start.elapsed());
    let _ = tokio::time::timeout(plan.timeout, conn).await;
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use tokio::net::TcpListener;

    use super::*;
    use crate::bench::stats::{Live, Stats};

    /// How the test server answers stream `i` of a connection.
    #[derive(Clone, Copy)]
    enum Reply {
        /// This status with a body of this many bytes.
        Ok(u16, usize),
        /// RST_STREAM REFUSED_STREAM.
        Reset,
        /// Never.
        Hang,
        /// 200, then a graceful GOAWAY: the streams opened after it are refused.
        GoAway,
    }

    /// An h2c server answering as `answer` says, with at most `limit` streams open at once.
    async fn server(answer: fn(usize) -> Reply, limit: u32) -> std::net::SocketAddr {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::task::spawn_local(async move {
            loop {
                let (tcp, _) = listener.accept().await.unwrap();
                tokio::task::spawn_local(async move {
                    let handshake = h2::server::Builder::new()
                        .max_concurrent_streams(limit)
                        .handshake::<_, Bytes>(tcp);
                    let Ok(mut conn) = handshake.await else {
                        return;
                    };
                    let mut hanging = Vec::new();
                    let mut seen = 0;
                    while let Some(Ok((_req, mut respond))) = conn.accept().await {
                        let reply = answer(seen);
                        seen += 1;
                        let (status, len) = match reply {
                            Reply::Reset => {
                                respond.send_reset(h2::Reason::REFUSED_STREAM);
                                continue;
                            }
                            Reply::Hang => {
                                hanging.push(respond);
                                continue;
                            }
                            Reply::GoAway => (200, 0),
                            Reply::Ok(status, len) => (status, len),
                        };
                        let head = http::Response::builder().status(status).body(()).unwrap();
                        let mut send = respond.send_response(head, len == 0).unwrap();
                        if len > 0 {
                            send.send_data(Bytes::from(vec![b'x'; len]), true).unwrap();
                        }
                        if matches!(reply, Reply::GoAway) {
                            conn.graceful_shutdown();
                        }
                    }
                });
            }
        });
        addr
    }

    fn run(answer: fn(usize) -> Reply, requests: u64, streams: usize, timeout: Duration) -> Stats {
        run_limited(answer, requests, streams, timeout, u32::MAX)
    }

    fn run_limited(
        answer: fn(usize) -> Reply,
        requests: u64,
        streams: usize,
        timeout: Duration,
        limit: u32,
    ) -> Stats {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let local = tokio::task::LocalSet::new();
        local.block_on(&rt, async move {
            let addr = server(answer, limit).await;
            let target = Target::parse(&format!("http://{addr}/")).unwrap();
            let plan = Plan::new(
                Dialer::plain(addr, timeout),
                &spec("GET", &[], b""),
                &target,
                streams,
            )
            .unwrap();
            let rec = Rc::new(Recorder::new(Arc::new(Live::default())));
            let budget = Rc::new(Budget::new(Some(requests)));
            drive(Rc::new(plan), Pacing::Closed, None, budget, rec.clone()).await;
            rec.take()
        })
    }

    const SECOND: Duration = Duration::from_secs(1);

    #[test]
    fn exact_request_count_with_streams() {
        let stats = run(|_| Reply::Ok(200, 5), 500, 16, SECOND);
        assert_eq!(stats.statuses().collect::<Vec<_>>(), [(200, 500)]);
        assert_eq!((stats.errors_total(), stats.reconnects), (0, 0));
        assert!(stats.bytes_read > 500 * 5 && stats.bytes_written > 0);
    }

    #[test]
    fn statuses_are_counted_and_resets_are_errors() {
        let stats = run(
            |i| match i % 4 {
                0 => Reply::Reset,
                1 => Reply::Ok(404, 0),
                _ => Reply::Ok(200, 2),
            },
            100,
            8,
            SECOND,
        );
        assert_eq!(stats.statuses().collect::<Vec<_>>(), [(200, 50), (404, 25)]);
        assert_eq!(stats.error_count(ErrorKind::Reset), 25);
        assert_eq!(stats.errors_total(), 25);
    }

    #[test]
    fn bodies_larger_than_the_windows_flow() {
        // 24 MiB in all, more than the connection's 16 MiB window: without releasing
        // capacity the server would stall and the run time out.
        let stats = run(|_| Reply::Ok(200, 2 << 20), 12, 4, 5 * SECOND);
        assert_eq!(stats.statuses().collect::<Vec<_>>(), [(200, 12)]);
        assert!(stats.bytes_read > 12 * (2 << 20));
    }

    #[test]
    fn goaway_refuses_the_streams_above_it_and_a_new_connection_opens() {
        // The 10th stream of each connection is answered, then GOAWAY.
        let stats = run(
            |i| {
                if i == 9 {
                    Reply::GoAway
                } else {
                    Reply::Ok(200, 2)
                }
            },
            200,
            4,
            SECOND,
        );
        assert!(stats.reconnects > 0);
        assert_eq!(stats.requests + stats.errors_total(), 200);
        assert_eq!(stats.errors_total(), stats.error_count(ErrorKind::Reset));
    }

    #[test]
    fn the_servers_stream_limit_caps_the_streams() {
        // 16 asked, 3 allowed: h2 holds the rest back until streams close; nothing stalls
        // until the 1 s timeout.
        let started = Instant::now();
        let stats = run_limited(|_| Reply::Ok(200, 2), 300, 16, SECOND, 3);
        assert_eq!(stats.statuses().collect::<Vec<_>>(), [(200, 300)]);
        assert_eq!(stats.errors_total(), 0);
        assert!(started.elapsed() < SECOND / 2, "{:?}", started.elapsed());
    }

    #[test]
    fn silent_streams_time_out() {
        let started = Instant::now();
        let stats = run(|_| Reply::Hang, 12, 4, Duration::from_millis(100));
        assert_eq!(stats.error_count(ErrorKind::Timeout), 12);
        assert_eq!(stats.reconnects, 2, "three connections of 4 streams");
        assert!(started.elapsed() < 2 * SECOND);
    }

    fn spec(method: &str, headers: &[(&str, &str)], body: &[u8]) -> RequestSpec {
        RequestSpec {
            method: method.into(),
            headers: headers
                .iter()
                .map(|(n, v)| (n.to_string(), v.to_string()))
                .collect(),
            body: body.to_vec(),
        }
    }

    #[test]
    fn pseudo_headers_come_from_the_url() {
        let t = Target::parse("https://localhost:8443/a?b=1").unwrap();
        let req = request(&spec("GET", &[("X-Test", " 1 ")], b""), &t).unwrap();
        assert_eq!(req.method(), Method::GET);
        assert_eq!(req.uri().to_string(), "https://localhost:8443/a?b=1");
        assert_eq!(req.headers()["x-test"], "1");
        assert!(req.headers().get(CONTENT_LENGTH).is_none());
        let t = Target::parse("http://127.0.0.1/").unwrap();
        let req = request(&spec("POST", &[("Host", "api.test")], b"{}"), &t).unwrap();
        assert_eq!(req.uri().to_string(), "http://api.test/");
        assert!(
            req.headers().get("host").is_none(),
            "host became :authority"
        );
        assert_eq!(req.headers()[CONTENT_LENGTH], "2");
        let empty_post = request(&spec("PUT", &[], b""), &t).unwrap();
        assert_eq!(empty_post.headers()[CONTENT_LENGTH], "0");
    }

    #[test]
    fn refuses_connection_specific_headers() {
        let t = Target::parse("http://x/").unwrap();
        for (n, v) in [
            ("Connection", "close"),
            ("keep-alive", "5"),
            ("Upgrade", "websocket"),
            ("te", "gzip"),
            ("Content-Length", "3"),
        ] {
            assert!(request(&spec("GET", &[(n, v)], b""), &t).is_err(), "{n}");
        }
        assert!(request(&spec("GET", &[("TE", "trailers")], b""), &t).is_ok());
        assert!(request(&spec("G T", &[], b""), &t).is_err());
    }

    #[test]
    fn closed_loop_refills_each_stream() {
        let now = Instant::now();
        assert_eq!(room(&Pacing::Closed, now, 0, 10), 10);
        assert_eq!(room(&Pacing::Closed, now, 7, 10), 3);
        assert_eq!(room(&Pacing::Closed, now, 10, 10), 0);
    }
}
