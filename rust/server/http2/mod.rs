//! One HTTP/2 connection (RFC 9113) on the `h2` crate: its settings and defences, its streams
//! (each served on its own task through the same pipeline as an HTTP/1.1 request,
//! `stream.rs`), keep-alive PINGs, and the drain (GOAWAY, in-flight streams finish).
//!
//! Framing, HPACK, flow control and the protocol errors of RFC 9113 §5.4 are the crate's; the
//! budgets it lacks are here: resets of accepted streams (rapid reset, CVE-2023-44487) and
//! the frame floods `guard.rs` counts.

mod body;
mod guard;
mod send;
mod stream;
mod websocket;

use std::cell::Cell;
use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use h2::Reason;
use tokio::io::{AsyncRead, AsyncWrite};

use crate::io::{Peer, Secure};
use crate::log::{self, Level};
use crate::pipeline::Ctx;

pub use guard::{Alarm, Guard};

/// How long a connection may take to send its preface and SETTINGS.
const HANDSHAKE: Duration = Duration::from_secs(10);

/// How long the final GOAWAY may take to go out.
const GOAWAY_FLUSH: Duration = Duration::from_secs(1);

/// What the streams of a connection share.
pub(crate) struct Shared {
    pub ctx: Rc<Ctx>,
    pub peer: Peer,
    pub secure: Option<Arc<Secure>>,
    alarm: Rc<Alarm>,
    /// Client resets in the current window, and when the window began.
    resets: Cell<(u32, Instant)>,
}

impl Shared {
    /// A stream the client reset: past the budget the connection ends with
    /// ENHANCE_YOUR_CALM.
    pub fn client_reset(&self) {
        let (mut n, mut since) = self.resets.get();
        if since.elapsed() > crate::config::H2Config::RESET_WINDOW {
            (n, since) = (0, Instant::now());
        }
        n += 1;
        self.resets.set((n, since));
        if n > self.ctx.config.h2.max_resets {
            self.alarm.raise(
                "too many streams reset (rapid reset)",
                Reason::ENHANCE_YOUR_CALM,
            );
        }
    }
}

/// Serves an HTTP/2 connection on `io` until it closes. `preface` says whether the client
/// preface is still to be read from `io` (false never happens today: a connection that read
/// it hands it back with `io::async_io::Prefixed`).
pub(crate) async fn serve<IO>(io: IO, peer: Peer, ctx: Rc<Ctx>, secure: Option<Arc<Secure>>)
where
    IO: AsyncRead + AsyncWrite + Unpin + 'static,
{
    let cfg = &ctx.config.h2;
    let alarm = Rc::new(Alarm::default());
    let io = Guard::new(io, true, cfg.max_header_list_size, alarm.clone());
    let mut builder = h2::server::Builder::new();
    builder
        .max_concurrent_streams(cfg.max_concurrent_streams)
        .initial_window_size(cfg.initial_stream_window)
        .initial_connection_window_size(cfg.initial_connection_window)
        .max_frame_size(cfg.max_frame_size)
        .max_header_list_size(cfg.max_header_list_size)
        // Streams reset by the client before we took them: the crate's own rapid-reset
        // budget (its default is 20).
        .max_pending_accept_reset_streams(50)
        // What one stream may queue for sending beyond the client's window.
        .max_send_buffer_size(256 * 1024)
        // SETTINGS_ENABLE_CONNECT_PROTOCOL: WebSockets over HTTP/2 (RFC 8441, `websocket.rs`).
        .enable_connect_protocol();
    let mut conn = match tokio::time::timeout(HANDSHAKE, builder.handshake::<_, Bytes>(io)).await {
        Ok(Ok(c)) => c,
        Ok(Err(e)) => {
            log::write(
                Level::Debug,
                format_args!("{peer}: HTTP/2 handshake failed: {e}"),
            );
            return;
        }
        Err(_) => return,
    };
    let shared = Rc::new(Shared {
        ctx: ctx.clone(),
        peer: peer.clone(),
        secure,
        alarm: alarm.clone(),
        resets: Cell::new((0, Instant::now())),
    });
    if let (Some(every), Some(pp)) = (cfg.ping_interval, conn.ping_pong()) {
        tokio::task::spawn_local(keep_alive(pp, every, cfg.ping_timeout, alarm.clone()));
    }
    let mut drain = ctx.shared.drain_signal();
    let mut draining = false;
    loop {
        tokio::select! {
            next = conn.accept() => match next {
                Some(Ok((req, respond))) => {
                    // Boxed first: the task then moves a pointer, not the stream's future
                    // (3.4 KB; its copies were 10 % of the IO thread's time at 90k streams/s).
                    tokio::task::spawn_local(Box::pin(stream::serve(req, respond, shared.clone())));
                }
                Some(Err(e)) => {
                    log::write(Level::Debug, format_args!("{peer}: HTTP/2 connection error: {e}"));
                    break;
                }
                None => break,
            },
            (why, reason) = alarm.wait() => {
                log::write(Level::Warning, format_args!("{peer}: HTTP/2: {why}: GOAWAY {reason:?}"));
                conn.abrupt_shutdown(reason);
                // The GOAWAY goes out; reads have stopped (the guard).
                let _ = tokio::time::timeout(GOAWAY_FLUSH, std::future::poll_fn(|cx| conn.poll_closed(cx))).await;
                break;
            }
            _ = drain.wait_for(|d| *d), if !draining => {
                // GOAWAY with the last stream id once the crate's PING round trip confirms it
                // (RFC 9113 §6.8); streams in flight finish, then the connection closes.
                draining = true;
                conn.graceful_shutdown();
            }
        }
    }
}

/// Sends a PING every `every` and ends the connection when one is not answered in `timeout`:
/// a peer that vanished without a FIN does not hold its streams forever.
async fn keep_alive(mut pp: h2::PingPong, every: Duration, timeout: Duration, alarm: Rc<Alarm>) {
    loop {
        tokio::time::sleep(every).await;
        match tokio::time::timeout(timeout, pp.ping(h2::Ping::opaque())).await {
            Ok(Ok(_)) => {}
            Ok(Err(_)) => return,
            Err(_) => {
                alarm.raise("no PING answer within the ping timeout", Reason::NO_ERROR);
                return;
            }
        }
    }
}

/// The size of one stream's future (`http2_tests`: it must stay small).
#[cfg(test)]
pub(crate) fn stream_future_size() -> usize {
    fn size3<A, B, C, F: std::future::Future>(_: fn(A, B, C) -> F) -> usize {
        std::mem::size_of::<F>()
    }
    size3(stream::serve)
}
