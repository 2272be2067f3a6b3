use std::io::Read;

use super::*;

/// Text that compresses like a JSON API answer: repetitive keys, varied values.
pub(crate) fn sample(len: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(len + 64);
    let mut i = 0u64;
    while out.len() < len {
        let item = format!(
            "{{\"id\":{i},\"name\":\"item-{}\",\"price\":{}.{:02},\"tags\":[\"a{}\",\"b\"]}},",
            i * 7919 % 1000,
            i * 31 % 500,
            i % 100,
            i % 13
        );
        out.extend_from_slice(item.as_bytes());
        i += 1;
    }
    out.truncate(len);
    out
}

pub(crate) fn decode(enc: Encoding, data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    match enc {
        Encoding::Gzip => {
            flate2::read::GzDecoder::new(data)
                .read_to_end(&mut out)
                .unwrap();
        }
        Encoding::Brotli => {
            brotli::Decompressor::new(data, 4096)
                .read_to_end(&mut out)
                .unwrap();
        }
        Encoding::Zstd => out = zstd::stream::decode_all(data).unwrap(),
    }
    out
}

const ALL: [Encoding; 3] = [Encoding::Brotli, Encoding::Zstd, Encoding::Gzip];

#[test]
fn whole_bodies_decode_back() {
    for len in [0, 1, 1000, 70_000] {
        let data = sample(len);
        for enc in ALL {
            let packed = compress(enc, &data, &Levels::default()).unwrap();
            assert_eq!(decode(enc, &packed), data, "{enc:?} {len}");
            if len >= 1000 {
                assert!(
                    packed.len() < data.len() / 2,
                    "{enc:?} {len}: {}",
                    packed.len()
                );
            }
        }
    }
}

#[test]
fn zstd_context_follows_the_level() {
    let data = sample(10_000);
    let fast = compress(
        Encoding::Zstd,
        &data,
        &Levels {
            zstd: 1,
            ..Levels::default()
        },
    )
    .unwrap();
    let slow = compress(
        Encoding::Zstd,
        &data,
        &Levels {
            zstd: 19,
            ..Levels::default()
        },
    )
    .unwrap();
    assert!(slow.len() < fast.len());
    assert_eq!(decode(Encoding::Zstd, &slow), data);
}

#[test]
fn brotli_window_fits_the_body() {
    assert_eq!(brotli_window(0), 17);
    assert_eq!(brotli_window(100_000), 17);
    assert_eq!(brotli_window(1 << 17), 17);
    assert_eq!(brotli_window((1 << 17) + 1), 18);
    assert_eq!(brotli_window(usize::MAX), 22);
}

#[test]
fn stream_output_decodes_to_the_concatenated_chunks() {
    let chunks: Vec<Vec<u8>> = (0..20).map(|i| sample(100 + i * 300)).collect();
    let whole: Vec<u8> = chunks.concat();
    for enc in ALL {
        let mut e = StreamEncoder::new(enc, &Levels::default()).unwrap();
        assert_eq!(e.encoding(), enc);
        let mut wire = Vec::new();
        for c in &chunks {
            let mut out = Vec::new();
            e.encode(c, &mut out).unwrap();
            assert!(!out.is_empty(), "{enc:?}: a flushed chunk produces bytes");
            wire.extend_from_slice(&out);
        }
        e.finish(&mut wire).unwrap();
        assert_eq!(decode(enc, &wire), whole, "{enc:?}");
        assert!(e.write(b"late").is_err());
    }
}

#[test]
fn each_flush_makes_everything_so_far_decodable() {
    // What a client has after each chunk must decode to all the chunks so far: the sync
    // flush is what makes a compressed stream still a stream.
    for enc in ALL {
        let mut e = StreamEncoder::new(enc, &Levels::default()).unwrap();
        let mut wire = Vec::new();
        let mut sent = Vec::new();
        for i in 0..5 {
            let chunk = format!("event {i}: {}\n", "data ".repeat(i * 10));
            e.encode(chunk.as_bytes(), &mut wire).unwrap();
            sent.extend_from_slice(chunk.as_bytes());
            assert_eq!(decode_prefix(enc, &wire), sent, "{enc:?} after chunk {i}");
        }
    }
}

/// Decodes an unfinished stream as far as it goes (a reader that reaches the end of input
/// before the end of the stream reports an error; what it produced so far is what counts).
fn decode_prefix(enc: Encoding, data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    let mut read = |r: &mut dyn Read| loop {
        match r.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => out.extend_from_slice(&buf[..n]),
        }
    };
    match enc {
        Encoding::Gzip => read(&mut flate2::read::GzDecoder::new(data)),
        Encoding::Brotli => read(&mut brotli::Decompressor::new(data, 4096)),
        Encoding::Zstd => read(&mut zstd::stream::read::Decoder::new(data).unwrap()),
    }
    out
}

#[test]
fn coalesced_writes_then_one_flush() {
    for enc in ALL {
        let mut e = StreamEncoder::new(enc, &Levels::default()).unwrap();
        let mut wire = Vec::new();
        e.write(b"one ").unwrap();
        e.write(b"two ").unwrap();
        e.flush(&mut wire).unwrap();
        e.write(b"three").unwrap();
        e.finish(&mut wire).unwrap();
        assert_eq!(decode(enc, &wire), b"one two three", "{enc:?}");
    }
}

#[test]
fn empty_stream_finishes_to_a_valid_empty_body() {
    for enc in ALL {
        let mut e = StreamEncoder::new(enc, &Levels::default()).unwrap();
        let mut wire = Vec::new();
        e.finish(&mut wire).unwrap();
        assert!(!wire.is_empty());
        assert_eq!(decode(enc, &wire), b"", "{enc:?}");
        e.finish(&mut wire).unwrap();
    }
}
