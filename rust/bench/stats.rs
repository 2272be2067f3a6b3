//! What one load thread records while it runs: a latency histogram, status and error counts,
//! bytes. Connections of the thread share one [`Recorder`] (no locks: one thread); the
//! threads' [`Stats`] are merged into the report at the end.

use std::cell::RefCell;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use hdrhistogram::Histogram;

/// Highest latency the histogram tells apart, in microseconds (one hour); longer ones are
/// recorded as one hour.
const MAX_LATENCY_US: u64 = 3_600_000_000;

/// Status codes are three digits (RFC 9110 §15); counts are kept in a flat table.
const STATUS_SLOTS: usize = 1000;

/// Why a request failed. Each failed request is counted once, under the cause that lost it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// The connection could not be opened.
    Connect,
    /// Reading the answer failed (e.g. reset by the peer).
    Read,
    /// Writing the request failed.
    Write,
    /// No byte arrived for `--timeout` while the request was outstanding.
    Timeout,
    /// The answer could not be framed as HTTP/1.1, or broke the HTTP/2 protocol.
    Parse,
    /// The server closed the connection before answering.
    Closed,
    /// The TLS handshake of a new connection failed or timed out.
    Tls,
    /// HTTP/2: the server reset the stream (RST_STREAM, e.g. REFUSED_STREAM), or sent
    /// GOAWAY before processing it.
    Reset,
}

impl ErrorKind {
    /// Every kind, in report order.
    pub const ALL: [ErrorKind; 8] = [
        ErrorKind::Connect,
        ErrorKind::Read,
        ErrorKind::Write,
        ErrorKind::Timeout,
        ErrorKind::Parse,
        ErrorKind::Closed,
        ErrorKind::Tls,
        ErrorKind::Reset,
    ];

    /// The name used in the report and the JSON.
    pub fn name(self) -> &'static str {
        match self {
            ErrorKind::Connect => "connect",
            ErrorKind::Read => "read",
            ErrorKind::Write => "write",
            ErrorKind::Timeout => "timeout",
            ErrorKind::Parse => "parse",
            ErrorKind::Closed => "closed",
            ErrorKind::Tls => "tls",
            ErrorKind::Reset => "reset",
        }
    }
}

/// Running totals a thread publishes for the progress line. Only the owning thread writes,
/// so an add is a load and a store, with no locked instruction on the hot path; the line on
/// its own cache line keeps the reader from slowing the writer.
#[derive(Debug, Default)]
#[repr(align(64))]
pub struct Live {
    requests: AtomicU64,
    errors: AtomicU64,
}

impl Live {
    fn bump(counter: &AtomicU64, n: u64) {
        counter.store(counter.load(Ordering::Relaxed) + n, Ordering::Relaxed);
    }

    /// Responses received so far.
    pub fn requests(&self) -> u64 {
        self.requests.load(Ordering::Relaxed)
    }

    /// Failed requests so far.
    pub fn errors(&self) -> u64 {
        self.errors.load(Ordering::Relaxed)
    }
}

/// The results of one thread, or of all of them merged.
#[derive(Debug, Clone)]
pub struct Stats {
    /// Latency of each response, in microseconds.
    pub latency: Histogram<u64>,
    statuses: Vec<u64>,
    /// Failed requests, indexed like [`ErrorKind::ALL`].
    pub errors: [u64; ErrorKind::ALL.len()],
    /// Responses received.
    pub requests: u64,
    /// Bytes read from the sockets.
    pub bytes_read: u64,
    /// Bytes written to the sockets.
    pub bytes_written: u64,
    /// Connections opened again after one closed or failed.
    pub reconnects: u64,
}

impl Default for Stats {
    fn default() -> Self {
        Stats {
            latency: Histogram::new_with_bounds(1, MAX_LATENCY_US, 3)
                .expect("constant histogram bounds are valid"),
            statuses: vec![0; STATUS_SLOTS],
            errors: [0; ErrorKind::ALL.len()],
            requests: 0,
            bytes_read: 0,
            bytes_written: 0,
            reconnects: 0,
        }
    }
}

impl Stats {
    /// Records one response.
    pub fn response(&mut self, status: u16, latency: Duration) {
        self.requests += 1;
        self.statuses[usize::from(status) % STATUS_SLOTS] += 1;
        self.latency
            .saturating_record(u64::try_from(latency.as_micros()).unwrap_or(u64::MAX));
    }

    /// Adds `other` into `self`.
    pub fn merge(&mut self, other: &Stats) {
        // Both histograms have the same bounds, so adding cannot fail.
        let _ = self.latency.add(&other.latency);
        for (a, b) in self.statuses.iter_mut().zip(&other.statuses) {
            *a += b;
        }
        for (a, b) in self.errors.iter_mut().zip(&other.errors) {
            *a += b;
        }
        self.requests += other.requests;
        self.bytes_read += other.bytes_read;
        self.bytes_written += other.bytes_written;
        self.reconnects += other.reconnects;
    }

    /// Responses per status code, in code order.
    pub fn statuses(&self) -> impl Iterator<Item = (u16, u64)> + '_ {
        self.statuses
            .iter()
            .enumerate()
            .filter(|(_, n)| **n > 0)
            .map(|(code, n)| (code as u16, *n))
    }

    /// Failed requests of every kind.
    pub fn errors_total(&self) -> u64 {
        self.errors.iter().sum()
    }

    /// Failed requests of one kind.
    pub fn error_count(&self, kind: ErrorKind) -> u64 {
        self.errors[kind as usize]
    }
}

/// What the connections of one thread record into.
#[derive(Debug)]
pub struct Recorder {
    stats: RefCell<Stats>,
    live: Arc<Live>,
}

impl Recorder {
    /// A recorder publishing progress into `live`.
    pub fn new(live: Arc<Live>) -> Recorder {
        Recorder {
            stats: RefCell::new(Stats::default()),
            live,
        }
    }

    /// One response, `latency` after its start.
    pub fn response(&self, status: u16, latency: Duration) {
        self.stats.borrow_mut().response(status, latency);
        Live::bump(&self.live.requests, 1);
    }

    /// `n` requests lost to `kind`.
    pub fn error(&self, kind: ErrorKind, n: usize) {
        if n > 0 {
            self.stats.borrow_mut().errors[kind as usize] += n as u64;
            Live::bump(&self.live.errors, n as u64);
        }
    }

    /// Bytes read.
    pub fn read(&self, n: usize) {
        self.stats.borrow_mut().bytes_read += n as u64;
    }

    /// Bytes written.
    pub fn wrote(&self, n: usize) {
        self.stats.borrow_mut().bytes_written += n as u64;
    }

    /// A connection opened again.
    pub fn reconnect(&self) {
        self.stats.borrow_mut().reconnects += 1;
    }

    /// The results so far, leaving the recorder empty.
    pub fn take(&self) -> Stats {
        std::mem::take(&mut *self.stats.borrow_mut())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merge_adds_everything() {
        let live = Arc::new(Live::default());
        let a = Recorder::new(live.clone());
        let b = Recorder::new(live.clone());
        a.response(200, Duration::from_micros(100));
        a.response(404, Duration::from_micros(300));
        b.response(200, Duration::from_millis(2));
        b.error(ErrorKind::Timeout, 3);
        b.error(ErrorKind::Closed, 0);
        a.read(10);
        b.wrote(7);
        b.reconnect();
        assert_eq!((live.requests(), live.errors()), (3, 3));
        let mut all = a.take();
        all.merge(&b.take());
        assert_eq!(all.requests, 3);
        assert_eq!(all.statuses().collect::<Vec<_>>(), [(200, 2), (404, 1)]);
        assert_eq!(all.error_count(ErrorKind::Timeout), 3);
        assert_eq!(all.errors_total(), 3);
        assert_eq!(
            (all.bytes_read, all.bytes_written, all.reconnects),
            (10, 7, 1)
        );
        assert_eq!(all.latency.len(), 3);
        assert_eq!(all.latency.max(), all.latency.highest_equivalent(2000));
        assert_eq!(a.take().requests, 0, "take leaves the recorder empty");
    }

    #[test]
    fn huge_latency_saturates() {
        let mut s = Stats::default();
        s.response(200, Duration::from_secs(10 * 3600));
        assert_eq!(s.latency.len(), 1);
        assert!(s.latency.max() >= MAX_LATENCY_US);
    }
}
