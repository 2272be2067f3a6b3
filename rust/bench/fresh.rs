//! `--new-conn`: every request on a connection of its own, opened for it and closed after
//! it, TLS handshake included (without resumption, rust/bench/tls.rs), so the run measures
//! what new clients cost the server: connections (handshakes) per second.
//!
//! Each of the `-c` connections is a client that opens, asks once and closes, in a loop; the
//! latency of a request counts from before the TCP connect to the end of its response (from
//! its intended start at a constant rate). HTTP/1.1 requests carry `connection: close` so the
//! server closes first and the TIME_WAIT sockets are its own: the side that closes first keeps
//! each for 60 s, and at 10k connections/s that would be 600k of the client's ports, of the
//! 28k in Linux's default ephemeral range. HTTP/2 connections end with the client's GOAWAY.

use std::rc::Rc;
use std::time::Instant;

use tokio::io::AsyncWriteExt;

use super::budget::Budget;
use super::conn::{self, Clock, CONNECT_BACKOFF};
use super::dial::{Dialer, Io};
use super::h2_conn;
use super::rate::Pacing;
use super::stats::{ErrorKind, Recorder};

/// What a `--new-conn` connection sends.
#[derive(Debug)]
pub enum Exchange {
    /// An HTTP/1.1 request.
    H1(conn::Plan),
    /// An HTTP/2 stream.
    H2(h2_conn::Plan),
}

impl Exchange {
    fn dialer(&self) -> &Dialer {
        match self {
            Exchange::H1(plan) => &plan.dialer,
            Exchange::H2(plan) => &plan.dialer,
        }
    }
}

/// Opens connection after connection, one request each, until the thread's budget is spent
/// (or the thread drops it at the deadline). `clock` is set for constant-rate runs.
pub async fn drive(
    plan: Rc<Exchange>,
    mut pacing: Pacing,
    clock: Clock,
    budget: Rc<Budget>,
    rec: Rc<Recorder>,
) {
    while !budget.exhausted() {
        if let (Some(at), Some((pacer, i))) = (pacing.next_due(0, 1), &clock) {
            pacer.sleep_until(*i, at).await;
        }
        if budget.claim(1) == 0 {
            return;
        }
        let start = pacing.start(Instant::now());
        let io = match plan.dialer().dial().await {
            Ok(io) => io,
            Err(kind) => {
                rec.error(kind, 1);
                // A target that is down is not hammered in a tight loop.
                tokio::time::sleep(CONNECT_BACKOFF).await;
                continue;
            }
        };
        let done = match &*plan {
            Exchange::H1(plan) => h1(io, plan, start, &rec).await,
            Exchange::H2(plan) => h2_conn::once(io, plan, start, &rec).await,
        };
        if let Err(kind) = done {
            rec.error(kind, 1);
        }
    }
}

/// One HTTP/1.1 request and its response; then close_notify (TLS) and FIN.
async fn h1(
    mut io: Io,
    plan: &conn::Plan,
    start: Instant,
    rec: &Recorder,
) -> Result<(), ErrorKind> {
    let status = tokio::time::timeout(plan.timeout, conn::once(&mut io, plan, rec))
        .await
        .map_err(|_| ErrorKind::Timeout)??;
    rec.response(status, start.elapsed());
    let _ = tokio::time::timeout(plan.timeout, io.shutdown()).await;
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::time::Duration;

    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpListener;

    use super::*;
    use crate::bench::stats::{Live, Stats};

    /// Counts the connections it accepts; answers one request on each and closes.
    async fn server(accepted: Rc<std::cell::Cell<u32>>) -> std::net::SocketAddr {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::task::spawn_local(async move {
            loop {
                let (mut s, _) = listener.accept().await.unwrap();
                accepted.set(accepted.get() + 1);
                tokio::task::spawn_local(async move {
                    let mut buf = Vec::new();
                    let mut chunk = [0u8; 1024];
                    while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
                        match s.read(&mut chunk).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => buf.extend_from_slice(&chunk[..n]),
                        }
                    }
                    assert!(buf.windows(17).any(|w| w == b"connection: close"));
                    let _ = s
                        .write_all(
                            b"HTTP/1.1 200 OK\r\nconnection: close\r\ncontent-length: 2\r\n\r\nok",
                        )
                        .await;
                });
            }
        });
        addr
    }

    #[test]
    fn one_request_per_connection() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let local = tokio::task::LocalSet::new();
        let accepted = Rc::new(std::cell::Cell::new(0));
        let stats: Stats = local.block_on(&rt, async {
            let addr = server(accepted.clone()).await;
            let plan = Rc::new(Exchange::H1(conn::Plan::new(
                Dialer::plain(addr, Duration::from_secs(5)),
                b"GET / HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n",
                1,
                false,
            )));
            let rec = Rc::new(Recorder::new(Arc::new(Live::default())));
            let budget = Rc::new(Budget::new(Some(20)));
            let clients: Vec<_> = (0..3)
                .map(|_| {
                    tokio::task::spawn_local(drive(
                        plan.clone(),
                        Pacing::Closed,
                        None,
                        budget.clone(),
                        rec.clone(),
                    ))
                })
                .collect();
            for c in clients {
                c.await.unwrap();
            }
            rec.take()
        });
        assert_eq!(stats.statuses().collect::<Vec<_>>(), [(200, 20)]);
        assert_eq!(stats.errors_total(), 0);
        assert_eq!(
            stats.reconnects, 0,
            "new connections are the point, not reconnects"
        );
        assert_eq!(accepted.get(), 20);
    }
}
