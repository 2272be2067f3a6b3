//! The worker's topics: which sockets a broadcast goes to. A broadcast is one call from
//! Python; the frame is encoded (and compressed) once and queued on every subscriber here,
//! in Rust, without a Python object per recipient.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, RwLock};

use bytes::Bytes;

use crate::protocol::ws::deflate;
use crate::protocol::ws::frame::{self, Kind};

use super::session::{Pushed, Session, Topics};

/// The sockets of one worker, by topic, and their count.
#[derive(Default)]
pub struct Hub {
    topics: RwLock<HashMap<Box<str>, Vec<Arc<Session>>>>,
    /// Open WebSockets (accepted or connecting), for `--ws-max-connections`.
    open: AtomicUsize,
    /// Broadcast messages dropped or refused because a subscriber's queue was full.
    dropped: AtomicU64,
    /// Deliveries queued by broadcasts.
    delivered: AtomicU64,
    /// Writers owed a wake-up by deferred broadcasts (`broadcast(.., defer: true)`).
    owed: Mutex<Vec<Arc<Session>>>,
}

/// A socket counted as open until dropped.
pub struct Open(Arc<Hub>);

impl Drop for Open {
    fn drop(&mut self) {
        self.0.open.fetch_sub(1, Ordering::AcqRel);
    }
}

impl Hub {
    /// Counts a new socket unless `max` are open.
    pub fn open(self: &Arc<Self>, max: usize) -> Option<Open> {
        let n = self.open.fetch_add(1, Ordering::AcqRel);
        if n >= max {
            self.open.fetch_sub(1, Ordering::AcqRel);
            return None;
        }
        Some(Open(self.clone()))
    }

    /// Open sockets now.
    pub fn open_count(&self) -> usize {
        self.open.load(Ordering::Acquire)
    }

    /// Broadcast messages dropped (full queues) since start.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }

    /// Broadcast deliveries queued since start.
    pub fn delivered(&self) -> u64 {
        self.delivered.load(Ordering::Relaxed)
    }

    /// `session` receives broadcasts to `topic`.
    pub fn subscribe(&self, session: &Arc<Session>, topic: &str) {
        if !session.add_topic(topic) {
            return;
        }
        let mut t = self.topics.write().unwrap_or_else(|p| p.into_inner());
        t.entry(Box::from(topic)).or_default().push(session.clone());
    }

    /// `session` no longer receives broadcasts to `topic`.
    pub fn unsubscribe(&self, session: &Arc<Session>, topic: &str) {
        if session.remove_topic(topic) {
            self.forget(session, topic);
        }
    }

    /// Every subscription of `session` goes (its connection ended).
    pub fn remove(&self, session: &Arc<Session>) {
        for topic in session.take_topics() {
            self.forget(session, &topic);
        }
    }

    fn forget(&self, session: &Arc<Session>, topic: &str) {
        let mut t = self.topics.write().unwrap_or_else(|p| p.into_inner());
        if let Some(subs) = t.get_mut(topic) {
            if let Some(i) = subs.iter().position(|s| Arc::ptr_eq(s, session)) {
                subs.swap_remove(i);
            }
            if subs.is_empty() {
                t.remove(topic);
            }
        }
    }

    /// Queues one message on every subscriber of `topic`; returns how many it was queued
    /// for, and how many full queues dropped a message or refused it. The plain frame is encoded once; the compressed one once per window size asked
    /// (every compressed message is independent: `server_no_context_takeover`).
    ///
    /// With `defer`, the subscribers' writers are not woken now but by [`Hub::wake`]: a
    /// handler that broadcasts several messages in one event-loop turn (a publisher's burst)
    /// then has them written with one system call per subscriber instead of the first alone
    /// (the writer, woken at once, would run before the next broadcast on a busy CPU).
    pub fn broadcast(&self, topic: &str, kind: Kind, payload: &[u8], defer: bool) -> (usize, u64) {
        let t = self.topics.read().unwrap_or_else(|p| p.into_inner());
        let Some(subs) = t.get(topic) else {
            return (0, 0);
        };
        let plain = frame::message_bytes(kind, false, payload);
        // Compressed frames by window bits (8..=15), made on first need.
        let mut packed: [Option<Bytes>; 16] = Default::default();
        let (mut queued, mut dropped) = (0usize, 0u64);
        for s in subs {
            let f = match &s.deflate {
                Some(d) if payload.len() >= s.compress_min() => {
                    let bits = d.server_max_window_bits.clamp(8, 15) as usize;
                    packed[bits]
                        .get_or_insert_with(|| {
                            let mut z = Vec::with_capacity(payload.len() / 2 + 16);
                            deflate::compress(payload, bits as u8, s.level(), &mut z);
                            frame::message_bytes(kind, true, &z)
                        })
                        .clone()
                }
                _ => plain.clone(),
            };
            let (pushed, owed) = s.push_shared(f, defer);
            if owed {
                self.owed
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .push(s.clone());
            }
            match pushed {
                Pushed::Queued => queued += 1,
                Pushed::DroppedOldest => {
                    queued += 1;
                    dropped += 1;
                }
                Pushed::Refused => dropped += 1,
            }
        }
        self.delivered.fetch_add(queued as u64, Ordering::Relaxed);
        if dropped > 0 {
            self.dropped.fetch_add(dropped, Ordering::Relaxed);
        }
        (queued, dropped)
    }

    /// Wakes the writers deferred broadcasts queued frames for; how many.
    pub fn wake(&self) -> usize {
        let owed = std::mem::take(&mut *self.owed.lock().unwrap_or_else(|p| p.into_inner()));
        for s in &owed {
            s.wake_writer();
        }
        owed.len()
    }
}

impl Topics for Hub {
    fn subscribe(&self, session: &Arc<Session>, topic: &str) {
        Hub::subscribe(self, session, topic);
    }

    fn unsubscribe(&self, session: &Arc<Session>, topic: &str) {
        Hub::unsubscribe(self, session, topic);
    }
}
