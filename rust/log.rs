//! A minimal stderr logger for the IO threads, which must not take the GIL to log.
//!
//! Python configures the level once at start-up; lines are written whole with one `write_all`
//! so lines from several threads do not interleave.

use std::io::Write;
use std::sync::atomic::{AtomicU8, Ordering};

/// Log levels, ordered like Python's logging levels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
#[repr(u8)]
pub enum Level {
    /// Per-connection detail.
    Debug = 0,
    /// Start-up, shutdown.
    Info = 1,
    /// Something a client or the environment did wrong.
    Warning = 2,
    /// A bug or a failed handler.
    Error = 3,
}

static LEVEL: AtomicU8 = AtomicU8::new(Level::Info as u8);
static ACCESS: AtomicU8 = AtomicU8::new(0);

/// Sets the minimum level written.
pub fn set_level(level: Level) {
    LEVEL.store(level as u8, Ordering::Relaxed);
}

/// Turns the access log on or off.
pub fn set_access_log(on: bool) {
    ACCESS.store(on as u8, Ordering::Relaxed);
}

/// Whether lines of `level` are written.
pub fn enabled(level: Level) -> bool {
    level as u8 >= LEVEL.load(Ordering::Relaxed)
}

/// Whether the access log is on.
pub fn access_enabled() -> bool {
    ACCESS.load(Ordering::Relaxed) != 0
}

/// Writes one line if `level` is enabled.
pub fn write(level: Level, msg: std::fmt::Arguments<'_>) {
    if !enabled(level) {
        return;
    }
    let name = match level {
        Level::Debug => "DEBUG",
        Level::Info => "INFO",
        Level::Warning => "WARNING",
        Level::Error => "ERROR",
    };
    let line = format!("{name} covetpy[{}]: {msg}\n", std::process::id());
    let _ = std::io::stderr().lock().write_all(line.as_bytes());
}

/// Writes one access-log line: `peer "METHOD target" status bytes micros [request-id]`.
pub fn access(
    peer: &str,
    method: &str,
    target: &[u8],
    status: u16,
    bytes: usize,
    micros: u128,
    request_id: Option<&str>,
) {
    let line = format!(
        "{peer} \"{method} {}\" {status} {bytes} {micros}us{}{}\n",
        String::from_utf8_lossy(target),
        if request_id.is_some() { " " } else { "" },
        request_id.unwrap_or("")
    );
    let _ = std::io::stderr().lock().write_all(line.as_bytes());
}

/// `log!(Level::Info, "listening on {}", addr)`.
#[macro_export]
macro_rules! log {
    ($level:expr, $($arg:tt)*) => {
        $crate::log::write($level, format_args!($($arg)*))
    };
}
