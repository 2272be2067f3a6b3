//! A WebSocket route's upgrade request on an HTTP/1.1 connection (RFC 6455 §4.2): the
//! handshake checked, the request admitted and dispatched with its session like any other,
//! then either the handler's `accept` (a `101`, and the connection becomes a WebSocket) or
//! its HTTP answer (a refusal, and the connection closes).

use std::sync::Arc;

use crate::io::Conn;
use crate::log::{self, Level};
use crate::pipeline::Routed;
use crate::protocol::h1::encode::{write_response_head, Framing};
use crate::protocol::h1::{date, RequestHead};
use crate::protocol::response::Response;
use crate::server::ws_open::{self, Handshake};
use crate::websocket::{Open, Session};

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
        let answer = match ws_open::open_session(&self.ctx, &head) {
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

    /// Admits and dispatches the request with its session (`ws_open::dispatch`), then writes
    /// the `101` on an accept. `Err(Ok(answer))` is an HTTP answer to write, `Err(Err(stop))`
    /// the end.
    async fn dispatch_upgrade(
        &mut self,
        head: RequestHead,
        routed: Routed,
        meta: &mut Meta,
        session: Arc<Session>,
        open: Open,
        accepted: tokio::sync::oneshot::Receiver<Vec<u8>>,
    ) -> Result<Accepted, Result<Response, Stop>> {
        // An HTTP/1.1 connection cannot tell a client gone while it waits (its request is
        // all read): only the handler's accept, answer or deadline end the wait.
        let gone = std::future::pending();
        let outcome = ws_open::dispatch(
            &self.ctx,
            &self.peer,
            head,
            routed,
            &mut meta.ex,
            &session,
            accepted,
            gone,
        )
        .await;
        match outcome {
            Handshake::Accepted(block) => {
                self.write_101(&block).await.map_err(Err)?;
                Ok(Accepted { session, open })
            }
            Handshake::Answer(answer) => Err(Ok(answer)),
            Handshake::Gone => Err(Err(Stop::Gone)),
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
