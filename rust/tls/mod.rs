//! TLS on rustls: the server's certificates (several, chosen by SNI), their reload when the
//! files change, the handshake with its timeout and its failures counted by reason, and the
//! client's verified identity (mTLS).
//!
//! TLS sits between the socket and the protocols: a handshake yields a `tokio_rustls`
//! stream, which the HTTP/1.1 connection reads through `io::StreamConn` and the HTTP/2 one
//! directly. No pyo3 here.

mod handshake;
pub mod identity;
mod load;
#[cfg(test)]
mod tests;

use std::path::PathBuf;
use std::sync::{Arc, Mutex, RwLock, Weak};
use std::time::{Duration, SystemTime};

use rustls::server::ProducesTickets;
use rustls::ServerConfig;

use crate::config::{HttpVersions, TlsConfig};
use crate::log::{self, Level};

pub use handshake::{accept, Accepted};

/// ALPN names (RFC 7301; "h2" is RFC 9113 §3.2).
pub const H2: &[u8] = b"h2";
/// ALPN name of HTTP/1.1.
pub const HTTP11: &[u8] = b"http/1.1";

/// A worker's TLS: the config new handshakes use, replaced when the files change.
pub struct Tls {
    files: TlsConfig,
    alpn: Vec<&'static [u8]>,
    tickets: Arc<dyn ProducesTickets>,
    current: RwLock<Arc<ServerConfig>>,
    /// The files' (modification time, length) when last read, to see a change.
    stamps: Mutex<Vec<Option<(SystemTime, u64)>>>,
}

impl Tls {
    /// Reads the files; the error names the file at fault (start-up fails with it).
    pub fn new(files: &TlsConfig, http: HttpVersions) -> Result<Arc<Tls>, String> {
        let alpn = match http {
            HttpVersions::Auto => vec![H2, HTTP11],
            HttpVersions::H1 => vec![HTTP11],
            HttpVersions::H2 => vec![H2],
        };
        let tickets = rustls::crypto::aws_lc_rs::Ticketer::new().map_err(|e| e.to_string())?;
        let stamps = stamps(files);
        let config = load::server_config(files, &alpn, tickets.clone())?;
        Ok(Arc::new(Tls {
            files: files.clone(),
            alpn,
            tickets,
            current: RwLock::new(Arc::new(config)),
            stamps: Mutex::new(stamps),
        }))
    }

    /// The config a handshake starting now uses.
    pub fn config(&self) -> Arc<ServerConfig> {
        self.current
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// How long a handshake may take.
    pub fn handshake_timeout(&self) -> Duration {
        self.files.handshake_timeout
    }

    /// Re-reads the files if any changed since they were read: new handshakes use them,
    /// connections already open keep theirs. A file that does not load keeps the previous
    /// certificate, and says why. Returns whether something changed.
    pub fn reload_if_changed(&self) -> bool {
        let now = stamps(&self.files);
        {
            let mut seen = self.stamps.lock().unwrap_or_else(|e| e.into_inner());
            if *seen == now {
                return false;
            }
            // Seen even if it fails to load: one warning per change, not one per check.
            *seen = now;
        }
        match load::server_config(&self.files, &self.alpn, self.tickets.clone()) {
            Ok(c) => {
                *self.current.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(c);
                log::write(Level::Info, format_args!("tls: certificates reloaded"));
            }
            Err(e) => log::write(
                Level::Warning,
                format_args!("tls: keeping the previous certificate: {e}"),
            ),
        }
        true
    }

    /// Checks the files every `reload_interval` on a thread of its own (a stat per file: no
    /// IO thread waits on the disk) until the server drops this `Tls`.
    pub fn watch(self: &Arc<Self>) {
        let Some(every) = self.files.reload_interval else {
            return;
        };
        let weak: Weak<Tls> = Arc::downgrade(self);
        let spawned = std::thread::Builder::new()
            .name("covetpy-tls-reload".into())
            .spawn(move || loop {
                std::thread::sleep(every);
                match weak.upgrade() {
                    Some(tls) => {
                        tls.reload_if_changed();
                    }
                    None => return,
                }
            });
        if let Err(e) = spawned {
            log::write(
                Level::Warning,
                format_args!("tls: certificate files will not be watched: {e}"),
            );
        }
    }
}

fn files(cfg: &TlsConfig) -> impl Iterator<Item = &PathBuf> {
    cfg.certs
        .iter()
        .flat_map(|(c, k)| [c, k])
        .chain(cfg.ca.as_ref())
}

fn stamps(cfg: &TlsConfig) -> Vec<Option<(SystemTime, u64)>> {
    files(cfg)
        .map(|p| {
            let m = std::fs::metadata(p).ok()?;
            Some((m.modified().ok()?, m.len()))
        })
        .collect()
}
