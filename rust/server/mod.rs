//! The server: IO threads, the HTTP/1.1 connection, graceful drain. It knows nothing of Python;
//! each request goes through the [`pipeline`](crate::pipeline), which hands those that need a
//! handler to a [`Dispatch`].

#[cfg(test)]
#[macro_use]
mod test_macros;
mod conn;
mod entry;
mod http2;
#[cfg(test)]
mod http2_tests;
#[cfg(test)]
mod http2_ws_tests;
#[cfg(test)]
mod mount_tests;
mod sched;
mod spin;
pub use spin::yield_cpu;
#[cfg(test)]
mod tests;
mod thread;
mod ticker;
mod unwind;
mod ws;
mod ws_open;

pub use thread::defers_wakeups;

use std::io;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

pub use crate::pipeline::{Dispatch, Shared};

use crate::config::{Bind, ServerConfig};
use crate::io::socket::{self, RawListener};
use crate::io::Driver;
use crate::log::Level;
use crate::metrics::Registry;
use crate::middleware::Pipeline;
use crate::pipeline::Ctx;
use crate::router::Router;
use crate::tls::Tls;

/// A running server: its IO threads and their shared state.
pub struct Server {
    shared: Arc<Shared>,
    threads: Vec<std::thread::JoinHandle<()>>,
    addresses: Vec<String>,
    driver: Driver,
    /// Kept for its certificate watch, which ends when the server is dropped.
    _tls: Option<Arc<Tls>>,
}

impl Server {
    /// Picks the IO driver (probing io_uring once if `config.io` wants it), binds every
    /// listener (so bind errors surface here), then starts the IO threads.
    pub fn start(
        config: ServerConfig,
        router: Arc<Router>,
        dispatch: Arc<dyn Dispatch>,
        pipeline: Arc<Pipeline>,
        auth: Option<Arc<crate::auth::Auth>>,
        metrics: Option<Arc<Registry>>,
    ) -> io::Result<Server> {
        let driver = Driver::resolve(config.io)?;
        // The files are read now: a bad one fails start-up with its name.
        let tls =
            match &config.tls {
                Some(t) => Some(Tls::new(t, config.http).map_err(|e| {
                    io::Error::new(io::ErrorKind::InvalidInput, format!("TLS: {e}"))
                })?),
                None => None,
            };
        if let Some(t) = &tls {
            t.watch();
        }
        let n = config.io_threads.max(1);
        let mut raws = Vec::with_capacity(n);
        for i in 0..n {
            let raw = match (&config.bind, raws.first()) {
                // A Unix path can be bound once; the other threads accept on duplicates.
                (Bind::Uds(_), Some(RawListener::Unix(first))) if i > 0 => {
                    RawListener::Unix(first.try_clone()?)
                }
                _ => socket::open(&config.bind, config.backlog)?,
            };
            raws.push(raw);
        }
        let addresses: Vec<String> = raws.iter().map(socket::describe).collect();
        let shared = Shared::new(&config.admission, metrics);
        let config = Arc::new(config);
        let running = Arc::new(AtomicUsize::new(n));
        let mut threads = Vec::with_capacity(n);
        for (i, raw) in raws.into_iter().enumerate() {
            let ctx = Ctx {
                config: config.clone(),
                router: router.clone(),
                dispatch: dispatch.clone(),
                shared: shared.clone(),
                middleware: pipeline.clone(),
                auth: auth.clone(),
            };
            let running = running.clone();
            let dispatch = dispatch.clone();
            let tls = tls.clone();
            let handle = std::thread::Builder::new()
                .name(format!("covetpy-io-{i}"))
                .spawn(move || {
                    sched::yield_to_handlers();
                    if let Err(e) = thread::run(raw, ctx, driver, tls) {
                        crate::log!(Level::Error, "IO thread {i} failed: {e}");
                    }
                    if running.fetch_sub(1, Ordering::AcqRel) == 1 {
                        dispatch.stopped();
                    }
                })?;
            threads.push(handle);
        }
        Ok(Server {
            shared,
            threads,
            addresses,
            driver,
            _tls: tls,
        })
    }

    /// The IO driver the threads run.
    pub fn driver(&self) -> Driver {
        self.driver
    }

    /// The addresses listened on, for logs.
    pub fn addresses(&self) -> &[String] {
        &self.addresses
    }

    /// Shared state (connection count, drain flag).
    pub fn shared(&self) -> &Arc<Shared> {
        &self.shared
    }

    /// Starts a graceful drain; [`Dispatch::stopped`] is called when it is complete.
    pub fn begin_drain(&self) {
        self.shared.begin_drain();
    }

    /// Waits for the IO threads to exit (after a drain).
    pub fn join(self) {
        for t in self.threads {
            let _ = t.join();
        }
    }
}
