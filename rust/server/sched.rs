//! The IO threads' scheduling policy: `SCHED_BATCH`, so that an IO thread waking up does not
//! preempt the worker's Python thread when both share a CPU.
//!
//! A worker pinned to one CPU (a container with one CPU, or the benchmarks' pinning) runs its
//! IO thread and its Python thread there. Under `SCHED_OTHER` each wake-up of the IO thread
//! (a new request, a write that completed) preempts a running handler: with FastAPI's ~55 µs
//! per request the Python thread was preempted 1.3 times per request, and served 10.4k req/s
//! against 16.7k with the IO thread at `SCHED_BATCH` (adrs/0016). The IO thread still gets its
//! fair share of the CPU; it only waits for the running thread's slice instead of cutting it.
//! Light handlers are unaffected (176k vs 177k req/s on the plaintext route).

use crate::log::{self, Level};

/// Puts the calling thread under `SCHED_BATCH`; a refusal (a seccomp profile, say) is logged
/// at debug level and changes nothing else.
pub(crate) fn yield_to_handlers() {
    let param = libc::sched_param { sched_priority: 0 };
    // SAFETY: pid 0 is the calling thread; `param` is a valid sched_param for SCHED_BATCH,
    // whose priority must be 0.
    let r = unsafe { libc::sched_setscheduler(0, libc::SCHED_BATCH, &param) };
    if r != 0 {
        log::write(
            Level::Debug,
            format_args!(
                "IO thread stays SCHED_OTHER: sched_setscheduler: {}",
                std::io::Error::last_os_error()
            ),
        );
    }
}
