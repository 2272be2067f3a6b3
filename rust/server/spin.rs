//! Busy polling after work (`ServerConfig::busy_poll`): an IO thread that just answered keeps
//! polling its sockets for a short window instead of sleeping in epoll_wait at once.
//!
//! Why: on a VM whose idle CPUs halt (no guest halt-polling: `guest_halt_poll_ns` 0 here),
//! waking an idle CPU for the next request costs ~30 µs before the IO thread runs (perf sched:
//! 30–37 µs of scheduling delay per request at one connection), more than the request itself.
//! A lone client then sees ~80 µs per round trip for a response that never leaves Rust, and a
//! server paced at half its peak rate pays that wake-up for most requests.
//!
//! How: one task per IO thread. While the window is open it yields to tokio on every turn, and
//! tokio polls its reactor without blocking before it runs a yielded task again, so every turn
//! is an `epoll_wait(0)`. The window closes `busy_poll` after the thread's last answer; the
//! task then sleeps until the next one. It never spins while a handler works for this thread:
//! the Python thread may share the CPU (a worker pinned to one CPU), and it is what the
//! answer waits for. Off (0) by default: it trades idle CPU for latency.

use std::cell::Cell;
use std::rc::Rc;
use std::time::Duration;

use tokio::sync::Notify;
// tokio's clock is the system's monotonic clock, except in tests that pause it: the window's
// tests then move time themselves and cannot be upset by a busy machine.
use tokio::time::Instant;

struct State {
    /// Answers written and handler answers received on this thread (the window restarts on
    /// each).
    activity: Cell<u64>,
    /// Requests of this thread a handler is working on.
    in_flight: Cell<usize>,
    /// Whether the polling task is asleep (and `activity` should wake it).
    asleep: Cell<bool>,
    wake: Notify,
    /// Whether this thread polls at all (no cost on the hot path otherwise).
    on: Cell<bool>,
}

thread_local! {
    static STATE: Rc<State> = Rc::new(State {
        activity: Cell::new(0),
        in_flight: Cell::new(0),
        asleep: Cell::new(true),
        wake: Notify::new(),
        on: Cell::new(false),
    });
}

/// This thread answered something: (re)open the polling window.
pub fn activity() {
    STATE.with(|s| {
        if !s.on.get() {
            return;
        }
        s.activity.set(s.activity.get().wrapping_add(1));
        if s.asleep.get() && s.in_flight.get() == 0 {
            s.asleep.set(false);
            s.wake.notify_one();
        }
    });
}

/// Held while a handler works on one of this thread's requests (from dispatch to its answer,
/// and while it produces a streamed body): no polling meanwhile.
pub struct InFlight(());

impl InFlight {
    /// A request was handed to the handlers.
    pub fn new() -> Self {
        STATE.with(|s| s.in_flight.set(s.in_flight.get() + 1));
        InFlight(())
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        STATE.with(|s| s.in_flight.set(s.in_flight.get() - 1));
        // The answer is in (or abandoned): the connection writes it next.
        activity();
    }
}

/// Gives the CPU to any other runnable thread of this CPU (returns at once if none).
pub fn yield_cpu() {
    // SAFETY: sched_yield(2) takes no arguments and cannot fail on Linux.
    unsafe { libc::sched_yield() };
}

/// The polling task of this thread; `flush` sends the wake-ups the thread defers until it
/// would sleep (it does not sleep while polling).
pub async fn poll(window: Duration, flush: impl Fn()) {
    let state = STATE.with(Rc::clone);
    state.on.set(true);
    loop {
        state.asleep.set(true);
        state.wake.notified().await;
        let mut seen = state.activity.get();
        let mut until = Instant::now() + window;
        loop {
            if state.in_flight.get() > 0 {
                break; // a handler runs: let the thread sleep, the answer wakes it
            }
            flush();
            // A thread that shares this CPU (the Python thread's event loop, another IO
            // thread) runs now if it is ready, instead of after the window.
            yield_cpu();
            tokio::task::yield_now().await;
            let now = state.activity.get();
            if now != seen {
                seen = now;
                until = Instant::now() + window;
            } else if Instant::now() >= until {
                break;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::Cell;

    /// Lets the poller run a few turns.
    async fn turns(n: usize) {
        for _ in 0..n {
            tokio::task::yield_now().await;
        }
    }

    fn asleep() -> bool {
        STATE.with(|s| s.asleep.get())
    }

    /// Runs `body` beside this thread's poller on a fresh runtime whose clock is paused (time
    /// moves only by `tokio::time::advance`); `body` gets the count of the poller's turns (its
    /// flushes).
    fn with_poller<F: std::future::Future<Output = ()>>(
        window: Duration,
        body: impl FnOnce(Rc<Cell<u32>>) -> F,
    ) {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .start_paused(true)
            .build()
            .unwrap();
        let local = tokio::task::LocalSet::new();
        let flushes = Rc::new(Cell::new(0u32));
        let counted = flushes.clone();
        local.spawn_local(poll(window, move || counted.set(counted.get() + 1)));
        local.block_on(&rt, body(flushes));
    }

    /// It failed once on a machine whose other core was busy, when the window was wall-clock
    /// time (issue 13): the clock is paused now, so only `advance` closes the window.
    #[test]
    fn polls_after_an_answer_for_the_window_then_sleeps() {
        let window = Duration::from_millis(2);
        with_poller(window, |flushes| async move {
            turns(5).await;
            assert!(asleep(), "no answer yet: the poller sleeps");
            assert_eq!(flushes.get(), 0);
            activity();
            turns(20).await;
            assert!(!asleep());
            assert!(flushes.get() >= 10, "it polls (and flushes) on every turn");
            // However many turns it takes, the window is open until its time has passed.
            tokio::time::advance(window - Duration::from_micros(1)).await;
            turns(200).await;
            assert!(!asleep());
            // A new answer restarts the window.
            activity();
            turns(5).await;
            tokio::time::advance(window - Duration::from_micros(1)).await;
            turns(20).await;
            assert!(!asleep(), "the window counts from the last answer");
            // Past the window without another answer: asleep again, and it stays so.
            tokio::time::advance(window).await;
            turns(5).await;
            assert!(asleep());
            let after = flushes.get();
            turns(20).await;
            assert_eq!(flushes.get(), after, "an idle thread does not poll");
        });
    }

    #[test]
    fn never_polls_while_a_handler_works_and_resumes_on_its_answer() {
        with_poller(Duration::from_millis(50), |flushes| async move {
            turns(5).await;
            let handler = InFlight::new();
            activity(); // e.g. another connection's static answer
            turns(20).await;
            assert!(asleep(), "the Python thread may need this CPU");
            assert_eq!(flushes.get(), 0);
            drop(handler); // its answer arrived: the connection writes it, then polls
            turns(20).await;
            assert!(!asleep());
            assert!(flushes.get() >= 10);
            // A new request handed over stops the polling at the next turn.
            let _handler = InFlight::new();
            turns(3).await;
            let after = flushes.get();
            turns(20).await;
            assert_eq!(flushes.get(), after);
            assert!(asleep());
        });
    }

    #[test]
    fn costs_nothing_on_a_thread_that_does_not_poll() {
        activity();
        let _h = InFlight::new();
        STATE.with(|s| {
            assert_eq!(s.activity.get(), 0);
            assert!(s.asleep.get());
        });
    }
}
