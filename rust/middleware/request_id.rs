//! The request id layer: takes the client's (or the proxy's) `x-request-id` when it is sane,
//! otherwise makes one, and echoes it on the response. The id is in [`Ctx`](super::Ctx) for the
//! Job (Python) and the access log.

use std::cell::Cell;
use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};

use super::{headers, ConfigError};
use crate::protocol::h1::RequestHead;
use crate::protocol::response::Response;

/// Longest incoming id accepted; longer ones are replaced (they would bloat every log line).
pub const MAX_LEN: usize = 128;

/// Configuration of the request id layer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestIdConfig {
    /// The request and response field (default `x-request-id`).
    pub header: String,
    /// Whether to keep a valid incoming id (default true); false always generates one, for a
    /// server that faces clients directly and wants ids it made.
    pub trust_incoming: bool,
}

impl Default for RequestIdConfig {
    fn default() -> Self {
        RequestIdConfig {
            header: "x-request-id".into(),
            trust_incoming: true,
        }
    }
}

/// The configured layer.
#[derive(Debug, Clone)]
pub struct RequestId {
    header: Box<str>,
    trust_incoming: bool,
}

impl RequestId {
    /// Checks the header name.
    pub fn new(cfg: RequestIdConfig) -> Result<RequestId, ConfigError> {
        if !headers::valid_name(&cfg.header) {
            return Err(ConfigError(format!(
                "RequestId header: {:?} is not a header name",
                cfg.header
            )));
        }
        Ok(RequestId {
            header: cfg.header.to_ascii_lowercase().into(),
            trust_incoming: cfg.trust_incoming,
        })
    }

    /// The id for this request: the incoming one if acceptable, else a new one.
    pub(super) fn on_request(&self, head: &RequestHead) -> Box<str> {
        if self.trust_incoming {
            if let Some(id) = head.header(&self.header).filter(|v| acceptable(v)) {
                // acceptable() admits ASCII only, so this cannot fail.
                if let Ok(id) = std::str::from_utf8(id) {
                    return id.into();
                }
            }
        }
        generate()
    }

    /// Echoes the id unless the handler already set the field.
    pub(super) fn on_response(&self, id: &str, response: &mut Response) {
        if !headers::has(&response.header_block, &self.header) {
            headers::push(&mut response.header_block, &self.header, id.as_bytes());
        }
    }
}

/// 1..=128 visible ASCII characters (no space, no control): safe to log and to echo.
pub fn acceptable(id: &[u8]) -> bool {
    (1..=MAX_LEN).contains(&id.len()) && id.iter().all(|b| (0x21..=0x7e).contains(b))
}

thread_local! {
    /// (random prefix, counter) of this thread; seeded once, then no syscall per id.
    static NEXT: Cell<(u64, u64)> = Cell::new(seed());
}

/// Two random words for this thread. `RandomState` draws its keys from the OS once per thread
/// (then increments them), which is all the randomness needed: ids must be unique, not secret.
fn seed() -> (u64, u64) {
    let word = |salt: u64| {
        let mut h = RandomState::new().build_hasher();
        h.write_u64(salt);
        h.write_u32(std::process::id());
        h.finish()
    };
    (word(1), word(2))
}

/// A new id: 32 lower-case hex digits, the thread's 64-bit random prefix then its counter.
/// Unique within a thread by the counter, and across threads and workers unless two of them
/// draw the same 64-bit prefix (with 10,000 threads about 3e-12).
pub fn generate() -> Box<str> {
    let (prefix, n) = NEXT.with(|c| {
        let (prefix, n) = c.get();
        c.set((prefix, n.wrapping_add(1)));
        (prefix, n)
    });
    let mut out = [0u8; 32];
    hex(prefix, &mut out[..16]);
    hex(n, &mut out[16..]);
    // Hex digits are ASCII.
    std::str::from_utf8(&out).unwrap_or_default().into()
}

fn hex(mut v: u64, out: &mut [u8]) {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    for b in out.iter_mut().rev() {
        *b = DIGITS[(v & 0xf) as usize];
        v >>= 4;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::middleware::tests::head;
    use std::collections::HashSet;

    fn layer() -> RequestId {
        RequestId::new(RequestIdConfig::default()).unwrap()
    }

    #[test]
    fn accepts_a_sane_incoming_id() {
        let h = head("GET / HTTP/1.1\r\nhost: a\r\nX-Request-Id: abc-123_=\r\n\r\n");
        assert_eq!(&*layer().on_request(&h), "abc-123_=");
    }

    #[test]
    fn replaces_an_insane_incoming_id() {
        let long = "a".repeat(MAX_LEN + 1);
        for bad in [long.as_str(), "has space", "tab\there"] {
            let h = head(&format!(
                "GET / HTTP/1.1\r\nhost: a\r\nx-request-id: {bad}\r\n\r\n"
            ));
            let id = layer().on_request(&h);
            assert_eq!(id.len(), 32, "{bad:?} -> {id}");
            assert_ne!(&*id, bad);
        }
        assert!(acceptable("a".repeat(MAX_LEN).as_bytes()));
        assert!(!acceptable(b""));
        assert!(!acceptable("é".as_bytes()));
    }

    #[test]
    fn distrust_generates_always() {
        let l = RequestId::new(RequestIdConfig {
            trust_incoming: false,
            ..Default::default()
        })
        .unwrap();
        let h = head("GET / HTTP/1.1\r\nhost: a\r\nx-request-id: mine\r\n\r\n");
        assert_ne!(&*l.on_request(&h), "mine");
    }

    #[test]
    fn generated_ids_are_unique_across_threads() {
        let threads: Vec<_> = (0..4)
            .map(|_| std::thread::spawn(|| (0..10_000).map(|_| generate()).collect::<Vec<_>>()))
            .collect();
        let mut seen = HashSet::new();
        for t in threads {
            for id in t.join().unwrap() {
                assert!(id.bytes().all(|b| b.is_ascii_hexdigit()) && id.len() == 32);
                assert!(seen.insert(id), "duplicate id");
            }
        }
        assert_eq!(seen.len(), 40_000);
    }

    #[test]
    fn echoes_unless_the_handler_set_it() {
        let mut r = Response::full(200, "text/plain", "x");
        layer().on_response("id1", &mut r);
        assert_eq!(
            headers::get(&r.header_block, "x-request-id"),
            Some(&b"id1"[..])
        );
        let mut r = Response::full(200, "text/plain", "x");
        r.header_block.extend_from_slice(b"X-Request-ID: mine\r\n");
        layer().on_response("id1", &mut r);
        assert_eq!(
            headers::get(&r.header_block, "x-request-id"),
            Some(&b"mine"[..])
        );
        assert!(RequestId::new(RequestIdConfig {
            header: "bad header".into(),
            ..Default::default()
        })
        .is_err());
    }
}
