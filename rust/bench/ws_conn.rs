//! One WebSocket of a `ws://` run: connect and upgrade, then echo (send messages and time
//! their echoes, up to a window in flight), subscribe (count deliveries and time them from the
//! timestamp in their first bytes) or publish (send stamped messages at a rate, or keep a
//! window of them in flight, each retired when the server's broadcast of it comes back).
//! A socket that closes or fails is opened again, as HTTP connections are (conn.rs).

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::net::SocketAddr;
use std::rc::Rc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use bytes::{Buf, BytesMut};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::watch;
use tungstenite::protocol::frame::coding::{Control, Data, OpCode};

use super::budget::Budget;
use super::conn::Clock;
use super::rate::{Pacing, Schedule};
use super::stats::{ErrorKind, Stats};
use super::target::Target;
use super::ws_frame::{decode, encode, Kind, Masker};
use super::ws_handshake::{check_response, new_key, request};

const READ_SIZE: usize = 64 * 1024;

/// Pause after a failed connect or upgrade, so a target that is down is not hammered.
const BACKOFF: Duration = Duration::from_millis(10);

/// Timestamps in published messages count from this instant, shared by every thread of the
/// process (the publisher and the subscribers are in the same one).
fn epoch() -> Instant {
    static EPOCH: OnceLock<Instant> = OnceLock::new();
    *EPOCH.get_or_init(Instant::now)
}

fn now_ns() -> u64 {
    epoch().elapsed().as_nanos() as u64
}

/// Writes the timestamp `ns` into the first bytes of `payload`: 8 bytes big-endian in a
/// binary message; in a text message 16 hex digits, since raw bytes would not be UTF-8.
pub fn stamp(payload: &mut [u8], binary: bool, ns: u64) {
    if binary {
        payload[..8].copy_from_slice(&ns.to_be_bytes());
    } else {
        const HEX: &[u8; 16] = b"0123456789abcdef";
        for (i, b) in payload[..16].iter_mut().enumerate() {
            *b = HEX[(ns >> (60 - 4 * i)) as usize & 15];
        }
    }
}

/// The timestamp [`stamp`] wrote, if `head` (a message's first bytes) has one.
pub fn read_stamp(head: &[u8], binary: bool) -> Option<u64> {
    if binary {
        return Some(u64::from_be_bytes(head.get(..8)?.try_into().ok()?));
    }
    let digits = std::str::from_utf8(head.get(..16)?).ok()?;
    u64::from_str_radix(digits, 16).ok()
}

/// The smallest message that holds a timestamp.
pub fn stamp_len(binary: bool) -> usize {
    if binary {
        8
    } else {
        16
    }
}

/// Progress totals published by one thread (only it writes them).
#[derive(Debug, Default)]
#[repr(align(64))]
pub struct WsLive {
    messages: AtomicU64,
    errors: AtomicU64,
}

impl WsLive {
    fn bump(counter: &AtomicU64, n: u64) {
        counter.store(counter.load(Ordering::Relaxed) + n, Ordering::Relaxed);
    }

    /// Messages received (echoes or deliveries) so far.
    pub fn messages(&self) -> u64 {
        self.messages.load(Ordering::Relaxed)
    }

    /// Failed messages so far.
    pub fn errors(&self) -> u64 {
        self.errors.load(Ordering::Relaxed)
    }
}

/// What the sockets of one thread record into: the HTTP mode's [`Stats`], with messages in
/// place of requests and no status codes.
#[derive(Debug)]
pub struct WsRecorder {
    stats: RefCell<Stats>,
    live: Arc<WsLive>,
    published: Cell<u64>,
}

impl WsRecorder {
    /// A recorder publishing progress into `live`.
    pub fn new(live: Arc<WsLive>) -> WsRecorder {
        WsRecorder {
            stats: RefCell::new(Stats::default()),
            live,
            published: Cell::new(0),
        }
    }

    /// One message received; `latency` when it can be told.
    fn message(&self, latency: Option<Duration>) {
        let mut s = self.stats.borrow_mut();
        s.requests += 1;
        if let Some(l) = latency {
            s.latency
                .saturating_record(u64::try_from(l.as_micros()).unwrap_or(u64::MAX));
        }
        WsLive::bump(&self.live.messages, 1);
    }

    fn error(&self, kind: ErrorKind, n: usize) {
        if n > 0 {
            self.stats.borrow_mut().errors[kind as usize] += n as u64;
            WsLive::bump(&self.live.errors, n as u64);
        }
    }

    /// The results so far and the messages published, leaving the recorder empty.
    pub fn take(&self) -> (Stats, u64) {
        (
            std::mem::take(&mut *self.stats.borrow_mut()),
            self.published.replace(0),
        )
    }
}

/// What every socket of a run does, fixed before it starts.
#[derive(Debug)]
pub struct WsPlan {
    /// The resolved target.
    pub addr: SocketAddr,
    /// Its URL's parts (path and `Host` for the upgrade).
    pub target: Target,
    /// Message payload (unmasked): echo messages, or the template a publisher stamps.
    pub payload: Vec<u8>,
    /// Binary messages rather than text.
    pub binary: bool,
    /// Messages in flight at most per echo socket, or for the closed-loop publisher.
    pub window: usize,
    /// Connect and upgrade timeout, and the longest silence while answers are due.
    pub timeout: Duration,
    /// Deliveries carry this process's timestamps (the publisher is ours).
    pub stamped: bool,
}

impl WsPlan {
    fn opcode(&self) -> OpCode {
        OpCode::Data(if self.binary {
            Data::Binary
        } else {
            Data::Text
        })
    }
}

/// When the measured part of the run starts: set once every socket is open (or the wait for
/// them timed out); echo sockets and the publisher wait for it.
pub type Gate = watch::Receiver<Option<Instant>>;

async fn opened(gate: &mut Gate) -> Instant {
    match gate.wait_for(|g| g.is_some()).await {
        Ok(g) => g.unwrap_or_else(Instant::now),
        // The run is over (the sender is gone): start now, the task is about to be dropped.
        Err(_) => Instant::now(),
    }
}

/// How a session ended.
enum End {
    /// Done: nothing more to send or to wait for.
    Finished,
    /// The socket is gone or unusable: open another.
    Reconnect,
}

/// An upgraded socket with its read buffer and the message being reassembled.
struct Socket {
    stream: TcpStream,
    buf: BytesMut,
    out: Vec<u8>,
    rng: Masker,
    /// Bytes of the message so far, and its first bytes (where a timestamp is).
    msg_len: usize,
    head: [u8; 16],
}

/// A complete data message: its length and its first (up to) 16 bytes.
struct Message {
    len: usize,
    head: [u8; 16],
}

impl Socket {
    /// Connects and upgrades, or says what failed.
    async fn open(plan: &WsPlan) -> Result<Socket, ErrorKind> {
        let Ok(Ok(stream)) =
            tokio::time::timeout(plan.timeout, TcpStream::connect(plan.addr)).await
        else {
            return Err(ErrorKind::Connect);
        };
        let _ = stream.set_nodelay(true);
        let mut rng = Masker::seeded();
        let key = new_key(&mut rng);
        let mut s = Socket {
            stream,
            buf: BytesMut::with_capacity(READ_SIZE),
            out: Vec::with_capacity(READ_SIZE),
            rng,
            msg_len: 0,
            head: [0; 16],
        };
        if s.stream
            .write_all(&request(&plan.target, &key))
            .await
            .is_err()
        {
            return Err(ErrorKind::Write);
        }
        let upgrade = async {
            loop {
                match check_response(&s.buf, &key) {
                    Ok(Some(used)) => {
                        s.buf.advance(used);
                        return Ok(());
                    }
                    Ok(None) => {}
                    Err(_) => return Err(ErrorKind::Parse),
                }
                match s.stream.read_buf(&mut s.buf).await {
                    Ok(0) => return Err(ErrorKind::Closed),
                    Ok(_) => {}
                    Err(_) => return Err(ErrorKind::Read),
                }
            }
        };
        match tokio::time::timeout(plan.timeout, upgrade).await {
            Ok(Ok(())) => Ok(s),
            Ok(Err(kind)) => Err(kind),
            Err(_) => Err(ErrorKind::Timeout),
        }
    }

    /// Queues a data message (masked) for the next [`flush`](Self::flush).
    fn queue(&mut self, opcode: OpCode, payload: &[u8]) {
        let mask = self.rng.key();
        encode(&mut self.out, opcode, payload, mask);
    }

    async fn flush(&mut self) -> std::io::Result<usize> {
        let n = self.out.len();
        if n > 0 {
            self.stream.write_all(&self.out).await?;
            self.out.clear();
        }
        Ok(n)
    }

    /// Reads once; `Err` with the kind that lost the socket (`Closed` for an orderly end).
    async fn read(&mut self, rec: &WsRecorder) -> Result<(), ErrorKind> {
        if self.buf.capacity() - self.buf.len() < READ_SIZE / 4 {
            self.buf.reserve(READ_SIZE);
        }
        match self.stream.read_buf(&mut self.buf).await {
            Ok(0) => Err(ErrorKind::Closed),
            Ok(n) => {
                rec.stats.borrow_mut().bytes_read += n as u64;
                Ok(())
            }
            Err(_) => Err(ErrorKind::Read),
        }
    }

    /// Frames what has been read: each complete data message goes to `on_message`; pings get
    /// their pong queued (RFC 6455 §5.5.2); a close is answered and ends the socket.
    fn drain(&mut self, mut on_message: impl FnMut(Message)) -> Result<(), ErrorKind> {
        let mut at = 0;
        let result = loop {
            let frame = match decode(&self.buf[at..]) {
                Ok(Some(f)) => f,
                Ok(None) => break Ok(()),
                Err(_) => break Err(ErrorKind::Parse),
            };
            let used = frame.used;
            match frame.kind {
                Kind::Data { fin, .. } => {
                    let have = self.msg_len.min(16);
                    let take = frame.payload.len().min(16 - have);
                    self.head[have..have + take].copy_from_slice(&frame.payload[..take]);
                    self.msg_len += frame.payload.len();
                    if fin {
                        on_message(Message {
                            len: self.msg_len,
                            head: self.head,
                        });
                        self.msg_len = 0;
                    }
                }
                Kind::Ping => {
                    let payload = frame.payload.to_vec();
                    at += used;
                    self.queue(OpCode::Control(Control::Pong), &payload);
                    continue;
                }
                Kind::Pong => {}
                Kind::Close(_) => {
                    let mask = self.rng.key();
                    encode(&mut self.out, OpCode::Control(Control::Close), &[], mask);
                    break Err(ErrorKind::Closed);
                }
            }
            at += used;
        };
        self.buf.advance(at);
        result
    }

    /// Ends the socket politely (close 1000, RFC 6455 §7.4.1) without waiting for the reply.
    async fn close(mut self) {
        let mask = self.rng.key();
        encode(
            &mut self.out,
            OpCode::Control(Control::Close),
            &1000u16.to_be_bytes(),
            mask,
        );
        let _ = self.flush().await;
    }
}

/// What an echo socket needs besides the plan.
pub struct EchoSocket {
    /// Messages/s for all echo sockets together, or closed loop.
    pub rate: Option<f64>,
    /// This socket's index among all of them, and their number (staggers the schedules).
    pub index: usize,
    /// All echo sockets of the run.
    pub total: usize,
    /// The thread's pacer (constant rate only) and this socket's slot in it.
    pub clock: Clock,
}

/// Runs one echo socket until its thread's budget is spent (or the thread drops it).
pub async fn echo(
    plan: Rc<WsPlan>,
    me: EchoSocket,
    budget: Rc<Budget>,
    rec: Rc<WsRecorder>,
    ready: Arc<AtomicUsize>,
    mut gate: Gate,
) {
    let mut pacing: Option<Pacing> = None;
    let mut counted = false;
    while !budget.exhausted() {
        let mut socket = match Socket::open(&plan).await {
            Ok(s) => s,
            Err(kind) => {
                // With -n, an attempt that could not even upgrade is one lost message, so a
                // target that is down or refuses ends the run instead of retrying forever.
                rec.error(kind, budget.claim(1));
                tokio::time::sleep(BACKOFF).await;
                continue;
            }
        };
        if !counted {
            counted = true;
            ready.fetch_add(1, Ordering::Relaxed);
        } else {
            rec.stats.borrow_mut().reconnects += 1;
        }
        let start = opened(&mut gate).await;
        let pacing = pacing.get_or_insert_with(|| match me.rate {
            None => Pacing::Closed,
            Some(r) => Pacing::Constant(Schedule::new(start, r, me.index, me.total)),
        });
        match echo_session(&mut socket, &plan, pacing, &me.clock, &budget, &rec).await {
            End::Finished => return socket.close().await,
            End::Reconnect => continue,
        }
    }
}

async fn echo_session(
    socket: &mut Socket,
    plan: &WsPlan,
    pacing: &mut Pacing,
    clock: &Clock,
    budget: &Budget,
    rec: &WsRecorder,
) -> End {
    let opcode = plan.opcode();
    let mut starts: VecDeque<Instant> = VecDeque::with_capacity(plan.window);
    let mut last_io = Instant::now();
    let silence = tokio::time::sleep(plan.timeout);
    tokio::pin!(silence);
    loop {
        let now = Instant::now();
        // Closed loop keeps the window full (one new message per echo), not a batch per
        // empty window as HTTP pipelining does.
        let want = match pacing {
            Pacing::Closed => plan.window - starts.len(),
            _ => pacing.ready(now, starts.len(), plan.window),
        };
        let n = budget.claim(want);
        if n > 0 {
            for _ in 0..n {
                starts.push_back(pacing.start(now));
                socket.queue(opcode, &plan.payload);
            }
        }
        match socket.flush().await {
            Ok(k) => {
                rec.stats.borrow_mut().bytes_written += k as u64;
                if k > 0 {
                    last_io = now;
                }
            }
            Err(_) => {
                rec.error(ErrorKind::Write, starts.len());
                return End::Reconnect;
            }
        }
        if starts.is_empty() && budget.exhausted() {
            return End::Finished;
        }
        let due = match (budget.exhausted(), clock) {
            (false, Some(clock)) => pacing.next_due(starts.len(), plan.window).zip(Some(clock)),
            _ => None,
        };
        tokio::select! {
            biased;
            read = socket.read(rec) => {
                let now = Instant::now();
                if let Err(kind) = read {
                    rec.error(kind, starts.len());
                    return End::Reconnect;
                }
                last_io = now;
                let mut wrong = 0;
                let drained = socket.drain(|m| match starts.pop_front() {
                    Some(start) if m.len == plan.payload.len() => {
                        rec.message(Some(now.saturating_duration_since(start)));
                    }
                    // An echo of the wrong size, or one nobody asked for.
                    Some(_) | None => wrong += 1,
                });
                if wrong > 0 {
                    rec.error(ErrorKind::Parse, wrong + starts.len());
                    return End::Reconnect;
                }
                if let Err(kind) = drained {
                    let _ = socket.flush().await;
                    rec.error(kind, starts.len());
                    return End::Reconnect;
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

/// Runs one subscriber: receives until the thread drops it, or until `expect` messages have
/// arrived (`-n`; then a silence of the timeout counts the missing ones as timeouts).
pub async fn subscribe(
    plan: Rc<WsPlan>,
    expect: Option<u64>,
    rec: Rc<WsRecorder>,
    ready: Arc<AtomicUsize>,
) {
    let mut got = 0u64;
    let mut counted = false;
    loop {
        let mut socket = match Socket::open(&plan).await {
            Ok(s) => s,
            Err(kind) => {
                rec.error(kind, 1);
                if expect.is_some() && !counted {
                    // -n: a subscriber that never got in cannot receive anything; give up.
                    return;
                }
                tokio::time::sleep(BACKOFF).await;
                continue;
            }
        };
        if !counted {
            counted = true;
            ready.fetch_add(1, Ordering::Relaxed);
        } else {
            rec.stats.borrow_mut().reconnects += 1;
        }
        loop {
            if expect.is_some_and(|n| got >= n) {
                return socket.close().await;
            }
            let read = match expect {
                Some(n) => match tokio::time::timeout(plan.timeout, socket.read(&rec)).await {
                    Ok(r) => r,
                    Err(_) => {
                        rec.error(ErrorKind::Timeout, (n - got) as usize);
                        return;
                    }
                },
                None => socket.read(&rec).await,
            };
            if let Err(kind) = read {
                rec.error(kind, 1);
                break;
            }
            let drained = socket.drain(|m| {
                got += 1;
                let now = now_ns();
                let latency = plan
                    .stamped
                    .then(|| read_stamp(&m.head[..m.len.min(16)], plan.binary))
                    .flatten()
                    .map(|sent| Duration::from_nanos(now.saturating_sub(sent)));
                rec.message(latency);
            });
            if socket.flush().await.is_err() {
                rec.error(ErrorKind::Write, 1);
                break;
            }
            if let Err(kind) = drained {
                rec.error(kind, 1);
                break;
            }
        }
        tokio::time::sleep(BACKOFF).await;
    }
}

/// How the bench's own publisher paces its messages.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Publish {
    /// Messages/s on a constant schedule.
    Rate(f64),
    /// A window of messages in flight: each is retired when the server's broadcast of it
    /// reaches the publisher (which is subscribed too), so the server sets the pace.
    Closed,
}

/// Runs the publisher: stamped messages from the gate on, `limit` of them at most (`-n`).
pub async fn publish(
    plan: Rc<WsPlan>,
    how: Publish,
    limit: Option<u64>,
    rec: Rc<WsRecorder>,
    mut gate: Gate,
) {
    let start = opened(&mut gate).await;
    let mut schedule = match how {
        Publish::Rate(r) => Some(Schedule::new(start, r, 0, 1)),
        Publish::Closed => None,
    };
    let opcode = plan.opcode();
    let mut payload = plan.payload.clone();
    let mut in_flight = 0usize;
    loop {
        let mut socket = match Socket::open(&plan).await {
            Ok(s) => s,
            Err(kind) => {
                rec.error(kind, 1);
                tokio::time::sleep(BACKOFF).await;
                continue;
            }
        };
        loop {
            let left = limit.map_or(u64::MAX, |n| n - rec.published.get());
            let now = Instant::now();
            let due = match &mut schedule {
                Some(s) => {
                    let mut k = 0u64;
                    while s.due() <= now && k < left {
                        s.take();
                        k += 1;
                    }
                    k
                }
                None => (plan.window - in_flight) as u64,
            }
            .min(left);
            for _ in 0..due {
                stamp(&mut payload, plan.binary, now_ns());
                socket.queue(opcode, &payload);
            }
            in_flight += due as usize;
            rec.published.set(rec.published.get() + due);
            match socket.flush().await {
                Ok(k) => rec.stats.borrow_mut().bytes_written += k as u64,
                Err(_) => {
                    rec.error(ErrorKind::Write, 1);
                    break;
                }
            }
            if left == due && limit.is_some() {
                // Everything is sent; keep reading (pongs, and not to stall the server's
                // writes to us) until the thread ends.
                schedule = None;
            }
            let next = schedule.as_ref().map(|s| s.due());
            tokio::select! {
                read = socket.read(&rec) => {
                    if read.is_err() {
                        rec.error(ErrorKind::Closed, 1);
                        break;
                    }
                    let drained = socket.drain(|_| in_flight = in_flight.saturating_sub(1));
                    if drained.is_err() {
                        break;
                    }
                }
                _ = async { if let Some(at) = next { tokio::time::sleep_until(at.into()).await } },
                    if next.is_some() => {}
            }
        }
        in_flight = 0;
        tokio::time::sleep(BACKOFF).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stamps_round_trip_in_text_and_binary() {
        for binary in [false, true] {
            let mut p = vec![b'x'; 64];
            let ns = 0x0123_4567_89ab_cdef;
            stamp(&mut p, binary, ns);
            assert_eq!(read_stamp(&p, binary), Some(ns));
            if !binary {
                assert_eq!(&p[..16], b"0123456789abcdef");
                assert!(std::str::from_utf8(&p).is_ok(), "text stays UTF-8");
            }
        }
        assert_eq!(read_stamp(b"not a stamp at all", false), None);
        assert_eq!(read_stamp(b"short", true), None);
        assert!(now_ns() < now_ns() + 1);
    }
}
