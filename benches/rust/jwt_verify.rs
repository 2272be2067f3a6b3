//! Criterion bench of JSON Web Token verification by jsonwebtoken alone (aws-lc-rs), the
//! yardstick of issue 18's target: the server's added CPU per request for RS256 and ES256
//! (benches/auth.py) should stay within 1.2x of this. `cargo bench --bench jwt_verify`.
//!
//! - `jwt_decode/<alg>`: `jsonwebtoken::decode::<IgnoredAny>` with the validation the server
//!   applies (algorithm allow-list, `iss`, `aud`, `exp` and `sub` required, 30 s leeway):
//!   splitting, base64, the header, the signature, the claims;
//! - `jwt_signature/<alg>`: `jsonwebtoken::crypto::verify`, the signature over the first two
//!   parts and nothing else;
//! - `covetpy_verify/<alg>`: the server's own `auth::jwt::Jwt::verify` (the header, the
//!   key, that signature check, the claims, the identity): what it adds to the signature.
//!
//! The keys in benches/rust/keys/ are throwaway ones made once with openssl for this bench
//! (`openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048`, `-algorithm EC
//! -pkeyopt ec_paramgen_curve:P-256`); the tokens are signed at start-up.

use std::time::{Duration, Instant};

use _core::auth::jwt::{Jwt, JwtConfig, Verdict};
use criterion::{criterion_group, criterion_main, Criterion};
use jsonwebtoken::{
    crypto, decode, encode, get_current_timestamp, Algorithm, DecodingKey, EncodingKey, Header,
    Validation,
};
use serde::de::IgnoredAny;
use serde_json::json;

const RS256_PRIVATE: &[u8] = include_bytes!("keys/rs256-private.pem");
const RS256_PUBLIC: &[u8] = include_bytes!("keys/rs256-public.pem");
const ES256_PRIVATE: &[u8] = include_bytes!("keys/es256-private.pem");
const ES256_PUBLIC: &[u8] = include_bytes!("keys/es256-public.pem");
/// 32 bytes, as benches/auth.py's HS256 secret.
const HS256_SECRET: &[u8] = b"0123456789abcdef0123456789abcdef";

const ISSUER: &str = "https://id.bench.covetpy";
const AUDIENCE: &str = "covetpy-bench";

/// A token, the key that verifies it and the validation the server would apply.
struct Case {
    alg: Algorithm,
    token: String,
    key: DecodingKey,
    validation: Validation,
}

fn case(alg: Algorithm, signing: &EncodingKey, key: DecodingKey) -> Case {
    // The same claims as benches/auth.py's tokens: a realistic payload of ~150 bytes.
    let claims = json!({
        "iss": ISSUER,
        "aud": AUDIENCE,
        "sub": "user-42",
        "exp": get_current_timestamp() + 3600,
        "iat": get_current_timestamp(),
        "scope": "orders:read orders:write",
    });
    let token = encode(&Header::new(alg), &claims, signing).expect("signing the bench token");
    let mut validation = Validation::new(alg);
    validation.leeway = 30;
    validation.set_issuer(&[ISSUER]);
    validation.set_audience(&[AUDIENCE]);
    validation.set_required_spec_claims(&["exp", "sub"]);
    Case {
        alg,
        token,
        key,
        validation,
    }
}

fn cases() -> Vec<Case> {
    vec![
        case(
            Algorithm::HS256,
            &EncodingKey::from_secret(HS256_SECRET).expect("HS256 secret"),
            DecodingKey::from_secret(HS256_SECRET).expect("HS256 secret"),
        ),
        case(
            Algorithm::RS256,
            &EncodingKey::from_rsa_pem(RS256_PRIVATE).expect("RS256 private key"),
            DecodingKey::from_rsa_pem(RS256_PUBLIC).expect("RS256 public key"),
        ),
        case(
            Algorithm::ES256,
            &EncodingKey::from_ec_pem(ES256_PRIVATE).expect("ES256 private key"),
            DecodingKey::from_ec_pem(ES256_PUBLIC).expect("ES256 public key"),
        ),
    ]
}

fn verify(c: &mut Criterion) {
    let cases = cases();
    let mut g = c.benchmark_group("jwt_decode");
    for case in &cases {
        // A bench of a failing path would measure nothing useful: check once first.
        decode::<IgnoredAny>(&case.token, &case.key, &case.validation).expect("valid token");
        g.bench_function(format!("{:?}", case.alg), |b| {
            b.iter(|| decode::<IgnoredAny>(&case.token, &case.key, &case.validation))
        });
    }
    g.finish();
    let mut g = c.benchmark_group("jwt_signature");
    for case in &cases {
        let (message, signature) = case.token.rsplit_once('.').expect("three parts");
        assert!(
            crypto::verify(signature, message.as_bytes(), &case.key, case.alg).expect("verify")
        );
        g.bench_function(format!("{:?}", case.alg), |b| {
            b.iter(|| crypto::verify(signature, message.as_bytes(), &case.key, case.alg))
        });
    }
    g.finish();
    let mut g = c.benchmark_group("covetpy_verify");
    let keys: [(&[u8], Algorithm); 3] = [
        (HS256_SECRET, Algorithm::HS256),
        (RS256_PUBLIC, Algorithm::RS256),
        (ES256_PUBLIC, Algorithm::ES256),
    ];
    for (case, (key, alg)) in cases.iter().zip(keys) {
        let jwt = Jwt::new(JwtConfig {
            issuer: vec![ISSUER.into()],
            audience: vec![AUDIENCE.into()],
            algorithms: vec![format!("{alg:?}")],
            key: Some(key.to_vec()),
            jwks: None,
            leeway: 30,
            required_claims: vec!["exp".into(), "sub".into()],
            header: "authorization".into(),
            cookie: None,
            websocket_protocol: None,
            scopes_claim: "scope".into(),
            roles_claim: "roles".into(),
            jwks_cooldown: Duration::from_secs(30),
            max_token_bytes: 8192,
        })
        .expect("layer");
        let now = Instant::now();
        assert!(matches!(
            jwt.verify(case.token.as_bytes(), now, false),
            Verdict::Valid(_)
        ));
        g.bench_function(format!("{:?}", case.alg), |b| {
            b.iter(|| jwt.verify(case.token.as_bytes(), now, false))
        });
    }
    g.finish();
}

criterion_group!(benches, verify);
criterion_main!(benches);
