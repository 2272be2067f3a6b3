//! The service-mesh header parsers (`_core::mesh`) on fuzzer-chosen headers.
//!
//! Input, one item a line (the value is the raw bytes after `": "`, lines split at `\n`):
//!
//! ```text
//! hops=2 peer=10.0.0.1                     control line: hop count, peer (trusted: 10/8, fd00::/8)
//! forwarded: for=192.0.2.60;proto=https    any number of header lines, in order
//! x-forwarded-for: 1.2.3.4, 10.0.0.7
//! traceparent: 00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01
//! ```
//!
//! Recognised names: `forwarded`, `x-forwarded-{for,proto,host}`, `traceparent`, `tracestate`,
//! `b3`, `x-b3-{traceid,spanid,sampled,flags}`, `grpc-timeout`,
//! `x-envoy-expected-rq-timeout-ms`, `x-forwarded-client-cert`. Every parser also gets the
//! whole input and every line's value, so no parser depends on the line format to be reached.
//!
//! Nothing panics, and: a parsed `traceparent` formats back to itself (exactly, for version
//! 00) and any ids format then parse back unless all-zero; a server span continues a valid
//! incoming trace; the effective deadline is the minimum of the ones parsed; XFCC obeys its
//! limits and `nearest` is the last element; an untrusted peer is always the client; an
//! `X-Forwarded-*` list gives one origin whether sent as several lines or joined by commas.

#![no_main]

use std::net::IpAddr;
use std::time::Duration;

use _core::mesh::deadline::{effective, parse_envoy_timeout_ms, parse_grpc_timeout};
use _core::mesh::forwarded::{resolve, Origin, TrustPolicy};
use _core::mesh::trace::{
    parse_b3_multi, parse_b3_single, valid_tracestate, B3Input, ServerTrace, TraceParent,
};
use _core::mesh::xfcc;
use libfuzzer_sys::fuzz_target;

#[derive(Default)]
struct Headers<'a> {
    forwarded: Vec<&'a [u8]>,
    xff: Vec<&'a [u8]>,
    xfp: Vec<&'a [u8]>,
    xfh: Vec<&'a [u8]>,
    /// (name, value) of every other line.
    other: Vec<(&'a [u8], &'a [u8])>,
}

impl<'a> Headers<'a> {
    fn get(&self, name: &[u8]) -> Option<&'a [u8]> {
        self.other.iter().find(|(n, _)| *n == name).map(|(_, v)| *v)
    }
}

/// `hops=N peer=IP`; anything unparsable falls back to 1 hop from 10.0.0.1.
fn control(line: &[u8]) -> (usize, IpAddr) {
    let (mut hops, mut peer) = (1, IpAddr::from([10, 0, 0, 1]));
    for word in String::from_utf8_lossy(line).split_whitespace() {
        if let Some(n) = word.strip_prefix("hops=").and_then(|n| n.parse().ok()) {
            hops = n;
        } else if let Some(ip) = word.strip_prefix("peer=").and_then(|p| p.parse().ok()) {
            peer = ip;
        }
    }
    (hops.min(100), peer)
}

fn split_header(line: &[u8]) -> (&[u8], &[u8]) {
    match line.windows(2).position(|w| w == b": ") {
        Some(i) => (&line[..i], &line[i + 2..]),
        None => (line, &[][..]),
    }
}

fn check_traceparent(v: &[u8]) {
    if let Some(p) = TraceParent::parse(v) {
        assert!(p.trace_id != [0; 16] && p.parent_id != [0; 8]);
        let s = p.to_string();
        assert_eq!(TraceParent::parse(s.as_bytes()), Some(p));
        if v.starts_with(b"00") {
            assert_eq!(s.as_bytes(), v);
        }
        let st = ServerTrace::from_incoming(Some(v), None);
        assert_eq!((st.trace_id, st.parent_id), (p.trace_id, Some(p.parent_id)));
        assert_eq!(st.sampled(), p.sampled());
    }
    // Fuzzer bytes as ids: format then parse is the identity unless an id is all zero.
    if v.len() >= 25 {
        let p = TraceParent {
            trace_id: v[..16].try_into().unwrap(),
            parent_id: v[16..24].try_into().unwrap(),
            flags: v[24],
        };
        let back = TraceParent::parse(p.to_string().as_bytes());
        let zero = p.trace_id == [0; 16] || p.parent_id == [0; 8];
        assert_eq!(back, (!zero).then_some(p));
    }
}

fn check_single(v: &[u8]) {
    check_traceparent(v);
    let _ = valid_tracestate(v);
    let _ = parse_b3_single(v);
    let _ = parse_b3_multi(v, v, Some(v), Some(v));
    let st = ServerTrace::from_incoming(Some(v), Some(B3Input::Single(v)));
    assert!(TraceParent::parse(st.traceparent().as_bytes()).is_some());
    let (g, e) = (parse_grpc_timeout(v), parse_envoy_timeout_ms(v));
    if g.is_some() {
        assert!((2..=9).contains(&v.len()));
    }
    let route = Some(Duration::from_secs(30));
    assert_eq!(
        effective(route, Some(v), Some(v)),
        [route, g, e].into_iter().flatten().min()
    );
    match xfcc::parse(v) {
        Ok(els) => {
            assert!(els.len() <= xfcc::MAX_ELEMENTS && v.len() <= xfcc::MAX_LEN);
            assert_eq!(xfcc::nearest(v), els.last().cloned());
            for el in &els {
                if let Some(id) = el.spiffe_id() {
                    assert!(id.starts_with("spiffe://"));
                }
            }
        }
        Err(e) => {
            assert!(xfcc::nearest(v).is_none());
            let _ = e.to_string();
        }
    }
}

fn check_origin(o: &Origin) {
    assert!(!o.client.0.is_empty());
    if let Some(s) = &o.scheme {
        assert!(!s.is_empty() && !s.bytes().any(|b| b.is_ascii_uppercase()));
    }
    if let Some(h) = &o.host {
        assert!(!h.is_empty() && h.bytes().all(|b| b.is_ascii_graphic()));
    }
}

fn join(lines: &[&[u8]]) -> Vec<u8> {
    lines.join(&b","[..])
}

fuzz_target!(|data: &[u8]| {
    check_single(data);
    let mut lines = data.split(|&b| b == b'\n');
    let (hops, peer) = control(lines.next().unwrap_or_default());
    let mut h = Headers::default();
    for line in lines {
        let (name, value) = split_header(line);
        check_single(value);
        match name.to_ascii_lowercase().as_slice() {
            b"forwarded" => h.forwarded.push(value),
            b"x-forwarded-for" => h.xff.push(value),
            b"x-forwarded-proto" => h.xfp.push(value),
            b"x-forwarded-host" => h.xfh.push(value),
            _ => h.other.push((name, value)),
        }
    }

    let policy = TrustPolicy::new(&["10.0.0.0/8", "fd00::/8"], hops).unwrap();
    let o = resolve(&policy, (peer, 4321), &h.forwarded, &h.xff, &h.xfp, &h.xfh);
    check_origin(&o);
    if !policy.is_trusted(peer) || hops == 0 {
        assert_eq!(o.client, (peer.to_string(), 4321));
        assert_eq!((&o.scheme, &o.host), (&None, &None));
    }
    let none = resolve(
        &TrustPolicy::none(),
        (peer, 1),
        &h.forwarded,
        &h.xff,
        &[],
        &[],
    );
    assert_eq!(none.client, (peer.to_string(), 1));
    if h.forwarded.is_empty() {
        // Several lines of one header are one comma list (RFC 9110 §5.3).
        let (xff, xfp, xfh) = (join(&h.xff), join(&h.xfp), join(&h.xfh));
        let joined = resolve(&policy, (peer, 4321), &[], &[&xff], &[&xfp], &[&xfh]);
        assert_eq!(joined, o);
    }

    let trace = ServerTrace::from_incoming(
        h.get(b"traceparent"),
        h.get(b"b3").map(B3Input::Single).or_else(|| {
            Some(B3Input::Multi {
                trace_id: h.get(b"x-b3-traceid")?,
                span_id: h.get(b"x-b3-spanid")?,
                sampled: h.get(b"x-b3-sampled"),
                flags: h.get(b"x-b3-flags"),
            })
        }),
    );
    assert!(TraceParent::parse(trace.traceparent().as_bytes()).is_some());
    let _ = effective(
        None,
        h.get(b"grpc-timeout"),
        h.get(b"x-envoy-expected-rq-timeout-ms"),
    );
});
