//! A coarse clock for connections waiting on handlers: one timer per IO thread instead of one
//! per request.
//!
//! Every request handed to a handler needs a deadline (504) and, while it runs, a check that its
//! client is still there. A tokio timer per request cost about 2% of the server's CPU at 150k
//! requests/s (perf: timer registration and drop, clock reads), although almost every handler
//! answers long before any deadline. Instead, waiting connections share this thread's ticker:
//! it ticks every [`TICK`] only while someone waits, and wakes all waiters on each tick.

use std::cell::Cell;
use std::rc::Rc;
use std::time::Duration;

use tokio::sync::futures::Notified;
use tokio::sync::Notify;

/// The resolution of handler deadlines and of disconnect checks.
pub const TICK: Duration = Duration::from_millis(50);

/// One IO thread's coarse clock.
#[derive(Default)]
pub struct Ticker {
    ticks: Cell<u64>,
    waiters: Cell<usize>,
    tick: Notify,
    armed: Notify,
}

thread_local! {
    static TICKER: Rc<Ticker> = Rc::new(Ticker::default());
}

/// This thread's ticker.
pub fn ticker() -> Rc<Ticker> {
    TICKER.with(Rc::clone)
}

impl Ticker {
    /// Ticks since the thread started.
    pub fn now(&self) -> u64 {
        self.ticks.get()
    }

    /// Counts a waiter in until the guard drops; the ticker runs while there are any.
    pub fn enter(self: &Rc<Self>) -> Waiter {
        let n = self.waiters.get();
        self.waiters.set(n + 1);
        if n == 0 {
            self.armed.notify_one();
        }
        Waiter(self.clone())
    }

    /// Resolves at the next tick (created before the check it guards, so none is missed).
    pub fn next(&self) -> Notified<'_> {
        self.tick.notified()
    }

    /// The ticking task of an IO thread; runs until the thread's tasks are dropped.
    pub async fn run(self: Rc<Self>) {
        loop {
            if self.waiters.get() == 0 {
                self.armed.notified().await;
            }
            tokio::time::sleep(TICK).await;
            self.ticks.set(self.ticks.get() + 1);
            self.tick.notify_waiters();
        }
    }

    /// Whether `limit` has passed since tick `start`, never early: `n` ticks since `start`
    /// mean at least `n - 1` whole periods, so the answer is late by at most one [`TICK`].
    pub fn passed(&self, start: u64, limit: Duration) -> bool {
        let whole = self.now().saturating_sub(start).saturating_sub(1);
        TICK.saturating_mul(whole.min(u32::MAX as u64) as u32) >= limit
    }
}

/// Holds a place among the ticker's waiters.
pub struct Waiter(Rc<Ticker>);

impl Drop for Waiter {
    fn drop(&mut self) {
        self.0.waiters.set(self.0.waiters.get() - 1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn ticks_only_while_someone_waits_and_never_fires_early() {
        let local = tokio::task::LocalSet::new();
        local
            .run_until(async {
                let t = Rc::new(Ticker::default());
                tokio::task::spawn_local(t.clone().run());
                tokio::time::sleep(TICK * 4).await;
                assert_eq!(t.now(), 0, "no waiter, no ticks");
                let start = t.now();
                let w = t.enter();
                let began = tokio::time::Instant::now();
                while !t.passed(start, Duration::from_millis(120)) {
                    t.next().await;
                }
                let took = began.elapsed();
                assert!(took >= Duration::from_millis(120), "{took:?}");
                assert!(took <= Duration::from_millis(120) + TICK * 2, "{took:?}");
                drop(w);
                let after = t.now();
                tokio::time::sleep(TICK * 4).await;
                assert!(t.now() <= after + 1, "the ticker stops once nobody waits");
            })
            .await;
    }
}
