//! The metrics file: where every word lives, the bucket bounds, and the series key.
//!
//! One file per worker process, laid out as native-endian `u64` words at 8-aligned offsets (the
//! writer and every reader run on the same machine):
//!
//! ```text
//! offset 0     header      128 words: identity (magic, version, pid, closed, sizes) on line 0,
//!                          the in-flight gauge alone on line 1, shed/timeout/overflow counters
//!                          on line 2, the GIL-wait histogram on lines 3-5, WebSocket totals on
//!                          lines 6-7, TLS handshake failures on line 8, lines 9-15 free
//! offset 1024  routes      `routes` × (u32 length, UTF-8 bytes), padded to 64 bytes
//! then         keys        `capacity` words; 0 = free slot, else a series key (see `series_key`)
//! then         series      `capacity + 1` blocks of 48 words; block `capacity` is the overflow
//! ```
//!
//! Every section starts on a 64-byte boundary and the mapping on a page boundary, so every word
//! is 8-aligned for `AtomicU64`. The magic is stored last, with release ordering, once the rest
//! of the header and the route table are in place: a reader that sees it sees a whole header.
//! A change to any offset or bucket bound must bump [`VERSION`]; readers skip other versions.

/// The first word of a finished file: "CovetPyM" read as a little-endian u64.
pub(super) const MAGIC: u64 = u64::from_le_bytes(*b"CovetPyM");
/// The format version; readers skip files of another version. 3: the header grew to 128
/// words for the TLS handshake failures (version 2 files have their route table at 512).
pub(super) const VERSION: u64 = 3;

/// Names of metrics files: `covetpy-{pid}.metrics`.
pub(super) const FILE_PREFIX: &str = "covetpy-";
/// See [`FILE_PREFIX`].
pub(super) const FILE_SUFFIX: &str = ".metrics";

/// A cache line: sections and series blocks start on one, so writers of one series do not
/// bounce a line that another series' writers use.
const LINE: usize = 64;

// Header words. Line 0 is written once at creation (and `H_CLOSED` once at drop).
pub(super) const H_MAGIC: usize = 0;
pub(super) const H_VERSION: usize = 1;
pub(super) const H_PID: usize = 2;
pub(super) const H_CLOSED: usize = 3;
pub(super) const H_CAPACITY: usize = 4;
pub(super) const H_ROUTES: usize = 5;
pub(super) const H_ROUTES_LEN: usize = 6;
pub(super) const H_WORDS: usize = 7;
/// In-flight requests (a two's-complement i64), alone on line 1: every IO thread moves it twice
/// per request.
pub(super) const H_ACTIVE: usize = 8;
/// Shed requests by [`super::ShedReason`], 4 words.
pub(super) const H_SHED: usize = 16;
pub(super) const H_TIMEOUTS: usize = 20;
/// Requests recorded into the overflow series.
pub(super) const H_OVERFLOW: usize = 21;
pub(super) const H_GIL_SUM: usize = 24;
pub(super) const H_GIL: usize = 25;
/// WebSocket totals of the worker, lines 6-7: open sockets (a two's-complement i64), messages
/// and bytes in and out, broadcast messages dropped, then closes by [`WS_CLOSE_CODES`] (the
/// last word: every other code).
pub(super) const H_WS_OPEN: usize = 48;
pub(super) const H_WS_IN: usize = 49;
pub(super) const H_WS_IN_BYTES: usize = 50;
pub(super) const H_WS_OUT: usize = 51;
pub(super) const H_WS_OUT_BYTES: usize = 52;
pub(super) const H_WS_DROPPED: usize = 53;
pub(super) const H_WS_CLOSES: usize = 54;
/// The close codes counted apart; the rest are counted as `other`.
pub(super) const WS_CLOSE_CODES: [u16; 9] = [1000, 1001, 1002, 1003, 1006, 1007, 1008, 1009, 1011];
/// TLS handshakes that failed by [`super::TlsFailure`], 7 words on line 8 (lines 0-7 were full).
pub(super) const H_TLS_FAILURES: usize = 64;
/// Requests refused by authentication or authorization by [`super::AuthFailure`], 18 words
/// from line 9.
pub(super) const H_AUTH_FAILURES: usize = 72;
/// The header is 1024 bytes; the route table starts right after it.
pub(super) const HEADER_WORDS: usize = 128;
/// Byte offset of the route table.
pub(super) const ROUTES_OFFSET: usize = HEADER_WORDS * 8;

/// `http.server.request.duration` bucket bounds: the OpenTelemetry semantic conventions'
/// advisory boundaries (0.005 … 10 s), in nanoseconds.
pub(super) const DURATION_BOUNDS_NS: [u64; 14] = [
    5_000_000,
    10_000_000,
    25_000_000,
    50_000_000,
    75_000_000,
    100_000_000,
    250_000_000,
    500_000_000,
    750_000_000,
    1_000_000_000,
    2_500_000_000,
    5_000_000_000,
    7_500_000_000,
    10_000_000_000,
];

/// Body size bucket bounds in bytes. The conventions advise none. `0` separates bodiless
/// requests (most GETs) from the rest; then powers of 4 from 64 B to 16 MiB, which covers the
/// default 10 MiB `max_body_size`. Factor 4 instead of 2 halves the bucket count (11 against
/// 20 bounds for this span): each bound is one more Prometheus series per label set and per
/// histogram, and a size known within 4× is enough to size limits and compression thresholds.
pub(super) const BODY_BOUNDS: [u64; 11] = [
    0,
    64,
    256,
    1 << 10,
    4 << 10,
    16 << 10,
    64 << 10,
    256 << 10,
    1 << 20,
    4 << 20,
    16 << 20,
];

/// GIL-wait bucket bounds: 1-2.5-5 steps from 10 µs (a wait-free hand-over costs a few µs)
/// to 1 s (beyond that the Python thread is blocked and the exact wait no longer matters).
pub(super) const GIL_BOUNDS_NS: [u64; 16] = [
    10_000,
    25_000,
    50_000,
    100_000,
    250_000,
    500_000,
    1_000_000,
    2_500_000,
    5_000_000,
    10_000_000,
    25_000_000,
    50_000_000,
    100_000_000,
    250_000_000,
    500_000_000,
    1_000_000_000,
];

/// Buckets stored per histogram: one per bound, plus the one above the last bound (+Inf).
/// Buckets are stored non-cumulative; the count is their sum, so `_count` always equals the
/// `+Inf` bucket even when a reader catches a request half-recorded.
pub(super) const DURATION_BUCKETS: usize = DURATION_BOUNDS_NS.len() + 1;
/// See [`DURATION_BUCKETS`].
pub(super) const BODY_BUCKETS: usize = BODY_BOUNDS.len() + 1;
/// See [`DURATION_BUCKETS`].
pub(super) const GIL_BUCKETS: usize = GIL_BOUNDS_NS.len() + 1;

// Words of one series block, relative to its start.
pub(super) const S_DURATION_SUM: usize = 0;
pub(super) const S_DURATION: usize = 1;
pub(super) const S_REQUEST_SUM: usize = S_DURATION + DURATION_BUCKETS;
pub(super) const S_REQUEST: usize = S_REQUEST_SUM + 1;
pub(super) const S_RESPONSE_SUM: usize = S_REQUEST + BODY_BUCKETS;
pub(super) const S_RESPONSE: usize = S_RESPONSE_SUM + 1;
/// 42 words used, padded to 48 (384 bytes, 6 whole cache lines).
pub(super) const SERIES_WORDS: usize = 48;

const _: () = assert!(S_RESPONSE + BODY_BUCKETS <= SERIES_WORDS);
const _: () = assert!((SERIES_WORDS * 8).is_multiple_of(LINE));
const _: () = assert!(H_GIL + GIL_BUCKETS <= H_WS_OPEN);
const _: () = assert!(H_WS_CLOSES + WS_CLOSE_CODES.len() < H_TLS_FAILURES);
const _: () = assert!((H_TLS_FAILURES * 8).is_multiple_of(LINE));
const _: () = assert!(H_TLS_FAILURES + super::TlsFailure::ALL.len() <= H_AUTH_FAILURES);
const _: () = assert!(H_AUTH_FAILURES + super::AuthFailure::ALL.len() <= HEADER_WORDS);

/// Series slots per file. Each series renders about 45 samples (3 histograms), so 2048 series
/// are ~92k samples, already past what one scrape target should expose: a full table means the
/// label set itself is the problem. The table costs 16 KiB of keys plus 768 KiB of series,
/// touched only as series appear.
pub(super) const CAPACITY: usize = 2048;
/// Largest capacity a reader accepts (bounds what a corrupt header can make it read).
pub(super) const MAX_CAPACITY: usize = 1 << 16;
/// Most routes a file can name: route ids are 32 bits in the key, and the bound keeps the
/// table small enough to read on every scrape.
pub(super) const MAX_ROUTES: usize = 1 << 20;
/// Most bytes of route table a reader accepts.
pub(super) const MAX_ROUTES_LEN: usize = 64 << 20;

/// Where the sections of a file of a given capacity and route table size are, in words.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Layout {
    /// Series slots (a power of two).
    pub capacity: usize,
    /// Bytes of the encoded route table.
    pub routes_len: usize,
    /// Word index of key slot 0.
    pub keys: usize,
    /// Word index of series block 0.
    pub series: usize,
    /// Words in the file.
    pub words: usize,
}

impl Layout {
    /// The layout, or `None` if the sizes are out of range (a corrupt or foreign header).
    pub fn new(capacity: usize, routes_len: usize) -> Option<Layout> {
        // At least 2 slots: the hash shifts by 64 - log2(capacity), which must be below 64.
        if !capacity.is_power_of_two() || !(2..=MAX_CAPACITY).contains(&capacity) {
            return None;
        }
        if routes_len > MAX_ROUTES_LEN {
            return None;
        }
        let keys = HEADER_WORDS + routes_len.next_multiple_of(LINE) / 8;
        let series = keys + (capacity * 8).next_multiple_of(LINE) / 8;
        let words = series + (capacity + 1) * SERIES_WORDS;
        Some(Layout {
            capacity,
            routes_len,
            keys,
            series,
            words,
        })
    }

    /// File size in bytes.
    pub fn bytes(&self) -> usize {
        self.words * 8
    }

    /// First word of the series block in `slot` (`capacity` is the overflow series).
    pub fn series_word(&self, slot: usize) -> usize {
        self.series + slot * SERIES_WORDS
    }
}

/// The known methods of the semantic conventions (RFC 9110 and PATCH), then `_OTHER` for any
/// other, so a client sending made-up methods cannot grow the series table.
pub(super) const METHODS: [&str; 10] = [
    "GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "TRACE", "CONNECT", "_OTHER",
];

/// The index of `method` in [`METHODS`]. Case-sensitive, as the conventions require: `get` is
/// `_OTHER`.
pub(super) fn method_code(method: &[u8]) -> u8 {
    match method {
        b"GET" => 0,
        b"HEAD" => 1,
        b"POST" => 2,
        b"PUT" => 3,
        b"DELETE" => 4,
        b"PATCH" => 5,
        b"OPTIONS" => 6,
        b"TRACE" => 7,
        b"CONNECT" => 8,
        _ => 9,
    }
}

/// Set in every key so that no key is 0, the free-slot marker.
const CLAIMED: u64 = 1 << 63;

/// A series key: bit 63 set, route id + 1 in bits 24..56 (0 = no route), method code in bits
/// 16..24, status in bits 0..16. `route` must be below [`MAX_ROUTES`].
pub(super) fn series_key(route: Option<usize>, method: u8, status: u16) -> u64 {
    let route = route.map_or(0, |r| r as u64 + 1);
    CLAIMED | (route << 24) | (u64::from(method) << 16) | u64::from(status)
}

/// The labels of a series key, as stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Key {
    /// Route id, `None` for requests that matched no route.
    pub route: Option<usize>,
    /// Index into [`METHODS`].
    pub method: u8,
    /// Response status code.
    pub status: u16,
}

/// Decodes a key written by [`series_key`]; `None` for a free slot or a malformed key.
pub(super) fn decode_key(key: u64) -> Option<Key> {
    if key & CLAIMED == 0 || (key >> 56) & 0x7f != 0 {
        return None;
    }
    let route = ((key >> 24) & 0xffff_ffff) as usize;
    let method = ((key >> 16) & 0xff) as u8;
    if usize::from(method) >= METHODS.len() {
        return None;
    }
    Some(Key {
        route: route.checked_sub(1),
        method,
        status: key as u16,
    })
}

/// The bucket of `value` among `bounds`: the first bound `value` does not exceed (Prometheus'
/// `le` is an inclusive upper bound), or `bounds.len()` for the +Inf bucket.
pub(super) fn bucket(bounds: &[u64], value: u64) -> usize {
    bounds.partition_point(|&b| b < value)
}

/// Encodes the route table: each template as a u32 little-endian length and its bytes.
pub(super) fn encode_routes(routes: &[String]) -> Vec<u8> {
    let mut out = Vec::with_capacity(routes.iter().map(|r| 4 + r.len()).sum());
    for r in routes {
        out.extend_from_slice(&(r.len() as u32).to_le_bytes());
        out.extend_from_slice(r.as_bytes());
    }
    out
}

/// Decodes `count` templates; `None` if the table is short, long or not UTF-8.
pub(super) fn decode_routes(mut table: &[u8], count: usize) -> Option<Vec<String>> {
    let mut routes = Vec::with_capacity(count.min(MAX_ROUTES));
    for _ in 0..count {
        let (len, rest) = table.split_first_chunk::<4>()?;
        let len = u32::from_le_bytes(*len) as usize;
        let (route, rest) = rest.split_at_checked(len)?;
        routes.push(String::from_utf8(route.to_vec()).ok()?);
        table = rest;
    }
    table.is_empty().then_some(routes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sections_are_line_aligned() {
        let l = Layout::new(CAPACITY, 13).unwrap();
        assert_eq!(l.keys * 8 % LINE, 0);
        assert_eq!(l.series * 8 % LINE, 0);
        assert_eq!(l.series_word(5) * 8 % LINE, 0);
        assert_eq!(l.words, l.series_word(CAPACITY + 1));
        assert!(Layout::new(3, 0).is_none());
        assert!(Layout::new(1, 0).is_none());
        assert!(Layout::new(MAX_CAPACITY * 2, 0).is_none());
    }

    #[test]
    fn key_round_trips() {
        for (route, method, status) in [
            (None, 0, 200),
            (Some(0), 9, 599),
            (Some(MAX_ROUTES - 1), 4, 0),
        ] {
            let key = series_key(route, method, status);
            assert_ne!(key, 0);
            assert_eq!(
                decode_key(key),
                Some(Key {
                    route,
                    method,
                    status
                })
            );
        }
        assert_eq!(decode_key(0), None);
        assert_eq!(
            decode_key(CLAIMED | (10 << 16)),
            None,
            "method code out of range"
        );
    }

    #[test]
    fn methods_are_case_sensitive() {
        assert_eq!(METHODS[usize::from(method_code(b"GET"))], "GET");
        assert_eq!(METHODS[usize::from(method_code(b"CONNECT"))], "CONNECT");
        assert_eq!(METHODS[usize::from(method_code(b"get"))], "_OTHER");
        assert_eq!(METHODS[usize::from(method_code(b"QUERY"))], "_OTHER");
    }

    #[test]
    fn bucket_bound_is_inclusive() {
        assert_eq!(bucket(&BODY_BOUNDS, 0), 0);
        assert_eq!(bucket(&BODY_BOUNDS, 1), 1);
        assert_eq!(bucket(&BODY_BOUNDS, 64), 1);
        assert_eq!(bucket(&BODY_BOUNDS, 65), 2);
        assert_eq!(bucket(&BODY_BOUNDS, u64::MAX), BODY_BOUNDS.len());
        assert_eq!(bucket(&DURATION_BOUNDS_NS, 5_000_000), 0);
        assert_eq!(
            bucket(&DURATION_BOUNDS_NS, 10_000_000_001),
            DURATION_BOUNDS_NS.len()
        );
    }

    #[test]
    fn route_table_round_trips_and_rejects_damage() {
        let routes = vec!["/users/{id}".to_string(), String::new(), "/é".to_string()];
        let table = encode_routes(&routes);
        assert_eq!(decode_routes(&table, 3), Some(routes));
        assert_eq!(decode_routes(&table[..table.len() - 1], 3), None);
        assert_eq!(decode_routes(&table, 2), None, "trailing bytes");
        assert_eq!(decode_routes(&table, 4), None);
    }
}
