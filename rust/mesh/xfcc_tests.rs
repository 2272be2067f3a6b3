use super::*;
use proptest::prelude::*;

/// Envoy's documented examples (`x-forwarded-client-cert` in "HTTP header manipulation").
const ENVOY_ONE: &str = "By=http://frontend.lyft.com;\
    Hash=468ed33be74eee6556d90c0149c1309e9ba61d6425303443c0748a02dd8de688;\
    Subject=\"/C=US/ST=CA/L=San Francisco/OU=Lyft/CN=Test Client\";\
    URI=http://testclient.lyft.com";

const ENVOY_TWO: &str = "By=http://frontend.lyft.com;\
    Hash=468ed33be74eee6556d90c0149c1309e9ba61d6425303443c0748a02dd8de688;\
    URI=http://testclient.lyft.com,\
    By=http://backend.lyft.com;\
    Hash=9ba61d6425303443c0748a02dd8de688468ed33be74eee6556d90c0149c1309e;\
    URI=http://frontend.lyft.com";

#[test]
fn envoy_examples() {
    let one = parse(ENVOY_ONE.as_bytes()).unwrap();
    assert_eq!(
        one,
        vec![PeerIdentity {
            by: Some("http://frontend.lyft.com".into()),
            hash: Some("468ed33be74eee6556d90c0149c1309e9ba61d6425303443c0748a02dd8de688".into()),
            subject: Some("/C=US/ST=CA/L=San Francisco/OU=Lyft/CN=Test Client".into()),
            uri: Some("http://testclient.lyft.com".into()),
            ..Default::default()
        }]
    );
    let two = parse(ENVOY_TWO.as_bytes()).unwrap();
    assert_eq!(two.len(), 2);
    let near = nearest(ENVOY_TWO.as_bytes()).unwrap();
    assert_eq!(near.by.as_deref(), Some("http://backend.lyft.com"));
    assert_eq!(near.uri.as_deref(), Some("http://frontend.lyft.com"));
    assert_eq!(near.spiffe_id(), None);
}

#[test]
fn dns_repeats_and_keys_are_case_insensitive() {
    let v = b"by=a;DNS=lyft.com;dns=www.lyft.com;Uri=spiffe://cluster.local/ns/default/sa/web";
    let p = nearest(v).unwrap();
    assert_eq!(p.dns, ["lyft.com", "www.lyft.com"]);
    assert_eq!(
        p.spiffe_id(),
        Some("spiffe://cluster.local/ns/default/sa/web")
    );
}

#[test]
fn istio_style_header() {
    let v = b"By=spiffe://cluster.local/ns/shop/sa/api;\
        Hash=2bd4cbdf6d5a1f4e4ba1a44b5fc2d9e0b6ef55a5b5f7fb5e6dcdb0b1f1b8c3a1;\
        Subject=\"\";URI=spiffe://cluster.local/ns/shop/sa/web";
    let p = nearest(v).unwrap();
    assert_eq!(p.subject, None, "empty values are absent");
    assert_eq!(p.spiffe_id(), Some("spiffe://cluster.local/ns/shop/sa/web"));
}

#[test]
fn several_uri_sans_are_not_an_svid() {
    let p = nearest(b"URI=spiffe://a/b;URI=https://c").unwrap();
    assert_eq!(p.uri.as_deref(), Some("spiffe://a/b"));
    assert_eq!(p.extra_uris, ["https://c"]);
    assert_eq!(p.spiffe_id(), None);
}

#[test]
fn quoting() {
    let p = nearest(br#"Subject="CN=a\"b, O=x;y";By=z"#).unwrap();
    assert_eq!(p.subject.as_deref(), Some(r#"CN=a"b, O=x;y"#));
    assert_eq!(p.by.as_deref(), Some("z"));
    let p = nearest(br#"Subject="CN=Acme\, Inc""#).unwrap();
    assert_eq!(
        p.subject.as_deref(),
        Some(r"CN=Acme\, Inc"),
        "RFC 4514 escapes kept"
    );
    let p = nearest(b"Subject=CN=x").unwrap();
    assert_eq!(p.subject.as_deref(), Some("CN=x"), "unquoted '=' tolerated");
}

#[test]
fn cert_and_unknown_keys_are_skipped() {
    let v = b"Hash=ab;Cert=\"-----BEGIN%20CERTIFICATE-----%0AMIIB\";Chain=x;Future=1";
    let p = nearest(v).unwrap();
    assert_eq!(p.hash.as_deref(), Some("ab"));
    assert_eq!(
        p,
        PeerIdentity {
            hash: Some("ab".into()),
            ..Default::default()
        }
    );
}

#[test]
fn empty_elements_and_pairs_are_skipped() {
    assert_eq!(parse(b"").unwrap(), vec![]);
    assert_eq!(parse(b" , ,").unwrap(), vec![]);
    let v = parse(b"By=a;;, ,By=b;").unwrap();
    assert_eq!(v.len(), 2);
    assert_eq!(nearest(b""), None);
}

#[test]
fn errors() {
    let cases: &[(&[u8], XfccError)] = &[
        (b"By", XfccError::MissingEquals(0)),
        (b"By=a;Hash", XfccError::MissingEquals(5)),
        (b"By=a,Hash;x=1", XfccError::MissingEquals(5)),
        (b"=a", XfccError::EmptyKey(0)),
        (br#"By="abc"#, XfccError::UnterminatedQuote(3)),
        (br#"By="abc\""#, XfccError::UnterminatedQuote(3)),
        (br#"By="a"b"#, XfccError::AfterQuote(6)),
        (br#"By=a"b"#, XfccError::StrayQuote(4)),
        (b"By=a\nb", XfccError::ControlChar(4)),
        (b"By=\xff", XfccError::NotUtf8(0)),
        (b"By=a;by=b", XfccError::DuplicateKey("by".into())),
        (b"Hash=;Hash=b", XfccError::DuplicateKey("Hash".into())),
    ];
    for (v, want) in cases {
        assert_eq!(
            parse(v).as_ref(),
            Err(want),
            "{}",
            String::from_utf8_lossy(v)
        );
        assert_eq!(nearest(v), None);
        assert!(!want.to_string().is_empty());
    }
}

#[test]
fn limits() {
    let sixteen = vec!["By=a"; 16].join(",");
    assert_eq!(parse(sixteen.as_bytes()).unwrap().len(), 16);
    let seventeen = vec!["By=a"; 17].join(",");
    assert_eq!(parse(seventeen.as_bytes()), Err(XfccError::TooManyElements));
    let long = format!("By={}", "a".repeat(MAX_LEN));
    assert_eq!(parse(long.as_bytes()), Err(XfccError::TooLong(MAX_LEN + 3)));
    let fits = format!("By={}", "a".repeat(MAX_LEN - 3));
    assert!(parse(fits.as_bytes()).is_ok());
}

proptest! {
    #[test]
    fn never_panics(v in proptest::collection::vec(any::<u8>(), 0..300)) {
        if let Ok(els) = parse(&v) {
            prop_assert!(els.len() <= MAX_ELEMENTS);
            prop_assert_eq!(nearest(&v), els.last().cloned());
        }
    }

    #[test]
    fn xfcc_like_input_never_panics(s in r#"((By|Hash|URI|DNS|Subject|X)=("[^"]{0,10}"|[a-z:/=\\"]{0,10})[;, ]{0,2}){0,8}"#) {
        let _ = parse(s.as_bytes());
    }

    #[test]
    fn quoted_values_round_trip(subject in "[ -~]{0,40}", by in "[a-z:/.]{1,20}") {
        let quoted = subject.replace('"', "\\\"");
        let v = format!("By={by};Subject=\"{quoted}\"");
        // A backslash before a `"` (or the closing quote) is ambiguous in Envoy's format,
        // which escapes only `"`.
        prop_assume!(!subject.contains("\\\"") && !subject.ends_with('\\'));
        let p = nearest(v.as_bytes()).unwrap();
        prop_assert_eq!(p.by.as_deref(), Some(by.as_str()));
        prop_assert_eq!(p.subject.unwrap_or_default(), subject);
    }
}
