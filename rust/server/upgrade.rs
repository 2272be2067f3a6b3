//! A WebSocket route's upgrade request on an HTTP/1.1 connection (RFC 6455 §4.2): the
//! handshake checked, the request admitted and dispatched with its session like any other,
//! then either the handler's `accept` (a `101`, and the connection becomes a WebSocket) or
//! its HTTP answer (a refusal, and the connection closes).

use std::sync::Arc;

use tokio::time::{sleep_until, Instant};

use crate::io::Conn;
use crate::log::{self, Level};
use crate::pipeline::Routed;
use crate::protocol::h1::encode::{write_response_head, Framing};
use crate::protocol::h1::{date, RequestHead};
use crate::protocol::problem::problem;
use crate::protocol::response::Response;
use crate::protocol::ws::{deflate, handshake};
use crate::websocket::{Limits, Open, Session};

use super::{Answer, Connection, Meta, Pending, Stop};

/// A connection that became a WebSocket: what `serve` hands to `server::ws`.
pub(crate) struct Upgraded {
    pub session: Arc<Session>,
    pub open: Open,
    /// The upgrade request's state: its access-log line and metrics sample are written when
    /// the WebSocket closes.
    pub ex: crate::pipeline::Exchange,
}

/// What `dispatch_upgrade` gives back on an accept.
struct Accepted {
    session: Arc<Session>,
    open: Open,
}

impl<C: Conn> Connection<C> {
    /// Serves an upgrade request to a WebSocket route. `Err(Stop::Upgraded)` when the handler
    /// accepted; otherwise its answer (or the refusal) is written and the connection closes:
    /// what the client sent after its request was meant as WebSocket frames.
    pub(super) async fn upgrade(
        &mut self,
        mut head: RequestHead,
        routed: Routed,
        mut meta: Meta,
    ) -> Result<(), Stop> {
        meta.close = true;
        head.detach();
        let answer = match self.open_session(&head) {
            Err(refusal) => refusal,
            Ok((session, open, accepted)) => {
                match self
                    .dispatch_upgrade(head, routed, &mut meta, session, open, accepted)
                    .await
                {
                    Ok(Accepted { session, open }) => {
                        let ex = meta.ex;
                        let up = Upgraded { session, open, ex };
                        return Err(Stop::Upgraded(Box::new(up)));
                    }
                    Err(answer) => answer?,
                }
            }
        };
        self.pending.push_back(Pending {
            answer: Answer::Ready(answer),
            meta,
        });
        self.flush().await
    }

    #[allow(clippy::type_complexity)]
    fn open_session(
        &mut self,
        head: &RequestHead,
    ) -> Result<(Arc<Session>, Open, tokio::sync::oneshot::Receiver<Vec<u8>>), Response> {
        let up = handshake::check(head).map_err(|r| r.response())?;
        let ws = &self.ctx.config.ws;
        let open = self
            .ctx
            .shared
            .hub
            .open(ws.max_connections)
            .ok_or_else(|| {
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
        let hub =
            Arc::downgrade(&self.ctx.shared.hub) as std::sync::Weak<dyn crate::websocket::Topics>;
        let (session, accepted) = Session::new(up, negotiated, limits, hub);
        Ok((session, open, accepted))
    }

    /// Admits and dispatches the request with its session, then waits for the accept or the
    /// handler's answer. `Err(Ok(answer))` is an HTTP answer to write, `Err(Err(stop))` the end.
    async fn dispatch_upgrade(
        &mut self,
        head: RequestHead,
        routed: Routed,
        meta: &mut Meta,
        session: Arc<Session>,
        open: Open,
        mut accepted: tokio::sync::oneshot::Receiver<Vec<u8>>,
    ) -> Result<Accepted, Result<Response, Stop>> {
        let slot = match self.ctx.shared.gate.try_admit() {
            Some(slot) => Ok(slot),
            None => self.ctx.shared.clone().gate.admit().await,
        };
        let slot = match slot {
            Ok(slot) => slot,
            Err(refusal) => return Err(Ok(self.ctx.refused(&self.peer, refusal))),
        };
        session.hold_slot(slot);
        let peer = self.peer.clone();
        let body = bytes::Bytes::new();
        let d = self.ctx.dispatch_job(
            head,
            body,
            routed,
            None,
            peer,
            &mut meta.ex,
            Some(session.clone()),
            None,
        );
        let mut rx = d.rx;
        let deadline = d.limit.map(|l| Instant::now() + l);
        let far = Instant::now() + std::time::Duration::from_secs(86_400 * 365);
        tokio::select! {
            biased;
            head = &mut accepted => match head {
                Ok(block) => {
                    self.write_101(&block).await.map_err(Err)?;
                    Ok(Accepted { session, open })
                }
                // The session ended before an accept: the handler's answer follows.
                Err(_) => Err(Ok((&mut rx).await.unwrap_or_else(|_| forbidden()))),
            },
            answer = &mut rx => {
                // Answered without accepting: a refusal. An accept that raced it still wins
                // nothing: the session ends here.
                session.end(1006, "");
                Err(Ok(answer.unwrap_or_else(|_| forbidden())))
            }
            _ = sleep_until(deadline.unwrap_or(far)), if deadline.is_some() => {
                session.end(1006, "");
                let stated = d.stated.unwrap_or_default();
                Err(Ok(self.ctx.timed_out(&self.peer, d.id, stated)))
            }
        }
    }

    async fn write_101(&mut self, block: &[u8]) -> Result<(), Stop> {
        let mut hb = Vec::with_capacity(block.len() + 24);
        hb.extend_from_slice(block);
        hb.extend_from_slice(b"connection: upgrade\r\n");
        write_response_head(
            &mut self.wbuf,
            101,
            &hb,
            Framing::None,
            false,
            false,
            &date::http_date(),
        );
        self.write_out().await.inspect_err(|_| {
            log::write(
                Level::Debug,
                format_args!("{}: gone before its 101", self.peer),
            );
        })
    }
}

/// What a handler that neither accepted nor answered gets: the refusal RFC 6455 leaves to the
/// server (§4.2.2), 403 as in every peer.
fn forbidden() -> Response {
    problem(403, "the WebSocket handler refused the connection")
}
