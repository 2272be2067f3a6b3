//! One WebSocket between its connection (an IO thread) and its handler (the Python thread):
//! the accept, the messages each way, the close. Plain Rust with a lock; the bridge turns
//! the two wake-ups (`on_receive`, `on_send`) into asyncio Futures.
//!
//! Both queues are bounded, so a fast side waits for a slow one: the connection stops reading
//! the socket while the inbox is full (the peer's TCP window closes), and a handler's `send`
//! reports a full outbox so it awaits room. Broadcasts never wait: a full outbox drops its
//! oldest message or closes the socket (`QueuePolicy`).

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard, Weak};

use bytes::Bytes;
use tokio::sync::{oneshot, Notify, OwnedSemaphorePermit};

use crate::config::QueuePolicy;
use crate::protocol::ws::deflate::{self, Negotiated};
use crate::protocol::ws::frame::{self, Kind};
use crate::protocol::ws::handshake::{accept_headers, Upgrade};

/// Where a socket's subscriptions are kept (the worker's [`Hub`](super::Hub)); a trait so the
/// session does not depend on the hub that holds sessions.
pub trait Topics: Send + Sync {
    /// `session` receives broadcasts to `topic`.
    fn subscribe(&self, session: &Arc<Session>, topic: &str);
    /// `session` no longer receives broadcasts to `topic`.
    fn unsubscribe(&self, session: &Arc<Session>, topic: &str);
}

/// The inbox is full at this many messages...
const INBOX_MESSAGES: usize = 16;
/// ... or this many bytes: the connection stops reading until the handler takes some.
const INBOX_BYTES: usize = 256 * 1024;

/// A wake-up the handler's side registers (an asyncio Future to resolve, in the bridge).
pub type Wake = Box<dyn FnOnce() + Send>;

/// What the handler's side receives next.
#[derive(Debug, PartialEq, Eq)]
pub enum Received {
    /// A whole message.
    Message(Kind, Bytes),
    /// The socket is closed: the close code and reason as the handler sees them.
    Closed(u16, Box<str>),
    /// Nothing yet.
    Empty,
}

/// Why an accept was refused.
#[derive(Debug, PartialEq, Eq)]
pub enum AcceptError {
    /// Already accepted, or the connection is gone.
    NotConnecting,
    /// The subprotocol was not among the client's offers.
    Subprotocol,
}

/// What a broadcast did to one socket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pushed {
    /// Queued.
    Queued,
    /// Queued after dropping the oldest queued message (the queue was full).
    DroppedOldest,
    /// Not queued: the socket was full and is being closed with 1008, or is closed.
    Refused,
}

/// Per-socket settings, from `WsConfig`.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Messages queued for sending.
    pub max_queue: usize,
    /// What a full queue does to a broadcast.
    pub policy: QueuePolicy,
    /// Messages shorter than this go uncompressed.
    pub compress_min: usize,
    /// The compression level.
    pub level: u32,
}

#[derive(Default)]
struct State {
    accept: Option<oneshot::Sender<Vec<u8>>>,
    /// The upgrade request's admission slot, held until the handler accepts.
    slot: Option<OwnedSemaphorePermit>,
    inbox: VecDeque<(Kind, Bytes)>,
    inbox_bytes: usize,
    on_receive: Option<Wake>,
    outbox: VecDeque<Bytes>,
    on_send: Option<Wake>,
    /// A close the handler (or a drain, or a full queue) asked for, not yet sent.
    close_request: Option<(u16, Box<str>)>,
    /// The socket is closed, as the handler will see it.
    closed: Option<(u16, Box<str>)>,
    topics: Vec<Box<str>>,
    /// The peer broke the protocol: the connection waits for the handler to finish with what
    /// it received before, and must hear when it asks for more (`settled`).
    settling: bool,
}

/// One WebSocket, shared by its connection and its handler.
pub struct Session {
    /// The validated upgrade request.
    pub upgrade: Upgrade,
    /// permessage-deflate, when negotiated.
    pub deflate: Option<Negotiated>,
    limits: Limits,
    state: Mutex<State>,
    /// Wakes the connection's writer: frames queued, a close asked for.
    pub writer: Notify,
    /// Wakes the connection's reader: the handler made room in the inbox.
    pub reader: Notify,
    /// The worker's topics (weak: the hub holds its subscribers).
    hub: Weak<dyn Topics>,
}

fn call(w: Option<Wake>) {
    if let Some(w) = w {
        w()
    }
}

impl Session {
    /// A session in the connecting state; the receiver gets the `101`'s header block when
    /// the handler accepts.
    pub fn new(
        upgrade: Upgrade,
        deflate: Option<Negotiated>,
        limits: Limits,
        hub: Weak<dyn Topics>,
    ) -> (Arc<Session>, oneshot::Receiver<Vec<u8>>) {
        let (tx, rx) = oneshot::channel();
        let state = State {
            accept: Some(tx),
            ..State::default()
        };
        let s = Session {
            upgrade,
            deflate,
            limits,
            state: Mutex::new(state),
            writer: Notify::new(),
            reader: Notify::new(),
            hub,
        };
        (Arc::new(s), rx)
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    // ---- the handler's side ----

    /// Accepts the upgrade: the connection answers `101` with the accept key, `subprotocol`
    /// (which must be one the client offered), the negotiated extension and `extra` (header
    /// lines, already validated).
    pub fn accept(&self, subprotocol: Option<&str>, extra: &[u8]) -> Result<(), AcceptError> {
        if let Some(p) = subprotocol {
            if !self.upgrade.subprotocols.iter().any(|o| &**o == p) {
                return Err(AcceptError::Subprotocol);
            }
        }
        let mut st = self.lock();
        let tx = st.accept.take().ok_or(AcceptError::NotConnecting)?;
        let ext = self.deflate.as_ref().map(|d| d.response.as_str());
        let head = accept_headers(&self.upgrade, subprotocol, ext, extra);
        tx.send(head).map_err(|_| AcceptError::NotConnecting)?;
        // The socket no longer counts as a request in flight: it may stay open for hours.
        st.slot = None;
        Ok(())
    }

    /// The next message, the close, or nothing yet.
    pub fn receive(&self) -> Received {
        let mut st = self.lock();
        let was_full = st.inbox.len() >= INBOX_MESSAGES || st.inbox_bytes >= INBOX_BYTES;
        match st.inbox.pop_front() {
            Some((kind, data)) => {
                st.inbox_bytes -= data.len();
                drop(st);
                if was_full {
                    self.reader.notify_one();
                }
                Received::Message(kind, data)
            }
            None => match &st.closed {
                Some((code, reason)) => Received::Closed(*code, reason.clone()),
                None => Received::Empty,
            },
        }
    }

    /// Calls `wake` once `receive` has something (at once if it has now).
    pub fn on_receive(&self, wake: Wake) {
        let mut st = self.lock();
        if st.inbox.is_empty() && st.closed.is_none() {
            st.on_receive = Some(wake);
            if st.settling {
                drop(st);
                self.writer.notify_one();
            }
        } else {
            drop(st);
            wake();
        }
    }

    /// Queues a message: `Ok(false)` when the queue is full (wait with `on_send`), `Err` with
    /// the close code once the socket is closed.
    pub fn send(&self, kind: Kind, payload: &[u8]) -> Result<bool, u16> {
        {
            let st = self.lock();
            if let Some((code, _)) = &st.closed {
                return Err(*code);
            }
            if st.close_request.is_some() {
                return Err(1000);
            }
            if st.outbox.len() >= self.limits.max_queue {
                return Ok(false);
            }
        }
        // Encoded (and compressed) outside the lock: the connection's writer may be taking
        // frames meanwhile.
        let frame = self.encode(kind, payload);
        let mut st = self.lock();
        let was_empty = st.outbox.is_empty();
        st.outbox.push_back(frame);
        drop(st);
        if was_empty {
            self.writer.notify_one();
        }
        Ok(true)
    }

    fn encode(&self, kind: Kind, payload: &[u8]) -> Bytes {
        match &self.deflate {
            Some(d) if payload.len() >= self.limits.compress_min => {
                let mut z = Vec::with_capacity(payload.len() / 2 + 16);
                deflate::compress(payload, d.server_max_window_bits, self.limits.level, &mut z);
                frame::message_bytes(kind, true, &z)
            }
            _ => frame::message_bytes(kind, false, payload),
        }
    }

    /// Calls `wake` once `send` has room or fails (at once if it would now).
    pub fn on_send(&self, wake: Wake) {
        let mut st = self.lock();
        if st.outbox.len() >= self.limits.max_queue && st.closed.is_none() {
            st.on_send = Some(wake);
        } else {
            drop(st);
            wake();
        }
    }

    /// Starts the close handshake (the code is checked by the caller).
    pub fn close(&self, code: u16, reason: &str) {
        let mut st = self.lock();
        if st.closed.is_none() && st.close_request.is_none() {
            st.close_request = Some((code, Box::from(reason)));
        }
        drop(st);
        self.writer.notify_one();
    }

    /// Messages shorter than this are sent uncompressed.
    pub fn compress_min(&self) -> usize {
        self.limits.compress_min
    }

    /// The compression level.
    pub fn level(&self) -> u32 {
        self.limits.level
    }

    /// Keeps the upgrade request's admission slot until the accept.
    pub fn hold_slot(&self, slot: OwnedSemaphorePermit) {
        self.lock().slot = Some(slot);
    }

    /// Whether the handler accepted the upgrade.
    pub fn accepted(&self) -> bool {
        self.lock().accept.is_none()
    }

    /// The close as the handler sees it, once closed.
    pub fn closed(&self) -> Option<(u16, Box<str>)> {
        self.lock().closed.clone()
    }

    /// This socket receives the worker's broadcasts to `topic`.
    pub fn subscribe(self: &Arc<Self>, topic: &str) {
        if let Some(hub) = self.hub.upgrade() {
            hub.subscribe(self, topic);
        }
    }

    /// This socket no longer receives broadcasts to `topic`.
    pub fn unsubscribe(self: &Arc<Self>, topic: &str) {
        if let Some(hub) = self.hub.upgrade() {
            hub.unsubscribe(self, topic);
        }
    }

    /// Records a topic this socket subscribed to (false: already subscribed).
    pub(crate) fn add_topic(&self, topic: &str) -> bool {
        let mut st = self.lock();
        if st.topics.iter().any(|t| &**t == topic) {
            return false;
        }
        st.topics.push(Box::from(topic));
        true
    }

    /// Forgets a topic (false: was not subscribed).
    pub(crate) fn remove_topic(&self, topic: &str) -> bool {
        let mut st = self.lock();
        let before = st.topics.len();
        st.topics.retain(|t| &**t != topic);
        st.topics.len() != before
    }

    /// Every topic this socket is subscribed to, forgotten.
    pub(crate) fn take_topics(&self) -> Vec<Box<str>> {
        std::mem::take(&mut self.lock().topics)
    }

    // ---- the broadcaster's side ----

    /// Queues a frame encoded for all subscribers; never waits. Wakes the writer unless
    /// `defer`: then `Pushed::Queued`/`DroppedOldest` with `wake` true means the caller owes
    /// it a [`Session::wake_writer`].
    pub fn push_shared(&self, frame: Bytes, defer: bool) -> (Pushed, bool) {
        let mut st = self.lock();
        if st.closed.is_some() || st.close_request.is_some() || st.accept.is_some() {
            return (Pushed::Refused, false);
        }
        let mut pushed = Pushed::Queued;
        if st.outbox.len() >= self.limits.max_queue {
            match self.limits.policy {
                QueuePolicy::DropOldest => {
                    st.outbox.pop_front();
                    pushed = Pushed::DroppedOldest;
                }
                QueuePolicy::Disconnect => {
                    st.close_request = Some((1008, Box::from("send queue full")));
                    drop(st);
                    self.writer.notify_one();
                    return (Pushed::Refused, false);
                }
            }
        }
        let was_empty = st.outbox.is_empty();
        st.outbox.push_back(frame);
        drop(st);
        // Only the first frame of a batch wakes the writer: it takes everything queued when it
        // runs (one cross-thread wake per socket per batch, not per message: a broadcast to
        // 1,000 subscribers with 64 messages in flight measured 2% of the Python thread in
        // notify alone).
        if was_empty && !defer {
            self.writer.notify_one();
        }
        (pushed, was_empty && defer)
    }

    /// Wakes the connection's writer (after deferred pushes).
    pub fn wake_writer(&self) {
        self.writer.notify_one();
    }

    // ---- the connection's side ----

    /// Hands a message to the handler; false when the inbox is now full (stop reading until
    /// `reader` is notified).
    pub fn deliver(&self, kind: Kind, data: Bytes) -> bool {
        let mut st = self.lock();
        st.inbox_bytes += data.len();
        st.inbox.push_back((kind, data));
        let room = st.inbox.len() < INBOX_MESSAGES && st.inbox_bytes < INBOX_BYTES;
        let wake = st.on_receive.take();
        drop(st);
        call(wake);
        room
    }

    /// Whether the handler is done with every message it was given: its inbox is empty and it
    /// waits for more (or never accepted). Starts telling the writer when that changes.
    pub fn settled(&self) -> bool {
        let mut st = self.lock();
        st.settling = true;
        st.inbox.is_empty() && (st.on_receive.is_some() || st.accept.is_some())
    }

    /// Whether the inbox has room again.
    pub fn inbox_has_room(&self) -> bool {
        let st = self.lock();
        st.inbox.len() < INBOX_MESSAGES && st.inbox_bytes < INBOX_BYTES
    }

    /// Moves queued frames into `out`, up to about `max` bytes; wakes a waiting sender. A
    /// writer that leaves frames behind (`max`) must come back without waiting for a notify:
    /// only a push to an empty queue notifies.
    pub fn take_frames(&self, out: &mut Vec<u8>, max: usize) -> usize {
        let mut st = self.lock();
        let mut n = 0;
        while out.len() < max {
            let Some(f) = st.outbox.pop_front() else {
                break;
            };
            out.extend_from_slice(&f);
            n += 1;
        }
        let wake = if n > 0 { st.on_send.take() } else { None };
        drop(st);
        call(wake);
        n
    }

    /// Whether frames are queued.
    pub fn has_frames(&self) -> bool {
        !self.lock().outbox.is_empty()
    }

    /// The close the handler asked for, taken once its queued frames are out.
    pub fn take_close_request(&self) -> Option<(u16, Box<str>)> {
        let mut st = self.lock();
        if st.outbox.is_empty() {
            st.close_request.take()
        } else {
            None
        }
    }

    /// The socket is closed (`code` as the handler will see it): every wait ends, sends fail,
    /// queued frames go.
    pub fn end(&self, code: u16, reason: &str) {
        let mut st = self.lock();
        if st.closed.is_none() {
            st.closed = Some((code, Box::from(reason)));
        }
        st.outbox.clear();
        st.accept = None;
        st.slot = None;
        let wakes = (st.on_receive.take(), st.on_send.take());
        drop(st);
        call(wakes.0);
        call(wakes.1);
    }
}

#[cfg(test)]
#[path = "session_tests.rs"]
mod tests;
