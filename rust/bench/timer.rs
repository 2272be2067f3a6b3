//! Precise send times for constant-rate runs: one timerfd per load thread.
//!
//! tokio's timers fire on 1 ms ticks and its park rounds up to whole milliseconds, so a send
//! paced with `tokio::time` leaves up to 2 ms late; to avoid counting that lateness, requests
//! had to leave early, and at tens of thousands of requests/s every connection's requests of
//! the next 2 ms left together: bursts of ~150 requests at 73k req/s, served back to back, so
//! the server's tail latency showed the tool's burst length. A timerfd fires at the kernel's
//! high-resolution timer precision (timer slack 50 µs for a normal thread).
//!
//! Measured first, at 66k req/s: one one-shot timerfd per connection made the tool spend a
//! whole CPU (a timer syscall and a wake-up per request) and become the bottleneck; one
//! shared one-shot timer, re-armed after each expiry, still spent 17% of the tool's CPU in
//! `timerfd_settime` (timer programming is costly in a VM). Here the connections of a thread
//! share one periodic timer, ticking every [`TICK`] while anyone waits: [`Pacer::run`] wakes
//! every connection due by each tick, and no syscall re-arms it.

use std::cell::RefCell;
use std::future::Future;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::pin::Pin;
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use tokio::io::unix::AsyncFd;
use tokio::io::Interest;

/// The pacer's period: a send leaves at most this much (plus the kernel's 50 µs timer slack)
/// after its wake-up time, and each tick sends what fell due since the last one (about 7
/// requests at 66k req/s).
pub const TICK: Duration = Duration::from_micros(100);

/// The send times the connections of one thread wait for.
pub struct Pacer {
    fd: AsyncFd<OwnedFd>,
    state: RefCell<State>,
}

#[derive(Default)]
struct State {
    /// By connection: when it wants to be woken, and how.
    waiting: Vec<Option<(Instant, Waker)>>,
    /// Whether the periodic timer runs.
    ticking: bool,
}

impl Pacer {
    /// A pacer for `connections` connections, registered with the current tokio runtime.
    pub fn new(connections: usize) -> io::Result<Pacer> {
        // SAFETY: timerfd_create with valid flags; the result is checked before use.
        let raw = unsafe {
            libc::timerfd_create(
                libc::CLOCK_MONOTONIC,
                libc::TFD_NONBLOCK | libc::TFD_CLOEXEC,
            )
        };
        if raw < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: `raw` is a fresh descriptor owned by nothing else.
        let fd = unsafe { OwnedFd::from_raw_fd(raw) };
        // SAFETY: the OwnedFd moves into the AsyncFd, which closes it only on drop (after
        // deregistering), and it always returns the same descriptor.
        let fd = unsafe { AsyncFd::register_with_interest(fd, Interest::READABLE) }
            .map_err(|e| e.into_parts().1)?;
        let mut state = State::default();
        state.waiting.resize_with(connections, || None);
        Ok(Pacer {
            fd,
            state: RefCell::new(state),
        })
    }

    /// Waits until `at` for connection `conn`. Cancel-safe: dropping it forgets the wait.
    pub fn sleep_until(&self, conn: usize, at: Instant) -> Sleep<'_> {
        Sleep {
            pacer: self,
            conn,
            at,
        }
    }

    /// Fires the timer and wakes the connections that are due; runs beside them until the
    /// thread's run ends.
    pub async fn run(&self) -> io::Result<()> {
        loop {
            let mut guard = self.fd.readable().await?;
            let mut expirations = [0u8; 8];
            // SAFETY: reading 8 bytes (the expiry count) into a buffer of 8 from our timerfd.
            let n = unsafe {
                libc::read(
                    self.fd.as_raw_fd(),
                    expirations.as_mut_ptr().cast(),
                    expirations.len(),
                )
            };
            if n != 8 {
                let err = io::Error::last_os_error();
                if err.kind() != io::ErrorKind::WouldBlock {
                    return Err(err);
                }
                guard.clear_ready(); // re-armed since the readiness was seen
                continue;
            }
            let now = Instant::now();
            let mut state = self.state.borrow_mut();
            let mut left = 0;
            for slot in state.waiting.iter_mut() {
                match slot {
                    Some((at, _)) if *at <= now => {
                        if let Some((_, waker)) = slot.take() {
                            waker.wake();
                        }
                    }
                    Some(_) => left += 1,
                    None => {}
                }
            }
            if left == 0 {
                // Nobody waits: stop ticking (a slow run would otherwise wake 10,000 times/s
                // for nothing). The woken connections start it again if they wait.
                set(&self.fd, Duration::ZERO)?;
                state.ticking = false;
            }
        }
    }
}

/// Starts the timerfd ticking every `period`, or stops it (`Duration::ZERO`).
fn set(fd: &AsyncFd<OwnedFd>, period: Duration) -> io::Result<()> {
    let ts = libc::timespec {
        tv_sec: period.as_secs() as libc::time_t,
        tv_nsec: period.subsec_nanos() as libc::c_long,
    };
    let spec = libc::itimerspec {
        it_interval: ts,
        it_value: ts,
    };
    // SAFETY: a valid timerfd and a fully initialised itimerspec; the old value is not wanted.
    let r = unsafe { libc::timerfd_settime(fd.as_raw_fd(), 0, &spec, std::ptr::null_mut()) };
    if r < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// A connection's wait for its next send (see [`Pacer::sleep_until`]).
pub struct Sleep<'a> {
    pacer: &'a Pacer,
    conn: usize,
    at: Instant,
}

impl Future for Sleep<'_> {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let mut state = self.pacer.state.borrow_mut();
        if Instant::now() >= self.at {
            state.waiting[self.conn] = None;
            return Poll::Ready(());
        }
        if !state.ticking {
            if set(&self.pacer.fd, TICK).is_err() {
                // Cannot happen with a valid timerfd; sending now beats never sending.
                return Poll::Ready(());
            }
            state.ticking = true;
        }
        state.waiting[self.conn] = Some((self.at, cx.waker().clone()));
        Poll::Pending
    }
}

impl Drop for Sleep<'_> {
    fn drop(&mut self) {
        // An answer arrived first (the `select!` in conn.rs): this wait is over.
        if let Ok(mut state) = self.pacer.state.try_borrow_mut() {
            state.waiting[self.conn] = None;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::RefCell;
    use std::rc::Rc;

    /// Runs `body` with a pacer for `conns` connections whose `run` goes on beside it.
    fn with_pacer<F, Fut>(conns: usize, body: F)
    where
        F: FnOnce(Rc<Pacer>) -> Fut,
        Fut: Future<Output = ()>,
    {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        tokio::task::LocalSet::new().block_on(&rt, async {
            let pacer = Rc::new(Pacer::new(conns).unwrap());
            let runner = tokio::task::spawn_local({
                let p = pacer.clone();
                async move { p.run().await }
            });
            body(pacer).await;
            runner.abort();
        });
    }

    #[test]
    fn each_connection_wakes_at_or_after_its_own_time_in_order() {
        with_pacer(3, |pacer| async move {
            let start = Instant::now();
            let woke = Rc::new(RefCell::new(Vec::new()));
            let mut sleepers = Vec::new();
            for (conn, ms) in [(0, 9u64), (1, 5), (2, 1)] {
                let (p, woke) = (pacer.clone(), woke.clone());
                let at = start + Duration::from_millis(ms);
                sleepers.push(tokio::task::spawn_local(async move {
                    p.sleep_until(conn, at).await;
                    assert!(Instant::now() >= at, "connection {conn} woke early");
                    woke.borrow_mut().push(conn);
                }));
            }
            for s in sleepers {
                s.await.unwrap();
            }
            assert_eq!(*woke.borrow(), [2, 1, 0]);
            assert!(
                !pacer.state.borrow().ticking,
                "nobody waits: the timer stopped"
            );
        });
    }

    #[test]
    fn a_dropped_wait_is_forgotten_and_a_past_time_is_ready_at_once() {
        with_pacer(1, |pacer| async move {
            let start = Instant::now();
            let at = start + Duration::from_millis(2);
            // Cancelled before its time, as when an answer wins the `select!`.
            let r = tokio::time::timeout(Duration::from_micros(200), pacer.sleep_until(0, at));
            assert!(r.await.is_err());
            assert!(pacer.state.borrow().waiting[0].is_none());
            pacer.sleep_until(0, start).await;
            let later = Instant::now() + Duration::from_millis(3);
            pacer.sleep_until(0, later).await;
            assert!(Instant::now() >= later);
        });
    }
}
