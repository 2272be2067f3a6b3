//! A mount's request with a body on an HTTP/1.1 connection: admitted and dispatched as soon
//! as its head is read, its body fed to the handler through a [`BodyPipe`] while it arrives
//! (a hosted ASGI app's `receive`, a WSGI app's `wsgi.input`), so an upload of any size that
//! `--max-body-size` allows crosses in bounded memory: the connection reads the socket only
//! while the pipe has room.
//!
//! The answer is written after the body has been read, as for every request of this
//! connection, unless the handler answers first while the pipe is full (it stopped reading):
//! then the rest of the body stays unread, the handler's next read finds the body cut, and
//! the connection closes after the answer.

use std::sync::Arc;
use std::time::Instant;

use bytes::{Bytes, BytesMut};

use crate::io::Conn;
use crate::pipeline::answers::unanswered;
use crate::pipeline::{BodyPipe, Cancel, RouteKind, Routed};
use crate::protocol::h1::{BodyDecoder, BodyFraming, ProtoError, RequestHead};
use crate::protocol::response::Response;
use crate::protocol::ws::handshake;
use crate::server::spin;

use crate::protocol::h1::encode::CONTINUE_100;

use super::{Answer, Connection, Meta, Pending, Read, Stop, Waiting};

/// What waiting for room in the pipe ended with.
enum Room {
    /// The connection may read more.
    Free,
    /// The handler will read no more (it discarded the body).
    Discarded,
    /// The handler answered while it was not reading: this is its answer.
    Answered(Response),
}

impl<C: Conn> Connection<C> {
    /// Whether this request opens a WebSocket: any upgrade to a WebSocket route, and an
    /// upgrade asking for WebSocket to a mount (a hosted app serves both on one path).
    pub(super) fn opens_websocket(&self, head: &RequestHead, route: usize) -> bool {
        match self.ctx.dispatch.kind(route) {
            RouteKind::WebSocket => true,
            RouteKind::Mount => handshake::is_upgrade(head),
            RouteKind::Http => false,
        }
    }

    /// Serves a mount's request that has a body: admits and dispatches it with a pipe, feeds
    /// the body, and leaves the answer pending like any other. `Err` ends the connection.
    pub(super) async fn stream_request(
        &mut self,
        head: RequestHead,
        routed: Routed,
        framing: BodyFraming,
        mut meta: Meta,
    ) -> Result<(), Stop> {
        if head.expects_continue() && self.rbuf.is_empty() {
            // Earlier answers first: 100 Continue belongs to this request.
            self.flush().await?;
            self.write_raw(CONTINUE_100).await?;
        }
        let slot = match self.ctx.shared.gate.try_admit() {
            Some(slot) => Ok(slot),
            None => {
                self.flush().await?;
                let shared = self.ctx.shared.clone();
                shared.gate.admit().await
            }
        };
        let slot = match slot {
            Ok(slot) => slot,
            Err(refusal) => {
                // Refused before its body was read (503): answer and close, unread.
                meta.close = true;
                let answer = Answer::Ready(self.ctx.refused(&self.peer, refusal));
                self.pending.push_back(Pending { answer, meta });
                return self.flush().await;
            }
        };
        let pipe = Arc::new(BodyPipe::new());
        let peer = self.peer.clone();
        let d = self.ctx.dispatch_job(
            head,
            Bytes::new(),
            routed,
            Some(slot),
            peer,
            &mut meta.ex,
            None,
            Some(pipe.clone()),
        );
        let waiting = Waiting {
            rx: d.rx,
            id: d.id,
            since: self.ticker.now(),
            limit: d.limit,
            stated: d.stated,
            _in_flight: spin::InFlight::new(),
        };
        self.pending.push_back(Pending {
            answer: Answer::Wait(waiting),
            meta,
        });
        let whole = self.feed(framing, &pipe).await?;
        let draining = self.ctx.shared.is_draining() && self.rbuf.is_empty();
        let Some(last) = self.pending.back_mut() else {
            return Ok(());
        };
        // Unread body bytes would be taken for the next request's head.
        if !whole || draining {
            last.meta.close = true;
        }
        if last.meta.close {
            return self.flush().await;
        }
        if self.pending.len() >= self.ctx.config.max_pipeline {
            self.flush().await?;
        }
        Ok(())
    }

    /// Feeds the body into `pipe`: true when all of it was read, false when the handler
    /// stopped reading first.
    async fn feed(&mut self, framing: BodyFraming, pipe: &BodyPipe) -> Result<bool, Stop> {
        let cfg = self.ctx.config.clone();
        let mut decoder =
            BodyDecoder::new(framing, cfg.limits.max_body, cfg.limits.max_header_bytes);
        let mut out = BytesMut::new();
        loop {
            let done = match decoder.decode(&mut self.rbuf, &mut out) {
                Ok(done) => done,
                Err(e) => return self.body_failed(pipe, e).await,
            };
            if !out.is_empty() && !pipe.push(out.split().freeze()) {
                return Ok(false);
            }
            if done {
                pipe.finish();
                return Ok(true);
            }
            match self.room(pipe).await {
                Room::Free => {}
                Room::Discarded => return Ok(false),
                Room::Answered(response) => {
                    if let Some(last) = self.pending.back_mut() {
                        last.answer = Answer::Ready(response);
                    }
                    pipe.cut();
                    return Ok(false);
                }
            }
            // The body timeout is the longest the client may leave us waiting for its next
            // bytes: a large upload may take longer as a whole, a stalled one may not.
            let deadline = Instant::now() + cfg.body_timeout;
            match self.read_more(deadline, false).await {
                Read::Data => {}
                Read::Eof | Read::Drain => {
                    // The pending job is cancelled when the connection ends.
                    pipe.cut();
                    return Err(Stop::Gone);
                }
                Read::Timeout => return self.body_failed(pipe, ProtoError::BodyTimeout).await,
            }
        }
    }

    /// Waits until the pipe has room, or the handler answered without reading on.
    async fn room(&mut self, pipe: &BodyPipe) -> Room {
        if pipe.has_room() {
            return if pipe.discarded() {
                Room::Discarded
            } else {
                Room::Free
            };
        }
        let answered = match self.pending.back_mut() {
            Some(Pending {
                answer: Answer::Wait(w),
                ..
            }) => {
                tokio::select! {
                    biased;
                    () = pipe.room() => None,
                    r = &mut w.rx => Some(r.unwrap_or_else(|_| unanswered())),
                }
            }
            _ => {
                pipe.room().await;
                None
            }
        };
        match answered {
            Some(response) => Room::Answered(response),
            None if pipe.discarded() => Room::Discarded,
            None => Room::Free,
        }
    }

    /// The body broke a limit, its framing or the body timeout while the handler ran: the
    /// handler's next read finds it cut, and the client gets the error answer (413, 400,
    /// 408) instead of the handler's, then the connection closes.
    async fn body_failed(&mut self, pipe: &BodyPipe, err: ProtoError) -> Result<bool, Stop> {
        pipe.cut();
        if let Some(Pending {
            answer: Answer::Wait(w),
            ..
        }) = self.pending.pop_back()
        {
            self.ctx.dispatch.cancel(w.id, Cancel::Disconnected);
        }
        self.fail(err).await.and(Err(Stop::Done))
    }
}
