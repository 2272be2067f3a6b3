//! The compression layer: a response body is compressed on the fly with the best coding the
//! client accepts (`Accept-Encoding`) among brotli, zstd and gzip, when its type compresses
//! well and it is large enough to gain from it. Streamed bodies are compressed chunk by chunk
//! with a sync flush, so the client still receives each chunk as it is produced.

mod accept;
mod codec;

pub use accept::negotiate;
pub use codec::StreamEncoder;

use bytes::Bytes;

use super::{headers, ConfigError};
use crate::protocol::h1::RequestHead;
use crate::protocol::response::{Body, Response};
use crate::protocol::status::status_allows_body;

/// A content coding (RFC 9110 §8.4.1). The discriminants index per-coding tables.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Encoding {
    /// `br` (RFC 7932).
    Brotli = 0,
    /// `zstd` (RFC 8878).
    Zstd = 1,
    /// `gzip` (RFC 1952).
    Gzip = 2,
}

impl Encoding {
    /// The token in `Accept-Encoding` and `Content-Encoding`.
    pub fn token(self) -> &'static str {
        match self {
            Encoding::Brotli => "br",
            Encoding::Zstd => "zstd",
            Encoding::Gzip => "gzip",
        }
    }

    /// The coding named by `token` (case-insensitive; `x-gzip` is gzip).
    pub fn from_token(token: &[u8]) -> Option<Encoding> {
        [
            (&b"br"[..], Encoding::Brotli),
            (b"zstd", Encoding::Zstd),
            (b"gzip", Encoding::Gzip),
            (b"x-gzip", Encoding::Gzip),
        ]
        .into_iter()
        .find(|(t, _)| t.eq_ignore_ascii_case(token))
        .map(|(_, e)| e)
    }
}

/// Compression levels, one per coding.
///
/// Chosen for compressing on the fly, where CPU spent per response competes with serving
/// requests. Measured by `cost_tests::compression_levels` on four real files (37 KB of
/// rustdoc HTML, 30 KB of JS, 18 KB of CSS, 77 KB of JSON: 162 KB in all), on this project's
/// 2-core VM under load, total output / total time:
///
/// | coding | level | bytes  | time    |
/// |--------|-------|--------|---------|
/// | zstd   | 3     | 28,710 | 176 us  |
/// | zstd   | 6     | 25,777 | 660 us  |
/// | gzip   | 5     | 25,381 | 544 us  |
/// | gzip   | 6     | 25,117 | 825 us  |
/// | br     | 4     | 26,581 | 938 us  |
/// | br     | 5     | 24,073 | 1651 us |
///
/// gzip 5 is 1% larger than 6 for two thirds of its time; zstd 3 is zstd's own default and
/// the cheapest by far; brotli 4 is the usual on-the-fly level (q5 is 10% smaller for 1.75x
/// the time). Note that brotli needs q5 to beat gzip 5 on size: with the default order
/// (br first) clients that accept zstd would be served faster with `zstd, br, gzip`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Levels {
    /// gzip 1..=9 (default 5).
    pub gzip: u32,
    /// brotli 0..=11 (default 4).
    pub brotli: u32,
    /// zstd 1..=19 (default 3).
    pub zstd: i32,
}

impl Default for Levels {
    fn default() -> Self {
        Levels {
            gzip: 5,
            brotli: 4,
            zstd: 3,
        }
    }
}

/// The media types compressed by default: text and the structured text formats. Images
/// (other than SVG), audio, video, fonts in woff2 and archives are compressed already.
pub const DEFAULT_TYPES: [&str; 6] = [
    "text/*",
    "application/json",
    "application/javascript",
    "application/xml",
    "image/svg+xml",
    "application/problem+json",
];

/// Bodies smaller than this are sent as they are by default: below about one TCP segment
/// (~1,400 bytes with headers) compression saves no packet and no round trip, only CPU.
pub const DEFAULT_MIN_SIZE: usize = 1024;

/// Configuration of the compression layer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CompressConfig {
    /// Full bodies smaller than this many bytes are not compressed (streams always are).
    pub min_size: usize,
    /// Media types to compress: exact (`application/json`) or a whole type (`text/*`).
    pub content_types: Vec<String>,
    /// Codings offered, in server preference order (default zstd, br, gzip: zstd 3 measured
    /// about 5x cheaper than br 4 for 8% more bytes); the client's q-values rank first, this
    /// breaks ties.
    pub preference: Vec<Encoding>,
    /// Levels per coding.
    pub levels: Levels,
}

impl Default for CompressConfig {
    fn default() -> Self {
        CompressConfig {
            min_size: DEFAULT_MIN_SIZE,
            content_types: DEFAULT_TYPES.iter().map(|t| t.to_string()).collect(),
            preference: vec![Encoding::Zstd, Encoding::Brotli, Encoding::Gzip],
            levels: Levels::default(),
        }
    }
}

/// The configured layer.
#[derive(Debug, Clone)]
pub struct Compress {
    min_size: usize,
    /// Lower-case; `text/` for `text/*`.
    types: Vec<Box<str>>,
    preference: Vec<Encoding>,
    levels: Levels,
}

impl Compress {
    /// Checks the configuration.
    pub fn new(cfg: CompressConfig) -> Result<Compress, ConfigError> {
        let l = cfg.levels;
        if !(1..=9).contains(&l.gzip) || l.brotli > 11 || !(1..=19).contains(&l.zstd) {
            return Err(ConfigError(format!(
                "compress: levels out of range (gzip 1..=9, brotli 0..=11, zstd 1..=19): {l:?}"
            )));
        }
        if cfg.preference.is_empty() {
            return Err(ConfigError("compress: no coding offered".into()));
        }
        let mut types = Vec::with_capacity(cfg.content_types.len());
        for t in &cfg.content_types {
            let t = t.trim().to_ascii_lowercase();
            let valid = t.split_once('/').is_some_and(|(a, b)| {
                headers::valid_name(a) && (b == "*" || headers::valid_name(b))
            });
            if !valid {
                return Err(ConfigError(format!("compress: invalid media type {t:?}")));
            }
            types.push(t.strip_suffix('*').unwrap_or(&t).into());
        }
        let mut preference = cfg.preference;
        preference.dedup();
        Ok(Compress {
            min_size: cfg.min_size,
            types,
            preference,
            levels: cfg.levels,
        })
    }

    /// The coding for this request (`None`: identity).
    pub(in crate::middleware) fn negotiate(&self, head: &RequestHead) -> Option<Encoding> {
        let fields = head
            .headers()
            .filter(|(n, _)| n.eq_ignore_ascii_case(b"accept-encoding"))
            .map(|(_, v)| v);
        negotiate(fields, &self.preference)
    }

    /// Whether this media type (a Content-Type value, parameters allowed) is compressed.
    pub fn compresses_type(&self, content_type: &[u8]) -> bool {
        let media = content_type
            .split(|&b| b == b';')
            .next()
            .unwrap_or_default();
        let media = crate::protocol::h1::token::trim_ows(media);
        // Never an event stream, even when listed: it lives for hours as a trickle of small
        // events, so an encoder would be held per open stream (brotli's and zstd's windows are
        // hundreds of KiB: 1,000 streams, hundreds of MiB) and each sync flush per event costs
        // more bytes than it saves; some proxies also hold a compressed stream back.
        if media.eq_ignore_ascii_case(b"text/event-stream") {
            return false;
        }
        self.types.iter().any(|t| match t.strip_suffix('/') {
            Some(_) => media.len() > t.len() && media[..t.len()].eq_ignore_ascii_case(t.as_bytes()),
            None => media.eq_ignore_ascii_case(t.as_bytes()),
        })
    }

    /// Whether this response may be compressed at all, whoever asks for it.
    fn eligible(&self, response: &Response) -> bool {
        let block = &response.header_block;
        // Cheapest first: most API answers are small.
        let big_enough = match &response.body {
            Body::Full(b) => b.len() >= self.min_size,
            Body::Stream(_) => true,
            // Sent from the file as it is: compressing it would need it in memory.
            Body::File(_) | Body::Declared(_) => false,
        };
        // 206: Content-Range counts bytes of the identity body.
        big_enough
            && status_allows_body(response.status)
            && response.status != 206
            && headers::get(block, "content-type").is_some_and(|t| self.compresses_type(t))
            && !headers::has(block, "content-encoding")
            // RFC 9110 §7.7: an intermediary must not transform such content; nor do we.
            && !headers::get(block, "cache-control").is_some_and(|v| {
                v.windows(12).any(|w| w.eq_ignore_ascii_case(b"no-transform"))
            })
    }

    /// Compresses a full body in place, or returns the encoder for a streamed one; adds
    /// `Vary: Accept-Encoding` to every eligible response (a cache must not give a compressed
    /// copy to a client that cannot decode it, or the reverse).
    pub(in crate::middleware) fn on_response(
        &self,
        encoding: Option<Encoding>,
        head_only: bool,
        response: &mut Response,
    ) -> Option<StreamEncoder> {
        if !self.eligible(response) {
            return None;
        }
        headers::push(&mut response.header_block, "vary", b"accept-encoding");
        // HEAD: no body goes out, so none is compressed; the headers describe the identity
        // body truthfully (RFC 9110 §9.3.2 lets a HEAD answer omit such fields).
        let enc = encoding.filter(|_| !head_only)?;
        let stream = match &response.body {
            Body::Full(body) => {
                // Compression that does not shrink the body (already compressed data under a
                // text type) is thrown away; a failure of the encoder just sends identity.
                let packed = codec::compress(enc, body, &self.levels).ok()?;
                if packed.len() >= body.len() {
                    return None;
                }
                response.body = Body::Full(Bytes::from(packed));
                None
            }
            Body::Stream(_) => Some(StreamEncoder::new(enc, &self.levels).ok()?),
            Body::File(_) | Body::Declared(_) => return None,
        };
        headers::push(
            &mut response.header_block,
            "content-encoding",
            enc.token().as_bytes(),
        );
        // A strong validator names exact bytes (RFC 9110 §8.8.1); ours differ now.
        if let Some(etag) = headers::get(&response.header_block, "etag") {
            if etag.starts_with(b"\"") {
                let weak = [&b"W/"[..], etag].concat();
                headers::replace(&mut response.header_block, "etag", &weak);
            }
        }
        stream
    }
}

/// Whole-body compression, for the cost measurements.
#[cfg(test)]
pub(crate) fn codec_for_tests(enc: Encoding, data: &[u8], levels: &Levels) -> Vec<u8> {
    codec::compress(enc, data, levels).unwrap()
}

/// The JSON-like sample of the codec tests.
#[cfg(test)]
pub(crate) fn sample_for_tests(len: usize) -> Vec<u8> {
    codec::tests::sample(len)
}

#[cfg(test)]
mod tests;
