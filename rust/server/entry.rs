//! What an accepted connection speaks: TLS first when the listener has certificates (then
//! ALPN picks HTTP/2 or HTTP/1.1), else HTTP/1.1, turning into HTTP/2 when the first bytes are
//! the h2c preface (`--http auto`), or HTTP/2 from the start (`--http 2`).
//!
//! TLS and HTTP/2 read and write through tokio's `AsyncRead`/`AsyncWrite` (rustls and the `h2`
//! crate): under io_uring their sockets move to the reactor (`Conn::into_io`, adrs/0017).

use std::os::fd::AsRawFd;
use std::rc::Rc;
use std::sync::Arc;

use crate::config::HttpVersions;
use crate::io::async_io::{Inject, Prefixed};
use crate::io::stream::StreamConn;
use crate::io::{Conn, Peer};
use crate::log::{self, Level};
use crate::pipeline::Ctx;
use crate::server::conn::{self, Handoff};
use crate::server::http2;
use crate::tls::{self, Tls};

/// Serves an accepted connection until it closes.
pub(crate) async fn serve<C: Conn>(conn: C, peer: Peer, ctx: Rc<Ctx>, tls: Option<Arc<Tls>>) {
    if let Some(tls) = tls {
        // Boxed, like every path but plain HTTP/1.1: a connection's task holds the largest
        // future any of its paths could need, and the TLS and HTTP/2 ones made it 9.4 KB, all
        // copied into each new connection's task (5.6 % of a worker's CPU under
        // `Connection: close`) and held by each open connection.
        return Box::pin(serve_tls(conn, peer, ctx, tls)).await;
    }
    match ctx.config.http {
        HttpVersions::H2 => match conn.into_io() {
            Ok(io) => Box::pin(http2::serve(io, peer, ctx, None)).await,
            Err(e) => moved_failed(&peer, e),
        },
        versions => {
            let h2c = versions == HttpVersions::Auto;
            match conn::serve(conn, peer.clone(), ctx.clone(), None, h2c).await {
                Handoff::Closed => {}
                Handoff::Http2(c, read) => match c.into_io() {
                    Ok(io) => {
                        let io = Prefixed::new(read.freeze(), io);
                        Box::pin(http2::serve(io, peer, ctx, None)).await
                    }
                    Err(e) => moved_failed(&peer, e),
                },
                Handoff::Http2Upgraded(c, opening, read) => match c.into_io() {
                    Ok(io) => {
                        // The client's preface and SETTINGS, then its request as stream 1.
                        let io = Inject::new(opening.into(), Prefixed::new(read.freeze(), io));
                        Box::pin(http2::serve(io, peer, ctx, None)).await
                    }
                    Err(e) => moved_failed(&peer, e),
                },
            }
        }
    }
}

async fn serve_tls<C: Conn>(conn: C, peer: Peer, ctx: Rc<Ctx>, tls: Arc<Tls>) {
    let io = match conn.into_io() {
        Ok(io) => io,
        Err(e) => return moved_failed(&peer, e),
    };
    let fd = io.as_raw_fd();
    let metrics = ctx.shared.metrics.clone();
    let Some(a) = tls::accept(&tls, io, &peer, metrics.as_deref()).await else {
        return;
    };
    if a.h2 || (ctx.config.http == HttpVersions::H2 && a.secure.alpn.is_none()) {
        http2::serve(a.stream, peer, ctx, Some(a.secure)).await;
    } else {
        let c = StreamConn::new(a.stream, fd);
        conn::serve(c, peer, ctx, Some(a.secure), false).await;
    }
}

fn moved_failed(peer: &Peer, e: std::io::Error) {
    log::write(
        Level::Warning,
        format_args!("{peer}: the connection could not move to the reactor: {e}"),
    );
}
