//! When a connection sends, and from when each request's latency counts.
//!
//! Closed loop (wrk): a connection sends its next batch as soon as the previous one is
//! answered, and latency counts from the actual send. A slow server then slows the senders
//! down, and the requests that would have waited during a stall are never sent, so never
//! measured: coordinated omission.
//!
//! Constant rate (wrk2): each request has an intended send time on a fixed schedule, and its
//! latency counts from that time, not from when the connection got round to sending it. A
//! stall therefore shows in the latency of every request that should have gone out during it.

use std::time::{Duration, Instant};

/// How early a request may leave. Sends wait for the pacer's next tick (`super::timer`:
/// every 100 µs, plus up to 50 µs of kernel timer slack); a request timed exactly to its slot
/// would carry that wake-up lateness into its latency, so requests may leave up to this much
/// early and then count from when they actually left (`Pacing::start`): an early send never
/// flatters a latency. Until 2026-11-22 sends waited on tokio's timer (1 ms ticks, deadlines
/// rounded up, up to 2 ms late) and needed 2 ms of slack, so at 73k req/s every connection's
/// requests of the next 2 ms left together in bursts the server then served back to back.
pub const TIMER_SLACK: Duration = Duration::from_micros(200);

/// The send times of one connection at a constant rate.
#[derive(Debug, Clone)]
pub struct Schedule {
    first: Instant,
    interval_ns: f64,
    sent: u64,
}

impl Schedule {
    /// Connection `index` of `connections` that share `rate` requests/s from `start`. Each
    /// sends every `connections / rate` seconds, and connection `i` starts `i / rate` seconds
    /// late, so together they form one evenly spaced stream at `rate`.
    pub fn new(start: Instant, rate: f64, index: usize, connections: usize) -> Schedule {
        let step_ns = 1e9 / rate;
        Schedule {
            first: start + Duration::from_nanos((step_ns * index as f64) as u64),
            interval_ns: step_ns * connections as f64,
            sent: 0,
        }
    }

    /// The intended send time of the `n`-th request (from 0). Computed from the start, not by
    /// adding intervals, so rounding never accumulates into drift.
    pub fn at(&self, n: u64) -> Instant {
        self.first + Duration::from_nanos((self.interval_ns * n as f64) as u64)
    }

    /// The intended time of the next request.
    pub fn due(&self) -> Instant {
        self.at(self.sent)
    }

    /// Takes the next slot: returns its intended time and moves on.
    pub fn take(&mut self) -> Instant {
        let t = self.due();
        self.sent += 1;
        t
    }
}

/// How a connection paces its requests.
#[derive(Debug, Clone)]
pub enum Pacing {
    /// As fast as answers come back: a batch of `depth` requests when none is outstanding.
    Closed,
    /// On a [`Schedule`], with at most `depth` requests outstanding.
    Constant(Schedule),
}

impl Pacing {
    /// How many requests may be sent at `now` with `in_flight` of at most `depth` outstanding.
    pub fn ready(&self, now: Instant, in_flight: usize, depth: usize) -> usize {
        match self {
            Pacing::Closed if in_flight == 0 => depth,
            Pacing::Closed => 0,
            Pacing::Constant(s) => {
                let room = depth.saturating_sub(in_flight);
                let horizon = now + TIMER_SLACK;
                (0..room)
                    .take_while(|k| s.at(s.sent + *k as u64) <= horizon)
                    .count()
            }
        }
    }

    /// Claims the next request's slot: the instant its latency counts from.
    pub fn start(&mut self, now: Instant) -> Instant {
        match self {
            Pacing::Closed => now,
            // From the intended time when late (coordinated omission), from the actual send
            // when early (timer slack).
            Pacing::Constant(s) => s.take().min(now),
        }
    }

    /// When to wake up to send again, if the schedule (not an answer) decides it.
    pub fn next_due(&self, in_flight: usize, depth: usize) -> Option<Instant> {
        match self {
            Pacing::Constant(s) if in_flight < depth => {
                let due = s.due();
                Some(due.checked_sub(TIMER_SLACK).unwrap_or(due))
            }
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(t: Instant, start: Instant) -> f64 {
        (t - start).as_secs_f64() * 1e3
    }

    #[test]
    fn connections_interleave_into_one_stream() {
        let start = Instant::now();
        // 2000 req/s over 8 connections: each every 4 ms, offset by 0.5 ms.
        let scheds: Vec<Schedule> = (0..8).map(|i| Schedule::new(start, 2000.0, i, 8)).collect();
        let mut all: Vec<f64> = scheds
            .iter()
            .flat_map(|s| (0..250).map(move |n| ms(s.at(n), start)))
            .collect();
        all.sort_by(f64::total_cmp);
        assert_eq!(all.len(), 2000);
        for (k, t) in all.iter().enumerate() {
            assert!((t - k as f64 * 0.5).abs() < 1e-6, "request {k} at {t} ms");
        }
        assert!((ms(scheds[3].at(10), start) - 41.5).abs() < 1e-6);
    }

    #[test]
    fn no_drift_over_many_requests() {
        let start = Instant::now();
        // 3 req/s on one connection: an interval that is not a whole number of nanoseconds.
        let s = Schedule::new(start, 3.0, 0, 1);
        let t = s.at(3_000_000) - start;
        let exact = Duration::from_secs(1_000_000);
        assert!(t.abs_diff(exact) < Duration::from_micros(1), "{t:?}");
    }

    #[test]
    fn take_advances() {
        let start = Instant::now();
        let mut s = Schedule::new(start, 1000.0, 0, 1);
        assert_eq!(s.take(), start);
        assert_eq!(s.take() - start, Duration::from_millis(1));
        assert_eq!(s.due() - start, Duration::from_millis(2));
    }

    #[test]
    fn constant_ready_counts_due_slots_within_depth() {
        let start = Instant::now();
        let ms = Duration::from_millis;
        let mut p = Pacing::Constant(Schedule::new(start, 1000.0, 0, 1));
        // Slots 0..=3 are due; slot 4 (at 4 ms) only once it is within the timer slack.
        let now = start + Duration::from_micros(3_500);
        assert_eq!(p.ready(now, 0, 1), 1);
        assert_eq!(p.ready(now, 0, 16), 4);
        assert_eq!(p.ready(start + ms(4) - TIMER_SLACK, 0, 16), 5);
        assert_eq!(p.ready(now, 14, 16), 2);
        assert_eq!(p.ready(now, 16, 16), 0);
        // Late: counts from the intended time (coordinated omission).
        assert_eq!(p.start(now), start);
        // The timer is set a slack early (slot 1 at 1 ms), so it cannot fire late.
        assert_eq!(p.next_due(0, 1), Some(start + ms(1) - TIMER_SLACK));
        assert_eq!(p.next_due(1, 1), None);
        assert_eq!(p.ready(start, 0, 16), 0, "slot 1 is not due at the start");
        let early = start + ms(1) - TIMER_SLACK;
        assert_eq!(p.ready(early, 0, 16), 1, "slot 1 is within the slack");
        // Early: counts from the actual send, never from the later intended time.
        assert_eq!(p.start(early), early);
    }

    #[test]
    fn closed_sends_a_batch_when_idle() {
        let now = Instant::now();
        let mut p = Pacing::Closed;
        assert_eq!(p.ready(now, 0, 16), 16);
        assert_eq!(p.ready(now, 1, 16), 0);
        assert_eq!(p.start(now), now);
        assert_eq!(p.next_due(0, 16), None);
    }
}
