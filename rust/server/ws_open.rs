//! Opening a WebSocket on a routed request, whatever protocol carries it: an HTTP/1.1 upgrade
//! (`upgrade.rs`, RFC 6455 §4.2) or an HTTP/2 extended CONNECT (`http2/websocket.rs`, RFC
//! 8441). The handshake checked, the worker's WebSocket limit, permessage-deflate negotiated
//! and the session made (`open_session`); then the request admitted and dispatched with its
//! session like any other, and the handler's accept or its HTTP answer awaited (`dispatch`).
//! What the accept looks like on the wire (a `101`, a `200` on the stream) is the protocol's.

use std::future::Future;
use std::sync::Arc;

use tokio::sync::oneshot;
use tokio::time::{sleep_until, Instant};

use crate::io::Peer;
use crate::pipeline::{Cancel, Ctx, Exchange, Routed};
use crate::protocol::h1::RequestHead;
use crate::protocol::problem::problem;
use crate::protocol::response::Response;
use crate::protocol::ws::{deflate, handshake};
use crate::websocket::{Limits, Open, Session};

/// Checks the handshake of `head` and makes its session, counted against the worker's
/// WebSocket limit; the receiver gets the accepting answer's header block when the handler
/// accepts. `Err` is the answer to send instead (400, 426, 503).
#[allow(clippy::type_complexity)]
pub(super) fn open_session(
    ctx: &Ctx,
    head: &RequestHead,
) -> Result<(Arc<Session>, Open, oneshot::Receiver<Vec<u8>>), Response> {
    let up = handshake::check(head).map_err(|r| r.response())?;
    let ws = &ctx.config.ws;
    let open = ctx.shared.hub.open(ws.max_connections).ok_or_else(|| {
        problem(
            503,
            "this worker has as many WebSockets open as it allows (--ws-max-connections)",
        )
    })?;
    let negotiated = if ws.deflate.enabled {
        let offers: Vec<&[u8]> = head
            .headers()
            .filter(|(n, _)| n.eq_ignore_ascii_case(b"sec-websocket-extensions"))
            .map(|(_, v)| v)
            .collect();
        deflate::negotiate(&offers, &ws.deflate)
    } else {
        None
    };
    let limits = Limits {
        max_queue: ws.max_queue,
        policy: ws.queue_policy,
        compress_min: ws.deflate.min_size,
        level: ws.deflate.level,
    };
    let hub = Arc::downgrade(&ctx.shared.hub) as std::sync::Weak<dyn crate::websocket::Topics>;
    let (session, accepted) = Session::new(up, negotiated, limits, hub);
    Ok((session, open, accepted))
}

/// What came of a dispatched WebSocket request.
pub(super) enum Handshake {
    /// The handler accepted: the header block of the answer that opens the WebSocket.
    Accepted(Vec<u8>),
    /// An HTTP answer instead: the handler's refusal, or 503 (admission), 504 (its deadline).
    Answer(Response),
    /// The client left first (`gone`): the session ended and the handler was cancelled.
    Gone,
}

/// Admits and dispatches the request with its session, then waits for the accept, the
/// handler's answer, its deadline, or `gone` (a client that leaves: an HTTP/2 stream reset;
/// `std::future::pending()` where the protocol cannot tell).
#[allow(clippy::too_many_arguments)]
pub(super) async fn dispatch(
    ctx: &Ctx,
    peer: &Peer,
    head: RequestHead,
    routed: Routed,
    ex: &mut Exchange,
    session: &Arc<Session>,
    mut accepted: oneshot::Receiver<Vec<u8>>,
    gone: impl Future<Output = ()>,
) -> Handshake {
    let slot = match ctx.shared.gate.try_admit() {
        Some(slot) => Ok(slot),
        None => ctx.shared.clone().gate.admit().await,
    };
    let slot = match slot {
        Ok(slot) => slot,
        Err(refusal) => return Handshake::Answer(ctx.refused(peer, refusal)),
    };
    session.hold_slot(slot);
    let body = bytes::Bytes::new();
    let d = ctx.dispatch_job(
        head,
        body,
        routed,
        None,
        peer.clone(),
        ex,
        Some(session.clone()),
        None,
    );
    let mut rx = d.rx;
    let deadline = d.limit.map(|l| Instant::now() + l);
    let far = Instant::now() + std::time::Duration::from_secs(86_400 * 365);
    tokio::select! {
        biased;
        head = &mut accepted => match head {
            Ok(block) => Handshake::Accepted(block),
            // The session ended before an accept: the handler's answer follows.
            Err(_) => Handshake::Answer((&mut rx).await.unwrap_or_else(|_| forbidden())),
        },
        answer = &mut rx => {
            // Answered without accepting: a refusal. An accept that raced it still wins
            // nothing: the session ends here.
            session.end(1006, "");
            Handshake::Answer(answer.unwrap_or_else(|_| forbidden()))
        }
        _ = sleep_until(deadline.unwrap_or(far)), if deadline.is_some() => {
            session.end(1006, "");
            let stated = d.stated.unwrap_or_default();
            Handshake::Answer(ctx.timed_out(peer, d.id, stated))
        }
        () = gone => {
            session.end(1006, "");
            ctx.dispatch.cancel(d.id, Cancel::Disconnected);
            Handshake::Gone
        }
    }
}

/// What a handler that neither accepted nor answered gets: the refusal RFC 6455 leaves to the
/// server (§4.2.2), 403 as in every peer.
fn forbidden() -> Response {
    problem(403, "the WebSocket handler refused the connection")
}
