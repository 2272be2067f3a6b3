//! The encoders: a whole body at once, or a stream chunk by chunk with a sync flush.

use std::cell::RefCell;
use std::io::{self, Write};

use flate2::write::GzEncoder;

use super::{Encoding, Levels};

/// Brotli's window for whole bodies: just large enough for the body, but at least 2^17. At
/// quality 5..=9 a window of 2^16 or less switches the encoder to other hashers that cost 20x
/// more (9.7 ms instead of 0.45 ms for a 30 KB script at q5, `cost_tests`); at q4 17 is as
/// fast as 16 with the same size.
fn brotli_window(len: usize) -> u32 {
    let bits = usize::BITS - len.saturating_sub(1).leading_zeros();
    bits.clamp(17, 22)
}

/// Brotli's window for streams, whose size is unknown: 1 MiB (22 would let a long stream
/// grow the encoder's ring buffer to 4 MiB per connection).
const BROTLI_STREAM_WINDOW: u32 = 20;

/// zstd's window for streams: 1 MiB, bounding the encoder's memory per connection (level 3
/// would use 2 MiB); zstd's guidance for HTTP is at most 8 MiB (RFC 8878 §3.1.1.1.2).
const ZSTD_STREAM_WINDOW_LOG: u32 = 20;

/// The gzip member header (RFC 1952 §2.3): deflate, no name or time, unknown OS.
const GZIP_HEADER: [u8; 10] = [0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 255];

thread_local! {
    /// One deflate state per thread, reset between bodies: allocating one (~300 KiB, past
    /// malloc's mmap threshold) per response cost more than compressing 16 KiB of HTML.
    static DEFLATE: RefCell<Option<(u32, flate2::Compress)>> = const { RefCell::new(None) };
    /// One zstd context per thread, reused: creating one costs more than compressing a few
    /// KiB with it (see `cost_tests`).
    static ZSTD: RefCell<Option<(i32, zstd::bulk::Compressor<'static>)>> =
        const { RefCell::new(None) };
}

/// `data` compressed whole with `enc`.
pub(crate) fn compress(enc: Encoding, data: &[u8], levels: &Levels) -> io::Result<Vec<u8>> {
    match enc {
        Encoding::Gzip => gzip(data, levels.gzip),
        Encoding::Brotli => {
            let params = brotli::enc::BrotliEncoderParams {
                quality: levels.brotli as i32,
                lgwin: brotli_window(data.len()) as i32,
                size_hint: data.len(),
                ..Default::default()
            };
            let mut out = Vec::with_capacity(data.len() / 3 + 64);
            brotli::BrotliCompress(&mut &data[..], &mut out, &params)?;
            Ok(out)
        }
        Encoding::Zstd => ZSTD.with(|cell| {
            let mut cell = cell.borrow_mut();
            let reuse = matches!(&*cell, Some((level, _)) if *level == levels.zstd);
            if !reuse {
                *cell = Some((levels.zstd, zstd::bulk::Compressor::new(levels.zstd)?));
            }
            match &mut *cell {
                Some((_, c)) => c.compress(data),
                None => Err(io::Error::other("no zstd context")),
            }
        }),
    }
}

/// A gzip member of `data`: header, raw deflate from the thread's reused state, trailer.
fn gzip(data: &[u8], level: u32) -> io::Result<Vec<u8>> {
    let mut out = Vec::with_capacity(data.len() / 3 + 64);
    out.extend_from_slice(&GZIP_HEADER);
    DEFLATE.with(|cell| {
        let mut cell = cell.borrow_mut();
        match &mut *cell {
            Some((l, c)) if *l == level => c.reset(),
            _ => {
                *cell = Some((
                    level,
                    flate2::Compress::new(flate2::Compression::new(level), false),
                ))
            }
        }
        let Some((_, c)) = &mut *cell else {
            return Err(io::Error::other("no deflate state"));
        };
        loop {
            if out.capacity() - out.len() < 64 {
                out.reserve(out.capacity().max(4096));
            }
            let consumed = usize::try_from(c.total_in()).unwrap_or(usize::MAX);
            let rest = data.get(consumed..).unwrap_or_default();
            match c.compress_vec(rest, &mut out, flate2::FlushCompress::Finish) {
                Ok(flate2::Status::StreamEnd) => return Ok(()),
                Ok(_) => {}
                Err(e) => return Err(io::Error::other(e)),
            }
        }
    })?;
    let mut crc = flate2::Crc::new();
    crc.update(data);
    out.extend_from_slice(&crc.sum().to_le_bytes());
    // ISIZE is the length modulo 2^32 (RFC 1952 §2.3.1).
    out.extend_from_slice(&(data.len() as u32).to_le_bytes());
    Ok(out)
}

/// Compresses a streamed body chunk by chunk, for the connection's `stream_body`.
///
/// How the connection uses it, per response that `on_response` returned one for:
///
/// ```text
/// for each Chunk::Data(d) taken from the channel:
///     enc.write(&d)?                    // compress; output may stay buffered
/// when the channel has nothing more queued (before each write to the socket):
///     enc.flush(&mut buf)?              // sync flush: what was written so far decodes now
///     if !buf.is_empty() { write_chunk(wbuf, &buf); buf.clear() }   // never an empty chunk
/// on Chunk::End:
///     enc.finish(&mut buf)?; write_chunk(wbuf, &buf) if non-empty; then the last chunk
/// ```
///
/// `encode(d, out)` is `write` + `flush` for one chunk at a time. An `Err` (the encoder
/// failed; it cannot fail for lack of output space) means the body cannot be completed: cut
/// the connection like a failed producer. For HTTP/1.0 (no chunked coding) the same bytes go
/// out unframed. Dropping the encoder without `finish` is fine when the stream is abandoned.
pub struct StreamEncoder {
    encoding: Encoding,
    inner: Inner,
}

enum Inner {
    Gzip(GzEncoder<Vec<u8>>),
    Brotli(Box<brotli::CompressorWriter<Vec<u8>>>),
    Zstd(zstd::stream::write::Encoder<'static, Vec<u8>>),
    Finished,
}

impl StreamEncoder {
    /// A streaming encoder for `enc` at `levels`.
    pub fn new(enc: Encoding, levels: &Levels) -> io::Result<StreamEncoder> {
        let inner = match enc {
            Encoding::Gzip => Inner::Gzip(GzEncoder::new(
                Vec::new(),
                flate2::Compression::new(levels.gzip),
            )),
            Encoding::Brotli => Inner::Brotli(Box::new(brotli::CompressorWriter::new(
                Vec::new(),
                4096,
                levels.brotli,
                BROTLI_STREAM_WINDOW,
            ))),
            Encoding::Zstd => {
                let mut e = zstd::stream::write::Encoder::new(Vec::new(), levels.zstd)?;
                e.window_log(ZSTD_STREAM_WINDOW_LOG)?;
                Inner::Zstd(e)
            }
        };
        Ok(StreamEncoder {
            encoding: enc,
            inner,
        })
    }

    /// The coding (as in the response's `content-encoding`).
    pub fn encoding(&self) -> Encoding {
        self.encoding
    }

    /// Compresses `data`; its output may stay inside the encoder until `flush` or `finish`.
    pub fn write(&mut self, data: &[u8]) -> io::Result<()> {
        match &mut self.inner {
            Inner::Gzip(e) => e.write_all(data),
            Inner::Brotli(e) => e.write_all(data),
            Inner::Zstd(e) => e.write_all(data),
            Inner::Finished => Err(io::Error::other("write after finish")),
        }
    }

    /// Sync-flushes: appends to `out` everything needed to decode all data written so far.
    pub fn flush(&mut self, out: &mut Vec<u8>) -> io::Result<()> {
        let sink = match &mut self.inner {
            Inner::Gzip(e) => {
                e.flush()?;
                e.get_mut()
            }
            Inner::Brotli(e) => {
                e.flush()?;
                e.get_mut()
            }
            Inner::Zstd(e) => {
                e.flush()?;
                e.get_mut()
            }
            Inner::Finished => return Ok(()),
        };
        out.append(sink);
        Ok(())
    }

    /// `write` then `flush`: one chunk in, its compressed form out.
    pub fn encode(&mut self, data: &[u8], out: &mut Vec<u8>) -> io::Result<()> {
        self.write(data)?;
        self.flush(out)
    }

    /// Ends the compressed stream, appending its remaining bytes (trailer) to `out`.
    pub fn finish(&mut self, out: &mut Vec<u8>) -> io::Result<()> {
        let mut tail = match std::mem::replace(&mut self.inner, Inner::Finished) {
            Inner::Gzip(e) => e.finish()?,
            Inner::Brotli(e) => e.into_inner(),
            Inner::Zstd(e) => e.finish()?,
            Inner::Finished => return Ok(()),
        };
        out.append(&mut tail);
        Ok(())
    }
}

impl std::fmt::Debug for StreamEncoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StreamEncoder")
            .field("encoding", &self.encoding)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
#[path = "codec_tests.rs"]
pub(super) mod tests;
