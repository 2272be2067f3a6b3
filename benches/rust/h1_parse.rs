//! Criterion benches of the pure-Rust hot path: parsing a request head, decoding a chunked
//! body, routing, and an HTTP/2 request's fields as a head. `cargo bench --bench h1_parse` (or
//! `make bench-rust`).

use bytes::BytesMut;
use criterion::{criterion_group, criterion_main, Criterion, Throughput};

use _core::protocol::h1::{parse_head, BodyDecoder, BodyFraming, Limits};
use _core::protocol::h2::request_head;
use _core::router::{RouteSpec, Router};

/// What wrk sends: a small GET.
const SMALL: &[u8] = b"GET /users/42 HTTP/1.1\r\nHost: 127.0.0.1:8000\r\n\r\n";

/// What a browser sends: a dozen headers, ~500 bytes.
const BROWSER: &[u8] = b"GET /items/123?verbose=true&tag=a HTTP/1.1\r\n\
Host: shop.example.com\r\n\
User-Agent: Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0\r\n\
Accept: text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8\r\n\
Accept-Language: en-US,en;q=0.5\r\n\
Accept-Encoding: gzip, deflate, br, zstd\r\n\
Connection: keep-alive\r\n\
Cookie: session=0123456789abcdef; theme=dark\r\n\
Upgrade-Insecure-Requests: 1\r\n\
Sec-Fetch-Dest: document\r\n\
Sec-Fetch-Mode: navigate\r\n\
Sec-Fetch-Site: none\r\n\
Priority: u=0, i\r\n\r\n";

fn heads(c: &mut Criterion) {
    let limits = Limits::default();
    let mut g = c.benchmark_group("parse_head");
    for (name, req) in [("small", SMALL), ("browser", BROWSER)] {
        g.throughput(Throughput::Bytes(req.len() as u64));
        g.bench_function(name, |b| {
            b.iter(|| {
                let mut buf = BytesMut::from(req);
                parse_head(&mut buf, &limits).unwrap().unwrap()
            })
        });
    }
    g.finish();
}

fn chunked(c: &mut Criterion) {
    let mut body = Vec::new();
    for _ in 0..16 {
        body.extend_from_slice(b"400\r\n");
        body.extend_from_slice(&[b'x'; 1024]);
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(b"0\r\n\r\n");
    let mut g = c.benchmark_group("body");
    g.throughput(Throughput::Bytes(body.len() as u64));
    g.bench_function("chunked_16x1KiB", |b| {
        b.iter(|| {
            let mut buf = BytesMut::from(&body[..]);
            let mut out = BytesMut::new();
            let mut d = BodyDecoder::new(BodyFraming::Chunked, 1 << 20, 4096);
            assert!(d.decode(&mut buf, &mut out).unwrap());
            out
        })
    });
    g.finish();
}

fn routing(c: &mut Criterion) {
    // 60 routes shaped like a REST API, so the tree has depth and siblings.
    let mut specs = Vec::new();
    for (i, res) in ["users", "items", "orders", "carts", "shops", "reviews"]
        .iter()
        .enumerate()
    {
        let paths = [
            format!("/{res}"),
            format!("/{res}/{{id:int}}"),
            format!("/{res}/{{id:int}}/history"),
            format!("/{res}/{{id:int}}/tags/{{tag}}"),
            format!("/{res}/search"),
            format!("/{res}/export/{{rest:path}}"),
            format!("/v2/{res}/{{key:uuid}}"),
            format!("/{res}/stats/daily"),
            format!("/{res}/stats/weekly"),
            format!("/{res}/stats/{{period}}/{{n:float}}"),
        ];
        for (j, path) in paths.into_iter().enumerate() {
            specs.push(RouteSpec {
                id: i * 10 + j,
                methods: vec!["GET".into()],
                path,
            });
        }
    }
    let router = Router::new(&specs).unwrap();
    let mut g = c.benchmark_group("router");
    for (name, path) in [
        ("static", "/orders/search"),
        ("int_param", "/items/12345/history"),
        ("two_params", "/reviews/7/tags/rust"),
        ("uuid", "/v2/shops/6f9619ff-8b86-d011-b42d-00cf4fc964ff"),
        ("not_found", "/nothing/here"),
    ] {
        g.bench_function(name, |b| {
            b.iter(|| router.lookup("GET", std::hint::black_box(path)))
        });
    }
    g.finish();
}

/// An HTTP/2 request's fields as the pipeline's head (`protocol::h2::request_head`): written
/// out as HTTP/1.1 and parsed again (adrs/0017), against the parse of the same head alone.
fn h2_heads(c: &mut Criterion) {
    let limits = Limits::default();
    let mut g = c.benchmark_group("h2_request_head");
    let small = http::Request::get("http://127.0.0.1:8000/users/42")
        .body(())
        .unwrap()
        .into_parts()
        .0;
    let mut browser = http::Request::get("https://shop.example.com/items/123?verbose=true&tag=a");
    for line in std::str::from_utf8(BROWSER).unwrap().lines().skip(2) {
        if let Some((n, v)) = line.split_once(": ") {
            if !n.eq_ignore_ascii_case("connection") {
                browser = browser.header(n.to_ascii_lowercase(), v);
            }
        }
    }
    let browser = browser.body(()).unwrap().into_parts().0;
    for (name, parts) in [("small", &small), ("browser", &browser)] {
        g.bench_function(name, |b| b.iter(|| request_head(parts, &limits).unwrap()));
    }
    g.finish();
}

criterion_group!(benches, heads, chunked, routing, h2_heads);
criterion_main!(benches);
