//! The JWT layer (`_core::auth::jwt`) and the claims reader on fuzzer-chosen tokens.
//!
//! The input is a token as a client would send it after `Bearer `; the layer is HS256 with a
//! fixed secret (the seeds in corpus/auth_token are tokens signed with it), issuer and
//! audience configured. The payload of any input that splits into three parts also goes to
//! the claims reader directly, so its visitor is reached without a valid signature.
//!
//! Nothing panics, and: a verdict is the same when asked twice; a token that verifies has a
//! signature the HMAC of its first two parts accepts (nothing else can pass); a token longer
//! than the layer's limit is refused as too long before anything is decoded.

#![no_main]

use std::time::{Duration, Instant};

use _core::auth::claims::Pick;
use _core::auth::jwt::{Jwt, JwtConfig, Verdict};
use _core::metrics::AuthFailure;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use libfuzzer_sys::fuzz_target;

const SECRET: &[u8] = b"0123456789abcdef0123456789abcdef";
const MAX: usize = 4096;

fn layer() -> Jwt {
    Jwt::new(JwtConfig {
        issuer: vec!["https://id.example".into()],
        audience: vec!["shop".into()],
        algorithms: vec!["HS256".into()],
        key: Some(SECRET.to_vec()),
        jwks: None,
        leeway: 30,
        required_claims: vec!["exp".into(), "sub".into()],
        header: "authorization".into(),
        cookie: None,
        websocket_protocol: None,
        scopes_claim: "scope".into(),
        roles_claim: "roles".into(),
        jwks_cooldown: Duration::from_secs(30),
        max_token_bytes: MAX,
    })
    .expect("layer")
}

fn same(a: &Verdict, b: &Verdict) -> bool {
    match (a, b) {
        (Verdict::Valid(x), Verdict::Valid(y)) => x == y,
        (Verdict::Invalid(x), Verdict::Invalid(y)) => x == y,
        (Verdict::Absent, Verdict::Absent) | (Verdict::Refresh, Verdict::Refresh) => true,
        _ => false,
    }
}

fuzz_target!(|data: &[u8]| {
    thread_local! {
        static JWT: Jwt = layer();
    }
    JWT.with(|jwt| {
        let now = Instant::now();
        let first = jwt.verify(data, now, true);
        assert!(same(&first, &jwt.verify(data, now, true)));
        if data.len() > MAX {
            assert!(matches!(&first, Verdict::Invalid(f) if f.reason == AuthFailure::TooLong));
        }
        if let Verdict::Valid(_) = first {
            let token = std::str::from_utf8(data).expect("a verified token is text");
            let (message, sig) = token.rsplit_once('.').expect("three parts");
            let sig = URL_SAFE_NO_PAD.decode(sig).expect("base64url signature");
            let key = aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, SECRET);
            assert!(aws_lc_rs::hmac::verify(&key, message.as_bytes(), &sig).is_ok());
        }
        let mut parts = data.split(|&b| b == b'.');
        if let (Some(_), Some(payload)) = (parts.next(), parts.next()) {
            let pick = Pick {
                scopes_claim: "scope",
                roles_claim: "roles",
            };
            let _ = pick.read(payload, &["https://id.example".into()], &["shop".into()]);
            if let Ok(raw) = URL_SAFE_NO_PAD.decode(payload) {
                let _ = pick.read(&raw, &[], &[]);
            }
        }
    });
});
