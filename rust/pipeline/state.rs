//! State shared by the IO threads of one worker: connection count, the drain signal, the
//! admission gate and request ids.

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use tokio::sync::watch;

use crate::config::Admission;
use crate::metrics::Registry;
use crate::pipeline::admit::Gate;

/// Shared by all IO threads and connections of a worker.
pub struct Shared {
    connections: AtomicUsize,
    draining: AtomicBool,
    /// Set once the application's start-up finished (`/startupz`).
    started: AtomicBool,
    /// Set by Python from the readiness checks; cleared at the start of a shutdown, before
    /// the pre-stop delay (`/readyz`).
    ready: AtomicBool,
    /// Why the worker is not ready (the failing checks), shown by `/readyz`.
    not_ready: Mutex<Arc<str>>,
    drain_tx: watch::Sender<bool>,
    /// In-flight requests of the worker (admission control).
    pub gate: Gate,
    /// Request metrics shared with the other workers (`--metrics`), if recorded.
    pub metrics: Option<Arc<Registry>>,
    /// The worker's WebSockets by topic, and their count.
    pub hub: Arc<crate::websocket::Hub>,
    next_id: AtomicU64,
}

impl Shared {
    /// A fresh state: no connections, not draining.
    pub fn new(admission: &Admission, metrics: Option<Arc<Registry>>) -> Arc<Self> {
        let (drain_tx, _) = watch::channel(false);
        Arc::new(Shared {
            connections: AtomicUsize::new(0),
            draining: AtomicBool::new(false),
            started: AtomicBool::new(false),
            ready: AtomicBool::new(false),
            not_ready: Mutex::new(Arc::from("starting")),
            drain_tx,
            gate: Gate::new(admission),
            metrics,
            hub: Arc::default(),
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

    /// Whether the application's start-up has finished.
    pub fn is_started(&self) -> bool {
        self.started.load(Ordering::Acquire)
    }

    /// Marks start-up finished (it never unfinishes).
    pub fn set_started(&self) {
        self.started.store(true, Ordering::Release);
    }

    /// Whether readiness holds: checks passing and no shutdown begun. A drain alone does not
    /// end it: a worker drained because its replacement already serves (a reload) leaves a
    /// proxy's view of the service unchanged; a shutdown clears readiness first.
    pub fn is_ready(&self) -> bool {
        self.ready.load(Ordering::Acquire)
    }

    /// Whether a proxy should take this worker out of rotation now (started, not ready):
    /// responses then carry `x-envoy-immediate-health-check-fail`.
    pub fn failing_health(&self) -> bool {
        !self.ready.load(Ordering::Relaxed) && self.started.load(Ordering::Relaxed)
    }

    /// Sets readiness; `why` says what fails when `ready` is false.
    pub fn set_ready(&self, ready: bool, why: &str) {
        if !ready {
            *self.not_ready.lock().unwrap_or_else(|e| e.into_inner()) = Arc::from(why);
        }
        self.ready.store(ready, Ordering::Release);
    }

    /// What fails readiness (meaningful while not ready).
    pub fn not_ready_reason(&self) -> Arc<str> {
        self.not_ready
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
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
