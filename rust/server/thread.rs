//! One IO thread: a current-thread tokio runtime with its own listening socket, driven by
//! epoll (tokio's reactor) or io_uring (tokio-uring's runtime); the accept loop and the
//! connections are the same code over the `io::Listener`/`io::Conn` traits.
//!
//! Thread-per-core: connections never migrate, so connection state needs no locks and the
//! futures need not be `Send` (which an io_uring driver could not offer anyway).

use std::cell::Cell;
use std::future::Future;
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Notify;
use tokio::task::LocalSet;

use crate::io::epoll::EpollListener;
use crate::io::socket::RawListener;
use crate::io::uring::{self, UringListener};
use crate::io::{Conn, Driver, Listener};
use crate::log::Level;
use crate::metrics::ShedReason;
use crate::pipeline::Ctx;
use crate::protocol::h1::date;
use crate::protocol::h1::encode::{write_response_head, Framing};
use crate::protocol::problem::problem;
use crate::protocol::response::Body;
use crate::server::entry::serve;
use crate::server::spin;
use crate::tls::Tls;

thread_local! {
    /// Whether this thread calls [`Dispatch::flush`] before it waits for events, so a
    /// dispatcher may defer its wake-ups until then.
    static DEFERS_WAKEUPS: Cell<bool> = const { Cell::new(false) };
}

/// Whether the calling thread is an IO thread that flushes deferred wake-ups when idle.
pub fn defers_wakeups() -> bool {
    DEFERS_WAKEUPS.with(Cell::get)
}

/// Live connections of this thread, to know when a drain is complete.
struct Live {
    count: Cell<usize>,
    empty: Notify,
}

struct LiveGuard(Rc<Live>);

impl Drop for LiveGuard {
    fn drop(&mut self) {
        let n = self.0.count.get() - 1;
        self.0.count.set(n);
        if n == 0 {
            self.0.empty.notify_waiters();
        }
    }
}

/// Runs the accept loop on `driver` until a drain, then waits for this thread's connections to
/// finish (or the drain deadline) and returns.
pub(crate) fn run(
    raw: RawListener,
    ctx: Ctx,
    driver: Driver,
    tls: Option<Arc<Tls>>,
) -> std::io::Result<()> {
    let dispatch = ctx.dispatch.clone();
    let ctx = Rc::new(ctx);
    DEFERS_WAKEUPS.with(|d| d.set(true));
    match driver {
        Driver::Epoll => {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                // Hand the jobs of a whole event-loop tick to the Python thread with one
                // wake-up, instead of waking it on the first job and handing over batches of
                // ~2 (measured: 2.0 jobs per wake-up at 64 connections).
                .on_thread_park(move || dispatch.flush())
                .build()?;
            let local = LocalSet::new();
            let window = ctx.config.busy_poll;
            if !window.is_zero() {
                let flush = ctx.dispatch.clone();
                local.spawn_local(spin::poll(window, move || flush.flush()));
            }
            local.block_on(&rt, async move {
                accept_loop(EpollListener::new(raw)?, ctx, tls).await
            })
            // Dropping the LocalSet here drops the tasks still running, closing their sockets.
        }
        Driver::Uring => {
            if !ctx.config.busy_poll.is_zero() {
                // tokio-uring submits the ring when its runtime parks; a thread that polls
                // instead of parking would hold its operations back.
                crate::log!(
                    Level::Warning,
                    "busy_poll_us: io_uring IO threads do not poll (the Python thread still does)"
                );
            }
            let rt = uring::runtime()?;
            // tokio-uring builds its tokio runtime itself and takes the park hook (to submit
            // the ring), so the deferred wake-up goes out when this LocalSet has run every
            // ready task instead: the same point, one level in.
            let local = LocalSet::new();
            let serving = local
                .run_until(async move { accept_loop(UringListener::new(raw)?, ctx, tls).await });
            let mut serving = std::pin::pin!(serving);
            rt.block_on(std::future::poll_fn(|cx| {
                let r = serving.as_mut().poll(cx);
                if r.is_pending() {
                    dispatch.flush();
                }
                r
            }))
            // `serving`, then `local` (its connections), then the runtime (the ring) drop here:
            // abandoned operations still find the ring they were submitted to.
        }
    }
}

/// Accepts connections and serves each on its own task until a drain, then waits for them.
async fn accept_loop<L: Listener>(
    listener: L,
    ctx: Rc<Ctx>,
    tls: Option<Arc<Tls>>,
) -> std::io::Result<()> {
    let live = Rc::new(Live {
        count: Cell::new(0),
        empty: Notify::new(),
    });
    let mut drain = ctx.shared.drain_signal();
    // The coarse clock of connections waiting on handlers (deadlines, disconnects).
    tokio::task::spawn_local(crate::server::ticker::ticker().run());
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((conn, peer)) => {
                    let Some(slot) = ctx.shared.try_enter(ctx.config.max_connections) else {
                        if let Some(m) = &ctx.shared.metrics {
                            m.shed(ShedReason::MaxConnections);
                        }
                        tokio::task::spawn_local(refuse(conn));
                        continue;
                    };
                    live.count.set(live.count.get() + 1);
                    let guard = LiveGuard(live.clone());
                    let ctx = ctx.clone();
                    let tls = tls.clone();
                    tokio::task::spawn_local(async move {
                        // Dropped on return and on panic: the slots are never leaked.
                        let _slot = slot;
                        let _guard = guard;
                        serve(conn, peer, ctx, tls).await;
                    });
                }
                Err(e) => {
                    // EMFILE/ENFILE/ENOBUFS: back off instead of spinning on accept.
                    crate::log!(Level::Warning, "accept failed: {e}");
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
            },
            _ = drain.wait_for(|d| *d) => break,
        }
    }
    drop(listener);
    let deadline = tokio::time::sleep(ctx.config.drain_timeout);
    tokio::pin!(deadline);
    while live.count.get() > 0 {
        let empty = live.empty.notified();
        tokio::select! {
            _ = empty => {}
            _ = &mut deadline => {
                crate::log!(Level::Warning, "drain deadline reached with {} connections open", live.count.get());
                break;
            }
        }
    }
    Ok(())
}

/// Answers a connection over the limit with 503 and closes it, bounded to one second.
async fn refuse<C: Conn>(mut conn: C) {
    let response = problem(503, "too many connections");
    let mut out = Vec::with_capacity(256);
    let body = match &response.body {
        Body::Full(b) => b.clone(),
        Body::Stream(_) | Body::File(_) | Body::Declared(_) => return,
    };
    let mut block = response.header_block.clone();
    block.extend_from_slice(b"retry-after: 1\r\n");
    write_response_head(
        &mut out,
        503,
        &block,
        Framing::Length(body.len()),
        true,
        false,
        &date::http_date(),
    );
    out.extend_from_slice(&body);
    let _ = tokio::time::timeout(Duration::from_secs(1), async {
        let _ = conn.write_all(out).await;
        conn.shutdown().await;
    })
    .await;
}
