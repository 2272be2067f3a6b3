//! What a scrape sums over the metrics files and renders: the totals of every series.

use std::collections::BTreeMap;

use super::layout::{
    BODY_BUCKETS, DURATION_BUCKETS, GIL_BUCKETS, S_DURATION, S_DURATION_SUM, S_REQUEST,
    S_REQUEST_SUM, S_RESPONSE, S_RESPONSE_SUM,
};
use super::map::Mapping;

/// One histogram: non-cumulative bucket counts (the last is above every bound) and the sum of
/// the observed values in their stored unit (nanoseconds or bytes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Hist<const N: usize> {
    pub buckets: [u64; N],
    pub sum: u64,
}

impl<const N: usize> Default for Hist<N> {
    fn default() -> Self {
        Hist {
            buckets: [0; N],
            sum: 0,
        }
    }
}

impl<const N: usize> Hist<N> {
    /// Adds the histogram whose sum is word `sum` and whose buckets start at word `buckets`.
    pub(super) fn add_from(&mut self, map: &Mapping, sum: usize, buckets: usize) {
        for (i, b) in self.buckets.iter_mut().enumerate() {
            *b = b.wrapping_add(map.load(buckets + i));
        }
        self.sum = self.sum.wrapping_add(map.load(sum));
    }
}

/// The three histograms of one series.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(super) struct SeriesTotals {
    pub duration: Hist<DURATION_BUCKETS>,
    pub request: Hist<BODY_BUCKETS>,
    pub response: Hist<BODY_BUCKETS>,
}

impl SeriesTotals {
    pub(super) fn add_from(&mut self, map: &Mapping, base: usize) {
        self.duration
            .add_from(map, base + S_DURATION_SUM, base + S_DURATION);
        self.request
            .add_from(map, base + S_REQUEST_SUM, base + S_REQUEST);
        self.response
            .add_from(map, base + S_RESPONSE_SUM, base + S_RESPONSE);
    }
}

/// The labels of a request series; series of different workers with equal labels are summed.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub(super) struct Labels {
    /// The route template, `None` for requests that matched no route.
    pub route: Option<String>,
    pub method: &'static str,
    pub status: u16,
}

/// Everything a scrape renders, summed over the files read.
#[derive(Debug, Default)]
pub(super) struct Totals {
    /// Request series, sorted by labels so the output is deterministic.
    pub series: BTreeMap<Labels, SeriesTotals>,
    /// Requests recorded while the series table was full, without labels.
    pub overflow: SeriesTotals,
    /// In-flight requests of live workers.
    pub active: i64,
    /// Shed requests, indexed like [`super::ShedReason::ALL`].
    pub shed: [u64; 4],
    pub timeouts: u64,
    /// Failed TLS handshakes, indexed like [`super::TlsFailure::ALL`].
    pub tls_failures: [u64; super::TlsFailure::ALL.len()],
    /// Requests refused by authentication or authorization, indexed like
    /// [`super::AuthFailure::ALL`].
    pub auth_failures: [u64; super::AuthFailure::ALL.len()],
    /// Requests recorded into the overflow series.
    pub overflowed: u64,
    pub gil: Hist<GIL_BUCKETS>,
    /// WebSocket totals.
    pub ws: WsTotals,
}

/// WebSocket totals, summed over the workers (open sockets of live workers only).
#[derive(Debug, Default)]
pub(super) struct WsTotals {
    pub open: i64,
    pub messages_in: u64,
    pub bytes_in: u64,
    pub messages_out: u64,
    pub bytes_out: u64,
    pub dropped: u64,
    /// By `WS_CLOSE_CODES`, then every other code.
    pub closes: [u64; 10],
}
