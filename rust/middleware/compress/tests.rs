use super::codec::tests::{decode, sample};
use super::*;
use crate::middleware::tests::{head, header};
use crate::protocol::response::{Chunk, StreamBody};

fn layer() -> Compress {
    Compress::new(CompressConfig::default()).unwrap()
}

fn json(len: usize) -> Response {
    Response::full(200, "application/json", sample(len))
}

fn full_body(r: &Response) -> &[u8] {
    match &r.body {
        Body::Full(b) => b,
        _ => panic!("full body expected"),
    }
}

#[test]
fn negotiates_from_the_request() {
    let c = layer();
    let h =
        head("GET / HTTP/1.1\r\nhost: a\r\naccept-encoding: gzip\r\naccept-encoding: zstd\r\n\r\n");
    assert_eq!(c.negotiate(&h), Some(Encoding::Zstd));
    assert_eq!(
        c.negotiate(&head("GET / HTTP/1.1\r\nhost: a\r\n\r\n")),
        None
    );
}

#[test]
fn compresses_an_eligible_full_body() {
    for enc in [Encoding::Brotli, Encoding::Zstd, Encoding::Gzip] {
        let mut r = json(5000);
        r.header_block.extend_from_slice(b"ETag: \"v1\"\r\n");
        assert!(layer().on_response(Some(enc), false, &mut r).is_none());
        assert_eq!(header(&r, "content-encoding").as_deref(), Some(enc.token()));
        assert_eq!(header(&r, "vary").as_deref(), Some("accept-encoding"));
        assert_eq!(header(&r, "etag").as_deref(), Some("W/\"v1\""));
        assert_eq!(decode(enc, full_body(&r)), sample(5000));
    }
}

#[test]
fn skips_what_should_not_be_compressed() {
    let c = layer();
    let cases: Vec<(&str, Response)> = vec![
        ("small", json(DEFAULT_MIN_SIZE - 1)),
        ("image", Response::full(200, "image/png", sample(5000))),
        (
            "no type",
            Response {
                status: 200,
                header_block: Vec::new(),
                body: Body::Full(sample(5000).into()),
            },
        ),
        (
            "204",
            Response {
                status: 204,
                ..json(5000)
            },
        ),
        (
            "304",
            Response {
                status: 304,
                ..json(5000)
            },
        ),
        (
            "206",
            Response {
                status: 206,
                ..json(5000)
            },
        ),
        ("encoded", {
            let mut r = json(5000);
            r.header_block
                .extend_from_slice(b"Content-Encoding: gzip\r\n");
            r
        }),
        ("no-transform", {
            let mut r = json(5000);
            r.header_block
                .extend_from_slice(b"cache-control: public, No-Transform\r\n");
            r
        }),
    ];
    for (why, mut r) in cases {
        let before = r.header_block.clone();
        assert!(c.on_response(Some(Encoding::Gzip), false, &mut r).is_none());
        assert_eq!(r.header_block, before, "{why}");
        if let Body::Full(b) = &r.body {
            assert!(b.is_empty() || b[0] == b'{', "{why}");
        }
    }
}

#[test]
fn vary_without_compression_when_the_client_accepts_none_or_for_head() {
    for (enc, head_only) in [(None, false), (Some(Encoding::Gzip), true)] {
        let mut r = json(5000);
        assert!(layer().on_response(enc, head_only, &mut r).is_none());
        assert_eq!(header(&r, "vary").as_deref(), Some("accept-encoding"));
        assert_eq!(header(&r, "content-encoding"), None);
        assert_eq!(full_body(&r), &sample(5000)[..]);
    }
}

#[test]
fn incompressible_bodies_are_sent_as_they_are() {
    // Pseudo-random bytes under a text type: compression would only grow them.
    let mut x = 0x2545_f491_4f6c_dd1du64;
    let noise: Vec<u8> = (0..4000)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect();
    let mut r = Response::full(200, "text/plain", noise.clone());
    assert!(layer()
        .on_response(Some(Encoding::Gzip), false, &mut r)
        .is_none());
    assert_eq!(header(&r, "content-encoding"), None);
    assert_eq!(full_body(&r), &noise[..]);
}

#[test]
fn streams_get_an_encoder_and_headers() {
    let (_tx, rx) = tokio::sync::mpsc::channel::<Chunk>(1);
    let mut r = Response::full(200, "text/plain", "");
    r.body = Body::Stream(StreamBody {
        rx,
        on_space: None,
        trailers: None,
    });
    let enc = layer()
        .on_response(Some(Encoding::Brotli), false, &mut r)
        .unwrap();
    assert_eq!(enc.encoding(), Encoding::Brotli);
    assert_eq!(header(&r, "content-encoding").as_deref(), Some("br"));
    assert!(layer()
        .on_response(
            Some(Encoding::Brotli),
            true,
            &mut Response {
                status: 200,
                header_block: b"content-type: text/plain\r\n".to_vec(),
                body: Body::Stream(StreamBody {
                    rx: tokio::sync::mpsc::channel(1).1,
                    on_space: None,
                    trailers: None,
                }),
            }
        )
        .is_none());
}

#[test]
fn event_streams_are_never_compressed() {
    // Issue 15: an SSE stream is sent as produced, even when its type is listed explicitly.
    let mut c = layer();
    assert!(!c.compresses_type(b"text/event-stream; charset=utf-8"));
    c = Compress::new(CompressConfig {
        content_types: vec!["text/event-stream".into(), "text/*".into()],
        ..CompressConfig::default()
    })
    .unwrap();
    assert!(!c.compresses_type(b"Text/Event-Stream"));
    assert!(c.compresses_type(b"text/plain"));
    let (_tx, rx) = tokio::sync::mpsc::channel::<Chunk>(1);
    let mut r = Response::full(200, "text/event-stream; charset=utf-8", "");
    r.body = Body::Stream(StreamBody {
        rx,
        on_space: None,
        trailers: None,
    });
    assert!(c.on_response(Some(Encoding::Gzip), false, &mut r).is_none());
    assert_eq!(header(&r, "content-encoding"), None);
    assert_eq!(header(&r, "vary"), None);
}

#[test]
fn content_type_matching() {
    let c = layer();
    assert!(c.compresses_type(b"text/html; charset=utf-8"));
    assert!(c.compresses_type(b"Application/JSON"));
    assert!(c.compresses_type(b"image/svg+xml"));
    assert!(!c.compresses_type(b"text/"));
    assert!(!c.compresses_type(b"application/jsonx"));
    assert!(!c.compresses_type(b"application/octet-stream"));
}

#[test]
fn refuses_bad_configuration() {
    let bad = |cfg: CompressConfig| Compress::new(cfg).is_err();
    assert!(bad(CompressConfig {
        content_types: vec!["json".into()],
        ..Default::default()
    }));
    assert!(bad(CompressConfig {
        preference: vec![],
        ..Default::default()
    }));
    assert!(bad(CompressConfig {
        levels: Levels {
            gzip: 10,
            ..Levels::default()
        },
        ..Default::default()
    }));
}
