//! Trace context: W3C Trace Context level 1 (`traceparent`, `tracestate`) and Zipkin B3, read
//! from a request, and the server span that continues (or starts) the trace.
//!
//! Spec: <https://www.w3.org/TR/trace-context-1/> (sections cited as "TC §…") and
//! <https://github.com/openzipkin/b3-propagation>.

use std::cell::Cell;
use std::fmt;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Once;

use super::trim_ows;

/// The `sampled` bit of `trace-flags` (TC §3.2.2.5); the only flag level 1 defines.
pub const FLAG_SAMPLED: u8 = 0x01;

/// Length of a version `00` `traceparent` value (TC §3.2.2).
pub const TRACEPARENT_LEN: usize = 55;

/// Longest `tracestate` accepted: TC §3.3.1.5 asks vendors to propagate at least 512 characters,
/// and a longer one is dropped whole rather than cut (cutting needs the entry rules of §3.3.1.5).
pub const MAX_TRACESTATE_LEN: usize = 512;

/// Most list members in a `tracestate` (TC §3.3.1.1).
pub const MAX_TRACESTATE_MEMBERS: usize = 32;

/// A parsed `traceparent`: who called us, in which trace.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TraceParent {
    /// The trace (never all zero).
    pub trace_id: [u8; 16],
    /// The caller's span, the parent of ours (never all zero).
    pub parent_id: [u8; 8],
    /// `trace-flags`; bit 0 is [`FLAG_SAMPLED`].
    pub flags: u8,
}

impl TraceParent {
    /// Parses a `traceparent` value strictly (TC §3.2.2, versioning per TC §3.2.4); `None` when
    /// the value must be ignored.
    pub fn parse(v: &[u8]) -> Option<TraceParent> {
        if v.len() < TRACEPARENT_LEN || v[2] != b'-' {
            return None;
        }
        let version = hex_byte(v[0], v[1])?;
        match version {
            // TC §3.2.2.1: version ff is forbidden.
            0xff => return None,
            // Version 00 has exactly four fields.
            0x00 if v.len() != TRACEPARENT_LEN => return None,
            // TC §3.2.4: a higher version is read as its first 55 characters when the flags
            // are followed by the end or a dash; later fields are unknown and not looked at.
            _ if v.len() > TRACEPARENT_LEN && v[TRACEPARENT_LEN] != b'-' => return None,
            _ => {}
        }
        if v[35] != b'-' || v[52] != b'-' {
            return None;
        }
        let trace_id: [u8; 16] = decode_hex(&v[3..35])?;
        let parent_id: [u8; 8] = decode_hex(&v[36..52])?;
        let mut flags = hex_byte(v[53], v[54])?;
        if version != 0 {
            // TC §3.2.4 reads only the sampled bit of a version it does not know.
            flags &= FLAG_SAMPLED;
        }
        // TC §3.2.2.3 and §3.2.2.4: all-zero ids are invalid.
        if is_zero(&trace_id) || is_zero(&parent_id) {
            return None;
        }
        Some(TraceParent {
            trace_id,
            parent_id,
            flags,
        })
    }

    /// Whether the caller may have recorded this trace.
    pub fn sampled(&self) -> bool {
        self.flags & FLAG_SAMPLED != 0
    }

    /// Appends the version `00` form, `00-{trace}-{parent}-{flags}`, to `out`.
    pub fn format_into(&self, out: &mut String) {
        format_traceparent(&self.trace_id, &self.parent_id, self.flags, out);
    }
}

impl fmt::Display for TraceParent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut s = String::with_capacity(TRACEPARENT_LEN);
        self.format_into(&mut s);
        f.write_str(&s)
    }
}

fn format_traceparent(trace_id: &[u8; 16], span_id: &[u8; 8], flags: u8, out: &mut String) {
    out.reserve(TRACEPARENT_LEN);
    out.push_str("00-");
    hex_into(trace_id, out);
    out.push('-');
    hex_into(span_id, out);
    out.push('-');
    hex_into(&[flags], out);
}

/// Whether a `tracestate` value may be forwarded (TC §3.3): at most 512 bytes and 32 list
/// members, each `key=value` by the grammar of TC §3.3.1.3, no key twice. Empty members are
/// allowed (§3.3.1.1). Callers drop an invalid one whole.
pub fn valid_tracestate(v: &[u8]) -> bool {
    if v.len() > MAX_TRACESTATE_LEN {
        return false;
    }
    let mut keys: Vec<&[u8]> = Vec::new();
    for member in v.split(|&b| b == b',') {
        let member = trim_ows(member);
        if member.is_empty() {
            continue;
        }
        let Some(eq) = member.iter().position(|&b| b == b'=') else {
            return false;
        };
        let (key, value) = (&member[..eq], &member[eq + 1..]);
        if !valid_tracestate_key(key) || !valid_tracestate_value(value) || keys.contains(&key) {
            return false;
        }
        if keys.len() == MAX_TRACESTATE_MEMBERS {
            return false;
        }
        keys.push(key);
    }
    true
}

/// TC §3.3.1.3.1: `key = (lcalpha / DIGIT) 0*255(keychar)`, `keychar` adding `_ - * / @`.
fn valid_tracestate_key(k: &[u8]) -> bool {
    matches!(k.first(), Some(b'a'..=b'z' | b'0'..=b'9'))
        && k.len() <= 256
        && k.iter()
            .all(|&b| matches!(b, b'a'..=b'z' | b'0'..=b'9' | b'_' | b'-' | b'*' | b'/' | b'@'))
}

/// TC §3.3.1.3.2: 1 to 256 printable ASCII characters but `,` and `=`, not ending in a space
/// (trailing spaces were trimmed as OWS, so a space can only be inside).
fn valid_tracestate_value(v: &[u8]) -> bool {
    !v.is_empty()
        && v.len() <= 256
        && v.iter()
            .all(|&b| (0x20..=0x7e).contains(&b) && b != b',' && b != b'=')
}

/// A B3 trace context as found in a request: the `b3` header or the `x-b3-*` headers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum B3Input<'a> {
    /// The value of the single `b3` header.
    Single(&'a [u8]),
    /// The values of `x-b3-traceid`, `x-b3-spanid`, `x-b3-sampled` and `x-b3-flags`.
    Multi {
        /// `x-b3-traceid`.
        trace_id: &'a [u8],
        /// `x-b3-spanid`.
        span_id: &'a [u8],
        /// `x-b3-sampled`, if present.
        sampled: Option<&'a [u8]>,
        /// `x-b3-flags`, if present.
        flags: Option<&'a [u8]>,
    },
}

impl B3Input<'_> {
    /// The context this input names, if any.
    pub fn parse(&self) -> Option<TraceParent> {
        match *self {
            B3Input::Single(v) => parse_b3_single(v),
            B3Input::Multi {
                trace_id,
                span_id,
                sampled,
                flags,
            } => parse_b3_multi(trace_id, span_id, sampled, flags),
        }
    }

    /// Whether this is the bare deny decision `b3: 0` (B3 "Single Header": sampling state only).
    fn is_deny(&self) -> bool {
        matches!(self, B3Input::Single(b"0"))
    }
}

/// Parses the single `b3` header, `{trace}-{span}[-{sampled}[-{parent}]]`, as the caller's
/// context: the B3 span id becomes the parent id. A value carrying only a sampling state
/// (`0`, `1`, `d`) names no context and gives `None`.
///
/// An absent sampling state (B3 "defer") gives the sampled flag, because a trace this server
/// starts is sampled too; `d` (debug) implies accept.
pub fn parse_b3_single(v: &[u8]) -> Option<TraceParent> {
    let mut parts = v.split(|&b| b == b'-');
    let trace = parts.next()?;
    let span = parts.next()?;
    let sampled = match parts.next() {
        None => true,
        Some(b"1" | b"d") => true,
        Some(b"0") => false,
        Some(_) => return None,
    };
    if let Some(parent) = parts.next() {
        // The caller's parent is not ours to keep, but a malformed one makes the value malformed.
        let parent: [u8; 8] = decode_hex(parent)?;
        if is_zero(&parent) {
            return None;
        }
    }
    if parts.next().is_some() {
        return None;
    }
    b3_context(trace, span, sampled)
}

/// Parses the multi-header B3 form. `x-b3-sampled` is `1`/`0` (or the legacy `true`/`false`);
/// an absent or unrecognised one defers, which gives the sampled flag as for
/// [`parse_b3_single`]. `x-b3-flags: 1` is debug and implies accept; other values are ignored.
pub fn parse_b3_multi(
    trace_id: &[u8],
    span_id: &[u8],
    sampled: Option<&[u8]>,
    flags: Option<&[u8]>,
) -> Option<TraceParent> {
    let debug = flags == Some(b"1");
    let sampled = debug || !matches!(sampled, Some(b"0" | b"false"));
    b3_context(trace_id, span_id, sampled)
}

/// B3 ids are lower hex; a 64-bit trace id is left-padded with zeros to 128 bits.
fn b3_context(trace: &[u8], span: &[u8], sampled: bool) -> Option<TraceParent> {
    let mut trace_id = [0u8; 16];
    match trace.len() {
        32 => trace_id = decode_hex(trace)?,
        16 => trace_id[8..].copy_from_slice(&decode_hex::<8>(trace)?),
        _ => return None,
    }
    let parent_id: [u8; 8] = decode_hex(span)?;
    if is_zero(&trace_id) || is_zero(&parent_id) {
        return None;
    }
    Some(TraceParent {
        trace_id,
        parent_id,
        flags: if sampled { FLAG_SAMPLED } else { 0 },
    })
}

/// This server's span of a request: the trace it belongs to, its own id and its parent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ServerTrace {
    /// The trace, continued from the caller or new.
    pub trace_id: [u8; 16],
    /// This server span (fresh for every request).
    pub span_id: [u8; 8],
    /// The caller's span; `None` when this server started the trace.
    pub parent_id: Option<[u8; 8]>,
    /// Flags sent on: only [`FLAG_SAMPLED`], since level 1 says other bits are sent as zero.
    pub flags: u8,
}

impl ServerTrace {
    /// Continues the incoming trace (a valid `traceparent` first, then B3) with a new span id,
    /// or starts a sampled trace (TC §3.2.2.5.1 suggests 0 for a trace a component starts;
    /// CovetPy records what it starts, so it says so). A `traceparent` that fails to parse restarts the trace
    /// (TC §3.2.2.3) unless B3 names one. The bare B3 deny `b3: 0` starts an unsampled trace,
    /// so the caller's decision holds.
    pub fn from_incoming(traceparent: Option<&[u8]>, b3: Option<B3Input<'_>>) -> ServerTrace {
        let incoming = traceparent
            .and_then(TraceParent::parse)
            .or_else(|| b3.and_then(|b| b.parse()));
        match incoming {
            Some(tp) => ServerTrace {
                trace_id: tp.trace_id,
                span_id: new_span_id(),
                parent_id: Some(tp.parent_id),
                flags: tp.flags & FLAG_SAMPLED,
            },
            None => ServerTrace {
                trace_id: new_trace_id(),
                span_id: new_span_id(),
                parent_id: None,
                flags: if b3.is_some_and(|b| b.is_deny()) {
                    0
                } else {
                    FLAG_SAMPLED
                },
            },
        }
    }

    /// Whether this span is sampled.
    pub fn sampled(&self) -> bool {
        self.flags & FLAG_SAMPLED != 0
    }

    /// The `traceparent` for outbound calls: `00-{trace}-{span}-{flags}`, this span their parent.
    pub fn traceparent(&self) -> String {
        let mut s = String::with_capacity(TRACEPARENT_LEN);
        format_traceparent(&self.trace_id, &self.span_id, self.flags, &mut s);
        s
    }
}

/// Lower-case hex of `bytes`.
pub fn hex(bytes: &[u8]) -> String {
    let mut s = String::with_capacity(bytes.len() * 2);
    hex_into(bytes, &mut s);
    s
}

/// Appends the lower-case hex of `bytes` to `out`.
pub fn hex_into(bytes: &[u8], out: &mut String) {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    for &b in bytes {
        out.push(DIGITS[usize::from(b >> 4)] as char);
        out.push(DIGITS[usize::from(b & 0xf)] as char);
    }
}

/// Decodes exactly `2 * N` lower-case hex digits (TC `HEXDIGLC`; B3 is lower hex too).
fn decode_hex<const N: usize>(s: &[u8]) -> Option<[u8; N]> {
    if s.len() != 2 * N {
        return None;
    }
    let mut out = [0u8; N];
    for (o, pair) in out.iter_mut().zip(s.chunks_exact(2)) {
        *o = hex_byte(pair[0], pair[1])?;
    }
    Some(out)
}

fn hex_byte(hi: u8, lo: u8) -> Option<u8> {
    Some(hex_digit(hi)? << 4 | hex_digit(lo)?)
}

fn hex_digit(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        _ => None,
    }
}

fn is_zero(bytes: &[u8]) -> bool {
    bytes.iter().all(|&b| b == 0)
}

/// A new random trace id, never all zero.
pub fn new_trace_id() -> [u8; 16] {
    let mut id = [0u8; 16];
    while is_zero(&id) {
        id[..8].copy_from_slice(&next_u64().to_ne_bytes());
        id[8..].copy_from_slice(&next_u64().to_ne_bytes());
    }
    id
}

/// A new random span id, never all zero.
pub fn new_span_id() -> [u8; 8] {
    loop {
        let v = next_u64();
        if v != 0 {
            return v.to_ne_bytes();
        }
    }
}

// Ids come from SplitMix64 over a per-thread state seeded once from the OS: a few ns per id
// and no lock, where a getrandom syscall per request would cost far more. Ids need to be
// unique, not secret (TC "Privacy Considerations": ids must not carry data; random ones do
// not).

thread_local! {
    /// (SplitMix64 state, fork generation it was seeded in); generation 0 means unseeded.
    static RNG: Cell<(u64, u32)> = const { Cell::new((0, 0)) };
}

/// Bumped in every child after `fork`, so a forked worker reseeds instead of repeating the
/// parent's ids. Starts at 1 so that 0 marks an unseeded thread.
static FORK_GENERATION: AtomicU32 = AtomicU32::new(1);
static ATFORK: Once = Once::new();

extern "C" fn after_fork_in_child() {
    FORK_GENERATION.fetch_add(1, Ordering::Relaxed);
}

fn next_u64() -> u64 {
    let generation = FORK_GENERATION.load(Ordering::Relaxed);
    RNG.with(|cell| {
        let (mut state, seeded_in) = cell.get();
        if seeded_in != generation {
            state = seed();
        }
        state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        cell.set((state, generation));
        let mut z = state;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    })
}

fn seed() -> u64 {
    ATFORK.call_once(|| {
        // SAFETY: registers a handler that only touches an atomic, which is async-signal-safe
        // as a handler run in a forked child must be.
        unsafe { libc::pthread_atfork(None, None, Some(after_fork_in_child)) };
    });
    let mut buf = [0u8; 8];
    // SAFETY: `buf` is valid for writes of its length for the duration of the call.
    let n = unsafe { libc::getrandom(buf.as_mut_ptr().cast(), buf.len(), 0) };
    if n == buf.len() as isize {
        return u64::from_ne_bytes(buf);
    }
    // No getrandom (old kernel, seccomp): std's per-process random hash keys, mixed with the
    // thread, still differ between threads and processes.
    use std::hash::{BuildHasher, Hash, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    std::thread::current().id().hash(&mut h);
    std::process::id().hash(&mut h);
    h.finish()
}

#[cfg(test)]
#[path = "trace_tests.rs"]
mod tests;
