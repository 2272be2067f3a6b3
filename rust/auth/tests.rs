//! Unit tests of the authentication layers: tokens made here with the crate's own encoder,
//! keys with rcgen; each refusal the issue lists, checked for its reason.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use bytes::BytesMut;
use jsonwebtoken::{encode, EncodingKey, Header};
use serde_json::json;

use super::apikey::{ApiKeyConfig, ApiKeys, KeyVerdict};
use super::jwt::{Jwt, JwtConfig, Verdict};
use super::*;
use crate::protocol::h1::{parse_head, Limits};

const SECRET: &[u8] = b"0123456789abcdef0123456789abcdef";

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

fn config(algorithms: &[&str]) -> JwtConfig {
    JwtConfig {
        issuer: vec!["https://id.example".into()],
        audience: vec!["shop".into()],
        algorithms: algorithms.iter().map(|a| a.to_string()).collect(),
        key: Some(SECRET.to_vec()),
        jwks: None,
        leeway: 30,
        required_claims: vec!["exp".into(), "sub".into()],
        header: "authorization".into(),
        cookie: Some("token".into()),
        websocket_protocol: Some("bearer.".into()),
        scopes_claim: "scope".into(),
        roles_claim: "roles".into(),
        jwks_cooldown: Duration::from_secs(30),
        max_token_bytes: 8192,
    }
}

fn claims() -> serde_json::Value {
    json!({"sub": "u1", "iss": "https://id.example", "aud": "shop", "exp": now() + 600,
           "iat": now(), "scope": "orders:read orders:write", "roles": ["admin"]})
}

fn hs(claims: &serde_json::Value) -> String {
    encode(
        &Header::default(),
        claims,
        &EncodingKey::from_secret(SECRET).unwrap(),
    )
    .unwrap()
}

fn reason(v: Verdict) -> crate::metrics::AuthFailure {
    match v {
        Verdict::Invalid(f) => f.reason,
        Verdict::Valid(_) => panic!("verified"),
        Verdict::Absent => panic!("absent"),
        Verdict::Refresh => panic!("refresh"),
    }
}

fn verify(jwt: &Jwt, token: &str) -> Verdict {
    jwt.verify(token.as_bytes(), Instant::now(), true)
}

#[test]
fn a_good_token_gives_subject_scopes_roles_and_claims() {
    let jwt = Jwt::new(config(&["HS256"])).unwrap();
    let Verdict::Valid(id) = verify(&jwt, &hs(&claims())) else {
        panic!("refused")
    };
    assert_eq!(id.subject.as_deref(), Some("u1"));
    assert_eq!(id.scopes, vec!["orders:read".into(), "orders:write".into()]);
    assert_eq!(id.roles, vec![Box::<str>::from("admin")]);
    let raw: serde_json::Value = serde_json::from_slice(id.claims.as_deref().unwrap()).unwrap();
    assert_eq!(raw["aud"], "shop");
}

#[test]
fn each_bad_claim_is_refused_with_its_reason() {
    use crate::metrics::AuthFailure as R;
    let jwt = Jwt::new(config(&["HS256"])).unwrap();
    let mut c = claims();
    c["exp"] = json!(now() - 31);
    assert_eq!(reason(verify(&jwt, &hs(&c))), R::Expired);
    // Within the leeway (30 s) an expired token still passes: clock skew.
    c["exp"] = json!(now() - 10);
    assert!(matches!(verify(&jwt, &hs(&c)), Verdict::Valid(_)));
    let mut c = claims();
    c["nbf"] = json!(now() + 120);
    assert_eq!(reason(verify(&jwt, &hs(&c))), R::NotYetValid);
    c["nbf"] = json!(now() + 10);
    assert!(matches!(verify(&jwt, &hs(&c)), Verdict::Valid(_)));
    let mut c = claims();
    c["iat"] = json!(now() + 120);
    assert_eq!(reason(verify(&jwt, &hs(&c))), R::IssuedInFuture);
    let mut c = claims();
    c["iss"] = json!("https://evil.example");
    assert_eq!(reason(verify(&jwt, &hs(&c))), R::Issuer);
    let mut c = claims();
    c["aud"] = json!("other");
    assert_eq!(reason(verify(&jwt, &hs(&c))), R::Audience);
    let mut c = claims();
    c.as_object_mut().unwrap().remove("sub");
    assert_eq!(reason(verify(&jwt, &hs(&c))), R::Claim);
    let mut c = claims();
    c.as_object_mut().unwrap().remove("exp");
    assert_eq!(reason(verify(&jwt, &hs(&c))), R::Claim);
}

#[test]
fn tampering_alg_none_and_malformed_tokens_are_refused() {
    use crate::metrics::AuthFailure as R;
    let jwt = Jwt::new(config(&["HS256"])).unwrap();
    let token = hs(&claims());
    let parts: Vec<&str> = token.split('.').collect();
    // Tampered payload, signature kept.
    let mut c = claims();
    c["sub"] = json!("admin");
    let forged = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&c).unwrap());
    let t = format!("{}.{}.{}", parts[0], forged, parts[2]);
    assert_eq!(reason(verify(&jwt, &t)), R::Signature);
    // Tampered signature (a character in the middle: the last one carries unused bits).
    let mut sig = parts[2].as_bytes().to_vec();
    sig[10] = if sig[10] == b'A' { b'B' } else { b'A' };
    let t = format!(
        "{}.{}.{}",
        parts[0],
        parts[1],
        String::from_utf8(sig).unwrap()
    );
    assert_eq!(reason(verify(&jwt, &t)), R::Signature);
    // alg: none, with or without a signature.
    let none = URL_SAFE_NO_PAD.encode(br#"{"alg":"none","typ":"JWT"}"#);
    assert_eq!(
        reason(verify(&jwt, &format!("{none}.{}.", parts[1]))),
        R::Algorithm
    );
    // Duplicate header fields: one parser could read the first, another the last.
    let dup = URL_SAFE_NO_PAD.encode(br#"{"alg":"HS256","alg":"none"}"#);
    assert_eq!(
        reason(verify(&jwt, &format!("{dup}.{}.{}", parts[1], parts[2]))),
        R::Malformed
    );
    let crit = URL_SAFE_NO_PAD.encode(br#"{"alg":"HS256","crit":["b64"],"b64":false}"#);
    assert_eq!(
        reason(verify(&jwt, &format!("{crit}.{}.{}", parts[1], parts[2]))),
        R::Malformed
    );
    assert_eq!(reason(verify(&jwt, "not-a-token")), R::Malformed);
    assert_eq!(reason(verify(&jwt, "a!b.c$d.e%f")), R::Malformed);
    assert_eq!(reason(verify(&jwt, &"x".repeat(9000))), R::TooLong);
}

#[test]
fn duplicate_claims_are_refused() {
    let jwt = Jwt::new(config(&["HS256"])).unwrap();
    let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"HS256","typ":"JWT"}"#);
    let body = format!(
        r#"{{"sub":"u1","sub":"admin","iss":"https://id.example","aud":"shop","exp":{}}}"#,
        now() + 60
    );
    let payload = URL_SAFE_NO_PAD.encode(body.as_bytes());
    let message = format!("{header}.{payload}");
    let key = aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, SECRET);
    let sig = URL_SAFE_NO_PAD.encode(aws_lc_rs::hmac::sign(&key, message.as_bytes()));
    assert!(matches!(
        verify(&jwt, &format!("{message}.{sig}")),
        Verdict::Invalid(_)
    ));
}

#[test]
fn hs256_signed_with_the_rsa_public_key_is_refused() {
    let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_RSA_SHA256);
    // rcgen cannot generate RSA keys; fall back to an EC key for the confusion test.
    let key = key
        .unwrap_or_else(|_| rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap());
    let public_pem = key.public_key_pem();
    let mut cfg = config(&["ES256"]);
    cfg.key = Some(public_pem.clone().into_bytes());
    let jwt = Jwt::new(cfg).unwrap();
    // The attacker signs HS256 with the public key's PEM bytes as the HMAC secret.
    let forged = encode(
        &Header::new(jsonwebtoken::Algorithm::HS256),
        &claims(),
        &EncodingKey::from_secret(public_pem.as_bytes()).unwrap(),
    )
    .unwrap();
    assert_eq!(
        reason(verify(&jwt, &forged)),
        crate::metrics::AuthFailure::Algorithm
    );
    // And the genuine ES256 token passes.
    let good = encode(
        &Header::new(jsonwebtoken::Algorithm::ES256),
        &claims(),
        &EncodingKey::from_ec_pem(key.serialize_pem().as_bytes()).unwrap(),
    )
    .unwrap();
    assert!(matches!(verify(&jwt, &good), Verdict::Valid(_)));
}

fn es256_jwks(kid: &str) -> (rcgen::KeyPair, Vec<u8>) {
    let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
    let enc = EncodingKey::from_ec_pem(key.serialize_pem().as_bytes()).unwrap();
    let mut jwk =
        jsonwebtoken::jwk::Jwk::from_encoding_key(&enc, jsonwebtoken::Algorithm::ES256).unwrap();
    jwk.common.key_id = Some(kid.into());
    let doc = serde_json::to_vec(&json!({"keys": [jwk]})).unwrap();
    (key, doc)
}

fn es256_token(key: &rcgen::KeyPair, kid: &str) -> String {
    let mut header = Header::new(jsonwebtoken::Algorithm::ES256);
    header.kid = Some(kid.into());
    let enc = EncodingKey::from_ec_pem(key.serialize_pem().as_bytes()).unwrap();
    encode(&header, &claims(), &enc).unwrap()
}

#[test]
fn an_unknown_kid_asks_for_one_refresh_per_cooldown() {
    let (key, doc) = es256_jwks("k1");
    let mut cfg = config(&["ES256"]);
    cfg.key = None;
    cfg.jwks = Some(doc);
    let jwt = Jwt::new(cfg).unwrap();
    assert!(matches!(
        verify(&jwt, &es256_token(&key, "k1")),
        Verdict::Valid(_)
    ));
    let (other, other_doc) = es256_jwks("k2");
    let t0 = Instant::now();
    assert!(matches!(
        jwt.verify(es256_token(&other, "k2").as_bytes(), t0, true),
        Verdict::Refresh
    ));
    // Within the cool-down: no second refresh, 401 unknown key.
    let again = jwt.verify(
        es256_token(&other, "k2").as_bytes(),
        t0 + Duration::from_secs(5),
        true,
    );
    assert_eq!(reason(again), crate::metrics::AuthFailure::UnknownKey);
    // The check that follows a refresh never asks again.
    let after = jwt.verify(
        es256_token(&other, "k2").as_bytes(),
        t0 + Duration::from_secs(60),
        false,
    );
    assert_eq!(reason(after), crate::metrics::AuthFailure::UnknownKey);
    // Rotation: the new set verifies the new kid, and the old one no longer.
    jwt.keys
        .replace(keys::KeySet::from_jwks(&other_doc).unwrap());
    assert!(matches!(
        verify(&jwt, &es256_token(&other, "k2")),
        Verdict::Valid(_)
    ));
    let old = jwt.verify(
        es256_token(&key, "k1").as_bytes(),
        t0 + Duration::from_secs(61),
        false,
    );
    assert_eq!(reason(old), crate::metrics::AuthFailure::UnknownKey);
}

#[test]
fn jwks_documents_skip_unusable_keys_and_refuse_empty_sets() {
    let (_, doc) = es256_jwks("k1");
    let mut v: serde_json::Value = serde_json::from_slice(&doc).unwrap();
    v["keys"]
        .as_array_mut()
        .unwrap()
        .push(json!({"kty": "RSA", "use": "enc", "n": "AQAB", "e": "AQAB"}));
    v["keys"]
        .as_array_mut()
        .unwrap()
        .push(json!({"kty": "weird"}));
    let set = keys::KeySet::from_jwks(&serde_json::to_vec(&v).unwrap()).unwrap();
    assert_eq!(set.len(), 1);
    assert!(keys::KeySet::from_jwks(br#"{"keys": []}"#).is_err());
    assert!(keys::KeySet::from_jwks(b"<html>").is_err());
    assert!(keys::KeySet::from_static(b"short", jsonwebtoken::AlgorithmFamily::Hmac).is_err());
}

fn head(text: &str) -> crate::protocol::h1::RequestHead {
    parse_head(&mut BytesMut::from(text.as_bytes()), &Limits::default())
        .unwrap()
        .unwrap()
}

#[test]
fn credentials_are_found_in_header_cookie_and_websocket_protocol() {
    let h = head("GET / HTTP/1.1\r\nHost: a\r\nAuthorization: bearer  abc.def.ghi \r\n\r\n");
    assert_eq!(
        credential::bearer(&h, "authorization"),
        Some(&b"abc.def.ghi"[..])
    );
    let h = head("GET / HTTP/1.1\r\nHost: a\r\nAuthorization: Basic dTpw\r\n\r\n");
    assert_eq!(credential::bearer(&h, "authorization"), None);
    let h = head("GET / HTTP/1.1\r\nHost: a\r\nCookie: a=1; token=t.o.k\r\nCookie: b=2\r\n\r\n");
    assert_eq!(credential::cookie(&h, "token"), Some(&b"t.o.k"[..]));
    assert_eq!(credential::cookie(&h, "b"), Some(&b"2"[..]));
    assert_eq!(credential::cookie(&h, "tok"), None);
    let h = head("GET / HTTP/1.1\r\nHost: a\r\nSec-WebSocket-Protocol: chat, bearer.x.y.z\r\n\r\n");
    assert_eq!(credential::ws_protocol(&h, "bearer."), Some(&b"x.y.z"[..]));
    let h = head("GET /?a=1&api_key=k%20y HTTP/1.1\r\nHost: a\r\n\r\n");
    assert_eq!(credential::query(&h, "api_key"), Some(&b"k%20y"[..]));
}

fn sha256_hex(s: &str) -> String {
    aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, s.as_bytes())
        .as_ref()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[test]
fn api_keys_are_checked_by_digest() {
    let keys = ApiKeys::new(ApiKeyConfig {
        keys: vec![
            ("ci".into(), sha256_hex("secret-1")),
            ("ops".into(), sha256_hex("secret-2")),
        ],
        header: Some("x-api-key".into()),
        scopes: [("ci".to_string(), vec!["deploy".to_string()])].into(),
        ..Default::default()
    })
    .unwrap();
    let KeyVerdict::Valid(id) = keys.check(&head(
        "GET / HTTP/1.1\r\nHost: a\r\nX-API-Key: secret-1\r\n\r\n",
    )) else {
        panic!("refused")
    };
    assert_eq!(id.subject.as_deref(), Some("ci"));
    assert!(id.has_scope("deploy"));
    assert!(matches!(
        keys.check(&head(
            "GET / HTTP/1.1\r\nHost: a\r\nX-API-Key: revoked\r\n\r\n"
        )),
        KeyVerdict::Invalid(_)
    ));
    assert!(matches!(
        keys.check(&head("GET / HTTP/1.1\r\nHost: a\r\n\r\n")),
        KeyVerdict::Absent
    ));
    assert!(ApiKeys::new(ApiKeyConfig {
        keys: vec![("x".into(), "secret-1".into())],
        header: Some("x-api-key".into()),
        ..Default::default()
    })
    .is_err());
}

fn identity(scopes: &[&str], roles: &[&str]) -> Identity {
    Identity {
        scheme: "jwt".into(),
        subject: Some("u".into()),
        scopes: scopes.iter().map(|s| (*s).into()).collect(),
        roles: roles.iter().map(|s| (*s).into()).collect(),
        claims: None,
    }
}

#[test]
fn requirements_name_what_is_missing() {
    let table: RoleTable = [("admin".to_string(), vec!["orders:delete".to_string()])].into();
    let req = Requirement {
        scopes: vec!["orders:read".into()],
        ..Default::default()
    };
    assert!(req
        .check(&identity(&["orders:read"], &[]), &table)
        .is_none());
    let f = req.check(&identity(&[], &[]), &table).unwrap();
    assert_eq!(f.missing.as_deref(), Some("orders:read"));
    assert!(f.forbidden());
    let perm = Requirement {
        permissions: vec!["orders:delete".into()],
        ..Default::default()
    };
    assert!(perm.check(&identity(&[], &["admin"]), &table).is_none());
    assert!(perm.check(&identity(&[], &["viewer"]), &table).is_some());
    let any = Requirement {
        any_of: vec![
            Requirement {
                roles: vec!["admin".into()],
                ..Default::default()
            },
            Requirement {
                scopes: vec!["orders:write".into()],
                ..Default::default()
            },
        ],
        ..Default::default()
    };
    assert!(any
        .check(&identity(&["orders:write"], &[]), &table)
        .is_none());
    assert!(any.check(&identity(&[], &["admin"]), &table).is_none());
    assert!(any.check(&identity(&["x"], &["y"]), &table).is_some());
}

#[test]
fn the_gate_refuses_missing_credentials_unless_public_or_optional() {
    let jwt = Jwt::new(config(&["HS256"])).unwrap();
    let auth = Auth::new(
        vec![(Scheme::Jwt(Box::new(jwt)), false)],
        vec![
            RoutePolicy::default(),
            RoutePolicy {
                public: true,
                requires: vec![],
            },
        ],
        RoleTable::new(),
        "shop".into(),
        false,
    );
    let anon = head("GET / HTTP/1.1\r\nHost: a\r\n\r\n");
    let Outcome::Refused(f, None) = auth.check(&anon, 0, Instant::now(), true, true) else {
        panic!("not refused")
    };
    let r = auth.refusal(&f, None);
    assert_eq!(r.status, 401);
    let headers = String::from_utf8(r.header_block).unwrap();
    // RFC 6750 §3.1: no error code when the request had no credential.
    assert!(
        headers.contains("www-authenticate: Bearer realm=\"shop\"\r\n"),
        "{headers}"
    );
    assert!(matches!(
        auth.check(&anon, 1, Instant::now(), true, true),
        Outcome::Anonymous
    ));
    let with = head(&format!(
        "GET / HTTP/1.1\r\nHost: a\r\nAuthorization: Bearer {}\r\n\r\n",
        hs(&claims())
    ));
    assert!(matches!(
        auth.check(&with, 0, Instant::now(), true, true),
        Outcome::Verified(_)
    ));
    // A bad token is refused even on a public route: the client sent it.
    let bad = head("GET / HTTP/1.1\r\nHost: a\r\nAuthorization: Bearer x.y.z\r\n\r\n");
    assert!(matches!(
        auth.check(&bad, 1, Instant::now(), true, true),
        Outcome::Refused(..)
    ));
}

#[test]
fn hmac_secrets_must_be_as_long_as_the_hash() {
    let mut cfg = config(&["HS512"]);
    cfg.key = Some(vec![b'k'; 48]);
    let err = Jwt::new(cfg.clone())
        .err()
        .expect("a 48-byte secret for HS512");
    assert!(err.contains("64"), "{err}");
    cfg.key = Some(vec![b'k'; 64]);
    assert!(Jwt::new(cfg).is_ok());
}
