//! Rough costs, not assertions: `#[ignore]`d timing loops to rerun by hand with
//! `cargo test --release --lib middleware::cost_tests -- --ignored --nocapture --test-threads 1`.
//! They print ns or µs per operation on the machine that runs them; the numbers quoted in the
//! layers' comments come from here (2-core VM, release profile).

use std::hint::black_box;
use std::time::{Duration, Instant};

use super::compress::{CompressConfig, Levels};
use super::cors::CorsConfig;
use super::ratelimit::{Limiter, RateKey, RateLimitConfig};
use super::request_id::RequestIdConfig;
use super::security::SecurityConfig;
use super::tests::head;
use super::*;

const REQUEST: &str = "GET /api/items?page=2 HTTP/1.1\r\nhost: example.com\r\n\
    user-agent: Mozilla/5.0 (X11; Linux x86_64) Firefox/140.0\r\naccept: application/json\r\n\
    accept-language: en-US,en;q=0.5\r\naccept-encoding: gzip, deflate, br, zstd\r\n\
    origin: https://app.example.com\r\nconnection: keep-alive\r\ncookie: session=abc123\r\n\r\n";

/// Time per call of `f`: the best of five batches (the machine is shared; the best batch is
/// the one least disturbed).
fn time<F: FnMut()>(iters: u32, mut f: F) -> Duration {
    for _ in 0..iters / 10 {
        f();
    }
    (0..5)
        .map(|_| {
            let t = Instant::now();
            for _ in 0..iters / 5 {
                f();
            }
            t.elapsed() / (iters / 5)
        })
        .min()
        .unwrap_or_default()
}

fn layer(name: &str) -> Layer {
    match name {
        "cors" => Layer::Cors(
            cors::Cors::new(CorsConfig {
                allow_origins: vec!["https://app.example.com".into()],
                ..Default::default()
            })
            .unwrap(),
        ),
        "compress" => Layer::Compress(compress::Compress::new(CompressConfig::default()).unwrap()),
        "request_id" => {
            Layer::RequestId(request_id::RequestId::new(RequestIdConfig::default()).unwrap())
        }
        "security_headers" => {
            Layer::Security(security::SecurityHeaders::new(SecurityConfig::default()).unwrap())
        }
        "trusted_hosts" => Layer::Hosts(hosts::TrustedHosts::new(&["example.com"]).unwrap()),
        "body_limit" => Layer::BodyLimit(1 << 20),
        "rate_limit" => Layer::RateLimit(
            ratelimit::RateLimit::new(RateLimitConfig {
                rate: 1e9,
                burst: 1_000_000,
                key: RateKey::Peer,
                max_keys: ratelimit::DEFAULT_MAX_KEYS,
            })
            .unwrap(),
        ),
        "timing" => Layer::Timing,
        _ => unreachable!(),
    }
}

const NAMES: [&str; 8] = [
    "cors",
    "compress",
    "request_id",
    "security_headers",
    "trusted_hosts",
    "body_limit",
    "rate_limit",
    "timing",
];

/// One request through `on_request` and `on_response` with a small JSON answer (below the
/// compression threshold), minus making the answer itself.
#[test]
#[ignore]
fn pipeline_cost_per_request() {
    let h = head(REQUEST);
    let peer = Peer::Tcp("192.0.2.7:40000".parse().unwrap());
    let body = bytes::Bytes::from(vec![b'x'; 200]);
    let answer = || Response::full(200, "application/json", body.clone());
    let base = time(500_000, || {
        black_box(answer());
    });
    // The connection passes the Instant it took when the head arrived: no clock read here.
    let now = Instant::now();
    let run = |p: &Pipeline| {
        time(500_000, || {
            let ctx = p.on_request(black_box(&h), &peer, now).unwrap();
            let mut r = answer();
            black_box(p.on_response(&ctx, false, &mut r));
            black_box(r);
        })
        .saturating_sub(base)
    };
    let empty = Pipeline::new(vec![]).unwrap();
    println!("empty pipeline: {:?}/request", run(&empty));
    for name in NAMES {
        let p = Pipeline::new(vec![layer(name)]).unwrap();
        println!("{name}: {:?}/request", run(&p));
    }
    let all = Pipeline::new(NAMES.iter().map(|n| layer(n)).collect()).unwrap();
    println!("all eight: {:?}/request", run(&all));
}

fn html(len: usize) -> Vec<u8> {
    let mut out = b"<!doctype html><html><head><title>Items</title></head><body><table>".to_vec();
    let mut i = 0u64;
    while out.len() < len {
        let row = format!(
            "<tr class=\"row-{}\"><td><a href=\"/items/{i}\">Item {}</a></td><td>{}.{:02} EUR</td></tr>\n",
            i % 2,
            i * 7919 % 1000,
            i * 31 % 500,
            i % 100
        );
        out.extend_from_slice(row.as_bytes());
        i += 1;
    }
    out.truncate(len);
    out
}

/// Time and size per level for 16 KiB of JSON and of HTML: the basis of `Levels::default`.
#[test]
#[ignore]
fn compression_levels() {
    use super::compress::codec_for_tests as codec;
    // Real files, when named (`COVETPY_COMPRESS_SAMPLES=a.json:b.html:...`), besides the
    // synthetic ones: synthetic text flatters some levels.
    let mut bodies = vec![
        ("json".to_string(), compress::sample_for_tests(16 * 1024)),
        ("html".to_string(), html(16 * 1024)),
    ];
    for path in std::env::var("COVETPY_COMPRESS_SAMPLES")
        .unwrap_or_default()
        .split(':')
    {
        if let Ok(data) = std::fs::read(path) {
            let name = path.rsplit('/').next().unwrap_or(path).to_string();
            bodies.push((name, data));
        }
    }
    let cases: Vec<(Encoding, Levels)> = [1, 4, 5, 6]
        .map(|g| {
            (
                Encoding::Gzip,
                Levels {
                    gzip: g,
                    ..Levels::default()
                },
            )
        })
        .into_iter()
        .chain([3, 4, 5, 6].map(|b| {
            (
                Encoding::Brotli,
                Levels {
                    brotli: b,
                    ..Levels::default()
                },
            )
        }))
        .chain([1, 3, 6].map(|z| {
            (
                Encoding::Zstd,
                Levels {
                    zstd: z,
                    ..Levels::default()
                },
            )
        }))
        .collect();
    for (kind, data) in &bodies {
        for (enc, levels) in &cases {
            let level = match enc {
                Encoding::Gzip => levels.gzip as i32,
                Encoding::Brotli => levels.brotli as i32,
                Encoding::Zstd => levels.zstd,
            };
            let size = codec(*enc, data, levels).len();
            let t = time(300, || {
                black_box(codec(*enc, black_box(data), levels));
            });
            println!(
                "{kind} {} bytes, {:>4} level {level:>2}: {:>6.1} us, {size:>5} bytes ({:.1}%)",
                data.len(),
                enc.token(),
                t.as_secs_f64() * 1e6,
                size as f64 * 100.0 / data.len() as f64
            );
        }
    }
    // What reusing the zstd context saves.
    let data = &bodies[0].1.clone();
    let fresh = time(300, || {
        black_box(zstd::bulk::compress(black_box(data), 3).unwrap());
    });
    let reused = time(300, || {
        black_box(codec(Encoding::Zstd, black_box(data), &Levels::default()));
    });
    println!("zstd 3 on 16 KiB json: fresh context {fresh:?}, reused {reused:?}");
}

/// Per chunk of a stream: encode + sync flush, and what the flush adds to the output.
#[test]
#[ignore]
fn streaming_cost() {
    let data = compress::sample_for_tests(64 * 1024);
    for chunk in [100usize, 1024, 8192] {
        for enc in [Encoding::Brotli, Encoding::Zstd, Encoding::Gzip] {
            let mut out_len = 0;
            let mut chunks = 0;
            let t = Instant::now();
            let rounds = 20;
            for _ in 0..rounds {
                let mut e = StreamEncoder::new(enc, &Levels::default()).unwrap();
                let mut out = Vec::new();
                for c in data.chunks(chunk) {
                    e.encode(c, &mut out).unwrap();
                    chunks += 1;
                }
                e.finish(&mut out).unwrap();
                out_len = out.len();
            }
            let per = t.elapsed() / chunks;
            println!(
                "stream {:>4}, {chunk:>5}-byte chunks: {:>6.2} us/chunk, 64 KiB -> {out_len} bytes",
                enc.token(),
                per.as_secs_f64() * 1e6
            );
        }
    }
}

/// Rate limit checks from two threads at once: one mutex vs the default shards.
#[test]
#[ignore]
fn rate_limit_contention() {
    for (shards, nthreads) in [(16, 1), (1, 2), (16, 2)] {
        let l = std::sync::Arc::new(Limiter::with_shards_for_tests(
            1e9, 1_000_000, 100_000, shards,
        ));
        let n = 300_000u32;
        let best = (0..5)
            .map(|_| {
                let threads: Vec<_> = (0..nthreads)
                    .map(|k| {
                        let l = l.clone();
                        std::thread::spawn(move || {
                            let keys: Vec<String> = (0..1000).map(|i| format!("{k}-{i}")).collect();
                            let start = Instant::now();
                            for i in 0..n {
                                let _ =
                                    black_box(l.check(&keys[i as usize % 1000], Instant::now()));
                            }
                            start.elapsed()
                        })
                    })
                    .collect();
                threads
                    .into_iter()
                    .map(|th| th.join().unwrap())
                    .max()
                    .unwrap_or_default()
                    / n
            })
            .min()
            .unwrap_or_default();
        println!("rate limit, {shards:>2} shard(s), {nthreads} thread(s): {best:?}/check");
    }
}
