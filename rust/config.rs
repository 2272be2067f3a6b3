//! The server configuration: built once by Python (`covetpy.config.ServerConfig`), read once here.

use std::path::PathBuf;
use std::time::Duration;

use crate::protocol::h1::Limits;

/// Where a worker listens.
#[derive(Debug, Clone)]
pub enum Bind {
    /// A TCP address; each IO thread binds its own socket with SO_REUSEPORT.
    Tcp { host: String, port: u16 },
    /// A listening socket inherited from the supervisor (a Unix socket, or TCP from a socket
    /// manager); every IO thread accepts on a duplicate of it.
    Fd(i32),
    /// A Unix socket path bound by this process (single-process use and tests).
    Uds(PathBuf),
}

/// Which IO driver the IO threads run (`covetpy run --io`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum IoDriver {
    /// The driver measured faster here: epoll for now (adrs/0005; `io::Driver::resolve`).
    #[default]
    Auto,
    /// tokio's epoll reactor.
    Epoll,
    /// io_uring; start-up fails if the kernel refuses it.
    Uring,
}

/// Everything the Rust server needs, fixed for the life of a worker.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// Where to listen.
    pub bind: Bind,
    /// listen(2) backlog.
    pub backlog: i32,
    /// IO threads per worker process, each with its own event loop and listening socket.
    pub io_threads: usize,
    /// The IO driver of those threads.
    pub io: IoDriver,
    /// Protocol limits (request line, header section, body).
    pub limits: Limits,
    /// Time allowed to receive a complete request head once it has started (408 after).
    pub header_timeout: Duration,
    /// Time allowed to receive a request body once its head is in (408 after).
    pub body_timeout: Duration,
    /// Time one write may take (a client that stops reading); the connection is closed after.
    pub write_timeout: Duration,
    /// Idle time allowed between keep-alive requests before the connection is closed.
    pub keep_alive_timeout: Duration,
    /// Open connections per worker; beyond it new connections get a 503 and are closed.
    pub max_connections: usize,
    /// Requests read ahead from one connection before earlier ones are answered (pipelining).
    pub max_pipeline: usize,
    /// Deadline for in-flight requests when draining.
    pub drain_timeout: Duration,
    /// Write one access-log line per request to stderr.
    pub access_log: bool,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            bind: Bind::Tcp {
                host: "127.0.0.1".into(),
                port: 8000,
            },
            backlog: 1024,
            io_threads: 1,
            io: IoDriver::Auto,
            limits: Limits::default(),
            header_timeout: Duration::from_secs(10),
            body_timeout: Duration::from_secs(30),
            write_timeout: Duration::from_secs(30),
            keep_alive_timeout: Duration::from_secs(5),
            max_connections: 10_000,
            max_pipeline: 32,
            drain_timeout: Duration::from_secs(30),
            access_log: false,
        }
    }
}
