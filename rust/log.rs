//! A minimal stderr logger for the IO threads, which must not take the GIL to log.
//!
//! Python configures the level once at start-up; lines are written whole with one `write_all`
//! so lines from several threads do not interleave.

use std::io::Write;
use std::sync::atomic::{AtomicU8, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use crate::mesh::trace::{hex_into, ServerTrace};

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
static JSON: AtomicU8 = AtomicU8::new(0);

/// Writes lines as JSON objects (`covetpy run --log-format json`), with the fields Python's
/// `covetpy.observability.logs.JsonFormatter` writes, so one parser reads both.
pub fn set_json(on: bool) {
    JSON.store(on as u8, Ordering::Relaxed);
}

fn json() -> bool {
    JSON.load(Ordering::Relaxed) != 0
}

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
    let line = if json() {
        let mut msg_text = String::new();
        let _ = std::fmt::write(&mut msg_text, msg);
        format!(
            "{{\"time\":\"{}\",\"level\":\"{name}\",\"logger\":\"covetpy\",\"pid\":{},\"message\":\"{}\"}}\n",
            rfc3339_now(),
            std::process::id(),
            escape(&msg_text)
        )
    } else {
        format!("{name} covetpy[{}]: {msg}\n", std::process::id())
    };
    let _ = std::io::stderr().lock().write_all(line.as_bytes());
}

/// Writes one access-log line: `peer "METHOD target[ HTTP/2]" status bytes micros [request-id]
/// [trace=TRACE_ID span=SPAN_ID] [close=CODE]`, or the same as a JSON object. A WebSocket's
/// line is written when it closes: status 101, its whole duration and its close code.
#[allow(clippy::too_many_arguments)]
pub fn access(
    peer: &str,
    method: &str,
    target: &[u8],
    status: u16,
    bytes: usize,
    micros: u128,
    request_id: Option<&str>,
    trace: Option<&ServerTrace>,
    close: Option<u16>,
    version: &str,
) {
    let target = String::from_utf8_lossy(target);
    let line = if json() {
        let mut out = format!(
            "{{\"time\":\"{}\",\"level\":\"INFO\",\"logger\":\"covetpy.access\",\"pid\":{},\
             \"message\":\"{} {} {status}\",\"client\":\"{}\",\"method\":\"{}\",\"target\":\"{}\",\
             \"status\":{status},\"bytes\":{bytes},\"duration_us\":{micros},\"http_version\":\"{version}\"",
            rfc3339_now(),
            std::process::id(),
            escape(method),
            escape(&target),
            escape(peer),
            escape(method),
            escape(&target),
        );
        if let Some(id) = request_id {
            out.push_str(&format!(",\"request_id\":\"{}\"", escape(id)));
        }
        if let Some(t) = trace {
            out.push_str(",\"trace_id\":\"");
            hex_into(&t.trace_id, &mut out);
            out.push_str("\",\"span_id\":\"");
            hex_into(&t.span_id, &mut out);
            out.push('"');
        }
        if let Some(code) = close {
            out.push_str(&format!(",\"close_code\":{code}"));
        }
        out.push_str("}\n");
        out
    } else {
        let mut out = format!(
            "{peer} \"{method} {target}{}\" {status} {bytes} {micros}us{}{}",
            // HTTP/1.x lines stay as they were; HTTP/2 says so.
            if version == "2" { " HTTP/2" } else { "" },
            if request_id.is_some() { " " } else { "" },
            request_id.unwrap_or("")
        );
        if let Some(t) = trace {
            out.push_str(" trace=");
            hex_into(&t.trace_id, &mut out);
            out.push_str(" span=");
            hex_into(&t.span_id, &mut out);
        }
        if let Some(code) = close {
            out.push_str(&format!(" close={code}"));
        }
        out.push('\n');
        out
    };
    let _ = std::io::stderr().lock().write_all(line.as_bytes());
}

/// Writes one audit event of an authentication decision (logger `covetpy.audit`, level
/// info): `result` (`unauthorized`, `forbidden`, `granted`, `anonymous`), the failed check's
/// `reason`, the layer's scheme, the subject when known, the request's method and path (never
/// its query, where an API key may ride), its request id and client. Never the credential.
#[allow(clippy::too_many_arguments)]
pub fn audit(
    result: &str,
    reason: &str,
    scheme: &str,
    subject: Option<&str>,
    method: &str,
    path: &[u8],
    request_id: Option<&str>,
    peer: &str,
) {
    if !enabled(Level::Info) {
        return;
    }
    let path = String::from_utf8_lossy(path);
    let line = if json() {
        let mut out = format!(
            "{{\"time\":\"{}\",\"level\":\"INFO\",\"logger\":\"covetpy.audit\",\"pid\":{},\
             \"message\":\"auth {result} {}\",\"event\":\"auth\",\"outcome\":\"{result}\",\
             \"reason\":\"{reason}\",\"scheme\":\"{scheme}\",\"method\":\"{}\",\"route\":\"{}\",\
             \"client\":\"{}\"",
            rfc3339_now(),
            std::process::id(),
            escape(&path),
            escape(method),
            escape(&path),
            escape(peer),
        );
        if let Some(s) = subject {
            out.push_str(&format!(",\"subject\":\"{}\"", escape(s)));
        }
        if let Some(id) = request_id {
            out.push_str(&format!(",\"request_id\":\"{}\"", escape(id)));
        }
        out.push_str("}\n");
        out
    } else {
        let mut out = format!(
            "INFO covetpy.audit[{}]: auth {result} {method} {path} client={peer}",
            std::process::id()
        );
        if !reason.is_empty() {
            out.push_str(&format!(" reason={reason}"));
        }
        if !scheme.is_empty() {
            out.push_str(&format!(" scheme={scheme}"));
        }
        if let Some(s) = subject {
            out.push_str(&format!(" subject={}", escape(s)));
        }
        if let Some(id) = request_id {
            out.push_str(&format!(" request_id={id}"));
        }
        out.push('\n');
        out
    };
    let _ = std::io::stderr().lock().write_all(line.as_bytes());
}

/// JSON string escaping, shared with the problem documents.
pub use crate::protocol::problem::escape;

/// The current UTC time as RFC 3339 with milliseconds (`2026-11-22T04:23:26.123Z`).
fn rfc3339_now() -> String {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    let secs = now.as_secs();
    let (days, rem) = (secs / 86_400, secs % 86_400);
    let (y, m, d) = civil_from_days(days as i64);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{:03}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60,
        now.subsec_millis()
    )
}

/// Year, month, day of a day count since 1970-01-01 (the proleptic Gregorian calendar, by
/// the era arithmetic of Howard Hinnant's `civil_from_days`).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

/// `log!(Level::Info, "listening on {}", addr)`.
#[macro_export]
macro_rules! log {
    ($level:expr, $($arg:tt)*) => {
        $crate::log::write($level, format_args!($($arg)*))
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn civil_dates() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(11_016), (2000, 2, 29));
        assert_eq!(civil_from_days(20_779), (2026, 11, 22));
    }

    #[test]
    fn json_escaping() {
        assert_eq!(escape("a\"b\\c\nd"), "a\\\"b\\\\c\\u000ad");
    }
}
