//! The reader: maps every metrics file of a directory read-only and sums them into [`Totals`].
//!
//! Files are written while they are read. Each word is read with one atomic load, so no value
//! is torn; words of one request may be caught half-updated, which the format tolerates (a
//! histogram's count is the sum of its buckets, never a separate word). A file that is not a
//! complete metrics file of this version — still being created, cut short, foreign — adds
//! nothing and does not fail the scrape.

use std::collections::BTreeMap;
use std::fs::{self, File};
use std::io;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{fence, Ordering};

use super::layout::{self, Layout};
use super::layout::{
    BODY_BUCKETS, DURATION_BUCKETS, GIL_BUCKETS, H_ACTIVE, H_CAPACITY, H_CLOSED, H_GIL, H_GIL_SUM,
    H_MAGIC, H_OVERFLOW, H_PID, H_ROUTES, H_ROUTES_LEN, H_SHED, H_TIMEOUTS, H_VERSION, H_WORDS,
    MAGIC, METHODS, ROUTES_OFFSET, S_DURATION, S_DURATION_SUM, S_REQUEST, S_REQUEST_SUM,
    S_RESPONSE, S_RESPONSE_SUM, VERSION,
};
use super::map::Mapping;
use super::render;

/// Sums the metrics files (`covetpy-*.metrics`) in `dir` and renders them in the Prometheus
/// text exposition format 0.0.4 (serve it as [`super::CONTENT_TYPE`]).
///
/// Counters and histograms include every file, so a worker's counts outlive it; the in-flight
/// gauge includes only files of live workers. Fails only if `dir` cannot be listed.
pub fn scrape(dir: &Path) -> io::Result<String> {
    let mut totals = Totals::default();
    for path in metrics_files(dir)? {
        // A file removed since the listing, unreadable, or not a complete metrics file of this
        // version: the rest of the directory is still worth reporting.
        let _ = read_file(&path, &mut totals);
    }
    Ok(render::render(&totals))
}

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
    fn add_from(&mut self, map: &Mapping, sum: usize, buckets: usize) {
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
    fn add_from(&mut self, map: &Mapping, base: usize) {
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
    /// Requests recorded into the overflow series.
    pub overflowed: u64,
    pub gil: Hist<GIL_BUCKETS>,
}

/// The `covetpy-*.metrics` files of `dir`, sorted.
fn metrics_files(dir: &Path) -> io::Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    for entry in fs::read_dir(dir)? {
        let entry = entry?;
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        let stem = name
            .strip_prefix(layout::FILE_PREFIX)
            .and_then(|n| n.strip_suffix(layout::FILE_SUFFIX));
        if stem.is_some_and(|s| !s.is_empty()) {
            files.push(entry.path());
        }
    }
    files.sort();
    Ok(files)
}

/// Adds the file at `path` to `totals`; `Ok(false)` if it is not a complete metrics file of
/// this version. Nothing is added unless the whole header and route table check out.
fn read_file(path: &Path, totals: &mut Totals) -> io::Result<bool> {
    let file = File::open(path)?;
    let size = file.metadata()?.len();
    if size < ROUTES_OFFSET as u64 {
        return Ok(false);
    }
    let size = usize::try_from(size).map_err(|_| io::Error::from(io::ErrorKind::InvalidData))?;
    let map = Mapping::new(&file, size, false)?;
    let magic = map.load(H_MAGIC);
    // Pairs with the writer's release store of the magic: once it is seen, so is the header.
    fence(Ordering::Acquire);
    if magic != MAGIC || map.load(H_VERSION) != VERSION {
        return Ok(false);
    }
    let word = |i| usize::try_from(map.load(i)).unwrap_or(usize::MAX);
    let Some(layout) = Layout::new(word(H_CAPACITY), word(H_ROUTES_LEN)) else {
        return Ok(false);
    };
    // A file shorter than its header says was cut short: reading past its end would fault.
    if word(H_WORDS) != layout.words || layout.words > map.words() {
        return Ok(false);
    }
    let count = word(H_ROUTES);
    if count > layout::MAX_ROUTES {
        return Ok(false);
    }
    let mut table = vec![0; layout.routes_len];
    file.read_exact_at(&mut table, ROUTES_OFFSET as u64)?;
    let Some(routes) = layout::decode_routes(&table, count) else {
        return Ok(false);
    };

    if map.load(H_CLOSED) == 0 && pid_alive(map.load(H_PID)) {
        totals.active = totals.active.wrapping_add(map.load(H_ACTIVE) as i64);
    }
    for (i, shed) in totals.shed.iter_mut().enumerate() {
        *shed = shed.wrapping_add(map.load(H_SHED + i));
    }
    totals.timeouts = totals.timeouts.wrapping_add(map.load(H_TIMEOUTS));
    totals.overflowed = totals.overflowed.wrapping_add(map.load(H_OVERFLOW));
    totals.gil.add_from(&map, H_GIL_SUM, H_GIL);
    for slot in 0..layout.capacity {
        let Some(key) = layout::decode_key(map.load(layout.keys + slot)) else {
            continue;
        };
        let route = match key.route {
            None => None,
            // A route id past the table cannot come from our writer: skip the series.
            Some(r) => match routes.get(r) {
                Some(route) => Some(route.clone()),
                None => continue,
            },
        };
        let labels = Labels {
            route,
            method: METHODS[usize::from(key.method)],
            status: key.status,
        };
        totals
            .series
            .entry(labels)
            .or_default()
            .add_from(&map, layout.series_word(slot));
    }
    totals
        .overflow
        .add_from(&map, layout.series_word(layout.capacity));
    Ok(true)
}

/// Whether process `pid` exists: `kill(pid, 0)` succeeds, or fails only for lack of permission.
/// A recycled pid reads as live; the closed flag covers workers that exited cleanly and, set
/// by the supervisor when it reaps them ([`super::mark_closed`]), those that did not.
fn pid_alive(pid: u64) -> bool {
    match libc::pid_t::try_from(pid) {
        // 0 and negative pids name process groups for kill(2), never one worker.
        Ok(pid) if pid > 0 => {
            // SAFETY: signal 0 sends nothing; kill only checks that the process exists.
            let r = unsafe { libc::kill(pid, 0) };
            r == 0 || io::Error::last_os_error().raw_os_error() == Some(libc::EPERM)
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pid_liveness() {
        assert!(pid_alive(u64::from(std::process::id())));
        assert!(!pid_alive(0), "pid 0 is our process group, not a worker");
        assert!(!pid_alive(u64::MAX));
        // Above the kernel's pid_max (at most 2^22), so no such process.
        assert!(!pid_alive(0x7fff_fff0));
    }
}
