//! One load thread: a current-thread tokio runtime driving its share of the connections,
//! as the server's IO threads do (rust/server/thread.rs): nothing migrates, so the
//! connections share their recorder and budget through `Rc`, without locks.

use std::future::pending;
use std::rc::Rc;
use std::sync::Arc;
use std::time::Instant;

use tokio::sync::watch;
use tokio::task::{JoinSet, LocalSet};

use super::budget::Budget;
use super::fresh::{self, Exchange};
use super::rate::{Pacing, Schedule};
use super::stats::{Live, Recorder, Stats};
use super::timer::Pacer;
use super::{conn, h2_conn};

/// What each connection of a thread does.
#[derive(Debug)]
pub enum Job {
    /// HTTP/1.1 keep-alive, plain or TLS (conn.rs).
    H1(conn::Plan),
    /// HTTP/2 keep-alive, h2c or h2 (h2_conn.rs).
    H2(h2_conn::Plan),
    /// One request per connection (`--new-conn`, fresh.rs).
    Fresh(Exchange),
}

/// A [`Job`] its connections share.
enum Plans {
    H1(Rc<conn::Plan>),
    H2(Rc<h2_conn::Plan>),
    Fresh(Rc<Exchange>),
}

/// The part of the run one thread does.
#[derive(Debug)]
pub struct Share {
    /// Index of the thread's first connection among all of them (staggers the schedules).
    pub first_conn: usize,
    /// Connections this thread opens.
    pub conns: usize,
    /// Requests this thread may start (`-n`), or unlimited.
    pub requests: Option<u64>,
}

/// What the threads have in common.
#[derive(Debug, Clone)]
pub struct Common {
    /// Start of the run: schedules count from it.
    pub start: Instant,
    /// End of the run for `-d`.
    pub deadline: Option<Instant>,
    /// Requests per second for all connections together (`--rate`).
    pub rate: Option<f64>,
    /// All connections of all threads.
    pub total_conns: usize,
}

/// Runs this thread's connections until they finish, the deadline passes or `stop` turns
/// true; returns what they recorded and when the thread stopped.
pub fn run(
    job: Job,
    share: Share,
    common: Common,
    mut stop: watch::Receiver<bool>,
    live: Arc<Live>,
) -> std::io::Result<(Stats, Instant)> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let local = LocalSet::new();
    let rec = Rc::new(Recorder::new(live));
    let budget = Rc::new(Budget::new(share.requests));
    let ended = local.block_on(&rt, async {
        // Constant rate: one timer for the thread's connections (rust/bench/timer.rs).
        let pacer = match common.rate {
            Some(_) => Some(Rc::new(Pacer::new(share.conns)?)),
            None => None,
        };
        // One plan per thread, shared by its connections.
        let job = match job {
            Job::H1(plan) => Plans::H1(Rc::new(plan)),
            Job::H2(plan) => Plans::H2(Rc::new(plan)),
            Job::Fresh(plan) => Plans::Fresh(Rc::new(plan)),
        };
        let mut conns = JoinSet::new();
        for i in 0..share.conns {
            let pacing = match common.rate {
                None => Pacing::Closed,
                Some(rate) => Pacing::Constant(Schedule::new(
                    common.start,
                    rate,
                    share.first_conn + i,
                    common.total_conns,
                )),
            };
            let clock = pacer.clone().map(|p| (p, i));
            let (budget, rec) = (budget.clone(), rec.clone());
            match &job {
                Plans::H1(plan) => {
                    conns.spawn_local(conn::drive(plan.clone(), pacing, clock, budget, rec))
                }
                Plans::H2(plan) => {
                    conns.spawn_local(h2_conn::drive(plan.clone(), pacing, clock, budget, rec))
                }
                Plans::Fresh(plan) => {
                    conns.spawn_local(fresh::drive(plan.clone(), pacing, clock, budget, rec))
                }
            };
        }
        let all_done = async { while conns.join_next().await.is_some() {} };
        let timer = async {
            match &pacer {
                Some(p) => p.run().await,
                None => pending().await,
            }
        };
        let deadline = async {
            match common.deadline {
                Some(d) => tokio::time::sleep_until(d.into()).await,
                None => pending().await,
            }
        };
        // Requests still outstanding when the deadline or a stop ends this are neither
        // answered nor failed: they are left out, as wrk does at the end of a run.
        tokio::select! {
            _ = all_done => {}
            _ = deadline => {}
            _ = stop.wait_for(|s| *s) => {}
            r = timer => r?,
        }
        Ok::<_, std::io::Error>(Instant::now())
    })?;
    drop(local);
    Ok((rec.take(), ended))
}
