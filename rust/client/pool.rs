//! Idle keep-alive connections per authority, reused last-in first-out: the most recently
//! used connection is the least likely to have been closed by the server.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use tokio::time::Instant;

use super::conn::Conn;

/// The idle connections of every authority.
#[derive(Debug)]
pub struct Pool {
    idle: Mutex<HashMap<String, Vec<(Conn, Instant)>>>,
    max_idle: usize,
    idle_timeout: Duration,
}

impl Pool {
    /// An empty pool keeping at most `max_idle` connections per authority, each for at most
    /// `idle_timeout`.
    pub fn new(max_idle: usize, idle_timeout: Duration) -> Pool {
        Pool {
            idle: Mutex::new(HashMap::new()),
            max_idle,
            idle_timeout,
        }
    }

    /// The most recently returned connection to `authority` that is neither expired nor
    /// closed by the server; the ones found unusable on the way are closed.
    pub fn checkout(&self, authority: &str) -> Option<Conn> {
        let mut idle = self.idle.lock().unwrap_or_else(|e| e.into_inner());
        let list = idle.get_mut(authority)?;
        while let Some((mut conn, since)) = list.pop() {
            if since.elapsed() >= self.idle_timeout {
                // Ordered oldest first: everything below is older still.
                list.clear();
                break;
            }
            if conn.is_usable() {
                conn.reused = true;
                return Some(conn);
            }
        }
        None
    }

    /// Returns a connection after a complete response; closed instead when `authority`
    /// already has `max_idle` idle ones.
    pub fn checkin(&self, authority: &str, conn: Conn) {
        let mut idle = self.idle.lock().unwrap_or_else(|e| e.into_inner());
        let list = match idle.get_mut(authority) {
            Some(list) => list,
            None => idle.entry(authority.to_owned()).or_default(),
        };
        if list.len() < self.max_idle {
            list.push((conn, Instant::now()));
        }
    }

    /// Closes connections idle for longer than the idle timeout.
    pub fn reap(&self) {
        let mut idle = self.idle.lock().unwrap_or_else(|e| e.into_inner());
        idle.retain(|_, list| {
            list.retain(|(_, since)| since.elapsed() < self.idle_timeout);
            !list.is_empty()
        });
    }

    /// Closes every idle connection.
    pub fn clear(&self) {
        self.idle.lock().unwrap_or_else(|e| e.into_inner()).clear();
    }

    /// How often [`Pool::reap`] should run.
    pub fn reap_every(&self) -> Duration {
        (self.idle_timeout / 2).max(Duration::from_millis(100))
    }

    /// Idle connections to `authority` (for tests and metrics).
    pub fn idle_count(&self, authority: &str) -> usize {
        let idle = self.idle.lock().unwrap_or_else(|e| e.into_inner());
        idle.get(authority).map_or(0, Vec::len)
    }
}
