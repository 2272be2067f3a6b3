//! One WebSocket connection after its `101`: the socket split in a reading and a writing half
//! run together on the IO thread's task, the session between them and the handler.
//!
//! The reader turns bytes into messages for the handler (stopping while its inbox is full),
//! answers pings and notes the peer's close. The writer sends what the handler and broadcasts
//! queued, the pongs and closes, the keep-alive pings, and ends the connection: after both
//! closes (the server closes TCP first, RFC 6455 §7.1.1), after a protocol failure (§7.1.7),
//! or when the peer does not answer our close within the close timeout.

use std::cell::RefCell;
use std::sync::Arc;
use std::time::Duration;

use bytes::BytesMut;
use tokio::sync::watch;
use tokio::time::{sleep_until, timeout, Instant};

use crate::config::WsConfig;
use crate::io::{Conn, Peer, ReadHalf, WriteHalf};
use crate::log::{self, Level};
use crate::metrics::Registry;
use crate::protocol::ws::deflate::Inflater;
use crate::protocol::ws::frame;
use crate::protocol::ws::{Failure, Incoming, Reader};
use crate::websocket::{Open, Session};

use super::spin;

/// What one write takes from the send queue at most: large enough to batch a burst of small
/// messages into one system call, small enough that a pong is not stuck behind megabytes.
const WRITE_BATCH: usize = 64 * 1024;

/// What the two halves tell each other.
#[derive(Default)]
struct Local {
    /// Encoded control frames (pongs) to send before anything queued after them.
    control: Vec<u8>,
    /// The peer's close, as received.
    peer_close: Option<(Option<u16>, Box<str>)>,
    /// The peer broke the protocol.
    failed: Option<Failure>,
    /// The socket reached end of stream or failed.
    gone: bool,
    /// Our close frame is out: whatever else the peer sends is read and dropped.
    close_sent: bool,
    /// When our last ping went out, if its pong has not come.
    ping_out: Option<Instant>,
}

/// How a WebSocket connection ended, for the log.
struct Ended {
    code: u16,
}

/// What a closed WebSocket reports: its close code and the bytes it sent.
pub(crate) struct Closed {
    pub code: u16,
    pub bytes_out: usize,
}

/// Serves an accepted WebSocket until it closes. `rbuf` holds what the client sent after its
/// upgrade request.
#[allow(clippy::too_many_arguments)]
pub(crate) async fn serve<C: Conn>(
    conn: C,
    rbuf: BytesMut,
    session: Arc<Session>,
    cfg: WsConfig,
    write_timeout: Duration,
    drain: watch::Receiver<bool>,
    peer: Peer,
    open: Open,
    metrics: Option<Arc<Registry>>,
) -> Closed {
    let started = Instant::now();
    if let Some(m) = &metrics {
        m.ws_open(true);
    }
    let metrics = metrics.as_deref();
    let (rd, wr) = conn.split();
    let inflater = session.deflate.as_ref().map(Inflater::new);
    let reader = Reader::new(cfg.max_message, inflater);
    let local = RefCell::new(Local::default());
    // An idle socket keeps no read buffer (see `ReadHalf::read`).
    let rbuf = if rbuf.is_empty() {
        BytesMut::new()
    } else {
        rbuf
    };
    let reading = read_loop(rd, rbuf, reader, &session, &local, metrics);
    let sent = std::cell::Cell::new(0usize);
    let writing = write_loop(
        wr,
        &session,
        &local,
        &cfg,
        write_timeout,
        drain,
        metrics,
        &sent,
    );
    let ((), ended) = tokio::join!(reading, writing);
    let (code, _) = session.closed().unwrap_or((ended.code, Box::from("")));
    if let Some(m) = metrics {
        m.ws_open(false);
        m.ws_closed(code);
    }
    log::write(
        Level::Debug,
        format_args!(
            "{peer}: websocket closed ({code}) after {:.3} s",
            started.elapsed().as_secs_f64()
        ),
    );
    drop(open);
    Closed {
        code,
        bytes_out: sent.get(),
    }
}

async fn read_loop<R: ReadHalf>(
    mut rd: R,
    mut rbuf: BytesMut,
    mut reader: Reader,
    session: &Arc<Session>,
    local: &RefCell<Local>,
    metrics: Option<&Registry>,
) {
    // After a close or a failure: read and drop until the peer's end of stream.
    let mut discard = false;
    loop {
        while !discard {
            let event = reader.next(&mut rbuf);
            let closing = local.borrow().close_sent;
            match event {
                Ok(Some(Incoming::Message(kind, data))) => {
                    if let Some(m) = metrics {
                        m.ws_in(data.len());
                    }
                    // After our close, data is read and dropped (§5.5.1).
                    if closing || session.deliver(kind, data) {
                        continue;
                    }
                    // The handler is behind: stop reading until it takes a message (the
                    // peer's TCP window fills and it waits), or until we close.
                    while !session.inbox_has_room() && !local.borrow().close_sent {
                        session.reader.notified().await;
                    }
                }
                Ok(Some(Incoming::Ping(payload))) => {
                    frame::control(&mut local.borrow_mut().control, true, &payload);
                    session.writer.notify_one();
                }
                Ok(Some(Incoming::Pong)) => local.borrow_mut().ping_out = None,
                Ok(Some(Incoming::Close(code, reason))) => {
                    local.borrow_mut().peer_close = Some((code, reason));
                    session.writer.notify_one();
                    // The writer ends the connection; nothing after a close frame counts
                    // (§5.5.1).
                    discard = true;
                }
                Ok(None) => break,
                Err(f) => {
                    local.borrow_mut().failed = Some(f);
                    session.writer.notify_one();
                    discard = true;
                }
            }
        }
        if discard {
            rbuf.clear();
        }
        if rbuf.is_empty() && rbuf.capacity() > 0 {
            rbuf = BytesMut::new();
        }
        let (r, b) = rd.read(rbuf).await;
        rbuf = b;
        if !matches!(r, Ok(n) if n > 0) {
            local.borrow_mut().gone = true;
            session.writer.notify_one();
            return;
        }
    }
}

#[allow(clippy::too_many_arguments)]
async fn write_loop<W: WriteHalf>(
    mut wr: W,
    session: &Arc<Session>,
    local: &RefCell<Local>,
    cfg: &WsConfig,
    write_timeout: Duration,
    mut drain: watch::Receiver<bool>,
    metrics: Option<&Registry>,
    sent: &std::cell::Cell<usize>,
) -> Ended {
    let mut wbuf = Vec::new();
    let mut last_ping = Instant::now();
    let mut close_deadline: Option<Instant> = None;
    let mut settle_until: Option<Instant> = None;
    let far = Instant::now() + Duration::from_secs(86_400 * 365);
    let timer = sleep_until(far);
    tokio::pin!(timer);
    let mut armed: Option<Instant> = None;
    let mut draining = *drain.borrow();
    if draining {
        session.close(1001, "server shutting down");
    }
    let ended = loop {
        // What to send now, and whether the connection is over once it is out.
        let mut finished = None;
        if wbuf.capacity() == 0 {
            wbuf = pooled();
        }
        {
            let mut l = local.borrow_mut();
            wbuf.append(&mut l.control);
            if l.gone && !l.close_sent {
                session.end(1006, "");
                break Ended { code: 1006 };
            }
            if l.failed.is_some() && !l.close_sent && !settled(session, &mut settle_until, cfg) {
                // Messages that came before the bad frame are answered first (Autobahn 3.x,
                // 4.x, 5.15: strict behaviour), within a bound.
                session.take_frames(&mut wbuf, WRITE_BATCH);
            } else if let Some(f) = l.failed {
                if !l.close_sent {
                    // What the handler queued before it settled goes out before the close.
                    session.take_frames(&mut wbuf, usize::MAX);
                    frame::close(&mut wbuf, Some(f.code), f.reason);
                    l.close_sent = true;
                    session.end(f.code, f.reason);
                }
                finished = Some(f.code);
            } else if let Some((code, reason)) = l.peer_close.clone() {
                if !l.close_sent {
                    session.take_frames(&mut wbuf, usize::MAX);
                    // Echo the peer's code (§5.5.1); a close without one gets one without.
                    frame::close(&mut wbuf, code, "");
                    l.close_sent = true;
                    session.end(code.unwrap_or(1005), &reason);
                }
                finished = Some(code.unwrap_or(1005));
            } else if !l.close_sent {
                let before = wbuf.len();
                let n = session.take_frames(&mut wbuf, WRITE_BATCH);
                if let Some(m) = metrics {
                    m.ws_out(n, wbuf.len() - before);
                }
                if let Some((code, reason)) = session.take_close_request() {
                    frame::close(&mut wbuf, Some(code), &reason);
                    l.close_sent = true;
                    session.end(code, &reason);
                    close_deadline = Some(Instant::now() + cfg.close_timeout);
                }
            }
        }
        if local.borrow().close_sent {
            // Unblocks a reader waiting for inbox room: it now reads and drops.
            session.reader.notify_one();
        }
        if !wbuf.is_empty() {
            let buf = std::mem::take(&mut wbuf);
            sent.set(sent.get() + buf.len());
            match timeout(write_timeout, wr.write_all(buf)).await {
                Ok((Ok(()), buf)) => {
                    // An idle socket keeps no write buffer: it goes back to the thread's pool.
                    give_back(buf);
                    spin::activity();
                }
                _ => {
                    session.end(1006, "");
                    break Ended { code: 1006 };
                }
            }
        }
        if let Some(code) = finished {
            break Ended { code };
        }
        let ping_at = match (cfg.ping_interval, local.borrow().ping_out) {
            (_, Some(sent)) => Some(sent + cfg.ping_timeout),
            (Some(every), None) => Some(last_ping + every),
            (None, None) => None,
        };
        if wbuf.capacity() > 0 && wbuf.is_empty() {
            give_back(std::mem::take(&mut wbuf));
        }
        let waiting_close = local.borrow().close_sent;
        if !waiting_close && session.has_frames() {
            // Left behind by the batch limit: no notify will come for them.
            continue;
        }
        // One timer for the nearest deadline, reset only when that changes: a timer made per
        // wake-up cost a clock read and a timer-wheel entry per message.
        let next = [
            ping_at.filter(|_| !waiting_close),
            settle_until.filter(|_| !waiting_close),
            close_deadline,
        ]
        .into_iter()
        .flatten()
        .min();
        if next != armed {
            timer.as_mut().reset(next.unwrap_or(far));
            armed = next;
        }
        tokio::select! {
            _ = session.writer.notified() => {}
            _ = &mut timer, if armed.is_some() => {
                armed = None;
                let now = Instant::now();
                if close_deadline.is_some_and(|d| now >= d) {
                    // The peer never answered our close: drop the connection (§7.1.1).
                    break Ended { code: session.closed().map_or(1006, |c| c.0) };
                }
                if ping_at.is_some_and(|p| now >= p) && !waiting_close {
                    let mut l = local.borrow_mut();
                    if l.ping_out.is_some() {
                        l.failed = Some(Failure { code: 1011, reason: "keepalive ping timeout" });
                    } else {
                        frame::control(&mut l.control, false, b"");
                        last_ping = now;
                        l.ping_out = Some(last_ping);
                    }
                }
                // A settle bound that passed is seen by `settled` on the next turn.
            }
            _ = drain.wait_for(|d| *d), if !draining => {
                draining = true;
                session.close(1001, "server shutting down");
            }
        }
    };
    // A reader waiting for inbox room (the handler fell behind) must not wait any more: it
    // reads on, and sees the end of stream the abort below makes.
    local.borrow_mut().close_sent = true;
    session.reader.notify_one();
    // The server closes TCP first (§7.1.1): our FIN, then a short wait for the peer's end of
    // stream, so the kernel does not reset a peer still reading our close.
    wr.shutdown().await;
    let linger = Instant::now() + cfg.close_timeout.min(Duration::from_secs(1));
    while !local.borrow().gone && Instant::now() < linger {
        tokio::select! {
            _ = session.writer.notified() => {}
            _ = sleep_until(linger) => break,
        }
    }
    wr.abort();
    ended
}

/// Whether a failing connection may close now: the handler took every message that came
/// before the failure and waits for more, or the bound (at most 1 s) passed.
fn settled(session: &Session, until: &mut Option<Instant>, cfg: &WsConfig) -> bool {
    let until = *until
        .get_or_insert_with(|| Instant::now() + cfg.close_timeout.min(Duration::from_secs(1)));
    session.settled() || Instant::now() >= until
}

thread_local! {
    /// Write buffers of this IO thread's WebSockets between writes: a socket that sends now
    /// and then would otherwise allocate (and grow) a buffer per write (malloc, realloc and
    /// free were 4% of the IO thread in a broadcast to 1,000 subscribers).
    static POOL: RefCell<Vec<Vec<u8>>> = const { RefCell::new(Vec::new()) };
}

/// Buffers kept in the pool at most, and the largest kept.
const POOL_MAX: usize = 64;

fn pooled() -> Vec<u8> {
    POOL.with(|p| p.borrow_mut().pop()).unwrap_or_default()
}

fn give_back(mut buf: Vec<u8>) {
    if buf.capacity() > 2 * WRITE_BATCH {
        return;
    }
    buf.clear();
    POOL.with(|p| {
        let mut p = p.borrow_mut();
        if p.len() < POOL_MAX {
            p.push(buf);
        }
    });
}
