use super::*;
use proptest::prelude::*;

/// TC §3.2.3, the sampled example.
const SAMPLED: &[u8] = b"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

fn tp(trace: &str, parent: &str, flags: u8) -> TraceParent {
    TraceParent {
        trace_id: decode_hex(trace.as_bytes()).unwrap(),
        parent_id: decode_hex(parent.as_bytes()).unwrap(),
        flags,
    }
}

#[test]
fn spec_examples_parse() {
    let p = TraceParent::parse(SAMPLED).unwrap();
    assert_eq!(
        p,
        tp("4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7", 1)
    );
    assert!(p.sampled());
    assert_eq!(p.to_string().as_bytes(), SAMPLED);
    let p = TraceParent::parse(b"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00").unwrap();
    assert!(!p.sampled());
}

#[test]
fn version_00_is_exactly_55_chars() {
    let mut long = SAMPLED.to_vec();
    long.extend_from_slice(b"-extra");
    assert_eq!(TraceParent::parse(&long), None);
    assert_eq!(TraceParent::parse(&SAMPLED[..54]), None);
}

#[test]
fn higher_versions_read_the_first_55_chars() {
    let mut v = SAMPLED.to_vec();
    v[0] = b'c';
    v[1] = b'c';
    assert!(TraceParent::parse(&v).is_some(), "cc exactly 55");
    v.extend_from_slice(b"-what-the-future-holds");
    let p = TraceParent::parse(&v).unwrap();
    assert_eq!(p.trace_id, TraceParent::parse(SAMPLED).unwrap().trace_id);
    // The flags of an unknown version are reduced to the sampled bit.
    let mut v = b"01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-09".to_vec();
    assert_eq!(TraceParent::parse(&v).unwrap().flags, 1);
    v.extend_from_slice(b"x");
    assert_eq!(TraceParent::parse(&v), None, "flags not followed by a dash");
}

#[test]
fn invalid_values_are_ignored() {
    let bad: &[&[u8]] = &[
        b"ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        b"00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
        b"00-4bf92f3577b34da6a3ce929d0e0e4736-00F067AA0BA902B7-01",
        b"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-0G",
        b"00-00000000000000000000000000000000-00f067aa0ba902b7-01",
        b"00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
        b"00_4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        b"00-4bf92f3577b34da6a3ce929d0e0e4736_00f067aa0ba902b7-01",
        b"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7_01",
        b"0-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        b"",
        b"00",
    ];
    for v in bad {
        assert_eq!(
            TraceParent::parse(v),
            None,
            "{}",
            String::from_utf8_lossy(v)
        );
    }
}

#[test]
fn tracestate_grammar_and_limits() {
    assert!(valid_tracestate(b""));
    assert!(valid_tracestate(b"rojo=00f067aa0ba902b7,congo=t61rcWkgMzE"));
    assert!(valid_tracestate(b"rojo=1 , ,\tcongo=2"));
    assert!(valid_tracestate(b"tenant@vendor=a value with spaces"));
    assert!(!valid_tracestate(b"Rojo=1"), "upper-case key");
    assert!(!valid_tracestate(b"rojo"), "no value");
    assert!(!valid_tracestate(b"rojo="), "empty value");
    assert!(!valid_tracestate(b"rojo=a=b"));
    assert!(!valid_tracestate(b"rojo=\x01"));
    assert!(!valid_tracestate(b"rojo=1,rojo=2"), "duplicate key");
    let members: Vec<String> = (0..32).map(|i| format!("k{i}=v")).collect();
    assert!(valid_tracestate(members.join(",").as_bytes()));
    let members: Vec<String> = (0..33).map(|i| format!("k{i}=v")).collect();
    assert!(!valid_tracestate(members.join(",").as_bytes()));
    let long = format!("k={}", "v".repeat(257));
    assert!(!valid_tracestate(long.as_bytes()), "value over 256");
    let big: Vec<String> = (0..20)
        .map(|i| format!("k{i}={}", "v".repeat(30)))
        .collect();
    assert!(big.join(",").len() > MAX_TRACESTATE_LEN);
    assert!(!valid_tracestate(big.join(",").as_bytes()));
}

#[test]
fn b3_single() {
    let p =
        parse_b3_single(b"80f198ee56343ba864fe8b2a57d3eff7-e457b5a2e4d86bd1-1-05e3ac9a4f6e3b90")
            .unwrap();
    assert_eq!(
        p,
        tp("80f198ee56343ba864fe8b2a57d3eff7", "e457b5a2e4d86bd1", 1)
    );
    let p = parse_b3_single(b"64fe8b2a57d3eff7-e457b5a2e4d86bd1-0").unwrap();
    assert_eq!(
        p,
        tp("000000000000000064fe8b2a57d3eff7", "e457b5a2e4d86bd1", 0)
    );
    assert!(parse_b3_single(b"64fe8b2a57d3eff7-e457b5a2e4d86bd1")
        .unwrap()
        .sampled());
    assert!(parse_b3_single(b"64fe8b2a57d3eff7-e457b5a2e4d86bd1-d")
        .unwrap()
        .sampled());
    for bad in [
        &b"0"[..],
        b"1",
        b"d",
        b"",
        b"64fe8b2a57d3eff7",
        b"64fe8b2a57d3eff7-e457b5a2e4d86bd1-x",
        b"64fe8b2a57d3eff7-e457b5a2e4d86bd1-1-zz",
        b"64fe8b2a57d3eff7-e457b5a2e4d86bd1-1-05e3ac9a4f6e3b90-",
        b"64FE8B2A57D3EFF7-e457b5a2e4d86bd1",
        b"0000000000000000-e457b5a2e4d86bd1",
        b"64fe8b2a57d3eff7-0000000000000000",
        b"64fe8b2a57d3eff-e457b5a2e4d86bd1",
    ] {
        assert_eq!(
            parse_b3_single(bad),
            None,
            "{}",
            String::from_utf8_lossy(bad)
        );
    }
}

#[test]
fn b3_multi() {
    let (t, s) = (&b"64fe8b2a57d3eff7"[..], &b"e457b5a2e4d86bd1"[..]);
    assert!(parse_b3_multi(t, s, None, None).unwrap().sampled());
    assert!(parse_b3_multi(t, s, Some(b"1"), None).unwrap().sampled());
    assert!(!parse_b3_multi(t, s, Some(b"0"), None).unwrap().sampled());
    assert!(!parse_b3_multi(t, s, Some(b"false"), None)
        .unwrap()
        .sampled());
    // Debug implies accept, whatever x-b3-sampled says.
    assert!(parse_b3_multi(t, s, Some(b"0"), Some(b"1"))
        .unwrap()
        .sampled());
    assert!(!parse_b3_multi(t, s, Some(b"0"), Some(b"junk"))
        .unwrap()
        .sampled());
    assert_eq!(parse_b3_multi(b"xyz", s, None, None), None);
    assert_eq!(parse_b3_multi(t, b"", None, None), None);
}

#[test]
fn server_trace_continues_the_incoming_trace() {
    let st = ServerTrace::from_incoming(Some(SAMPLED), None);
    let incoming = TraceParent::parse(SAMPLED).unwrap();
    assert_eq!(st.trace_id, incoming.trace_id);
    assert_eq!(st.parent_id, Some(incoming.parent_id));
    assert_ne!(st.span_id, incoming.parent_id);
    let out = st.traceparent();
    assert_eq!(
        out,
        format!(
            "00-4bf92f3577b34da6a3ce929d0e0e4736-{}-01",
            hex(&st.span_id)
        )
    );
    let forwarded = TraceParent::parse(out.as_bytes()).unwrap();
    assert_eq!(forwarded.parent_id, st.span_id);
}

#[test]
fn server_trace_masks_reserved_flags() {
    let st = ServerTrace::from_incoming(
        Some(b"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-ff"),
        None,
    );
    assert_eq!(st.flags, FLAG_SAMPLED);
}

#[test]
fn server_trace_prefers_traceparent_then_b3_then_new() {
    let b3 = B3Input::Single(b"64fe8b2a57d3eff7-e457b5a2e4d86bd1-0");
    let st = ServerTrace::from_incoming(Some(SAMPLED), Some(b3));
    assert_eq!(st.trace_id, TraceParent::parse(SAMPLED).unwrap().trace_id);
    let st = ServerTrace::from_incoming(Some(b"garbage"), Some(b3));
    assert_eq!(st.parent_id, Some(*b"\xe4\x57\xb5\xa2\xe4\xd8\x6b\xd1"));
    assert!(!st.sampled());
    let st = ServerTrace::from_incoming(Some(b"garbage"), None);
    assert_eq!(st.parent_id, None);
    assert!(st.sampled());
    assert!(!is_zero(&st.trace_id) && !is_zero(&st.span_id));
    let st = ServerTrace::from_incoming(None, Some(B3Input::Single(b"0")));
    assert_eq!(
        (st.parent_id, st.sampled()),
        (None, false),
        "b3: 0 is a deny"
    );
}

#[test]
fn ids_are_fresh() {
    let a: Vec<[u8; 8]> = (0..1000).map(|_| new_span_id()).collect();
    let mut sorted = a.clone();
    sorted.sort_unstable();
    sorted.dedup();
    assert_eq!(sorted.len(), a.len());
    assert_ne!(new_trace_id(), new_trace_id());
    let other = std::thread::spawn(new_trace_id).join().unwrap();
    assert_ne!(other, new_trace_id());
}

#[test]
fn hex_helpers() {
    assert_eq!(hex(&[0x00, 0xab, 0x7f]), "00ab7f");
    assert_eq!(decode_hex::<2>(b"00ab"), Some([0, 0xab]));
    assert_eq!(decode_hex::<2>(b"00aB"), None);
    assert_eq!(decode_hex::<2>(b"00a"), None);
}

proptest! {
    #[test]
    fn traceparent_round_trips(
        trace_id in any::<[u8; 16]>(),
        parent_id in any::<[u8; 8]>(),
        flags in any::<u8>(),
    ) {
        let p = TraceParent { trace_id, parent_id, flags };
        let s = p.to_string();
        let parsed = TraceParent::parse(s.as_bytes());
        if is_zero(&trace_id) || is_zero(&parent_id) {
            prop_assert_eq!(parsed, None);
        } else {
            prop_assert_eq!(parsed, Some(p));
        }
    }

    #[test]
    fn parsers_never_panic(v in proptest::collection::vec(any::<u8>(), 0..80)) {
        let _ = TraceParent::parse(&v);
        let _ = valid_tracestate(&v);
        let _ = parse_b3_single(&v);
        let _ = parse_b3_multi(&v, &v, Some(&v), Some(&v));
        let st = ServerTrace::from_incoming(Some(&v), Some(B3Input::Single(&v)));
        prop_assert!(TraceParent::parse(st.traceparent().as_bytes()).is_some());
    }

    #[test]
    fn near_miss_traceparents_never_panic(s in "[0-9a-fA-F-]{50,60}") {
        if let Some(p) = TraceParent::parse(s.as_bytes()) {
            // Anything accepted re-formats to its ids unchanged (flags of a higher version
            // are reduced to the sampled bit).
            prop_assert_eq!(&p.to_string()[3..52], &s[3..52]);
            if s.starts_with("00") {
                prop_assert_eq!(p.to_string(), s);
            }
        }
    }
}
