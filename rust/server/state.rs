//! State shared by the IO threads of one worker: connection count, the drain signal, the
//! admission gate and request ids.

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;

use tokio::sync::watch;

use crate::config::Admission;
use crate::server::admission::Gate;

/// Shared by all IO threads and connections of a worker.
pub struct Shared {
    connections: AtomicUsize,
    draining: AtomicBool,
    drain_tx: watch::Sender<bool>,
    /// In-flight requests of the worker (admission control).
    pub gate: Gate,
    next_id: AtomicU64,
}

impl Shared {
    /// A fresh state: no connections, not draining.
    pub fn new(admission: &Admission) -> Arc<Self> {
        let (drain_tx, _) = watch::channel(false);
        Arc::new(Shared {
            connections: AtomicUsize::new(0),
            draining: AtomicBool::new(false),
            drain_tx,
            gate: Gate::new(admission),
            next_id: AtomicU64::new(1),
        })
    }

    /// A fresh request id (names a job when the handler side is told to cancel it).
    pub fn next_id(&self) -> u64 {
        self.next_id.fetch_add(1, Ordering::Relaxed)
    }

    /// Open connections now.
    pub fn connections(&self) -> usize {
        self.connections.load(Ordering::Acquire)
    }

    /// Counts a connection in if under `max`; the guard counts it out when dropped (also when
    /// its task panics, so a panic cannot leak a slot).
    pub fn try_enter(self: &Arc<Self>, max: usize) -> Option<ConnGuard> {
        let prev = self.connections.fetch_add(1, Ordering::AcqRel);
        if prev >= max {
            self.connections.fetch_sub(1, Ordering::AcqRel);
            return None;
        }
        Some(ConnGuard(self.clone()))
    }

    /// Whether a drain has started.
    pub fn is_draining(&self) -> bool {
        self.draining.load(Ordering::Acquire)
    }

    /// Starts the drain: listeners stop, idle connections close, busy ones close after their
    /// current responses.
    pub fn begin_drain(&self) {
        self.draining.store(true, Ordering::Release);
        self.drain_tx.send_replace(true);
    }

    /// A receiver that changes when the drain starts.
    pub fn drain_signal(&self) -> watch::Receiver<bool> {
        self.drain_tx.subscribe()
    }
}

/// Holds one connection slot.
pub struct ConnGuard(Arc<Shared>);

impl Drop for ConnGuard {
    fn drop(&mut self) {
        self.0.connections.fetch_sub(1, Ordering::AcqRel);
    }
}
