//! Request metrics in memory shared between worker processes, summed at scrape time.
//!
//! Each worker process creates a [`Registry`]: a file `covetpy-{pid}.metrics` in a directory
//! shared by the workers of one server, mapped `MAP_SHARED`. Its IO threads and its Python
//! thread record into it with relaxed atomic adds on the mapping — no lock, no allocation, no
//! system call, and no GIL. Any process renders the whole server with [`scrape`], which maps
//! every file read-only and sums series with equal labels, like prometheus_client's
//! multiprocess mode.
//!
//! - Counters and histograms of a worker stay in the sum after it dies, so totals never drop
//!   when a worker is replaced; the in-flight gauge counts only live workers (pid exists and
//!   the file is not marked closed).
//! - Series are keyed by (route, method, status) in a fixed table of 2048 slots per worker;
//!   past that, requests go to one series labelled `otel_metric_overflow="true"`, as the
//!   OpenTelemetry SDKs do, and are counted in `covetpy_metrics_series_overflow_total`.
//! - The server should empty the directory when it starts (a file stays until then), and put
//!   it on a tmpfs such as `/dev/shm`, where shared pages are never written back to a disk.
//!
//! Files: `layout` (the file format), `map` (the mapping), `registry` (the writer), `scrape`
//! (the reader), `totals` (what the reader sums), `render` (the text format).

mod layout;
mod map;
mod registry;
mod render;
mod scrape;
#[cfg(test)]
mod tests;
mod totals;

pub use registry::{mark_closed, AuthFailure, Registry, ShedReason, TlsFailure};
pub use scrape::scrape;

/// The `Content-Type` of what [`scrape`] returns.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";
