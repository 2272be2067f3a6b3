//! The hand-off from IO threads to the Python thread: a locked vector and an eventfd.
//!
//! An IO thread pushes a job and writes the eventfd only when the queue was empty, so a burst
//! of N requests costs one wake-up of the Python thread; the Python thread reads the eventfd
//! first and then takes the whole vector, so no push can be missed between the two.

use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;

use crate::server::{Dispatch, Job};

/// Something the Python thread must act on.
// Jobs are the hot path and move by value into a vector that holds one batch; boxing them to
// shrink the rare `Writable` case would cost an allocation per request.
#[allow(clippy::large_enum_variant)]
pub enum Event {
    /// A routed request.
    Job(Job),
    /// A streamed response has room again: resolve the asyncio Future its producer awaits.
    Writable(pyo3::PyObject),
}

/// Jobs waiting for the Python thread.
pub struct JobQueue {
    events: Mutex<Vec<Event>>,
    efd: OwnedFd,
    stopped: AtomicBool,
}

impl JobQueue {
    /// Creates the queue and its eventfd.
    pub fn new() -> std::io::Result<Self> {
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
        })
    }

    /// The descriptor the Python event loop watches for readability.
    pub fn fd(&self) -> i32 {
        self.efd.as_raw_fd()
    }

    /// Queues an event and wakes the Python thread if it may be asleep.
    pub fn push(&self, event: Event) {
        let was_empty = {
            let mut q = self.events.lock().unwrap_or_else(|p| p.into_inner());
            let was_empty = q.is_empty();
            q.push(event);
            was_empty
        };
        if was_empty {
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
    }

    /// Whether the server has stopped after a drain.
    pub fn is_stopped(&self) -> bool {
        self.stopped.load(Ordering::Acquire)
    }
}

impl Dispatch for JobQueue {
    fn dispatch(&self, job: Job) {
        self.push(Event::Job(job));
    }

    fn stopped(&self) {
        self.stopped.store(true, Ordering::Release);
        self.signal();
    }
}
