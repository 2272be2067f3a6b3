//! One HTTP/1.1 connection: read heads and bodies, keep-alive, 100-continue, pipelining, and
//! writing the encoded answers in request order. What happens to each request in between
//! (route, admit, middleware, dispatch, respond, record) is the [`pipeline`](crate::pipeline)'s.
//!
//! Requests that are already buffered (pipelining) are parsed and dispatched before the first
//! answer is awaited, so sixteen pipelined requests cost one wake-up of the Python thread, not
//! sixteen. Answers are written in request order (RFC 9112 §9.3.2) in as few writes as possible.

use std::collections::VecDeque;
use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use tokio::sync::oneshot::error::TryRecvError;
use tokio::sync::{oneshot, watch};
use tokio::time::{sleep_until, Instant as TokioInstant};

use crate::io::socket::PeerState;
use crate::io::{Conn, Peer, Secure};
use crate::log::{self, Level};
use crate::middleware::StreamEncoder;
use crate::pipeline::answers::unanswered;
use crate::pipeline::{front, Cancel, Ctx, Exchange, Front, RouteKind, Routed};
use crate::protocol::h1::encode::{
    write_chunk, write_error, write_last_chunk, write_last_chunk_with, write_response_head,
    Framing, CONTINUE_100,
};
use crate::protocol::h1::{
    date, parse_head, BodyDecoder, BodyFraming, Method, ProtoError, RequestHead, Version,
};
use crate::protocol::h2::upgrade::{stream_one, wants_h2c, SWITCHING};
use crate::protocol::problem::problem;
use crate::protocol::response::{Body, Chunk, FileBody, Response, StreamBody};
use crate::protocol::status::status_allows_body;
use crate::server::spin;
use crate::server::ticker::{ticker, Ticker};
use crate::server::unwind::{self, CatchUnwind};

#[path = "stream_body.rs"]
mod stream_body;
#[path = "upgrade.rs"]
mod upgrade;

/// Why a connection loop stopped.
enum Stop {
    /// A WebSocket handler accepted: the connection now carries that WebSocket.
    Upgraded(Box<upgrade::Upgraded>),
    /// The client sent the HTTP/2 preface: the connection is HTTP/2 from its first byte.
    Http2,
    /// An `Upgrade: h2c` request was answered 101: the connection is HTTP/2, and these are
    /// its request's HEADERS frames as stream 1 (`protocol::h2::upgrade`).
    Http2Upgraded(Vec<u8>),
    /// We decided to close (after `connection: close`, an error answer, a drain or a timeout):
    /// half-close the write side so the client reads everything we sent.
    Done,
    /// The peer went away or the socket failed: nothing more can be written.
    Gone,
}

/// What came of waiting for more bytes.
enum Read {
    Data,
    Eof,
    Timeout,
    Drain,
}

/// An answer in the pipeline, in request order.
struct Pending {
    answer: Answer,
    meta: Meta,
}

/// What the encoder needs to know about the request an answer is for.
struct Meta {
    head_only: bool,
    close: bool,
    keep_alive_10: bool,
    version_10: bool,
    /// The request's state in the pipeline (middleware, trace, metrics, access log).
    ex: Exchange,
}

enum Answer {
    Ready(Response),
    Wait(Waiting),
}

/// A request handed to the handlers, not answered yet.
struct Waiting {
    rx: oneshot::Receiver<Response>,
    id: u64,
    /// The ticker's time at dispatch (see `ticker.rs`).
    since: u64,
    /// How long the handler may take from dispatch (504 after), if it has a limit.
    limit: Option<Duration>,
    /// The request's whole time limit (counted from its head's arrival), for the 504's text.
    stated: Option<Duration>,
    /// Keeps this thread from busy polling while the handler works (`spin.rs`).
    _in_flight: spin::InFlight,
}

/// What of a response is left to send after its head.
enum Rest {
    Stream(StreamBody),
    File(FileBody),
}

/// Sent in pieces of this size, each within the write timeout: a client that stops reading is
/// dropped after the timeout, one that reads slowly is not (a 1 GiB file need not fit in it).
const FILE_PIECE: u64 = 1024 * 1024;

/// Frames streamed data (chunked, or raw for HTTP/1.0), through a compressor when there is one.
struct Body10OrChunked {
    version_10: bool,
    scratch: Vec<u8>,
    /// Body bytes framed so far (after content-coding, without chunk framing): the response
    /// body size the metrics record.
    sent: u64,
}

/// Appends one piece of a streamed body; never an empty chunk, which would end a chunked body.
fn frame(version_10: bool, wbuf: &mut Vec<u8>, data: &[u8]) {
    if data.is_empty() {
    } else if version_10 {
        wbuf.extend_from_slice(data);
    } else {
        write_chunk(wbuf, data);
    }
}

impl Body10OrChunked {
    fn put(
        &mut self,
        wbuf: &mut Vec<u8>,
        encoder: &mut Option<StreamEncoder>,
        data: &[u8],
    ) -> Result<(), Stop> {
        match encoder {
            None => {
                frame(self.version_10, wbuf, data);
                self.sent += data.len() as u64;
            }
            // A failed encoder cannot complete the body: cut it like a failed producer.
            Some(e) => e.write(data).map_err(|_| Stop::Gone)?,
        }
        Ok(())
    }

    /// Frames what the compressor holds: a sync flush (`last` false) before a socket write, or
    /// its final bytes (`last` true) at the end of the body.
    fn drain(
        &mut self,
        wbuf: &mut Vec<u8>,
        encoder: &mut Option<StreamEncoder>,
        last: bool,
    ) -> Result<(), Stop> {
        if let Some(e) = encoder {
            self.scratch.clear();
            match last {
                false => e.flush(&mut self.scratch),
                true => e.finish(&mut self.scratch),
            }
            .map_err(|_| Stop::Gone)?;
            frame(self.version_10, wbuf, &self.scratch);
            self.sent += self.scratch.len() as u64;
        }
        Ok(())
    }
}

/// How long an idle connection is still read after a drain begins: a request that crossed the
/// drain on the wire is answered, not reset (a reload under keep-alive load lost 0-61 requests
/// per two reloads without it, benches/reload.py).
const DRAIN_GRACE: std::time::Duration = std::time::Duration::from_millis(300);

/// How long a closing connection reads and discards what the client still sends after our
/// last answer, so that data arriving after close(2) does not make the kernel reset the
/// connection before the client has read that answer (a lingering close).
const LINGER: std::time::Duration = std::time::Duration::from_secs(1);

/// The interim response that tells a closed client from a half-closed one (see `client_left`).
const EARLY_HINTS_103: &[u8] = b"HTTP/1.1 103 Early Hints\r\n\r\n";

/// How often an idle streamed body looks whether its client is still there.
const STREAM_PEER_CHECK: Duration = Duration::from_secs(1);

/// Buffers above this are given back after use so idle keep-alive connections stay small.
const KEEP_BUF: usize = 64 * 1024;
// BOXED_PATHS: every connection's task holds a future as large as the largest state of any
// path it could take, and copies it once into the task when the connection opens. The rare
// paths (a WebSocket upgrade, a mount's streamed request, a streamed or file response, a large
// body) are boxed, allocated only when taken, so the common request-response path sets the
// size: 9,368 bytes per connection before (TLS and HTTP/2 included), 5,688 with those boxed
// (server/entry.rs), 3,920 with these.
/// Bodies of a known length at least this large are read into a buffer of their own size
/// (`read_sized_body`); smaller ones usually arrive with their head, in one read.
const SIZED_READ_MIN: usize = 64 * 1024;
/// Above this many open connections in the worker, a connection waiting for its next request
/// lets its buffers go (see `run`).
const RELEASE_BUFFERS_ABOVE: usize = 256;
/// Spare room past a sized body: the drivers grow a buffer with less than 4 KiB spare.
const SIZED_READ_SLACK: usize = 8 * 1024;

/// The HTTP/2 client preface's first line (RFC 9113 §3.4): enough to tell it from any
/// HTTP/1.1 request line.
const H2_PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n";

/// What ended an HTTP/1.1 connection that the caller may carry on.
pub(crate) enum Handoff<C> {
    /// Nothing: the connection is closed.
    Closed,
    /// The client spoke HTTP/2 with prior knowledge: the connection, and what was read of it.
    Http2(C, BytesMut),
    /// The client asked for h2c by `Upgrade` and got its 101: the connection, its request as
    /// stream 1's HEADERS frames, and what was read after the request.
    Http2Upgraded(C, Vec<u8>, BytesMut),
}

/// Serves one connection until it closes (or turns out to be HTTP/2, when `h2c`). `secure` is
/// the TLS connection's state, given to each request.
pub(crate) async fn serve<C: Conn>(
    conn: C,
    peer: Peer,
    ctx: Rc<Ctx>,
    secure: Option<Arc<Secure>>,
    h2c: bool,
) -> Handoff<C> {
    let drain = ctx.shared.drain_signal();
    let mut c = Connection {
        conn,
        peer,
        ctx,
        // Where reads wait for readiness, the buffers come with the first bytes and answer.
        rbuf: match C::ALLOCATES_WHEN_READY {
            true => BytesMut::new(),
            false => BytesMut::with_capacity(8 * 1024),
        },
        wbuf: match C::ALLOCATES_WHEN_READY {
            true => Vec::new(),
            false => Vec::with_capacity(8 * 1024),
        },
        pending: VecDeque::new(),
        drain,
        closing: false,
        streaming: false,
        ticker: ticker(),
        probed: false,
        secure,
        h2c,
        h2c_upgrade: h2c,
    };
    match CatchUnwind(c.run()).await {
        Ok(Err(Stop::Http2)) => {
            return Handoff::Http2(c.conn, c.rbuf);
        }
        Ok(Err(Stop::Http2Upgraded(opening))) => {
            return Handoff::Http2Upgraded(c.conn, opening, c.rbuf);
        }
        Ok(Err(Stop::Upgraded(up))) => {
            // The HTTP buffers go now, not when the WebSocket ends (8 KiB per idle socket).
            drop(std::mem::take(&mut c.wbuf));
            drop(std::mem::take(&mut c.pending));
            let Connection {
                conn,
                rbuf,
                ctx,
                drain,
                peer,
                ..
            } = c;
            let up = *up;
            let cfg = ctx.config.ws.clone();
            let served = super::ws::serve(
                conn,
                rbuf,
                up.session.clone(),
                cfg,
                ctx.config.write_timeout,
                drain,
                peer.clone(),
                up.open,
                ctx.shared.metrics.clone(),
            );
            // Boxed: see BOXED_PATHS.
            let (code, bytes) = match CatchUnwind(Box::pin(served)).await {
                Ok(closed) => (closed.code, closed.bytes_out),
                Err(payload) => {
                    log::write(
                        Level::Error,
                        format_args!(
                            "{peer}: panic while serving a websocket: {}",
                            unwind::message(&*payload)
                        ),
                    );
                    (1011, 0)
                }
            };
            let mut ex = up.ex;
            ex.log_closed(&peer, 101, bytes, code);
            ex.record_streamed(101, bytes as u64);
            // Whatever ended it, the handler sees the close and the topics forget it.
            up.session.end(1006, "");
            ctx.shared.hub.remove(&up.session);
            return Handoff::Closed;
        }
        Ok(Err(Stop::Done)) => {
            c.conn.shutdown().await;
            c.linger().await;
        }
        Ok(_) => {}
        Err(payload) => {
            let answered = !c.streaming;
            log::write(
                Level::Error,
                format_args!(
                    "{}: panic while serving the connection: {}{}",
                    c.peer,
                    unwind::message(&*payload),
                    if answered {
                        " (answered 500)"
                    } else {
                        " (closed mid-response)"
                    }
                ),
            );
            if answered {
                // Whatever was half-encoded goes; the client gets one clear answer.
                c.wbuf.clear();
                let r = problem(500, "the server failed while serving this request");
                if let Body::Full(body) = r.body {
                    let framing = Framing::Length(body.len());
                    let date = date::http_date();
                    write_response_head(
                        &mut c.wbuf,
                        500,
                        &r.header_block,
                        framing,
                        true,
                        false,
                        &date,
                    );
                    c.wbuf.extend_from_slice(&body);
                    let _ = c.write_out().await;
                }
            }
            c.conn.shutdown().await;
        }
    }
    // Requests still waiting when the connection ended (the client went away or a write
    // failed): nobody reads their answers, so their handlers may stop.
    for p in c.pending.drain(..) {
        if let Answer::Wait(w) = p.answer {
            c.ctx.dispatch.cancel(w.id, Cancel::Disconnected);
        }
    }
    Handoff::Closed
}

struct Connection<C: Conn> {
    conn: C,
    peer: Peer,
    ctx: Rc<Ctx>,
    rbuf: BytesMut,
    wbuf: Vec<u8>,
    pending: VecDeque<Pending>,
    drain: watch::Receiver<bool>,
    closing: bool,
    /// A streamed body is on the wire: an error answer now would corrupt it.
    streaming: bool,
    ticker: Rc<Ticker>,
    /// The client sent FIN and was probed with a 103 that it did not reset: it still reads.
    probed: bool,
    /// The connection's TLS state, for every request's exchange.
    secure: Option<Arc<Secure>>,
    /// The first request may turn out to be the HTTP/2 preface (cleartext, `--http auto`).
    h2c: bool,
    /// The first request may ask to upgrade to h2c (cleartext, `--http auto`).
    h2c_upgrade: bool,
}

impl<C: Conn> Connection<C> {
    async fn run(&mut self) -> Result<(), Stop> {
        let mut first = true;
        loop {
            let head = self.read_head(first).await?;
            first = false;
            // Only a connection's first request may ask for h2c (what clients do): later
            // requests on a keep-alive connection skip the header scan.
            if std::mem::take(&mut self.h2c_upgrade) && wants_h2c(&head) {
                if let Some(opening) = stream_one(&head) {
                    self.write_raw(SWITCHING).await?;
                    return Err(Stop::Http2Upgraded(opening));
                }
            }
            let started = Instant::now();

            let path = match std::str::from_utf8(head.path()) {
                Ok(p) => p,
                Err(_) => {
                    return self
                        .fail(ProtoError::BadRequest("request path is not UTF-8"))
                        .await
                }
            };
            let (front, mut ex) = front(&self.ctx, &head, path, &self.peer, started);
            ex.secure = self.secure.clone();
            let version_10 = head.version() == Version::Http10;
            let mut close = !head.keep_alive();
            let mut meta = Meta {
                head_only: *head.method() == Method::Head,
                close,
                keep_alive_10: version_10 && !close,
                version_10,
                ex,
            };
            let routed = match front {
                Front::Routed(routed) if self.opens_websocket(&head, routed.route) => {
                    // Earlier answers first: after this request the connection is not HTTP.
                    self.flush().await?;
                    // Boxed, as every rare path here (see BOXED_PATHS).
                    return Box::pin(self.upgrade(head, routed, meta)).await;
                }
                Front::Routed(routed) => Ok(routed),
                Front::Answer {
                    response,
                    unread: true,
                } => {
                    // Refused before its body was read (413): answer and close, unread.
                    meta.close = true;
                    self.pending.push_back(Pending {
                        answer: Answer::Ready(response),
                        meta,
                    });
                    return self.flush().await;
                }
                Front::Answer { response, .. } => Err(response),
            };

            let framing = head.framing();
            let mount = |r: &Routed| self.ctx.dispatch.kind(r.route) == RouteKind::Mount;
            if framing != BodyFraming::Empty && routed.as_ref().is_ok_and(mount) {
                if let Ok(routed) = routed {
                    Box::pin(self.stream_request(head, routed, framing, meta)).await?;
                }
                continue;
            }
            let body = if framing == BodyFraming::Empty {
                Bytes::new()
            } else {
                if head.expects_continue() {
                    if let Err(answer) = routed {
                        // Do not invite a body we would throw away (RFC 9110 §10.1.1): answer
                        // now and close, since the client may still send it.
                        meta.close = true;
                        self.pending.push_back(Pending {
                            answer: Answer::Ready(answer),
                            meta,
                        });
                        return self.flush().await;
                    }
                    if self.rbuf.is_empty() {
                        // Earlier answers first: 100 Continue belongs to this request.
                        self.flush().await?;
                        self.write_raw(CONTINUE_100).await?;
                    }
                }
                self.read_body(framing).await?
            };
            // A drain closes the connection after this request, unless the client already sent
            // more (pipelined): requests that were read are answered, not dropped.
            if self.ctx.shared.is_draining() && self.rbuf.is_empty() {
                meta.close = true;
            }

            let answer = match routed {
                Ok(routed) => {
                    let slot = match self.ctx.shared.gate.try_admit() {
                        Some(slot) => Ok(slot),
                        None => {
                            // Full: earlier answers of this connection go out before it waits.
                            self.flush().await?;
                            let shared = self.ctx.shared.clone();
                            shared.gate.admit().await
                        }
                    };
                    match slot {
                        Ok(slot) => {
                            let in_flight = spin::InFlight::new();
                            let peer = self.peer.clone();
                            let d = self.ctx.dispatch_job(
                                head,
                                body,
                                routed,
                                Some(slot),
                                peer,
                                &mut meta.ex,
                                None,
                                None,
                            );
                            Answer::Wait(Waiting {
                                rx: d.rx,
                                id: d.id,
                                // The ticker counts from dispatch.
                                since: self.ticker.now(),
                                limit: d.limit,
                                stated: d.stated,
                                _in_flight: in_flight,
                            })
                        }
                        Err(refusal) => Answer::Ready(self.ctx.refused(&self.peer, refusal)),
                    }
                }
                Err(answer) => Answer::Ready(answer),
            };
            close = meta.close;
            self.pending.push_back(Pending { answer, meta });
            if close {
                return self.flush().await;
            }
            if self.pending.len() >= self.ctx.config.max_pipeline {
                self.flush().await?;
            }
        }
    }

    /// Reads until a whole request head is buffered. Returns `Err(Stop)` when the connection
    /// should end: idle timeout, drain, peer close, or a malformed head (answered first).
    async fn read_head(&mut self, first: bool) -> Result<RequestHead, Stop> {
        let cfg = self.ctx.config.clone();
        // A new connection must start its request within the header timeout (slowloris);
        // a kept-alive one may idle for the keep-alive timeout, then gets the header timeout
        // from its first byte.
        let mut head_deadline = first.then(|| Instant::now() + cfg.header_timeout);
        loop {
            if first && self.h2c && !self.rbuf.is_empty() {
                // Prior-knowledge h2c (RFC 9113 §3.3): the preface instead of a request line.
                let n = self.rbuf.len().min(H2_PREFACE.len());
                if self.rbuf[..n] == H2_PREFACE[..n] {
                    if n == H2_PREFACE.len() {
                        return Err(Stop::Http2);
                    }
                    // Part of it so far: read on (within the header timeout).
                    head_deadline.get_or_insert_with(|| Instant::now() + cfg.header_timeout);
                } else {
                    self.h2c = false;
                }
            }
            if !(self.rbuf.is_empty() || first && self.h2c) {
                match parse_head(&mut self.rbuf, &cfg.limits) {
                    Ok(Some(head)) => return Ok(head),
                    Ok(None) => {
                        head_deadline.get_or_insert_with(|| Instant::now() + cfg.header_timeout);
                    }
                    Err(e) => return self.fail(e).await.and(Err(Stop::Done)),
                }
            }
            // The client may be waiting for earlier answers before it sends more. The header
            // timeout measures the client, not our handlers: it restarts after the wait.
            if !self.pending.is_empty() {
                self.flush().await?;
                if head_deadline.is_some() {
                    head_deadline = Some(Instant::now() + cfg.header_timeout);
                }
            }
            let release =
                C::ALLOCATES_WHEN_READY && self.ctx.shared.connections() > RELEASE_BUFFERS_ABOVE;
            if self.rbuf.is_empty() && (release || self.rbuf.capacity() > KEEP_BUF) {
                // Waiting for the next request with nothing buffered: where the driver reads
                // readiness first and the worker has many connections, the connection holds no
                // buffers while it waits (each held 8-24 KiB to read and 8 KiB to write: 203
                // MB of peak RSS for 4,096 connections under load, 98 MB without). With few
                // connections each keeps its own: one allocation less per request.
                self.rbuf = if release {
                    BytesMut::new()
                } else {
                    BytesMut::with_capacity(8 * 1024)
                };
                if release && self.wbuf.is_empty() {
                    self.wbuf = Vec::new();
                }
            }
            let (deadline, idle) = match head_deadline {
                Some(d) => (d, false),
                None => (Instant::now() + cfg.keep_alive_timeout, true),
            };
            // A drain ends the wait whenever no request has started (also on a fresh
            // connection that has sent nothing yet), so shutdown is not held up by it.
            let drainable = self.rbuf.is_empty();
            match self.read_more(deadline, drainable).await {
                Read::Data => {}
                Read::Eof => {
                    return Err(if self.rbuf.is_empty() {
                        Stop::Done
                    } else {
                        Stop::Gone
                    });
                }
                Read::Drain => return Err(Stop::Done),
                Read::Timeout if idle => return Err(Stop::Done),
                Read::Timeout => {
                    return self
                        .fail(ProtoError::HeaderTimeout)
                        .await
                        .and(Err(Stop::Done))
                }
            }
        }
    }

    async fn read_body(&mut self, framing: BodyFraming) -> Result<Bytes, Stop> {
        let cfg = self.ctx.config.clone();
        if let BodyFraming::Length(n) = framing {
            if n >= SIZED_READ_MIN as u64 && n <= cfg.limits.max_body {
                return Box::pin(self.read_sized_body(n as usize)).await;
            }
        }
        let mut decoder =
            BodyDecoder::new(framing, cfg.limits.max_body, cfg.limits.max_header_bytes);
        let mut out = BytesMut::new();
        let deadline = Instant::now() + cfg.body_timeout;
        loop {
            match decoder.decode(&mut self.rbuf, &mut out) {
                Ok(true) => return Ok(out.freeze()),
                Ok(false) => {
                    let read = self.read_more(deadline, false).await;
                    self.body_read(read).await?;
                }
                Err(e) => return self.fail(e).await.and(Err(Stop::Done)),
            }
        }
    }

    /// A large body of known length, read straight into one buffer of its size: the kernel
    /// copies each byte once, into its place, and each read takes what the socket holds
    /// instead of 16 KiB. Through the decoder a 20 MiB upload cost 706 µs of server CPU per
    /// MiB (1,280 reads, a copy out of the read buffer, and the body buffer doubling to 32
    /// MiB); see benches/suite `upload-20m`. The buffer is allocated at the announced size
    /// (at most `max_body`): the allocator maps pages lazily, so memory is committed only as
    /// bytes arrive. The slack keeps the drivers from growing it (they reserve more when less
    /// than 4 KiB is spare, which would copy the whole body); bytes past the body (the next,
    /// pipelined request) go back to the read buffer.
    async fn read_sized_body(&mut self, n: usize) -> Result<Bytes, Stop> {
        let deadline = Instant::now() + self.ctx.config.body_timeout;
        let mut body = BytesMut::with_capacity(n + SIZED_READ_SLACK);
        let have = self.rbuf.len().min(n);
        body.extend_from_slice(&self.rbuf[..have]);
        bytes::Buf::advance(&mut self.rbuf, have);
        while body.len() < n {
            // `read_more` reads into `self.rbuf`, which is empty here: lend it the body.
            let empty = std::mem::replace(&mut self.rbuf, body);
            let read = self.read_more(deadline, false).await;
            body = std::mem::replace(&mut self.rbuf, empty);
            self.body_read(read).await?;
        }
        if body.len() > n {
            self.rbuf = body.split_off(n);
        }
        Ok(body.freeze())
    }

    /// What a read in the middle of a body means: go on, the client left, or 408 and close.
    async fn body_read(&mut self, read: Read) -> Result<(), Stop> {
        match read {
            Read::Data => Ok(()),
            Read::Eof | Read::Drain => Err(Stop::Gone),
            Read::Timeout => self
                .fail(ProtoError::BodyTimeout)
                .await
                .and(Err(Stop::Done)),
        }
    }

    /// Waits for bytes until `deadline`. When `drainable` (no request started) and a drain
    /// has begun, the wait ends [`DRAIN_GRACE`] after the drain began (or at `deadline`) with
    /// `Read::Drain`: a request the client sent as the drain began, which crossed it on the
    /// wire, is still read and answered (with `connection: close`) instead of being met by a
    /// closed socket. The read is never cancelled by the drain itself.
    async fn read_more(&mut self, deadline: Instant, drainable: bool) -> Read {
        let mut draining = drainable && *self.drain.borrow();
        let until = |draining: bool| match draining {
            true => deadline.min(Instant::now() + DRAIN_GRACE),
            false => deadline,
        };
        // Cancelling the read drops the buffer with it; every branch that cancels closes the
        // connection, so nothing buffered is lost that would still be used.
        let buf = std::mem::take(&mut self.rbuf);
        let drain = &mut self.drain;
        let read = self.conn.read(buf);
        tokio::pin!(read);
        let sleep = sleep_until(TokioInstant::from_std(until(draining)));
        tokio::pin!(sleep);
        loop {
            // Biased: bytes that are already there win over a deadline that passed meanwhile.
            tokio::select! {
                biased;
                (r, buf) = &mut read => {
                    self.rbuf = buf;
                    return match r {
                        Ok(0) | Err(_) => Read::Eof,
                        Ok(_) => Read::Data,
                    };
                }
                _ = &mut sleep => return if draining { Read::Drain } else { Read::Timeout },
                _ = drain.wait_for(|d| *d), if drainable && !draining => {
                    draining = true;
                    sleep.as_mut().reset(TokioInstant::from_std(until(true)));
                }
            }
        }
    }

    /// Answers everything in flight, then the error, and ends the connection.
    async fn fail(&mut self, err: ProtoError) -> Result<(), Stop> {
        if !self.closing {
            self.flush().await?;
        }
        log::write(
            Level::Debug,
            format_args!("{}: refused: {}", self.peer, err.reason()),
        );
        write_error(&mut self.wbuf, &err, &date::http_date());
        self.write_out().await?;
        Err(Stop::Done)
    }

    /// Writes the answers of all pending requests in order.
    async fn flush(&mut self) -> Result<(), Stop> {
        while let Some(Pending {
            answer,
            meta: mut p,
        }) = self.pending.pop_front()
        {
            let response = match answer {
                Answer::Ready(r) => r,
                Answer::Wait(w) => match self.wait(w, p.version_10).await {
                    Ok(r) => r,
                    Err(stop) => {
                        // The client is gone: nobody reads the rest either.
                        for rest in self.pending.drain(..) {
                            if let Answer::Wait(w) = rest.answer {
                                self.ctx.dispatch.cancel(w.id, Cancel::Disconnected);
                            }
                        }
                        return Err(stop);
                    }
                },
            };
            let close = p.close
                || (self.pending.is_empty()
                    && self.rbuf.is_empty()
                    && self.ctx.shared.is_draining());
            let mut response = response;
            let encoder = p.ex.respond(&self.ctx, p.head_only, &mut response);
            let status = response.status;
            let before = self.wbuf.len();
            let rest = self.encode(response, &p, close);
            let file_len = match &rest {
                Some(Rest::File(f)) => f.len as usize,
                _ => 0,
            };
            p.ex.log_access(&self.peer, status, self.wbuf.len() - before + file_len);
            match rest {
                Some(Rest::Stream(rx)) => {
                    let mut out = Body10OrChunked {
                        version_10: p.version_10,
                        scratch: Vec::new(),
                        sent: 0,
                    };
                    let streamed = match self.write_out().await {
                        Ok(()) => {
                            self.streaming = true;
                            Box::pin(self.stream_body(rx, &mut out, encoder)).await
                        }
                        Err(stop) => Err(stop),
                    };
                    // Also when cut short (client gone, producer failed): what was sent of it.
                    p.ex.record_streamed(status, out.sent);
                    streamed?;
                    self.streaming = false;
                }
                Some(Rest::File(file)) => {
                    self.write_out().await?;
                    self.streaming = true;
                    Box::pin(self.send_file(file)).await?;
                    self.streaming = false;
                }
                None => {}
            }
            if close {
                self.closing = true;
                self.write_out().await?;
                return Err(Stop::Done);
            }
        }
        if !self.wbuf.is_empty() {
            self.write_out().await?;
        }
        Ok(())
    }

    /// Waits for a handler's answer, up to its deadline (then 504), watching for a client that
    /// goes away meanwhile (then the handler is cancelled and the connection ends).
    async fn wait(&mut self, mut w: Waiting, version_10: bool) -> Result<Response, Stop> {
        // Answered already (usual when a batch ran while this connection read): no timer.
        match w.rx.try_recv() {
            Ok(r) => return Ok(r),
            Err(TryRecvError::Closed) => return Ok(unanswered()),
            Err(TryRecvError::Empty) => {}
        }
        // Slow handler: wake on the thread's ticks, to answer 504 at the deadline and to see
        // a client that left (checked with poll(2), so pipelined bytes stay unread).
        let ticker = self.ticker.clone();
        let _waiting = ticker.enter();
        loop {
            let tick = ticker.next();
            tokio::select! {
                biased;
                r = &mut w.rx => return Ok(r.unwrap_or_else(|_| unanswered())),
                _ = tick => {
                    if let Some(limit) = w.limit.filter(|l| ticker.passed(w.since, *l)) {
                        let stated = w.stated.unwrap_or(limit);
                        return Ok(self.ctx.timed_out(&self.peer, w.id, stated));
                    }
                    // Only past one whole tick: a handler that answers within 50 ms never
                    // costs the check, whatever the phase of the ticker.
                    if ticker.now() >= w.since + 2 && self.client_left(version_10).await {
                        self.ctx.dispatch.cancel(w.id, Cancel::Disconnected);
                        log::write(
                            Level::Debug,
                            format_args!("{}: client went away; handler cancelled", self.peer),
                        );
                        return Err(Stop::Gone);
                    }
                }
            }
        }
    }

    /// After our half-close: discards what the client still sends until it closes too, for at
    /// most [`LINGER`] (see there).
    async fn linger(&mut self) {
        let deadline = Instant::now() + LINGER;
        self.rbuf.clear();
        while let Read::Data = self.read_more(deadline, false).await {
            self.rbuf.clear();
        }
    }

    /// Whether the client has gone, so its handler may stop. A FIN alone does not tell: a client
    /// that only shut down its sending side still reads its answers (RFC 9112 §9.6). So the
    /// first time an HTTP/1.1 client is seen to have sent FIN, it gets an interim `103 Early
    /// Hints` (which every HTTP/1.1 client must accept and skip, RFC 9110 §15.2): a client that
    /// closed answers it with RST, which the next check sees; one that still reads skips it and
    /// is never probed again. HTTP/1.0 has no interim responses: FIN counts as gone.
    async fn client_left(&mut self, version_10: bool) -> bool {
        match self.conn.peer_state() {
            PeerState::Open => false,
            PeerState::Gone => true,
            PeerState::SentEnd if version_10 => true,
            PeerState::SentEnd if self.probed => false,
            PeerState::SentEnd => {
                self.probed = true;
                self.write_raw(EARLY_HINTS_103).await.is_err()
            }
        }
    }

    /// Appends the head (and a full body) to the write buffer; returns a stream to pump or a
    /// file to send.
    fn encode(&mut self, response: Response, p: &Meta, close: bool) -> Option<Rest> {
        let date = date::http_date();
        let has_body = status_allows_body(response.status);
        let sent = has_body && !p.head_only;
        let length = |n: usize| {
            if has_body {
                Framing::Length(n)
            } else {
                Framing::None
            }
        };
        // What follows the head: bytes written with it, or a rest to send after it.
        let (framing, full, rest, close, keep_alive_10) = match response.body {
            Body::Full(body) => (length(body.len()), Some(body), None, close, p.keep_alive_10),
            // A declared length is said for HEAD only: no body follows any other answer.
            Body::Declared(n) => {
                let n = if p.head_only { n as usize } else { 0 };
                (length(n), None, None, close, p.keep_alive_10)
            }
            Body::File(file) => {
                let framing = length(file.len as usize);
                (
                    framing,
                    None,
                    Some(Rest::File(file)),
                    close,
                    p.keep_alive_10,
                )
            }
            Body::Stream(stream) => {
                // HTTP/1.0 has no chunked coding: the body ends when the connection closes.
                let framing = if has_body && !p.version_10 {
                    Framing::Chunked
                } else {
                    Framing::None
                };
                // HEAD sends no body, so nothing needs the close to delimit it.
                let close = close || (p.version_10 && sent);
                let rest = Some(Rest::Stream(stream));
                (framing, None, rest, close, p.keep_alive_10 && !close)
            }
        };
        write_response_head(
            &mut self.wbuf,
            response.status,
            &response.header_block,
            framing,
            close,
            keep_alive_10,
            &date,
        );
        if let (Some(body), true) = (full, sent) {
            self.wbuf.extend_from_slice(&body);
        }
        rest.filter(|_| sent)
    }

    async fn stream_body(
        &mut self,
        mut stream: StreamBody,
        out: &mut Body10OrChunked,
        mut encoder: Option<StreamEncoder>,
    ) -> Result<(), Stop> {
        let version_10 = out.version_10;
        // A handler's producer feeds this stream: no busy polling until it ends, since the
        // producer may need this CPU (`spin.rs`).
        let _producing = spin::InFlight::new();
        // An idle stream (an event stream between events) never writes, so a client that left
        // would go unnoticed until the next write: look at the socket every second. A client
        // that half-closed counts as gone here: streaming clients (EventSource, fetch) never
        // half-close, and a 103 probe cannot be sent in the middle of a body.
        let check = sleep_until(TokioInstant::now() + STREAM_PEER_CHECK);
        tokio::pin!(check);
        loop {
            let next = tokio::select! {
                next = stream.rx.recv() => next,
                _ = &mut check => {
                    if self.conn.peer_state() != PeerState::Open {
                        log::write(
                            Level::Debug,
                            format_args!("{}: client left during a streamed body", self.peer),
                        );
                        return Err(Stop::Gone);
                    }
                    check.as_mut().reset(TokioInstant::now() + STREAM_PEER_CHECK);
                    continue;
                }
            };
            if let Some(n) = &stream.on_space {
                n.space();
            }
            let mut ended = false;
            match next {
                Some(Chunk::Data(data)) => {
                    out.put(&mut self.wbuf, &mut encoder, &data)?;
                    // Coalesce what is already queued into one write.
                    while let Ok(more) = stream.rx.try_recv() {
                        match more {
                            Chunk::Data(more) => out.put(&mut self.wbuf, &mut encoder, &more)?,
                            Chunk::End => {
                                ended = true;
                                break;
                            }
                        }
                    }
                    if let Some(n) = &stream.on_space {
                        n.space();
                    }
                    if !ended {
                        // A sync flush: what the producer gave so far decodes at the client now.
                        out.drain(&mut self.wbuf, &mut encoder, false)?;
                        self.write_out().await?;
                        continue;
                    }
                }
                Some(Chunk::End) => ended = true,
                // The producer failed mid-body: the only honest signal left is to cut the
                // connection without the last chunk (RFC 9112 §8: incomplete message).
                None => return Err(Stop::Gone),
            }
            debug_assert!(ended);
            out.drain(&mut self.wbuf, &mut encoder, true)?;
            if version_10 {
                self.write_out().await?;
                return Err(Stop::Done);
            }
            match &stream.trailers {
                Some(t) => write_last_chunk_with(&mut self.wbuf, t),
                None => write_last_chunk(&mut self.wbuf),
            }
            return Ok(());
        }
    }

    async fn write_raw(&mut self, bytes: &[u8]) -> Result<(), Stop> {
        self.wbuf.extend_from_slice(bytes);
        self.write_out().await
    }

    /// Sends a file body after its head; a file shorter than announced cuts the connection.
    async fn send_file(&mut self, file: FileBody) -> Result<(), Stop> {
        let end = file.offset + file.len;
        let mut at = file.offset;
        while at < end {
            let piece = (end - at).min(FILE_PIECE);
            let send = self.conn.send_file(&file.file, at, piece);
            match tokio::time::timeout(self.ctx.config.write_timeout, send).await {
                Ok(Ok(())) => at += piece,
                Ok(Err(e)) => {
                    log::write(
                        Level::Debug,
                        format_args!("{}: file body cut: {e}", self.peer),
                    );
                    return Err(Stop::Gone);
                }
                Err(_) => return Err(Stop::Gone),
            }
            spin::activity();
        }
        Ok(())
    }

    async fn write_out(&mut self) -> Result<(), Stop> {
        let buf = std::mem::take(&mut self.wbuf);
        // A client that stops reading must not hold the connection (and a stream producer)
        // forever; on expiry the buffer goes with the cancelled write and the connection closes.
        let write = self.conn.write_all(buf);
        let Ok((r, mut buf)) = tokio::time::timeout(self.ctx.config.write_timeout, write).await
        else {
            return Err(Stop::Gone);
        };
        if buf.capacity() > KEEP_BUF {
            buf = Vec::with_capacity(8 * 1024);
        }
        buf.clear();
        self.wbuf = buf;
        spin::activity();
        r.map_err(|_| Stop::Gone)
    }
}
