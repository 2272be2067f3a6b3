use super::*;
use crate::middleware::tests::{head, header};

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

#[test]
fn bucket_refills_at_the_rate_up_to_the_burst() {
    let l = Limiter::new(2.0, 3, 100).unwrap();
    let t = Instant::now();
    for _ in 0..3 {
        assert_eq!(l.check("a", t), Ok(()));
    }
    assert_eq!(l.check("a", t), Err(ms(500)));
    // Half a second later: exactly one token.
    assert_eq!(l.check("a", t + ms(500)), Ok(()));
    let wait = l.check("a", t + ms(500)).unwrap_err();
    assert_eq!(wait, ms(500));
    // 0.25 s later half a token: wait for the other half.
    let wait = l.check("a", t + ms(750)).unwrap_err();
    assert!((wait.as_secs_f64() - 0.25).abs() < 1e-9, "{wait:?}");
    // Long idle: capped at the burst.
    let later = t + Duration::from_secs(3600);
    for _ in 0..3 {
        assert_eq!(l.check("a", later), Ok(()));
    }
    assert!(l.check("a", later).is_err());
    // Other keys have their own buckets.
    assert_eq!(l.check("b", t), Ok(()));
}

#[test]
fn a_clock_going_backwards_adds_nothing() {
    let l = Limiter::new(1.0, 1, 10).unwrap();
    let t = Instant::now() + Duration::from_secs(10);
    assert!(l.check("a", t).is_ok());
    assert!(l.check("a", t - Duration::from_secs(5)).is_err());
    assert!(l.check("a", t + ms(999)).is_err());
    assert!(l.check("a", t + ms(1000)).is_ok());
}

#[test]
fn retry_after_rounds_up_to_whole_seconds() {
    assert_eq!(retry_after(ms(1)), 1);
    assert_eq!(retry_after(Duration::ZERO), 1);
    assert_eq!(retry_after(ms(1000)), 1);
    assert_eq!(retry_after(ms(1001)), 2);
    let slow = Limiter::new(0.1, 1, 10).unwrap();
    let t = Instant::now();
    slow.check("k", t).unwrap();
    assert_eq!(retry_after(slow.check("k", t).unwrap_err()), 10);
    let r = too_many(ms(2500));
    assert_eq!(r.status, 429);
    assert_eq!(header(&r, "retry-after").as_deref(), Some("3"));
    assert_eq!(
        header(&r, "content-type").as_deref(),
        Some("application/problem+json")
    );
}

#[test]
fn keys_stay_bounded() {
    for shards in [1, 4] {
        let l = Limiter::with_shards(0.001, 2, 100, shards).unwrap();
        let t = Instant::now();
        for i in 0..10_000u64 {
            let _ = l.check(&i.to_string(), t + Duration::from_nanos(i));
            assert!(l.len() <= 100, "{} keys with {shards} shards", l.len());
        }
    }
}

#[test]
fn eviction_forgets_idle_clients_first_and_keeps_active_ones() {
    let l = Limiter::with_shards(1.0, 1, 50, 1).unwrap();
    let t = Instant::now();
    // The hot client drains its bucket and keeps coming back.
    assert!(l.check("hot", t).is_ok());
    for i in 1..1000u64 {
        let now = t + ms(i);
        let _ = l.check(&format!("k{i}"), now);
        assert!(l.check("hot", now).is_err(), "hot forgotten at {i}");
        assert!(l.len() <= 50);
    }
    // Idle clients refill within a second and go first: only the recent ones remain.
    let l = Limiter::with_shards(1000.0, 5, 10, 1).unwrap();
    for i in 0..10u64 {
        l.check(&format!("idle{i}"), t).unwrap();
    }
    l.check("new", t + ms(100)).unwrap();
    assert_eq!(l.len(), 1);
}

#[test]
fn layer_keys_by_peer_or_header() {
    let rl = RateLimit::new(RateLimitConfig {
        rate: 1.0,
        burst: 1,
        key: RateKey::Peer,
        max_keys: 100,
    })
    .unwrap();
    let h = head("GET / HTTP/1.1\r\nhost: a\r\n\r\n");
    let t = Instant::now();
    let v4 = |s: &str| Peer::Tcp(s.parse().unwrap());
    assert!(rl.on_request(&h, &v4("10.0.0.1:1000"), t).is_ok());
    // Same address, other port: same client.
    let r = rl.on_request(&h, &v4("10.0.0.1:2000"), t).unwrap_err();
    assert_eq!(r.status, 429);
    assert!(rl.on_request(&h, &v4("10.0.0.2:1000"), t).is_ok());
    // IPv6 by /64; a v4-mapped address is the v4 client.
    assert!(rl.on_request(&h, &v4("[2001:db8:1:2::1]:1"), t).is_ok());
    assert!(rl.on_request(&h, &v4("[2001:db8:1:2::ffff]:1"), t).is_err());
    assert!(rl.on_request(&h, &v4("[2001:db8:1:3::1]:1"), t).is_ok());
    assert!(rl.on_request(&h, &v4("[::ffff:10.0.0.2]:1"), t).is_err());
    // Unix peers share one key.
    assert!(rl.on_request(&h, &Peer::Unix, t).is_ok());
    assert!(rl.on_request(&h, &Peer::Unix, t).is_err());

    let by_header = RateLimit::new(RateLimitConfig {
        rate: 1.0,
        burst: 1,
        key: RateKey::Header("X-Api-Key".into()),
        max_keys: 100,
    })
    .unwrap();
    let k1 = head("GET / HTTP/1.1\r\nhost: a\r\nx-api-key: one\r\n\r\n");
    let k2 = head("GET / HTTP/1.1\r\nhost: a\r\nx-api-key: two\r\n\r\n");
    let p = v4("10.0.0.1:1");
    assert!(by_header.on_request(&k1, &p, t).is_ok());
    assert!(by_header.on_request(&k1, &p, t).is_err());
    assert!(by_header.on_request(&k2, &p, t).is_ok());
    // No header: the peer address.
    assert!(by_header.on_request(&h, &p, t).is_ok());
    assert!(by_header.on_request(&h, &p, t).is_err());
    assert_eq!(by_header.limiter().len(), 3);
}

#[test]
fn behind_a_trusted_proxy_clients_are_keyed_by_the_address_it_names() {
    let rl = RateLimit::new(RateLimitConfig {
        rate: 1.0,
        burst: 1,
        key: RateKey::Peer,
        max_keys: 100,
    })
    .unwrap()
    .trusting(TrustPolicy::new(&["127.0.0.1/32"], 1).unwrap());
    let t = Instant::now();
    let sidecar = Peer::Tcp("127.0.0.1:5000".parse().unwrap());
    let from = |client: &str| {
        head(&format!(
            "GET / HTTP/1.1\r\nhost: a\r\nx-forwarded-for: {client}\r\n\r\n"
        ))
    };
    // Two clients through one sidecar: a bucket each, not one for the sidecar.
    assert!(rl.on_request(&from("203.0.113.1"), &sidecar, t).is_ok());
    assert!(rl.on_request(&from("203.0.113.2"), &sidecar, t).is_ok());
    assert!(rl.on_request(&from("203.0.113.1"), &sidecar, t).is_err());
    // The same header from a peer that is not trusted names nobody: keyed by that peer.
    let stranger = Peer::Tcp("10.9.9.9:1".parse().unwrap());
    assert!(rl.on_request(&from("203.0.113.3"), &stranger, t).is_ok());
    assert!(rl.on_request(&from("203.0.113.4"), &stranger, t).is_err());
}

#[test]
fn shared_between_threads() {
    let l = Arc::new(Limiter::new(0.001, 1000, 1000).unwrap());
    let t = Instant::now();
    let threads: Vec<_> = (0..4)
        .map(|_| {
            let l = l.clone();
            std::thread::spawn(move || (0..500).filter(|_| l.check("k", t).is_ok()).count())
        })
        .collect();
    let ok: usize = threads.into_iter().map(|t| t.join().unwrap()).sum();
    assert_eq!(
        ok, 1000,
        "exactly the burst is granted, whatever the interleaving"
    );
}

#[test]
fn refuses_bad_configuration() {
    assert!(Limiter::new(0.0, 1, 1).is_err());
    assert!(Limiter::new(f64::NAN, 1, 1).is_err());
    assert!(Limiter::new(1.0, 0, 1).is_err());
    assert!(Limiter::new(1.0, 1, 0).is_err());
    assert!(RateLimit::new(RateLimitConfig {
        rate: 1.0,
        burst: 1,
        key: RateKey::Header("bad header".into()),
        max_keys: 1,
    })
    .is_err());
}
