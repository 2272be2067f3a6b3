//! The reader: maps every metrics file of a directory read-only and sums them into [`Totals`].
//!
//! Files are written while they are read. Each word is read with one atomic load, so no value
//! is torn; words of one request may be caught half-updated, which the format tolerates (a
//! histogram's count is the sum of its buckets, never a separate word). A file that is not a
//! complete metrics file of this version — still being created, cut short, foreign — adds
//! nothing and does not fail the scrape.

use std::fs::{self, File};
use std::io;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{fence, Ordering};

use super::layout::{self, Layout};
use super::layout::{
    H_ACTIVE, H_AUTH_FAILURES, H_CAPACITY, H_CLOSED, H_GIL, H_GIL_SUM, H_MAGIC, H_OVERFLOW, H_PID,
    H_ROUTES, H_ROUTES_LEN, H_SHED, H_TIMEOUTS, H_TLS_FAILURES, H_VERSION, H_WORDS, MAGIC, METHODS,
    ROUTES_OFFSET, VERSION,
};
use super::map::Mapping;
use super::render;
use super::totals::{Labels, Totals};

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
        totals.ws.open = totals
            .ws
            .open
            .wrapping_add(map.load(layout::H_WS_OPEN) as i64);
    }
    let ws = &mut totals.ws;
    ws.messages_in = ws.messages_in.wrapping_add(map.load(layout::H_WS_IN));
    ws.bytes_in = ws.bytes_in.wrapping_add(map.load(layout::H_WS_IN_BYTES));
    ws.messages_out = ws.messages_out.wrapping_add(map.load(layout::H_WS_OUT));
    ws.bytes_out = ws.bytes_out.wrapping_add(map.load(layout::H_WS_OUT_BYTES));
    ws.dropped = ws.dropped.wrapping_add(map.load(layout::H_WS_DROPPED));
    for (i, c) in ws.closes.iter_mut().enumerate() {
        *c = c.wrapping_add(map.load(layout::H_WS_CLOSES + i));
    }
    for (i, shed) in totals.shed.iter_mut().enumerate() {
        *shed = shed.wrapping_add(map.load(H_SHED + i));
    }
    totals.timeouts = totals.timeouts.wrapping_add(map.load(H_TIMEOUTS));
    for (i, tls) in totals.tls_failures.iter_mut().enumerate() {
        *tls = tls.wrapping_add(map.load(H_TLS_FAILURES + i));
    }
    for (i, auth) in totals.auth_failures.iter_mut().enumerate() {
        *auth = auth.wrapping_add(map.load(H_AUTH_FAILURES + i));
    }
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
