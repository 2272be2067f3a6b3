use super::*;
use proptest::prelude::*;

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn policy(hops: usize) -> TrustPolicy {
    TrustPolicy::new(&["10.0.0.0/8", "fd00::/8"], hops).unwrap()
}

/// `resolve` with a trusted peer 10.0.0.1:5000.
fn via(p: &TrustPolicy, fwd: &[&str], xff: &[&str], xfp: &[&str], xfh: &[&str]) -> Origin {
    let b = |v: &[&str]| v.iter().map(|s| s.as_bytes().to_vec()).collect::<Vec<_>>();
    let (fwd, xff, xfp, xfh) = (b(fwd), b(xff), b(xfp), b(xfh));
    fn r(v: &[Vec<u8>]) -> Vec<&[u8]> {
        v.iter().map(Vec::as_slice).collect()
    }
    resolve(
        p,
        (ip("10.0.0.1"), 5000),
        &r(&fwd),
        &r(&xff),
        &r(&xfp),
        &r(&xfh),
    )
}

fn client(o: &Origin) -> (&str, u16) {
    (o.client.0.as_str(), o.client.1)
}

#[test]
fn ip_nets() {
    let n = IpNet::parse("10.0.0.0/8").unwrap();
    assert!(n.contains(ip("10.255.0.1")) && !n.contains(ip("11.0.0.1")));
    assert!(n.contains(ip("::ffff:10.1.2.3")), "IPv4-mapped peer");
    assert!(!n.contains(ip("::1")));
    let n = IpNet::parse("::ffff:192.168.0.0/112").unwrap();
    assert_eq!(n.to_string(), "192.168.0.0/16");
    assert!(n.contains(ip("192.168.4.4")));
    let n = IpNet::parse("2001:db8::/32").unwrap();
    assert!(n.contains(ip("2001:db8:1::9")) && !n.contains(ip("2001:db9::1")));
    assert!(IpNet::parse("0.0.0.0/0").unwrap().contains(ip("8.8.8.8")));
    assert!(IpNet::parse("::/0").unwrap().contains(ip("2001::1")));
    assert_eq!(
        IpNet::parse("127.0.0.1").unwrap().to_string(),
        "127.0.0.1/32"
    );
    for bad in [
        "10.0.0.1/8",
        "10.0.0.0/33",
        "10.0.0.0/",
        "10.0.0.0/+8",
        "*",
        "",
        "fe80::/129",
    ] {
        assert!(IpNet::parse(bad).is_err(), "{bad}");
    }
}

#[test]
fn policy_errors_name_the_cidr() {
    let e = TrustPolicy::new(&["10.0.0.0/8", "10.0.0.300/32"], 1).unwrap_err();
    assert!(e.contains("10.0.0.300/32"), "{e}");
    assert!(!TrustPolicy::none().is_trusted(ip("127.0.0.1")));
}

#[test]
fn untrusted_peer_is_the_client() {
    let o = resolve(
        &policy(3),
        (ip("203.0.113.9"), 443),
        &[b"for=1.2.3.4;proto=https"],
        &[b"1.2.3.4"],
        &[b"https"],
        &[b"evil.example"],
    );
    assert_eq!(client(&o), ("203.0.113.9", 443));
    assert_eq!((o.scheme, o.host), (None, None));
    let o = via(&TrustPolicy::none(), &[], &["1.2.3.4"], &["https"], &[]);
    assert_eq!(client(&o), ("10.0.0.1", 5000));
    let o = via(&policy(0), &[], &["1.2.3.4"], &[], &[]);
    assert_eq!(client(&o), ("10.0.0.1", 5000), "hops 0 trusts no header");
}

#[test]
fn xff_walk_stops_at_the_first_untrusted() {
    let p = policy(5);
    let o = via(&p, &[], &["6.6.6.6, 1.1.1.1, 10.0.0.2, 10.0.0.3"], &[], &[]);
    assert_eq!(
        client(&o),
        ("1.1.1.1", 0),
        "6.6.6.6 was written by the client"
    );
    let o = via(
        &p,
        &[],
        &["6.6.6.6, 1.1.1.1", "10.0.0.2", "10.0.0.3"],
        &[],
        &[],
    );
    assert_eq!(client(&o), ("1.1.1.1", 0), "lines are one list");
    let o = via(&policy(1), &[], &["1.1.1.1, 10.0.0.2, 10.0.0.3"], &[], &[]);
    assert_eq!(client(&o), ("10.0.0.3", 0), "one hop");
    let o = via(&p, &[], &["10.0.0.7, 10.0.0.3"], &[], &[]);
    assert_eq!(client(&o), ("10.0.0.7", 0), "all trusted: the leftmost");
    let o = via(&p, &[], &[" , 1.1.1.1 ,, "], &[], &[]);
    assert_eq!(client(&o), ("1.1.1.1", 0), "empty elements are skipped");
}

#[test]
fn xff_garbled_entries_stop_the_walk() {
    let p = policy(5);
    let o = via(&p, &[], &["1.1.1.1, garbage, 10.0.0.3"], &[], &[]);
    assert_eq!(client(&o), ("10.0.0.3", 0));
    let o = via(&p, &[], &["1.1.1.1, unknown"], &[], &[]);
    assert_eq!(client(&o), ("10.0.0.1", 5000));
    for bad in [
        "1.2.3.4:99999",
        "1.2.3.4:",
        "[::1",
        "[::1]x",
        "1.2.3.04",
        "\u{ff}",
    ] {
        let o = via(&p, &[], &[bad], &[], &[]);
        assert_eq!(client(&o), ("10.0.0.1", 5000), "{bad}");
    }
}

#[test]
fn xff_ports_and_ipv6() {
    let p = policy(5);
    let cases = [
        ("1.2.3.4:5678", ("1.2.3.4", 5678)),
        ("[2001:db8::1]:4711", ("2001:db8::1", 4711)),
        ("[2001:db8::1]", ("2001:db8::1", 0)),
        ("2001:db8::1", ("2001:db8::1", 0)),
        ("::ffff:1.2.3.4", ("::ffff:1.2.3.4", 0)),
    ];
    for (xff, want) in cases {
        assert_eq!(client(&via(&p, &[], &[xff], &[], &[])), want, "{xff}");
    }
}

#[test]
fn xfp_and_xfh_follow_the_client_position() {
    let p = policy(5);
    let o = via(
        &p,
        &[],
        &["1.1.1.1, 10.0.0.3"],
        &["HTTPS, http"],
        &["a.example, b.internal"],
    );
    assert_eq!(o.scheme.as_deref(), Some("https"));
    assert_eq!(o.host.as_deref(), Some("a.example"));
    let o = via(
        &p,
        &[],
        &["1.1.1.1, 10.0.0.3"],
        &["https"],
        &["a.example:8443"],
    );
    assert_eq!(
        (o.scheme.as_deref(), o.host.as_deref()),
        (Some("https"), Some("a.example:8443"))
    );
    let o = via(&p, &[], &[], &["https"], &[]);
    assert_eq!(
        o.scheme.as_deref(),
        Some("https"),
        "the trusted peer's own word"
    );
    let o = via(&p, &[], &["1.1.1.1"], &["ht tp"], &["a b", "c/d"]);
    assert_eq!(
        (o.scheme, o.host),
        (None, None),
        "invalid values are dropped"
    );
}

#[test]
fn rfc7239_examples() {
    let p = policy(5);
    let o = via(&p, &[r#"for="_gazonk""#], &[], &[], &[]);
    assert_eq!(client(&o), ("_gazonk", 0));
    let o = via(&p, &[r#"For="[2001:db8:cafe::17]:4711""#], &[], &[], &[]);
    assert_eq!(client(&o), ("2001:db8:cafe::17", 4711));
    let o = via(
        &p,
        &["for=192.0.2.60;proto=http;by=203.0.113.43"],
        &[],
        &[],
        &[],
    );
    assert_eq!(client(&o), ("192.0.2.60", 0));
    assert_eq!(o.scheme.as_deref(), Some("http"));
    let o = via(&p, &["for=192.0.2.43, for=198.51.100.17"], &[], &[], &[]);
    assert_eq!(client(&o), ("198.51.100.17", 0));
    let o = via(&p, &["for=unknown, for=10.0.0.9"], &[], &[], &[]);
    assert_eq!(client(&o), ("unknown", 0));
    let o = via(&p, &[r#"for="10.0.0.9:_port""#], &[], &[], &[]);
    assert_eq!(client(&o), ("10.0.0.9", 0), "obfuscated port");
}

#[test]
fn forwarded_scheme_and_host_come_from_the_client_element() {
    let p = policy(5);
    let o = via(
        &p,
        &[
            "for=1.1.1.1;proto=https;host=shop.example",
            "for=10.0.0.3;proto=http;host=lb",
        ],
        &["9.9.9.9"],
        &["gopher"],
        &["xfh.example"],
    );
    assert_eq!(
        client(&o),
        ("1.1.1.1", 0),
        "Forwarded wins over X-Forwarded-For"
    );
    assert_eq!(o.scheme.as_deref(), Some("https"));
    assert_eq!(o.host.as_deref(), Some("shop.example"));
    let o = via(&p, &["FOR=1.1.1.1;PROTO=HTTPS"], &[], &[], &[]);
    assert_eq!(
        (client(&o), o.scheme.as_deref()),
        (("1.1.1.1", 0), Some("https"))
    );
}

#[test]
fn forwarded_quoting() {
    let p = policy(5);
    let o = via(
        &p,
        &[r#"for=1.1.1.1;ext="a,b;c", for=10.0.0.3"#],
        &[],
        &[],
        &[],
    );
    assert_eq!(client(&o), ("1.1.1.1", 0), "separators inside quotes");
    let o = via(&p, &[r#"for="\[2001:db8::1\]:80""#], &[], &[], &[]);
    assert_eq!(client(&o), ("2001:db8::1", 80), "quoted-pair escapes");
    let o = via(&p, &[r#"for=1.1.1.1;host="a\"b""#], &[], &[], &[]);
    assert_eq!((client(&o), o.host.as_deref()), (("1.1.1.1", 0), None));
}

#[test]
fn forwarded_garbled_elements_stop_the_walk() {
    let p = policy(5);
    for bad in [
        "for=[2001:db8::1]",
        "for=1.1.1.1:80",
        r#"for="1.1.1.1"x"#,
        r#"for="1.1.1.1"#,
        "for=1.1.1.1;for=2.2.2.2",
        "for=1.1.1.1;proto=http;proto=https",
        "for",
        "=1.1.1.1",
        "proto=https",
        "for=",
        r#"for="""#,
        "for=1.1.1.1:65536",
    ] {
        let o = via(
            &p,
            &[&format!("for=6.6.6.6, {bad}")],
            &["9.9.9.9"],
            &[],
            &[],
        );
        assert_eq!(client(&o), ("10.0.0.1", 5000), "{bad}");
        assert_eq!(o.scheme, None, "{bad}");
    }
    let o = via(&p, &["for=1.1.1.1, for=bad, for=10.0.0.3"], &[], &[], &[]);
    assert_eq!(client(&o), ("10.0.0.3", 0));
}

#[test]
fn work_is_bounded_to_the_last_64_entries() {
    let list: Vec<String> = (0..100)
        .map(|i| format!("10.0.{}.{}", i / 256, i % 256))
        .collect();
    let o = via(&policy(1000), &[], &[&list.join(",")], &[], &[]);
    assert_eq!(client(&o), (list[100 - MAX_ENTRIES].as_str(), 0));
    let fwd: Vec<String> = list.iter().map(|a| format!("for={a}")).collect();
    let o = via(&policy(1000), &[&fwd.join(",")], &[], &[], &[]);
    assert_eq!(client(&o), (list[100 - MAX_ENTRIES].as_str(), 0));
}

#[test]
fn ipv6_trusted_chain() {
    let p = policy(5);
    let o = resolve(
        &p,
        (ip("fd00::1"), 1),
        &[br#"for="[2001:db8::7]", for="[fd00::2]""#],
        &[],
        &[],
        &[],
    );
    assert_eq!(client(&o), ("2001:db8::7", 0));
    let o = resolve(&p, (ip("::ffff:10.0.0.1"), 1), &[], &[b"1.2.3.4"], &[], &[]);
    assert_eq!(client(&o), ("1.2.3.4", 0), "mapped peer matches 10/8");
}

proptest! {
    #[test]
    fn never_panics(v in proptest::collection::vec(any::<u8>(), 0..200), hops in 0usize..70) {
        let p = TrustPolicy::new(&["0.0.0.0/0", "::/0"], hops).unwrap();
        let lines: Vec<&[u8]> = v.split(|&b| b == b'\n').collect();
        let (half_a, half_b) = lines.split_at(lines.len() / 2);
        let o = resolve(&p, (ip("10.0.0.1"), 1), half_a, half_b, half_b, half_a);
        let _ = resolve(&p, (ip("10.0.0.1"), 1), &[], &lines, &lines, &lines);
        let o2 = resolve(&policy(hops), (ip("8.8.8.8"), 2), half_a, half_b, half_a, half_b);
        prop_assert_eq!(o2.client, ("8.8.8.8".to_string(), 2));
        prop_assert!(!o.client.0.is_empty());
    }

    #[test]
    fn forwarded_like_input_never_panics(s in r#"((for|proto|host|by)=("[^"]{0,12}"|[\[\]:._a-z0-9]{0,12})[;, ]{0,2}){0,6}"#) {
        let p = TrustPolicy::new(&["0.0.0.0/0", "::/0"], 8).unwrap();
        let _ = resolve(&p, (ip("10.0.0.1"), 1), &[s.as_bytes()], &[], &[], &[]);
    }
}
