//! The live progress line on stderr, once a second: elapsed time, requests, the rate over the
//! last second, errors. On a terminal it rewrites one line; elsewhere (CI logs) it prints a
//! line per second.

use std::io::{IsTerminal, Write};
use std::time::Instant;

/// Prints the progress of a run.
#[derive(Debug)]
pub struct Progress {
    start: Instant,
    tty: bool,
    last: Option<(Instant, u64)>,
}

impl Progress {
    /// Progress of a run that started at `start`.
    pub fn new(start: Instant) -> Progress {
        Progress {
            start,
            tty: std::io::stderr().is_terminal(),
            last: None,
        }
    }

    /// Prints the line for `now`.
    pub fn tick(&mut self, now: Instant, requests: u64, errors: u64) {
        let (since, before) = self.last.unwrap_or((self.start, 0));
        let secs = now.duration_since(since).as_secs_f64();
        let rate = if secs > 0.0 {
            (requests - before) as f64 / secs
        } else {
            0.0
        };
        self.last = Some((now, requests));
        let line = line(
            now.duration_since(self.start).as_secs_f64(),
            requests,
            rate,
            errors,
        );
        let mut err = std::io::stderr().lock();
        // Progress is best effort: a closed stderr must not stop the run.
        let _ = if self.tty {
            write!(err, "\r\x1b[2K{line}")
        } else {
            writeln!(err, "{line}")
        };
        let _ = err.flush();
    }

    /// Clears the rewritten line so the report starts on a clean one.
    pub fn finish(&self) {
        if self.tty && self.last.is_some() {
            let _ = write!(std::io::stderr(), "\r\x1b[2K");
        }
    }
}

fn line(elapsed: f64, requests: u64, rate: f64, errors: u64) -> String {
    format!(
        "[{elapsed:5.1}s] {} requests, {} req/s, {} errors",
        grouped(requests),
        grouped(rate.round() as u64),
        grouped(errors)
    )
}

/// `1234567` as `1,234,567`.
pub fn grouped(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_the_line() {
        assert_eq!(grouped(0), "0");
        assert_eq!(grouped(999), "999");
        assert_eq!(grouped(1000), "1,000");
        assert_eq!(grouped(76_012_345), "76,012,345");
        assert_eq!(
            line(3.0, 228_123, 76_011.6, 0),
            "[  3.0s] 228,123 requests, 76,012 req/s, 0 errors"
        );
    }
}
