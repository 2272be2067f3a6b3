//! A mounted app's request body over HTTP/2, fed to it through a [`BodyPipe`] while it
//! arrives (a hosted ASGI app's `receive`, a WSGI app's `wsgi.input`), as the HTTP/1.1
//! connection does (`server/stream_body.rs`). Flow control is the backpressure: a chunk's
//! window is given back to the client only once the pipe took the chunk, and the stream is
//! not read while the pipe is full.

use std::time::Instant;

use h2::RecvStream;

use crate::pipeline::BodyPipe;
use crate::protocol::problem::problem;
use crate::protocol::response::Response;
use crate::server::http2::Shared;

/// How feeding a body ended.
pub(super) enum Fed {
    /// All of it went into the pipe.
    Whole,
    /// The handler discarded the body: the rest stays unread.
    Discarded,
    /// The body broke a limit (413) or stalled (408): this answer replaces the handler's.
    Failed(Response),
    /// The client reset the stream.
    Reset,
}

/// Feeds `body` into `pipe` until it ends, within `--max-body-size` and with at most
/// `--body-timeout` between chunks.
pub(super) async fn feed(body: &mut RecvStream, pipe: &BodyPipe, conn: &Shared) -> Fed {
    let cfg = &conn.ctx.config;
    let mut total = 0u64;
    loop {
        if !pipe.has_room() {
            pipe.room().await;
        }
        if pipe.discarded() {
            return Fed::Discarded;
        }
        // The body timeout is the longest the client may leave us waiting for its next
        // bytes: a large upload may take longer as a whole, a stalled one may not.
        let deadline = Instant::now() + cfg.body_timeout;
        let next = match tokio::time::timeout_at(deadline.into(), body.data()).await {
            Ok(n) => n,
            Err(_) => {
                pipe.cut();
                return Fed::Failed(problem(408, "the request body did not arrive in time"));
            }
        };
        match next {
            None => {
                pipe.finish();
                return Fed::Whole;
            }
            Some(Ok(chunk)) => {
                total += chunk.len() as u64;
                if total > cfg.limits.max_body {
                    pipe.cut();
                    return Fed::Failed(problem(413, "the request body is too large"));
                }
                let n = chunk.len();
                if !pipe.push(chunk) {
                    return Fed::Discarded;
                }
                let _ = body.flow_control().release_capacity(n);
            }
            Some(Err(_)) => {
                pipe.cut();
                return Fed::Reset;
            }
        }
    }
}
