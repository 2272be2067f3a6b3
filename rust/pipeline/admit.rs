//! The admit stage, admission control per request: a bound on the requests a worker has handed
//! to its handlers and not yet answered, and a bounded, time-limited wait for a slot.
//!
//! A slot is taken when a routed request is about to be dispatched and given back when its
//! reply is sent (or dropped), never held by an idle keep-alive connection. Beyond the bound a
//! request waits in a queue of at most `queue_size` for at most `queue_timeout`, then is refused
//! with 503 and `Retry-After`: an overloaded worker answers quickly that it is full instead of
//! letting latency grow without bound.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::config::{Admission, ServerConfig};
use crate::io::Peer;
use crate::log::{self, Level};
use crate::metrics::ShedReason;
use crate::pipeline::Ctx;
use crate::protocol::problem::problem;
use crate::protocol::response::Response;

/// The in-flight slots of one worker, shared by its IO threads.
pub struct Gate {
    slots: Arc<Semaphore>,
    waiting: AtomicUsize,
    queue_size: usize,
    queue_timeout: Duration,
    refused: AtomicUsize,
}

/// Why a request was not admitted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// The wait queue was full.
    QueueFull,
    /// No slot came free within `queue_timeout`.
    TimedOut,
}

impl Gate {
    /// A gate with `max_inflight` slots.
    pub fn new(cfg: &Admission) -> Gate {
        Gate {
            slots: Arc::new(Semaphore::new(cfg.max_inflight.min(Semaphore::MAX_PERMITS))),
            waiting: AtomicUsize::new(0),
            queue_size: cfg.queue_size,
            queue_timeout: cfg.queue_timeout,
            refused: AtomicUsize::new(0),
        }
    }

    /// Takes a free slot now, if there is one (the common case: no timer, no queue).
    pub fn try_admit(&self) -> Option<OwnedSemaphorePermit> {
        self.slots.clone().try_acquire_owned().ok()
    }

    /// Takes a slot, waiting in the queue if none is free.
    pub async fn admit(&self) -> Result<OwnedSemaphorePermit, Refusal> {
        if let Some(p) = self.try_admit() {
            return Ok(p);
        }
        if self.waiting.fetch_add(1, Ordering::AcqRel) >= self.queue_size {
            self.waiting.fetch_sub(1, Ordering::AcqRel);
            self.refused.fetch_add(1, Ordering::Relaxed);
            return Err(Refusal::QueueFull);
        }
        let r = tokio::time::timeout(self.queue_timeout, self.slots.clone().acquire_owned()).await;
        self.waiting.fetch_sub(1, Ordering::AcqRel);
        match r {
            Ok(Ok(p)) => Ok(p),
            // The semaphore is never closed; a timeout is the only other outcome.
            _ => {
                self.refused.fetch_add(1, Ordering::Relaxed);
                Err(Refusal::TimedOut)
            }
        }
    }

    /// Requests refused since start.
    pub fn refused(&self) -> usize {
        self.refused.load(Ordering::Relaxed)
    }

    /// Requests waiting for a slot now.
    pub fn waiting(&self) -> usize {
        self.waiting.load(Ordering::Acquire)
    }

    /// Slots free now.
    pub fn free(&self) -> usize {
        self.slots.available_permits()
    }
}

/// 503 for a request refused by admission control, with `Retry-After` (RFC 9110 §10.2.3)
/// of the queue timeout rounded up: by then the queue has turned over.
pub fn overloaded(cfg: &ServerConfig) -> Response {
    let mut r = problem(503, "the server is at capacity; retry later");
    let secs = cfg.admission.queue_timeout.as_secs_f64().ceil().max(1.0) as u64;
    r.header_block.extend_from_slice(b"retry-after: ");
    r.header_block
        .extend_from_slice(itoa::Buffer::new().format(secs).as_bytes());
    r.header_block.extend_from_slice(b"\r\n");
    r
}

impl Ctx {
    /// A request that found no slot: counted as shed, logged, answered 503 with `Retry-After`.
    pub fn refused(&self, peer: &Peer, refusal: Refusal) -> Response {
        if let Some(m) = &self.shared.metrics {
            m.shed(match refusal {
                Refusal::QueueFull => ShedReason::QueueFull,
                Refusal::TimedOut => ShedReason::QueueTimeout,
            });
        }
        log::write(
            Level::Warning,
            format_args!(
                "{peer}: 503: {}",
                match refusal {
                    Refusal::QueueFull => "admission queue full",
                    Refusal::TimedOut => "no in-flight slot within queue_timeout",
                }
            ),
        );
        overloaded(&self.config)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gate(max: usize, queue: usize, wait_ms: u64) -> Gate {
        Gate::new(&Admission {
            max_inflight: max,
            queue_size: queue,
            queue_timeout: Duration::from_millis(wait_ms),
        })
    }

    #[tokio::test(start_paused = true)]
    async fn admits_up_to_the_bound_then_queues_then_refuses() {
        let g = Arc::new(gate(2, 1, 100));
        let a = g.admit().await.unwrap();
        let _b = g.admit().await.unwrap();
        assert_eq!(g.free(), 0);
        // The third waits; a fourth finds the queue full at once.
        let g2 = g.clone();
        let waiter = tokio::spawn(async move { g2.admit().await.map(|_| ()) });
        tokio::task::yield_now().await;
        assert_eq!(g.waiting(), 1);
        assert_eq!(g.admit().await.unwrap_err(), Refusal::QueueFull);
        // A slot given back reaches the waiter.
        drop(a);
        assert_eq!(waiter.await.unwrap(), Ok(()));
        assert_eq!(g.waiting(), 0);
        assert_eq!(g.refused(), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn a_wait_ends_at_the_queue_timeout() {
        let g = gate(1, 10, 100);
        let _a = g.admit().await.unwrap();
        let t = tokio::time::Instant::now();
        assert_eq!(g.admit().await.unwrap_err(), Refusal::TimedOut);
        assert_eq!(t.elapsed(), Duration::from_millis(100));
        assert_eq!(g.waiting(), 0);
    }
}
