use proptest::prelude::*;

use super::*;

fn cfg() -> DeflateConfig {
    DeflateConfig {
        enabled: true,
        ..DeflateConfig::default()
    }
}

fn neg(headers: &[&str]) -> Option<Negotiated> {
    neg_with(headers, &cfg())
}

fn neg_with(headers: &[&str], cfg: &DeflateConfig) -> Option<Negotiated> {
    let offers: Vec<&[u8]> = headers.iter().map(|h| h.as_bytes()).collect();
    negotiate(&offers, cfg)
}

fn response(headers: &[&str]) -> Option<String> {
    neg(headers).map(|n| n.response)
}

const BASE: &str = "permessage-deflate; server_no_context_takeover";

// ---- negotiation ----

#[test]
fn plain_offer_is_accepted_without_context_on_our_side() {
    let n = neg(&["permessage-deflate"]).unwrap();
    assert_eq!(n.response, BASE);
    assert!(!n.client_no_context_takeover);
    assert_eq!(
        (n.client_max_window_bits, n.server_max_window_bits),
        (15, 15)
    );
}

#[test]
fn disabled_config_declines_everything() {
    let off = DeflateConfig::default();
    assert!(!off.enabled);
    assert_eq!(neg_with(&["permessage-deflate"], &off), None);
}

#[test]
fn no_offer_or_other_extensions_only() {
    assert_eq!(response(&[]), None);
    assert_eq!(response(&["x-webkit-deflate-frame"]), None);
    assert_eq!(response(&[""]), None);
}

#[test]
fn client_max_window_bits_without_value_gets_ours() {
    let mut c = cfg();
    c.client_max_window_bits = 10;
    let n = neg_with(&["permessage-deflate; client_max_window_bits"], &c).unwrap();
    assert_eq!(n.client_max_window_bits, 10);
    assert_eq!(n.response, format!("{BASE}; client_max_window_bits=10"));
    // Ours at 15: nothing to ask.
    assert_eq!(
        response(&["permessage-deflate; client_max_window_bits"]).unwrap(),
        BASE
    );
}

#[test]
fn client_max_window_bits_with_value_takes_the_smaller() {
    let mut c = cfg();
    c.client_max_window_bits = 12;
    let n = neg_with(&["permessage-deflate; client_max_window_bits=10"], &c).unwrap();
    assert_eq!(n.client_max_window_bits, 10);
    assert_eq!(n.response, format!("{BASE}; client_max_window_bits=10"));
    let n = neg_with(&["permessage-deflate; client_max_window_bits=14"], &c).unwrap();
    assert_eq!(n.client_max_window_bits, 12);
    assert_eq!(n.response, format!("{BASE}; client_max_window_bits=12"));
}

#[test]
fn client_max_window_bits_not_offered_is_never_sent() {
    // §7.1.2.2: only a client that offered the parameter understands it in a response.
    let mut c = cfg();
    c.client_max_window_bits = 9;
    let n = neg_with(&["permessage-deflate"], &c).unwrap();
    assert_eq!(n.response, BASE);
    assert_eq!(n.client_max_window_bits, 15);
}

#[test]
fn client_no_context_takeover_is_echoed() {
    let n = neg(&["permessage-deflate; client_no_context_takeover"]).unwrap();
    assert!(n.client_no_context_takeover);
    assert_eq!(n.response, format!("{BASE}; client_no_context_takeover"));
}

#[test]
fn client_no_context_takeover_can_be_required_by_config() {
    let mut c = cfg();
    c.client_no_context_takeover = true;
    let n = neg_with(&["permessage-deflate"], &c).unwrap();
    assert!(n.client_no_context_takeover);
    assert_eq!(n.response, format!("{BASE}; client_no_context_takeover"));
}

#[test]
fn server_no_context_takeover_offered_is_answered_once() {
    assert_eq!(
        response(&["permessage-deflate; server_no_context_takeover"]).unwrap(),
        BASE
    );
}

#[test]
fn server_max_window_bits_is_honoured() {
    let n = neg(&["permessage-deflate; server_max_window_bits=10"]).unwrap();
    assert_eq!(n.server_max_window_bits, 10);
    assert_eq!(n.response, format!("{BASE}; server_max_window_bits=10"));
    let n = neg(&["permessage-deflate; server_max_window_bits=8"]).unwrap();
    assert_eq!(n.server_max_window_bits, 8);
}

#[test]
fn invalid_window_bits_decline_the_offer() {
    for v in ["7", "16", "abc", "08", "", "1 0", "-9", "9.0", "015"] {
        for p in ["server_max_window_bits", "client_max_window_bits"] {
            let h = format!("permessage-deflate; {p}={v}");
            assert_eq!(response(&[&h]), None, "{h}");
        }
    }
    // server_max_window_bits needs a value.
    assert_eq!(
        response(&["permessage-deflate; server_max_window_bits"]),
        None
    );
}

#[test]
fn every_valid_window_bits_value_is_accepted() {
    for v in 8..=15u8 {
        let h =
            format!("permessage-deflate; server_max_window_bits={v}; client_max_window_bits={v}");
        let n = neg(&[&h]).unwrap();
        assert_eq!((n.server_max_window_bits, n.client_max_window_bits), (v, v));
    }
}

#[test]
fn flags_with_values_decline_the_offer() {
    assert_eq!(
        response(&["permessage-deflate; client_no_context_takeover=1"]),
        None
    );
    assert_eq!(
        response(&["permessage-deflate; server_no_context_takeover=true"]),
        None
    );
}

#[test]
fn duplicate_parameters_decline_the_offer() {
    for h in [
        "permessage-deflate; client_no_context_takeover; client_no_context_takeover",
        "permessage-deflate; server_no_context_takeover; server_no_context_takeover",
        "permessage-deflate; server_max_window_bits=10; server_max_window_bits=10",
        "permessage-deflate; client_max_window_bits; client_max_window_bits=10",
    ] {
        assert_eq!(response(&[h]), None, "{h}");
    }
}

#[test]
fn unknown_parameter_declines_that_offer_and_the_next_is_used() {
    let n = neg(&["permessage-deflate; foo=1, permessage-deflate; client_no_context_takeover"])
        .unwrap();
    assert!(n.client_no_context_takeover);
    assert_eq!(response(&["permessage-deflate; foo"]), None);
}

#[test]
fn malformed_parameters_decline_the_offer() {
    for h in [
        "permessage-deflate;",
        "permessage-deflate; ; client_no_context_takeover",
        "permessage-deflate; client_max_window_bits=",
        "permessage-deflate; =10",
        "permessage-deflate; client_max_window_bits=\"10",
        "permessage-deflate; client_max_window_bits=\"\"",
    ] {
        assert_eq!(response(&[h]), None, "{h}");
    }
}

#[test]
fn offers_in_one_header_and_across_headers() {
    let n = neg(&["x-foo; a=b, permessage-deflate; server_max_window_bits=12"]).unwrap();
    assert_eq!(n.server_max_window_bits, 12);
    let n = neg(&[
        "x-foo",
        "permessage-deflate; bad, x-bar",
        "permessage-deflate; client_max_window_bits",
    ])
    .unwrap();
    assert_eq!(n.response, BASE);
    // First acceptable wins.
    let n = neg(&[
        "permessage-deflate; client_no_context_takeover",
        "permessage-deflate",
    ])
    .unwrap();
    assert!(n.client_no_context_takeover);
    // Empty list elements and odd whitespace are tolerated.
    assert!(neg(&[" ,\t, permessage-deflate ;client_no_context_takeover ,"]).is_some());
}

#[test]
fn names_are_case_insensitive() {
    let n =
        neg(&["PerMessage-Deflate; Client_No_Context_Takeover; SERVER_MAX_WINDOW_BITS=9"]).unwrap();
    assert!(n.client_no_context_takeover);
    assert_eq!(n.server_max_window_bits, 9);
}

#[test]
fn quoted_values_are_unquoted() {
    let n = neg(&["permessage-deflate; server_max_window_bits=\"10\""]).unwrap();
    assert_eq!(n.server_max_window_bits, 10);
    let n = neg(&["permessage-deflate; client_max_window_bits=\"1\\2\""]).unwrap();
    assert_eq!(n.client_max_window_bits, 12);
    // A comma or semicolon inside quotes cuts nothing, but the value is not a token: declined,
    // and the offer after it is still seen whole.
    let n = neg(&[concat!(
        "permessage-deflate; server_max_window_bits=\"1,0\", ",
        "permessage-deflate; server_max_window_bits=11"
    )])
    .unwrap();
    assert_eq!(n.server_max_window_bits, 11);
    assert_eq!(
        response(&["permessage-deflate; x=\"a;client_no_context_takeover\""]),
        None
    );
}

// ---- compression ----

fn deflate(payload: &[u8], bits: u8, level: u32) -> Vec<u8> {
    let mut out = Vec::new();
    compress(payload, bits, level, &mut out);
    out
}

fn inflater(takeover: bool, client_bits: u8) -> Inflater {
    Inflater::new(&Negotiated {
        client_no_context_takeover: !takeover,
        client_max_window_bits: client_bits,
        server_max_window_bits: 15,
        response: String::new(),
    })
}

fn inflate(inf: &mut Inflater, msg: &[u8]) -> Result<Vec<u8>, InflateError> {
    let mut out = Vec::new();
    inf.inflate(msg, 1 << 20, &mut out).map(|()| out)
}

const HELLO: [u8; 7] = [0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00];

#[test]
fn rfc7692_hello_is_compressed_as_in_7_2_3_1() {
    assert_eq!(deflate(b"Hello", 15, 6), HELLO);
}

#[test]
fn rfc7692_examples_inflate() {
    for takeover in [false, true] {
        let mut inf = inflater(takeover, 15);
        assert_eq!(inflate(&mut inf, &HELLO).unwrap(), b"Hello");
        // §7.2.3.3: a stored block.
        let stored = [
            0x00, 0x05, 0x00, 0xfa, 0xff, b'H', b'e', b'l', b'l', b'o', 0x00,
        ];
        assert_eq!(inflate(&mut inf, &stored).unwrap(), b"Hello");
        // §7.2.3.4: BFINAL set, then an empty block.
        let bfinal = [0xf3, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00, 0x00];
        assert_eq!(inflate(&mut inf, &bfinal).unwrap(), b"Hello");
        // BFINAL set on the last block, nothing after it.
        assert_eq!(inflate(&mut inf, &bfinal[..7]).unwrap(), b"Hello");
        // §7.2.3.5: two blocks in one message.
        let two = [
            0xf2, 0x48, 0x05, 0x00, 0x00, 0x00, 0xff, 0xff, 0xca, 0xc9, 0xc9, 0x07, 0x00,
        ];
        assert_eq!(inflate(&mut inf, &two).unwrap(), b"Hello");
        // §7.2.3.6: an empty message.
        assert_eq!(inflate(&mut inf, &[0x00]).unwrap(), b"");
    }
}

#[test]
fn rfc7692_shared_window_example_needs_context_takeover() {
    let second = [0xf2, 0x00, 0x11, 0x00, 0x00];
    let mut inf = inflater(true, 15);
    assert_eq!(inflate(&mut inf, &HELLO).unwrap(), b"Hello");
    assert_eq!(inflate(&mut inf, &second).unwrap(), b"Hello");
    // Without the window the back-reference points before the stream: invalid.
    let mut inf = inflater(false, 15);
    assert_eq!(inflate(&mut inf, &HELLO).unwrap(), b"Hello");
    assert_eq!(inflate(&mut inf, &second), Err(InflateError::Corrupt));
}

#[test]
fn empty_payload_compresses_to_one_byte() {
    assert_eq!(deflate(b"", 15, 1), [0x00]);
    assert_eq!(inflate(&mut inflater(false, 15), &[0x00]).unwrap(), b"");
}

fn sample(i: usize) -> Vec<u8> {
    format!("{{\"user\":\"u{i}\",\"text\":\"message number {i} in the room\"}}")
        .repeat(1 + i * 7)
        .into_bytes()
}

#[test]
fn round_trips_every_level_and_window() {
    for level in 0..=9 {
        for bits in 8..=15 {
            let mut inf = inflater(true, 15);
            for i in 0..5 {
                let msg = sample(i);
                let packed = deflate(&msg, bits, level);
                assert_eq!(
                    inflate(&mut inf, &packed).unwrap(),
                    msg,
                    "level {level} bits {bits}"
                );
            }
        }
    }
}

#[test]
fn messages_are_compressed_independently() {
    // The same message compresses to the same bytes however many were compressed before it, so
    // one frame serves every recipient (server_no_context_takeover).
    let a = deflate(&sample(3), 15, 1);
    let _ = deflate(&sample(4), 15, 1);
    assert_eq!(deflate(&sample(3), 15, 1), a);
    let mut fresh = inflater(false, 15);
    assert_eq!(inflate(&mut fresh, &a).unwrap(), sample(3));
}

#[test]
fn compress_appends_to_out() {
    let mut out = b"head".to_vec();
    compress(b"Hello", 15, 6, &mut out);
    assert_eq!(&out[..4], b"head");
    assert_eq!(&out[4..], HELLO);
}

#[test]
fn large_message_round_trips() {
    let msg: Vec<u8> = (0..3_000_000u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    let packed = deflate(&msg, 15, 1);
    let mut out = Vec::new();
    inflater(true, 15)
        .inflate(&packed, msg.len(), &mut out)
        .unwrap();
    assert_eq!(out, msg);
}

/// A client compressing with context takeover, as a browser does.
struct Client(Compress);

impl Client {
    fn new(bits: u8) -> Self {
        Self(Compress::new_with_window_bits(
            Compression::new(6),
            false,
            bits,
        ))
    }

    fn send(&mut self, msg: &[u8]) -> Vec<u8> {
        let mut out = Vec::with_capacity(msg.len() * 2 + 1024);
        let start = self.0.total_in();
        // zlib may stop before the flush marker; call again until all input is in and the
        // sync flush is out.
        loop {
            let done = (self.0.total_in() - start) as usize;
            self.0
                .compress_vec(&msg[done..], &mut out, FlushCompress::Sync)
                .unwrap();
            let done = (self.0.total_in() - start) as usize;
            if done == msg.len() && out.ends_with(&TAIL) {
                break;
            }
            if done == msg.len() && out.len() < out.capacity() {
                // Nothing new to flush (an empty message after a flush): §7.2.3.6's `00`.
                out.extend_from_slice(&TAIL);
                if out.len() == 4 {
                    out = vec![0x00, 0x00, 0x00, 0xff, 0xff];
                }
                break;
            }
            out.reserve(out.capacity());
        }
        out.truncate(out.len() - 4);
        out
    }
}

#[test]
fn context_takeover_round_trips_across_messages() {
    for bits in [9, 12, 15] {
        let mut client = Client::new(bits);
        let mut inf = inflater(true, bits);
        let mut sizes = Vec::new();
        for _ in 0..4 {
            let msg = sample(2);
            let packed = client.send(&msg);
            sizes.push(packed.len());
            assert_eq!(inflate(&mut inf, &packed).unwrap(), msg);
        }
        // The repeats refer back to the first message: the window really is shared.
        assert!(sizes[3] < sizes[0], "{sizes:?}");
    }
}

#[test]
fn context_takeover_stream_fails_without_the_window() {
    let mut client = Client::new(15);
    let mut inf = inflater(false, 15);
    assert_eq!(
        inflate(&mut inf, &client.send(&sample(2))).unwrap(),
        sample(2)
    );
    assert_eq!(
        inflate(&mut inf, &client.send(&sample(2))),
        Err(InflateError::Corrupt)
    );
}

#[test]
fn bomb_is_stopped_near_the_limit() {
    let zeros = vec![0u8; 10 << 20];
    let packed = deflate(&zeros, 15, 9);
    assert!(packed.len() < 20_000, "{}", packed.len());
    for takeover in [false, true] {
        let mut out = Vec::new();
        let max = 1 << 20;
        let err = inflater(takeover, 15).inflate(&packed, max, &mut out);
        assert_eq!(err, Err(InflateError::TooBig));
        assert!(out.is_empty());
        assert!(out.capacity() <= max + 1, "{}", out.capacity());
    }
}

#[test]
fn exactly_max_is_allowed() {
    let msg = vec![7u8; 100_000];
    let packed = deflate(&msg, 15, 1);
    let mut out = Vec::new();
    inflater(true, 15)
        .inflate(&packed, msg.len(), &mut out)
        .unwrap();
    assert_eq!(out, msg);
    let mut out = Vec::new();
    let err = inflater(true, 15).inflate(&packed, msg.len() - 1, &mut out);
    assert_eq!(err, Err(InflateError::TooBig));
}

#[test]
fn inflate_appends_and_error_keeps_what_was_there() {
    let mut out = b"head".to_vec();
    let mut inf = inflater(true, 15);
    inf.inflate(&HELLO, 5, &mut out).unwrap();
    assert_eq!(out, b"headHello");
    assert_eq!(
        inf.inflate(&[0xff; 8], 100, &mut out),
        Err(InflateError::Corrupt)
    );
    assert_eq!(out, b"headHello");
}

#[test]
fn garbage_is_corrupt() {
    for garbage in [
        &[0xffu8; 16][..],
        &[0x07, 0x00],
        b"not deflate at all, really",
    ] {
        for takeover in [false, true] {
            assert_eq!(
                inflate(&mut inflater(takeover, 15), garbage),
                Err(InflateError::Corrupt),
                "{garbage:?}"
            );
        }
    }
}

#[test]
fn state_is_kept_only_with_context_takeover() {
    let mut inf = inflater(true, 15);
    assert_eq!(inf.retained_bytes(), 0);
    inflate(&mut inf, &HELLO).unwrap();
    assert_eq!(inf.retained_bytes(), INFLATE_STATE_BYTES);
    let mut shared = inflater(false, 15);
    inflate(&mut shared, &HELLO).unwrap();
    assert_eq!(shared.retained_bytes(), 0);
    assert!(std::mem::size_of::<Inflater>() <= 16);
}

proptest! {
    #[test]
    fn round_trip(
        msgs in prop::collection::vec(
            prop_oneof![
                prop::collection::vec(any::<u8>(), 0..2000),
                prop::collection::vec(prop::sample::select(b"ab c\n".to_vec()), 0..5000),
            ],
            1..6,
        ),
        bits in 8u8..=15,
        level in 0u32..=9,
        takeover in any::<bool>(),
    ) {
        // Server to client: each message alone.
        let mut inf = inflater(takeover, 15);
        for m in &msgs {
            let packed = deflate(m, bits, level);
            prop_assert_eq!(&inflate(&mut inf, &packed).unwrap(), m);
        }
        // Client to server with context takeover.
        let client_bits = bits.max(9);
        let mut client = Client::new(client_bits);
        let mut inf = inflater(true, client_bits);
        for m in &msgs {
            prop_assert_eq!(&inflate(&mut inf, &client.send(m)).unwrap(), m);
        }
    }
}
