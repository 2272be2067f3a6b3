//! The hand-off from IO threads to the Python thread: a locked vector and an eventfd.
//!
//! An IO thread pushes a job; when the queue was empty, the wake-up (an eventfd write) is
//! deferred until that IO thread is about to wait for events (`Dispatch::flush`), so all the
//! requests of one event-loop tick reach the Python thread with one wake-up. The Python thread
//! reads the eventfd first and then takes the whole vector, so no push can be missed between
//! the two.

use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Mutex;

use std::time::Duration;

use crate::pipeline::{Cancel, Dispatch, Job, RouteKind};
use crate::protocol::response::Response;

/// A deferred wake-up is sent at once when this many events are waiting (a busy IO thread
/// may not go idle soon; the Python thread should not wait for it).
const FLUSH_AT: usize = 64;

/// Something the Python thread must act on.
// Jobs are the hot path and move by value into a vector that holds one batch; boxing them to
// shrink the rare `Writable` case would cost an allocation per request.
#[allow(clippy::large_enum_variant)]
pub enum Event {
    /// A routed request.
    Job(Job),
    /// A streamed response has room again: resolve the asyncio Future its producer awaits.
    Writable(pyo3::PyObject),
    /// The server no longer waits for this request's answer: cancel its handler.
    Cancel(u64, Cancel),
}

/// A route's handler time limit: the server's default, none, or its own.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum RouteTimeout {
    /// The server's `request_timeout`.
    Default,
    /// No limit (`timeout=0`).
    Unlimited,
    /// This many seconds.
    After(Duration),
}

/// Jobs waiting for the Python thread.
pub struct JobQueue {
    events: Mutex<Vec<Event>>,
    efd: OwnedFd,
    stopped: AtomicBool,
    /// A wake-up owed to the Python thread, sent when an IO thread is about to wait.
    deferred: AtomicBool,
    /// Responses fixed at start-up, by route id (`App.add_static`).
    fixed: Vec<Option<Response>>,
    /// Handler time limits, by route id.
    timeouts: Vec<RouteTimeout>,
    /// How each route is served, by route id.
    kinds: Vec<RouteKind>,
    /// Batches taken and events in them (read by `Server.stats()`, for batch sizes).
    batches: AtomicU64,
    taken: AtomicU64,
    /// Requests dispatched to Python since start (for `--max-requests`).
    requests: AtomicU64,
}

impl JobQueue {
    /// Creates the queue and its eventfd.
    pub fn new(
        fixed: Vec<Option<Response>>,
        timeouts: Vec<RouteTimeout>,
        kinds: Vec<RouteKind>,
    ) -> std::io::Result<Self> {
        // SAFETY: eventfd(2) with valid flags; the result is checked before use.
        let fd = unsafe { libc::eventfd(0, libc::EFD_NONBLOCK | libc::EFD_CLOEXEC) };
        if fd < 0 {
            return Err(std::io::Error::last_os_error());
        }
        // SAFETY: `fd` is a fresh descriptor owned by nothing else.
        let efd = unsafe { OwnedFd::from_raw_fd(fd) };
        Ok(JobQueue {
            events: Mutex::new(Vec::with_capacity(64)),
            efd,
            stopped: AtomicBool::new(false),
            fixed,
            timeouts,
            kinds,
            deferred: AtomicBool::new(false),
            batches: AtomicU64::new(0),
            taken: AtomicU64::new(0),
            requests: AtomicU64::new(0),
        })
    }

    /// The descriptor the Python event loop watches for readability.
    pub fn fd(&self) -> i32 {
        self.efd.as_raw_fd()
    }

    /// Queues an event and wakes the Python thread if it may be asleep.
    pub fn push(&self, event: Event) {
        let (was_empty, len) = {
            let mut q = self.events.lock().unwrap_or_else(|p| p.into_inner());
            let was_empty = q.is_empty();
            q.push(event);
            (was_empty, q.len())
        };
        if len >= FLUSH_AT {
            // An IO thread that stays busy would not reach its flush for a while.
            self.flush_deferred();
        } else if was_empty {
            if crate::server::defers_wakeups() {
                // The IO thread flushes before it waits for events: the rest of this tick's
                // jobs join this batch instead of each waking the Python thread.
                self.deferred.store(true, Ordering::Release);
            } else {
                self.signal();
            }
        }
    }

    /// Sends a wake-up deferred by `push`, if any.
    fn flush_deferred(&self) {
        if self.deferred.swap(false, Ordering::AcqRel) {
            self.signal();
        }
    }

    fn signal(&self) {
        let one: u64 = 1;
        // SAFETY: writes 8 bytes from a live u64 to our own eventfd. EAGAIN (counter full)
        // cannot lose a wake-up: the counter is already non-zero.
        unsafe { libc::write(self.efd.as_raw_fd(), (&one as *const u64).cast(), 8) };
    }

    /// Clears the wake-up, then swaps out every queued event.
    pub fn take(&self, into: &mut Vec<Event>) {
        let mut counter: u64 = 0;
        // SAFETY: reads 8 bytes into a live u64 from our own non-blocking eventfd.
        unsafe { libc::read(self.efd.as_raw_fd(), (&mut counter as *mut u64).cast(), 8) };
        let mut q = self.events.lock().unwrap_or_else(|p| p.into_inner());
        std::mem::swap(&mut *q, into);
        drop(q);
        self.batches.fetch_add(1, Ordering::Relaxed);
        self.taken.fetch_add(into.len() as u64, Ordering::Relaxed);
    }

    /// Polls (without sleeping) until an event is queued or `window` has passed; whether one
    /// is. For the Python thread after a batch (`--busy-poll-us`), called without the GIL.
    pub fn poll_for_event(&self, window: Duration) -> bool {
        let until = std::time::Instant::now() + window;
        loop {
            // One uncontended lock per turn; the IO thread holds it only to push.
            if !self
                .events
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .is_empty()
            {
                return true;
            }
            if self.is_stopped() || std::time::Instant::now() >= until {
                return false;
            }
            // The IO thread may share this CPU, with the answers of the batch to send: a
            // spin would hold it off for the whole window (measured: p75 218 µs with 200 µs).
            crate::server::yield_cpu();
        }
    }

    /// (batches taken, events taken, requests dispatched) since start.
    pub fn stats(&self) -> (u64, u64, u64) {
        (
            self.batches.load(Ordering::Relaxed),
            self.taken.load(Ordering::Relaxed),
            self.requests.load(Ordering::Relaxed),
        )
    }

    /// Counts a request handed to the handlers (by either dispatch path).
    pub fn count_request(&self) {
        self.requests.fetch_add(1, Ordering::Relaxed);
    }

    /// Whether the server has stopped after a drain.
    pub fn is_stopped(&self) -> bool {
        self.stopped.load(Ordering::Acquire)
    }
}

impl Dispatch for JobQueue {
    fn dispatch(&self, job: Job) {
        self.count_request();
        self.push(Event::Job(job));
    }

    fn stopped(&self) {
        self.stopped.store(true, Ordering::Release);
        self.signal();
    }

    fn flush(&self) {
        self.flush_deferred();
    }

    fn fixed_response(&self, route: usize) -> Option<Response> {
        self.fixed.get(route)?.as_ref()?.try_clone()
    }

    fn kind(&self, route: usize) -> RouteKind {
        self.kinds.get(route).copied().unwrap_or(RouteKind::Http)
    }

    fn timeout(&self, route: usize, default: Option<Duration>) -> Option<Duration> {
        match self.timeouts.get(route) {
            Some(RouteTimeout::Unlimited) => None,
            Some(RouteTimeout::After(d)) => Some(*d),
            Some(RouteTimeout::Default) | None => default,
        }
    }

    fn cancel(&self, id: u64, why: Cancel) {
        // Rare (a client gone or a 504), so it wakes the Python thread like any event.
        self.push(Event::Cancel(id, why));
    }
}
