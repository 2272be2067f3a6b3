//! The writer: one [`Registry`] per worker process, updated by its IO threads and its Python
//! thread without locks, allocation or system calls.

use std::fs::{self, OpenOptions};
use std::io;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::time::Duration;

use super::layout::{self, Layout};
use super::layout::{
    BODY_BOUNDS, DURATION_BOUNDS_NS, GIL_BOUNDS_NS, H_ACTIVE, H_AUTH_FAILURES, H_CAPACITY,
    H_CLOSED, H_GIL, H_GIL_SUM, H_MAGIC, H_OVERFLOW, H_PID, H_ROUTES, H_ROUTES_LEN, H_SHED,
    H_TIMEOUTS, H_TLS_FAILURES, H_VERSION, H_WORDS, H_WS_CLOSES, H_WS_DROPPED, H_WS_IN,
    H_WS_IN_BYTES, H_WS_OPEN, H_WS_OUT, H_WS_OUT_BYTES, MAGIC, S_DURATION, S_DURATION_SUM,
    S_REQUEST, S_REQUEST_SUM, S_RESPONSE, S_RESPONSE_SUM, VERSION, WS_CLOSE_CODES,
};
use super::map::Mapping;

/// Slots probed for a series before it goes to the overflow series. Linear probing averages
/// under 9 probes for a new key up to a 75%-full table, and 50 at 90%: 64 probes (8 cache
/// lines of keys) let the table fill to about 90% and bound the cost of a request once it is
/// full, instead of scanning all 2048 keys per request.
const MAX_PROBE: usize = 64;

/// Why a request was refused before reaching a handler (`covetpy_requests_shed_total{reason}`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ShedReason {
    /// The admission wait queue was full.
    QueueFull = 0,
    /// No handler slot came free within the queue timeout.
    QueueTimeout = 1,
    /// The connection limit was reached.
    MaxConnections = 2,
    /// The rate limiter refused the client.
    RateLimited = 3,
}

impl ShedReason {
    /// Every reason, in the order of their counters in the file.
    pub const ALL: [ShedReason; 4] = [
        ShedReason::QueueFull,
        ShedReason::QueueTimeout,
        ShedReason::MaxConnections,
        ShedReason::RateLimited,
    ];

    /// The `reason` label value.
    pub fn label(self) -> &'static str {
        match self {
            ShedReason::QueueFull => "queue_full",
            ShedReason::QueueTimeout => "queue_timeout",
            ShedReason::MaxConnections => "max_connections",
            ShedReason::RateLimited => "rate_limited",
        }
    }
}

/// Why a TLS handshake failed (`covetpy_tls_handshake_failures_total{reason}`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TlsFailure {
    /// The handshake did not finish within its time limit.
    Timeout = 0,
    /// The client did not speak TLS (plain HTTP, or other bytes, on the TLS port).
    NotTls = 1,
    /// The client's certificate was invalid, or it rejected the server's.
    BadCertificate = 2,
    /// Client authentication is required and the client sent no certificate.
    NoCertificate = 3,
    /// No protocol version both sides support.
    ProtocolVersion = 4,
    /// No ALPN protocol both sides support.
    NoAlpn = 5,
    /// Any other failure.
    Other = 6,
}

impl TlsFailure {
    /// Every reason, in the order of their counters in the file.
    pub const ALL: [TlsFailure; 7] = [
        TlsFailure::Timeout,
        TlsFailure::NotTls,
        TlsFailure::BadCertificate,
        TlsFailure::NoCertificate,
        TlsFailure::ProtocolVersion,
        TlsFailure::NoAlpn,
        TlsFailure::Other,
    ];

    /// The `reason` label value.
    pub fn label(self) -> &'static str {
        match self {
            TlsFailure::Timeout => "timeout",
            TlsFailure::NotTls => "not_tls",
            TlsFailure::BadCertificate => "bad_certificate",
            TlsFailure::NoCertificate => "no_certificate",
            TlsFailure::ProtocolVersion => "protocol_version",
            TlsFailure::NoAlpn => "no_alpn",
            TlsFailure::Other => "other",
        }
    }
}

/// Why an authentication or authorization check refused a request
/// (`covetpy_auth_failures_total{reason}`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthFailure {
    /// No credential on a route that needs one.
    Missing = 0,
    /// A credential that is not well-formed (bad base64, not three parts, bad JSON).
    Malformed = 1,
    /// A token longer than the layer's `max_token_bytes`.
    TooLong = 2,
    /// A token whose `alg` is not on the allow-list, or does not fit its key.
    Algorithm = 3,
    /// No key with the token's `kid` (after the one refresh allowed).
    UnknownKey = 4,
    /// The signature does not verify.
    Signature = 5,
    /// `exp` is past (beyond the leeway).
    Expired = 6,
    /// `nbf` is in the future (beyond the leeway).
    NotYetValid = 7,
    /// `iat` is in the future (beyond the leeway).
    IssuedInFuture = 8,
    /// `iss` is not the configured issuer.
    Issuer = 9,
    /// `aud` names none of the configured audiences.
    Audience = 10,
    /// A required claim is absent or ill-typed.
    Claim = 11,
    /// An API key that is not (or no longer) known.
    UnknownApiKey = 12,
    /// Bad user name or password (Python-verified schemes).
    BadCredentials = 13,
    /// Authenticated, without a required scope.
    InsufficientScope = 14,
    /// Authenticated, without a required role.
    InsufficientRole = 15,
    /// Authenticated, without a required permission.
    InsufficientPermission = 16,
    /// Any other refusal.
    Other = 17,
}

impl AuthFailure {
    /// Every reason, in the order of their counters in the file.
    pub const ALL: [AuthFailure; 18] = [
        AuthFailure::Missing,
        AuthFailure::Malformed,
        AuthFailure::TooLong,
        AuthFailure::Algorithm,
        AuthFailure::UnknownKey,
        AuthFailure::Signature,
        AuthFailure::Expired,
        AuthFailure::NotYetValid,
        AuthFailure::IssuedInFuture,
        AuthFailure::Issuer,
        AuthFailure::Audience,
        AuthFailure::Claim,
        AuthFailure::UnknownApiKey,
        AuthFailure::BadCredentials,
        AuthFailure::InsufficientScope,
        AuthFailure::InsufficientRole,
        AuthFailure::InsufficientPermission,
        AuthFailure::Other,
    ];

    /// The `reason` label value (also the audit log's `reason`).
    pub fn label(self) -> &'static str {
        match self {
            AuthFailure::Missing => "missing",
            AuthFailure::Malformed => "malformed",
            AuthFailure::TooLong => "too_long",
            AuthFailure::Algorithm => "algorithm",
            AuthFailure::UnknownKey => "unknown_key",
            AuthFailure::Signature => "signature",
            AuthFailure::Expired => "expired",
            AuthFailure::NotYetValid => "not_yet_valid",
            AuthFailure::IssuedInFuture => "issued_in_future",
            AuthFailure::Issuer => "issuer",
            AuthFailure::Audience => "audience",
            AuthFailure::Claim => "claim",
            AuthFailure::UnknownApiKey => "unknown_api_key",
            AuthFailure::BadCredentials => "bad_credentials",
            AuthFailure::InsufficientScope => "insufficient_scope",
            AuthFailure::InsufficientRole => "insufficient_role",
            AuthFailure::InsufficientPermission => "insufficient_permission",
            AuthFailure::Other => "other",
        }
    }

    /// The reason of this label (Python reports its own decisions by label).
    pub fn from_label(label: &str) -> AuthFailure {
        AuthFailure::ALL
            .into_iter()
            .find(|r| r.label() == label)
            .unwrap_or(AuthFailure::Other)
    }
}

/// The metrics of one worker process, in a file of a shared directory that [`super::scrape`]
/// reads from any process.
///
/// Create it in each worker after the fork (a mapping inherited through `fork` would make two
/// processes write one file under one pid). Share it between threads through an `Arc`.
pub struct Registry {
    map: Mapping,
    layout: Layout,
    /// Routes in the file's table; ids at or past it are recorded as unmatched.
    routes: usize,
    /// 64 - log2(capacity): the hash keeps its top bits.
    shift: u32,
    max_probe: usize,
}

impl Registry {
    /// Creates `dir/covetpy-{pid}.metrics` for this process, naming `routes` (route ids are
    /// indexes into it). An existing file of the same name (a former process with this pid) is
    /// replaced; the server should empty `dir` when it starts so that totals start from zero.
    ///
    /// Put `dir` on a tmpfs (`/dev/shm`, `$XDG_RUNTIME_DIR`): on a disk file system the kernel
    /// writes dirty pages back every few seconds and each first write after that faults.
    pub fn create(dir: &Path, routes: &[String]) -> io::Result<Registry> {
        let name = format!(
            "{}{}{}",
            layout::FILE_PREFIX,
            std::process::id(),
            layout::FILE_SUFFIX
        );
        Self::create_at(&dir.join(name), routes)
    }

    /// Creates the metrics file at `path` (tests use it to play several processes). A scrape
    /// reads it only if its name is `covetpy-*.metrics`.
    pub fn create_at(path: &Path, routes: &[String]) -> io::Result<Registry> {
        Self::open(path, routes, layout::CAPACITY, std::process::id())
    }

    /// Creates the file with `capacity` series slots, claiming to be process `pid`.
    ///
    /// The file is built under a hidden temporary name and renamed into place once complete,
    /// so a scrape never maps a file still being sized (pages past the end of a file raise
    /// SIGBUS) and a reader still mapping a replaced file keeps its old inode.
    pub(super) fn open(
        path: &Path,
        routes: &[String],
        capacity: usize,
        pid: u32,
    ) -> io::Result<Registry> {
        let invalid = |what: &str| io::Error::new(io::ErrorKind::InvalidInput, what.to_string());
        if routes.len() > layout::MAX_ROUTES {
            return Err(invalid("too many routes for the metrics file"));
        }
        if routes.iter().any(|r| r.len() > u32::MAX as usize) {
            return Err(invalid("route template too long for the metrics file"));
        }
        let table = layout::encode_routes(routes);
        let layout = Layout::new(capacity, table.len()).ok_or_else(|| {
            invalid("metrics capacity must be a power of two or route table too large")
        })?;
        let tmp = temp_path(path)?;
        let built = Self::build(&tmp, &table, layout, routes.len(), pid).and_then(|map| {
            fs::rename(&tmp, path)?;
            Ok(map)
        });
        if built.is_err() {
            let _ = fs::remove_file(&tmp);
        }
        Ok(Registry {
            map: built?,
            layout,
            routes: routes.len(),
            shift: 64 - capacity.trailing_zeros(),
            max_probe: MAX_PROBE.min(capacity),
        })
    }

    /// Writes a complete file at `tmp` and returns its mapping.
    fn build(
        tmp: &Path,
        table: &[u8],
        layout: Layout,
        routes: usize,
        pid: u32,
    ) -> io::Result<Mapping> {
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .open(tmp)?;
        // A sparse file of zeros: every counter starts at 0 and every key slot free.
        file.set_len(layout.bytes() as u64)?;
        // Written through the file, not the mapping: readers read it the same way, and it never
        // changes afterwards. The page cache makes it visible to the mapping too.
        file.write_all_at(table, layout::ROUTES_OFFSET as u64)?;
        let map = Mapping::new(&file, layout.bytes(), true)?;
        let header = [
            (H_VERSION, VERSION),
            (H_PID, u64::from(pid)),
            (H_CAPACITY, layout.capacity as u64),
            (H_ROUTES, routes as u64),
            (H_ROUTES_LEN, layout.routes_len as u64),
            (H_WORDS, layout.words as u64),
        ];
        for (word, value) in header {
            map.word(word).store(value, Ordering::Relaxed);
        }
        // Last, and released: a reader that acquires the magic sees the header above.
        map.word(H_MAGIC).store(MAGIC, Ordering::Release);
        Ok(map)
    }

    /// Records one finished request: its route id (`None` if it matched no route), method,
    /// response status, time from request head to response written, and body sizes in bytes.
    pub fn record(
        &self,
        route: Option<usize>,
        method: &[u8],
        status: u16,
        duration: Duration,
        request_body: u64,
        response_body: u64,
    ) {
        debug_assert!(
            route.is_none_or(|r| r < self.routes),
            "route id {route:?} past the table"
        );
        let route = route.filter(|&r| r < self.routes);
        let key = layout::series_key(route, layout::method_code(method), status);
        let slot = self.slot(key).unwrap_or_else(|| {
            self.add(H_OVERFLOW, 1);
            self.layout.capacity
        });
        let base = self.layout.series_word(slot);
        let ns = nanos(duration);
        self.add(
            base + S_DURATION + layout::bucket(&DURATION_BOUNDS_NS, ns),
            1,
        );
        self.add(base + S_DURATION_SUM, ns);
        self.add(
            base + S_REQUEST + layout::bucket(&BODY_BOUNDS, request_body),
            1,
        );
        self.add_nonzero(base + S_REQUEST_SUM, request_body);
        self.add(
            base + S_RESPONSE + layout::bucket(&BODY_BOUNDS, response_body),
            1,
        );
        self.add_nonzero(base + S_RESPONSE_SUM, response_body);
    }

    /// The slot of series `key`, claimed if new; `None` if it is not within `max_probe` slots
    /// of its home. Slots are never freed, so every thread and process probing for one key
    /// stops at the same slot: the first that holds the key or that it claims.
    fn slot(&self, key: u64) -> Option<usize> {
        let mask = self.layout.capacity - 1;
        // Fibonacci hashing: the multiply spreads status, method and route into the top bits.
        let mut slot = (key.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> self.shift) as usize;
        for _ in 0..self.max_probe {
            let cell = self.map.word(self.layout.keys + slot);
            let seen = cell.load(Ordering::Relaxed);
            if seen == key {
                return Some(slot);
            }
            // Relaxed suffices: the counters of a new slot are already zero in the file, so
            // nothing needs to be published with the key.
            if seen == 0 {
                match cell.compare_exchange(0, key, Ordering::Relaxed, Ordering::Relaxed) {
                    Ok(_) => return Some(slot),
                    Err(other) if other == key => return Some(slot),
                    Err(_) => {}
                }
            }
            slot = (slot + 1) & mask;
        }
        None
    }

    /// Counts one more request in flight; pair with exactly one [`Registry::active_dec`].
    pub fn active_inc(&self) {
        self.add(H_ACTIVE, 1);
    }

    /// Counts one request fewer in flight.
    pub fn active_dec(&self) {
        // Two's complement: the reader reads the word as an i64.
        self.map.word(H_ACTIVE).fetch_sub(1, Ordering::Relaxed);
    }

    /// Counts a request refused before it reached a handler.
    pub fn shed(&self, reason: ShedReason) {
        self.add(H_SHED + reason as usize, 1);
    }

    /// Counts a TLS handshake that failed.
    pub fn tls_failure(&self, reason: TlsFailure) {
        self.add(H_TLS_FAILURES + reason as usize, 1);
    }

    /// Counts a request refused by authentication or authorization.
    pub fn auth_failure(&self, reason: AuthFailure) {
        self.add(H_AUTH_FAILURES + reason as usize, 1);
    }

    /// Counts a 504 the server answered because a handler exceeded its time limit.
    pub fn timeout(&self) {
        self.add(H_TIMEOUTS, 1);
    }

    /// Records how long a request waited between being queued by an IO thread and being taken
    /// by the Python thread.
    pub fn gil_wait(&self, wait: Duration) {
        let ns = nanos(wait);
        self.add(H_GIL + layout::bucket(&GIL_BOUNDS_NS, ns), 1);
        self.add(H_GIL_SUM, ns);
    }

    /// Counts a WebSocket opened (`true`) or closed.
    pub fn ws_open(&self, open: bool) {
        match open {
            true => self.add(H_WS_OPEN, 1),
            false => {
                self.map.word(H_WS_OPEN).fetch_sub(1, Ordering::Relaxed);
            }
        }
    }

    /// Counts a message received of `bytes` bytes (after decompression).
    pub fn ws_in(&self, bytes: usize) {
        self.add(H_WS_IN, 1);
        self.add(H_WS_IN_BYTES, bytes as u64);
    }

    /// Counts `messages` sent in `bytes` bytes of frames.
    pub fn ws_out(&self, messages: usize, bytes: usize) {
        self.add_nonzero(H_WS_OUT, messages as u64);
        self.add_nonzero(H_WS_OUT_BYTES, bytes as u64);
    }

    /// Counts broadcast messages a full send queue dropped.
    pub fn ws_dropped(&self, n: u64) {
        self.add_nonzero(H_WS_DROPPED, n);
    }

    /// Counts a WebSocket closed with `code`.
    pub fn ws_closed(&self, code: u16) {
        let i = WS_CLOSE_CODES
            .iter()
            .position(|c| *c == code)
            .unwrap_or(WS_CLOSE_CODES.len());
        self.add(H_WS_CLOSES + i, 1);
    }

    #[inline]
    fn add(&self, word: usize, value: u64) {
        self.map.word(word).fetch_add(value, Ordering::Relaxed);
    }

    /// Skips adding 0: the atomic adds are most of `record`'s cost (about 8-10 ns each, 6 of
    /// them, on the 2-core EPYC VM that measured `record` at 57-73 ns), and most requests
    /// (GET, HEAD) have no body.
    #[inline]
    fn add_nonzero(&self, word: usize, value: u64) {
        if value != 0 {
            self.add(word, value);
        }
    }
}

/// Marks the metrics file of dead worker `pid` in `dir` closed, as its own drop would have had
/// it exited cleanly: its counts stay in later scrapes, its in-flight gauge no longer, even if
/// the pid is reused (a scrape otherwise takes a live process with that pid for the worker).
/// `Ok(false)` if there is no such metrics file.
pub fn mark_closed(dir: &Path, pid: u32) -> io::Result<bool> {
    let path = dir.join(format!(
        "{}{pid}{}",
        layout::FILE_PREFIX,
        layout::FILE_SUFFIX
    ));
    let file = match OpenOptions::new().read(true).write(true).open(&path) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(false),
        Err(e) => return Err(e),
    };
    // Only the header is touched: a file too short for it is not one of ours.
    let header = (H_WORDS + 1) * 8;
    if file.metadata()?.len() < header as u64 {
        return Ok(false);
    }
    let map = Mapping::new(&file, header, true)?;
    if map.word(H_MAGIC).load(Ordering::Acquire) != MAGIC
        || map.word(H_PID).load(Ordering::Relaxed) != u64::from(pid)
    {
        return Ok(false);
    }
    map.word(H_CLOSED).store(1, Ordering::Release);
    Ok(true)
}

impl Drop for Registry {
    /// Marks the file closed: its counters stay in every later scrape, its gauge no longer.
    fn drop(&mut self) {
        self.map.word(H_CLOSED).store(1, Ordering::Release);
    }
}

/// A duration in nanoseconds, saturating (u64 nanoseconds last 584 years). A duration sum
/// wraps after 584 years of request time per series: 213 days of a constant 1000 requests in
/// flight on one series of one worker, a reset that Prometheus' `rate()` absorbs.
fn nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

/// `dir/.name.tmp`: hidden and without the `.metrics` suffix, so no scrape reads it.
fn temp_path(path: &Path) -> io::Result<PathBuf> {
    let name = path.file_name().ok_or_else(|| {
        io::Error::new(io::ErrorKind::InvalidInput, "metrics path has no file name")
    })?;
    let mut tmp = std::ffi::OsString::from(".");
    tmp.push(name);
    tmp.push(".tmp");
    Ok(path.with_file_name(tmp))
}
