//! The rate limit layer: a token bucket per client (`rate` tokens a second, up to `burst`),
//! shared by all IO threads of a worker; a request that finds its bucket empty is answered
//! 429 with `Retry-After` (RFC 6585 §4, RFC 9110 §10.2.3) and never reaches Python.
//!
//! Limits are per worker process: with N workers a client may get up to N times the rate
//! (the kernel spreads its connections over the workers).

use std::collections::hash_map::RandomState;
use std::collections::HashMap;
use std::hash::{BuildHasher, BuildHasherDefault, Hasher};
use std::net::IpAddr;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use super::ConfigError;
use crate::io::Peer;
use crate::mesh::forwarded::{resolve_head, TrustPolicy};
use crate::protocol::h1::RequestHead;
use crate::protocol::problem::problem;
use crate::protocol::response::Response;

/// Default bound on the number of clients tracked at once (about 3 MiB of buckets).
pub const DEFAULT_MAX_KEYS: usize = 100_000;

/// Shards of the key table, each behind its own mutex, so IO threads rarely wait on each
/// other (see `cost_tests::rate_limit_contention` for single vs sharded).
const SHARDS: usize = 16;

/// What identifies a client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RateKey {
    /// The peer's IP address; IPv6 by its /64 (one host usually holds a whole /64, and would
    /// otherwise get a fresh bucket per address). All Unix-socket peers share one key.
    Peer,
    /// The value of this request header (`x-api-key`, or a client-address header that a
    /// trusted proxy sets — never one the client can forge). Absent: the peer address.
    Header(String),
}

/// Configuration of the rate limit layer.
#[derive(Debug, Clone, PartialEq)]
pub struct RateLimitConfig {
    /// Tokens added per second (sustained requests per second).
    pub rate: f64,
    /// Bucket size: requests a client may make at once after being idle.
    pub burst: u32,
    /// How clients are told apart.
    pub key: RateKey,
    /// Most clients tracked at once; beyond it idle ones are forgotten first, then the least
    /// recently seen (a forgotten client starts again with a full bucket).
    pub max_keys: usize,
}

/// A token bucket per key, safe to share between threads.
///
/// Also usable alone, for keys computed elsewhere (a Python function): [`Limiter::check`].
pub struct Limiter {
    /// Tokens per nanosecond.
    per_ns: f64,
    rate: f64,
    burst: f64,
    epoch: Instant,
    shards: Box<[Padded]>,
    per_shard: usize,
    /// Keyed hashing: a client cannot choose keys that collide on purpose.
    hasher: RandomState,
}

/// Keys are already SipHash values; the map need not hash them again.
#[derive(Default)]
struct Prehashed(u64);

impl Hasher for Prehashed {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0 << 8) | u64::from(b);
        }
    }
    fn write_u64(&mut self, v: u64) {
        self.0 = v;
    }
}

type Shard = HashMap<u64, Bucket, BuildHasherDefault<Prehashed>>;

/// A shard on its own cache lines: neighbouring mutexes on one line would make threads that
/// lock different shards still contend for it (false sharing).
#[repr(align(128))]
struct Padded(Mutex<Shard>);

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    /// Nanoseconds since the limiter's epoch when `tokens` was computed.
    at: u64,
}

impl Limiter {
    /// A limiter of `rate` tokens per second up to `burst`, tracking at most `max_keys` keys.
    pub fn new(rate: f64, burst: u32, max_keys: usize) -> Result<Limiter, ConfigError> {
        Self::with_shards(rate, burst, max_keys, SHARDS)
    }

    fn with_shards(
        rate: f64,
        burst: u32,
        max_keys: usize,
        shards: usize,
    ) -> Result<Limiter, ConfigError> {
        if !(rate.is_finite() && rate > 0.0) {
            return Err(ConfigError(format!(
                "RateLimit rate must be a finite number > 0, got {rate}"
            )));
        }
        if burst == 0 {
            return Err(ConfigError(format!(
                "RateLimit burst must be >= 1, got {burst}"
            )));
        }
        if max_keys == 0 {
            return Err(ConfigError(format!(
                "RateLimit max_keys must be >= 1, got {max_keys}"
            )));
        }
        let shards = shards.clamp(1, max_keys);
        Ok(Limiter {
            per_ns: rate / 1e9,
            rate,
            burst: f64::from(burst),
            epoch: Instant::now(),
            shards: (0..shards)
                .map(|_| Padded(Mutex::new(Shard::default())))
                .collect(),
            per_shard: max_keys.div_ceil(shards),
            hasher: RandomState::new(),
        })
    }

    /// A limiter with `shards` mutexes, for the cost measurements.
    #[cfg(test)]
    pub(crate) fn with_shards_for_tests(
        rate: f64,
        burst: u32,
        max: usize,
        shards: usize,
    ) -> Limiter {
        Self::with_shards(rate, burst, max, shards).unwrap()
    }

    /// Takes a token for `key` at `now`: `Err(wait)` when none is left, `wait` being the time
    /// until the next one.
    pub fn check(&self, key: &str, now: Instant) -> Result<(), Duration> {
        self.take(self.hash(b's', key.as_bytes()), now)
    }

    /// Keys currently tracked.
    pub fn len(&self) -> usize {
        self.shards.iter().map(|s| lock(&s.0).len()).sum()
    }

    /// Whether no key is tracked.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn hash(&self, kind: u8, key: &[u8]) -> u64 {
        let mut h = self.hasher.build_hasher();
        h.write_u8(kind);
        h.write(key);
        h.finish()
    }

    fn take(&self, key: u64, now: Instant) -> Result<(), Duration> {
        let now =
            u64::try_from(now.saturating_duration_since(self.epoch).as_nanos()).unwrap_or(u64::MAX);
        // High bits pick the shard; the map uses all of them (no correlation that matters).
        let shard = &self.shards[(key >> 32) as usize % self.shards.len()];
        let mut map = lock(&shard.0);
        let bucket = match map.get_mut(&key) {
            Some(b) => {
                self.refill(b, now);
                b
            }
            None => {
                if map.len() >= self.per_shard {
                    self.evict(&mut map, now);
                }
                map.entry(key).or_insert(Bucket {
                    tokens: self.burst,
                    at: now,
                })
            }
        };
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            Ok(())
        } else {
            Err(Duration::from_secs_f64((1.0 - bucket.tokens) / self.rate))
        }
    }

    fn refill(&self, b: &mut Bucket, now: u64) {
        // A clock that went backwards (threads' `now` race) adds nothing and keeps `at`.
        if now > b.at {
            b.tokens = (b.tokens + (now - b.at) as f64 * self.per_ns).min(self.burst);
            b.at = now;
        }
    }

    /// Makes room in a full shard: first forgets buckets that have refilled (they are the same
    /// as a new key's), then, if that freed less than an eighth, the least recently seen down
    /// to three quarters. Each call frees an eighth or more, so its O(n) is amortized.
    fn evict(&self, map: &mut Shard, now: u64) {
        map.retain(|_, b| {
            let mut b = *b;
            self.refill(&mut b, now);
            b.tokens < self.burst
        });
        if map.len() >= self.per_shard - self.per_shard / 8 {
            let keep = self.per_shard * 3 / 4;
            let mut ages: Vec<u64> = map.values().map(|b| b.at).collect();
            let cut = ages.len() - keep;
            let (_, cutoff, _) = ages.select_nth_unstable(cut.saturating_sub(1));
            let cutoff = *cutoff;
            map.retain(|_, b| b.at > cutoff);
        }
    }
}

fn lock(shard: &Mutex<Shard>) -> std::sync::MutexGuard<'_, Shard> {
    // Nothing panics while holding it; if something did, the buckets are still consistent.
    shard.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The configured layer: a limiter and how to key it.
pub struct RateLimit {
    limiter: Arc<Limiter>,
    key: RateKey,
    /// Whose forwarding headers name the client (`--trusted-proxies`): behind a sidecar every
    /// peer is the sidecar, and one bucket for all clients would throttle everyone together.
    trust: TrustPolicy,
}

impl RateLimit {
    /// Checks the configuration and makes the limiter.
    pub fn new(cfg: RateLimitConfig) -> Result<RateLimit, ConfigError> {
        if let RateKey::Header(h) = &cfg.key {
            if !super::headers::valid_name(h) {
                return Err(ConfigError(format!(
                    "RateLimit key: {h:?} is not a header name"
                )));
            }
        }
        Ok(RateLimit {
            limiter: Arc::new(Limiter::new(cfg.rate, cfg.burst, cfg.max_keys)?),
            key: cfg.key,
            trust: TrustPolicy::none(),
        })
    }

    /// Keys requests from trusted proxies by the client they name (`Forwarded`,
    /// `X-Forwarded-For`), not by the proxy.
    pub fn trusting(mut self, trust: TrustPolicy) -> RateLimit {
        self.trust = trust;
        self
    }

    /// The shared limiter.
    pub fn limiter(&self) -> &Arc<Limiter> {
        &self.limiter
    }

    /// The key of a request's client, hashed.
    fn key(&self, head: &RequestHead, peer: &Peer) -> u64 {
        if let RateKey::Header(name) = &self.key {
            if let Some(v) = head.header(name) {
                return self.limiter.hash(b'h', v);
            }
        }
        let ip = match peer {
            Peer::Tcp(addr) if self.trust.is_trusted(addr.ip()) => {
                let origin = resolve_head(&self.trust, (addr.ip(), addr.port()), head);
                match origin.client.0.parse::<IpAddr>() {
                    Ok(ip) => ip,
                    // `unknown` or an obfuscated identifier: keyed by what the proxy wrote.
                    Err(_) => return self.limiter.hash(b'o', origin.client.0.as_bytes()),
                }
            }
            Peer::Tcp(addr) => addr.ip(),
            Peer::Unix => return self.limiter.hash(b'u', b""),
        };
        match ip.to_canonical() {
            IpAddr::V4(v4) => self.limiter.hash(b'4', &v4.octets()),
            IpAddr::V6(v6) => self.limiter.hash(b'6', &v6.octets()[..8]),
        }
    }

    /// 429 with `Retry-After` (whole seconds until a token, rounded up) when the client's
    /// bucket is empty.
    pub(super) fn on_request(
        &self,
        head: &RequestHead,
        peer: &Peer,
        now: Instant,
    ) -> Result<(), Response> {
        self.limiter
            .take(self.key(head, peer), now)
            .map_err(too_many)
    }
}

/// The 429 answer for a client that must wait `wait`.
pub fn too_many(wait: Duration) -> Response {
    let secs = retry_after(wait);
    let mut r = problem(429, &format!("rate limit exceeded; retry in {secs} s"));
    super::headers::push(
        &mut r.header_block,
        "retry-after",
        itoa::Buffer::new().format(secs).as_bytes(),
    );
    r
}

/// Whole seconds, rounded up, at least 1 (0 would invite an immediate retry that fails).
pub fn retry_after(wait: Duration) -> u64 {
    let s = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
    s.max(1)
}

#[cfg(test)]
#[path = "ratelimit_tests.rs"]
mod tests;
