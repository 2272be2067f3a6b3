//! The server configuration: built once by Python (`covetpy.config.ServerConfig`), read once here.

use std::path::PathBuf;
use std::time::Duration;

use crate::protocol::h1::Limits;

/// Where a worker listens.
#[derive(Debug, Clone)]
pub enum Bind {
    /// A TCP address; each IO thread binds its own socket with SO_REUSEPORT (a server started
    /// by itself; `covetpy run` passes `Fd`: its supervisor binds one socket per worker slot).
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
    /// Admission control: in-flight bound, queue and its wait.
    pub admission: Admission,
    /// Time a handler may take to produce its response (504 after); None for no limit.
    /// Routes may override it (`Dispatch::timeout`).
    pub request_timeout: Option<Duration>,
    /// Liveness probe path answered by the IO thread (None: disabled).
    pub livez_path: Option<String>,
    /// Readiness probe path answered by the IO thread, 503 while draining (None: disabled).
    pub readyz_path: Option<String>,
    /// Start-up probe path answered by the IO thread, 200 once start-up finished.
    pub startupz_path: Option<String>,
    /// Accept B3 trace headers when `traceparent` is absent.
    pub b3: bool,
    /// How long an IO thread keeps polling after an answer before it sleeps (zero: it
    /// sleeps at once); epoll driver only (`server/spin.rs`).
    pub busy_poll: Duration,
    /// WebSocket limits and keep-alive.
    pub ws: WsConfig,
    /// Which HTTP versions are served (`--http`).
    pub http: HttpVersions,
    /// HTTP/2 settings and defences.
    pub h2: H2Config,
    /// TLS: None serves cleartext.
    pub tls: Option<TlsConfig>,
}

/// Which HTTP versions a listener serves (`covetpy run --http`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum HttpVersions {
    /// HTTP/1.1 and HTTP/2: chosen by ALPN over TLS, by the connection preface in cleartext.
    #[default]
    Auto,
    /// HTTP/1.1 only.
    H1,
    /// HTTP/2 only (h2c with prior knowledge in cleartext).
    H2,
}

/// HTTP/2 settings sent to clients, and the budgets against the known HTTP/2 attacks.
#[derive(Debug, Clone)]
pub struct H2Config {
    /// SETTINGS_MAX_CONCURRENT_STREAMS.
    pub max_concurrent_streams: u32,
    /// SETTINGS_INITIAL_WINDOW_SIZE: what a client may send of one body before we read it.
    pub initial_stream_window: u32,
    /// The connection's receive window (WINDOW_UPDATE on stream 0 right after the preface).
    pub initial_connection_window: u32,
    /// SETTINGS_MAX_FRAME_SIZE.
    pub max_frame_size: u32,
    /// SETTINGS_MAX_HEADER_LIST_SIZE, also the bound on a header block across CONTINUATION
    /// frames and on what HPACK may decode to.
    pub max_header_list_size: u32,
    /// Keep-alive PING on an idle connection; None for none.
    pub ping_interval: Option<Duration>,
    /// How long a keep-alive PING waits for its ACK before the connection is closed.
    pub ping_timeout: Duration,
    /// Streams a client may reset per connection in [`H2Config::RESET_WINDOW`] (rapid reset).
    pub max_resets: u32,
}

impl H2Config {
    /// The window `max_resets` counts in.
    pub const RESET_WINDOW: Duration = Duration::from_secs(10);
}

impl Default for H2Config {
    fn default() -> Self {
        H2Config {
            max_concurrent_streams: 100,
            initial_stream_window: 1 << 20,
            initial_connection_window: 2 << 20,
            max_frame_size: 16_384,
            max_header_list_size: 65_536,
            ping_interval: Some(Duration::from_secs(20)),
            ping_timeout: Duration::from_secs(20),
            max_resets: 200,
        }
    }
}

/// Whether and how client certificates are asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientVerify {
    /// Not asked for.
    Off,
    /// Asked for, verified when sent; a client without one is served without an identity.
    Optional,
    /// Required: a handshake without a valid client certificate fails.
    Required,
}

/// TLS of a listener: the files, read at start-up and re-read when they change.
#[derive(Debug, Clone)]
pub struct TlsConfig {
    /// (certificate chain, private key) PEM files; the first answers clients whose SNI name
    /// no certificate has (or who send none).
    pub certs: Vec<(PathBuf, PathBuf)>,
    /// CA certificates client certificates are verified against.
    pub ca: Option<PathBuf>,
    /// Client certificates.
    pub client_verify: ClientVerify,
    /// Accept TLS 1.2 too (TLS 1.3 only otherwise).
    pub allow_tls12: bool,
    /// Time a handshake may take from accept.
    pub handshake_timeout: Duration,
    /// How often the files are checked for changes; None never.
    pub reload_interval: Option<Duration>,
}

/// What a full send queue does to a broadcast (`--ws-queue-policy`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum QueuePolicy {
    /// The oldest queued message goes to make room: a slow subscriber misses messages.
    #[default]
    DropOldest,
    /// The socket is closed with 1008: a slow subscriber reconnects and catches up.
    Disconnect,
}

/// WebSocket settings (`covetpy run --ws-*`).
#[derive(Debug, Clone)]
pub struct WsConfig {
    /// How often an idle socket is pinged (None: never).
    pub ping_interval: Option<Duration>,
    /// How long a ping may wait for its pong before the socket is closed with 1011.
    pub ping_timeout: Duration,
    /// How long a close frame we sent may wait for the peer's before the TCP connection goes.
    pub close_timeout: Duration,
    /// The largest message accepted, after decompression (1009 beyond).
    pub max_message: usize,
    /// Open WebSockets per worker; upgrades beyond it are answered 503.
    pub max_connections: usize,
    /// Messages queued for sending per socket (a handler's send waits beyond it).
    pub max_queue: usize,
    /// What a broadcast does to a socket whose queue is full.
    pub queue_policy: QueuePolicy,
    /// permessage-deflate (RFC 7692): off unless enabled.
    pub deflate: crate::protocol::ws::deflate::DeflateConfig,
}

impl Default for WsConfig {
    fn default() -> Self {
        WsConfig {
            ping_interval: Some(Duration::from_secs(20)),
            ping_timeout: Duration::from_secs(20),
            close_timeout: Duration::from_secs(5),
            max_message: 1 << 20,
            max_connections: 10_000,
            max_queue: 64,
            queue_policy: QueuePolicy::DropOldest,
            deflate: crate::protocol::ws::deflate::DeflateConfig::default(),
        }
    }
}

/// How many requests a worker lets into its handlers at once, and what waits.
#[derive(Debug, Clone)]
pub struct Admission {
    /// Requests handed to handlers and not yet answered.
    pub max_inflight: usize,
    /// Requests waiting for a slot; beyond it a request is refused at once (503).
    pub queue_size: usize,
    /// How long a request may wait for a slot before it is refused (503).
    pub queue_timeout: Duration,
}

impl Default for Admission {
    fn default() -> Self {
        Admission {
            max_inflight: 1024,
            queue_size: 1024,
            queue_timeout: Duration::from_secs(1),
        }
    }
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
            admission: Admission::default(),
            request_timeout: Some(Duration::from_secs(60)),
            livez_path: Some("/livez".into()),
            readyz_path: Some("/readyz".into()),
            startupz_path: Some("/startupz".into()),
            b3: false,
            access_log: false,
            busy_poll: Duration::ZERO,
            ws: WsConfig::default(),
            http: HttpVersions::Auto,
            h2: H2Config::default(),
            tls: None,
        }
    }
}
