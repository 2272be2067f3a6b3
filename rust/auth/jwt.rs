//! Bearer JWTs (RFC 7519): the allow-listed algorithm, the key by `kid`, the signature by the
//! `jsonwebtoken` crate (`crypto::verify`, on aws-lc-rs), then the registered claims.
//!
//! The crate's `decode` is not used: it parses the header twice (once into a struct with a
//! flattened map) and the payload three times (claims, then the claims it validates), which
//! cost 2.7 µs per HS256 request against 0.6 µs for the signature itself (benches/auth.py,
//! criterion's `jwt_signature`). Here the header is read once (`read_header`) and the payload
//! once (`claims.rs`), and the registered claims are checked from that one read.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, AlgorithmFamily};

use super::claims::{Pick, Picked};
use super::credential;
use super::failure::Failure;
use super::identity::Identity;
use super::keys::{KeySet, Keys};
use crate::metrics::AuthFailure;
use crate::protocol::h1::RequestHead;

/// A JWT layer as configured (`covetpy.auth.JWTAuth`).
#[derive(Debug, Clone)]
pub struct JwtConfig {
    /// Accepted `iss` values (empty: not checked).
    pub issuer: Vec<String>,
    /// Accepted `aud` values (empty: not checked).
    pub audience: Vec<String>,
    /// The allow-list (names as in RFC 7518: `RS256`, `EdDSA`, ...).
    pub algorithms: Vec<String>,
    /// A PEM public key or an HMAC secret (None: `jwks`).
    pub key: Option<Vec<u8>>,
    /// A JWKS document fetched by Python at start-up.
    pub jwks: Option<Vec<u8>>,
    /// Seconds of clock skew allowed on `exp`, `nbf`, `iat`.
    pub leeway: u64,
    /// Claims that must be present (`exp`, `nbf`, `iat`, `iss`, `aud`, `sub`).
    pub required_claims: Vec<String>,
    /// The header carrying `Bearer <token>` (lower case).
    pub header: String,
    /// A cookie carrying the token.
    pub cookie: Option<String>,
    /// A `Sec-WebSocket-Protocol` entry prefix carrying the token.
    pub websocket_protocol: Option<String>,
    /// The claim holding the scopes.
    pub scopes_claim: String,
    /// The claim holding the roles.
    pub roles_claim: String,
    /// Least time between two refreshes for unknown `kid`s.
    pub jwks_cooldown: Duration,
    /// Longest token accepted (longer: 401 before any decoding).
    pub max_token_bytes: usize,
}

/// A configured JWT layer.
pub struct Jwt {
    config: JwtConfig,
    /// The allow-list, parsed.
    algorithms: Vec<Algorithm>,
    /// Shared with Python, which replaces a JWKS on refresh.
    pub keys: Keys,
}

/// What the layer made of a request.
pub enum Verdict {
    /// No credential of this layer's.
    Absent,
    /// Verified.
    Valid(Identity),
    /// A credential that does not verify.
    Invalid(Failure),
    /// A JWKS token naming a `kid` the set does not have, while a refresh is allowed: Python
    /// fetches the set again, then has the request checked again.
    Refresh,
}

impl Jwt {
    /// A layer from its configuration; Err names what is wrong.
    pub fn new(config: JwtConfig) -> Result<Jwt, String> {
        let mut algorithms = Vec::new();
        for name in &config.algorithms {
            let alg: Algorithm = name
                .parse()
                .map_err(|_| format!("algorithm {name:?} is not supported"))?;
            algorithms.push(alg);
        }
        let Some(first) = algorithms.first() else {
            return Err("algorithms: needs at least one".into());
        };
        let family = first.family();
        if algorithms.iter().any(|a| a.family() != family)
            && algorithms
                .iter()
                .any(|a| a.family() == AlgorithmFamily::Hmac)
        {
            return Err("HS* algorithms cannot be mixed with public-key ones".into());
        }
        // RFC 7518 §3.2: an HMAC key at least as long as the hash output (32, 48, 64 bytes).
        let hmac_min = algorithms
            .iter()
            .map(|a| match a {
                Algorithm::HS256 => 32,
                Algorithm::HS384 => 48,
                Algorithm::HS512 => 64,
                _ => 0,
            })
            .max()
            .unwrap_or(0);
        if let (Some(key), true) = (&config.key, hmac_min > 0) {
            if key.len() < hmac_min {
                return Err(format!(
                    "the HMAC secret is {} bytes; the algorithms allowed need at least \
                     {hmac_min} (RFC 7518 §3.2)",
                    key.len()
                ));
            }
        }
        let set = match (&config.key, &config.jwks) {
            (Some(key), None) => KeySet::from_static(key, family)?,
            (None, Some(jwks)) => KeySet::from_jwks(jwks)?,
            (None, None) => return Err("no key and no JWKS".into()),
            (Some(_), Some(_)) => return Err("both a key and a JWKS".into()),
        };
        for c in &config.required_claims {
            if !["exp", "nbf", "iat", "iss", "aud", "sub"].contains(&c.as_str()) {
                return Err(format!("required claim {c:?} is not a registered claim"));
            }
        }
        let refreshable = config.jwks.is_some();
        Ok(Jwt {
            keys: Keys::new(set, refreshable, config.jwks_cooldown),
            config,
            algorithms,
        })
    }

    /// The layer's configuration.
    pub fn config(&self) -> &JwtConfig {
        &self.config
    }

    /// Finds this layer's token in `head` and verifies it. `refresh_ok`: whether an unknown
    /// `kid` may ask for a refresh (false on the check that follows one).
    pub fn check(&self, head: &RequestHead, now: Instant, refresh_ok: bool) -> Verdict {
        let Some(token) = self.find(head) else {
            return Verdict::Absent;
        };
        self.verify(token, now, refresh_ok)
    }

    fn find<'h>(&self, head: &'h RequestHead) -> Option<&'h [u8]> {
        credential::bearer(head, &self.config.header)
            .or_else(|| {
                self.config
                    .cookie
                    .as_deref()
                    .and_then(|c| credential::cookie(head, c))
            })
            .or_else(|| {
                self.config
                    .websocket_protocol
                    .as_deref()
                    .and_then(|p| credential::ws_protocol(head, p))
            })
    }

    /// Verifies one token.
    pub fn verify(&self, token: &[u8], now: Instant, refresh_ok: bool) -> Verdict {
        if token.len() > self.config.max_token_bytes {
            return invalid(
                AuthFailure::TooLong,
                format!(
                    "the token is longer than {} bytes",
                    self.config.max_token_bytes
                ),
            );
        }
        let Ok(token) = std::str::from_utf8(token) else {
            return invalid(
                AuthFailure::Malformed,
                "the token is not a JWS compact serialization",
            );
        };
        let mut parts = token.split('.');
        let (Some(header), Some(payload), Some(sig), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return invalid(
                AuthFailure::Malformed,
                "the token is not a JWS compact serialization",
            );
        };
        let head = match read_header(header) {
            Ok(h) => h,
            Err(f) => return Verdict::Invalid(f),
        };
        let alg = head.alg;
        if !self.algorithms.contains(&alg) {
            return invalid(
                AuthFailure::Algorithm,
                format!("algorithm {alg:?} is not allowed"),
            );
        }
        let set = self.keys.current();
        let Some(key) = set.find(head.kid.as_deref(), alg) else {
            if refresh_ok && head.kid.is_some() && self.keys.claim_refresh(now) {
                return Verdict::Refresh;
            }
            return invalid(AuthFailure::UnknownKey, "no key matches the token's kid");
        };
        // The signed message is the token up to its second dot (RFC 7515 §5.2).
        let message = &token[..header.len() + 1 + payload.len()];
        let verified = match key.hmac_for(alg) {
            Some(hmac) => verify_hmac(hmac, sig, message.as_bytes()),
            None => jsonwebtoken::crypto::verify(sig, message.as_bytes(), &key.key, alg),
        };
        match verified {
            Ok(true) => {}
            Ok(false) => return invalid(AuthFailure::Signature, "the signature does not verify"),
            Err(e) => {
                let (reason, text) = describe(e.kind());
                return invalid(reason, text);
            }
        }
        let Ok(raw) = URL_SAFE_NO_PAD.decode(payload) else {
            return invalid(AuthFailure::Malformed, "the payload is not base64url");
        };
        let pick = Pick {
            scopes_claim: &self.config.scopes_claim,
            roles_claim: &self.config.roles_claim,
        };
        let picked = match pick.read(&raw, &self.config.issuer, &self.config.audience) {
            Ok(p) => p,
            Err(e) => return invalid(AuthFailure::Claim, format!("malformed claims: {e}")),
        };
        if let Err(f) = self.validate(&picked, unix_now()) {
            return Verdict::Invalid(f);
        }
        Verdict::Valid(Identity {
            scheme: "jwt".into(),
            subject: picked.sub,
            scopes: picked.scopes,
            roles: picked.roles,
            claims: Some(raw),
        })
    }

    /// The registered claims against the layer's settings at `now` (seconds since the epoch):
    /// presence of the required ones, then `exp`, `nbf`, `iat` within the leeway, `iss`, `aud`.
    fn validate(&self, c: &Picked, now: f64) -> Result<(), Failure> {
        let cfg = &self.config;
        for name in &cfg.required_claims {
            let present = match name.as_str() {
                "exp" => c.exp.is_some(),
                "nbf" => c.nbf.is_some(),
                "iat" => c.iat.is_some(),
                "iss" => c.iss.is_some(),
                "aud" => c.aud.is_some(),
                _ => c.sub.is_some(),
            };
            if !present {
                return Err(Failure::new(
                    AuthFailure::Claim,
                    format!("the token has no {name} claim"),
                ));
            }
        }
        let leeway = cfg.leeway as f64;
        if c.exp.is_some_and(|exp| exp < now - leeway) {
            return Err(Failure::new(AuthFailure::Expired, "the token has expired"));
        }
        if c.nbf.is_some_and(|nbf| nbf > now + leeway) {
            return Err(Failure::new(
                AuthFailure::NotYetValid,
                "the token is not valid yet",
            ));
        }
        if c.iat.is_some_and(|iat| iat > now + leeway) {
            return Err(Failure::new(
                AuthFailure::IssuedInFuture,
                "the token is issued in the future",
            ));
        }
        // A configured issuer must be named by the token: a token without `iss` must not pass
        // a layer that trusts one issuer. (`claims.rs` compared the value while reading.)
        if !cfg.issuer.is_empty() && c.iss != Some(true) {
            return Err(Failure::new(
                AuthFailure::Issuer,
                "the token's issuer is not accepted",
            ));
        }
        // RFC 7519 §4.1.3: a token naming audiences must name this service's.
        let aud_ok = match c.aud {
            None => cfg.audience.is_empty(),
            Some(named_ours) => named_ours,
        };
        if !aud_ok {
            return Err(Failure::new(
                AuthFailure::Audience,
                "the token's audience is not accepted",
            ));
        }
        Ok(())
    }
}

fn invalid(reason: AuthFailure, text: impl Into<String>) -> Verdict {
    Verdict::Invalid(Failure::new(reason, text))
}

/// The JOSE header fields read before verifying (RFC 7515 §4.1).
struct Header {
    alg: Algorithm,
    kid: Option<String>,
}

/// An HMAC signature (base64url, at most 64 bytes decoded) against a precomputed key, in
/// constant time (`hmac::verify`).
fn verify_hmac(
    key: &aws_lc_rs::hmac::Key,
    sig: &str,
    message: &[u8],
) -> jsonwebtoken::errors::Result<bool> {
    let mut buf = [0u8; 64];
    let Ok(n) = URL_SAFE_NO_PAD.decode_slice(sig, &mut buf) else {
        return Ok(false);
    };
    Ok(aws_lc_rs::hmac::verify(key, message, &buf[..n]).is_ok())
}

/// Reads the header. Duplicate fields are refused (serde's derive refuses a field seen
/// twice): `{"alg":"RS256","alg":"none"}` must not mean one thing here and another to the
/// crate. A `crit` header is refused: this server understands no extension (RFC 7515
/// §4.1.11 requires refusing a token whose critical extensions are not understood).
fn read_header(b64: &str) -> Result<Header, Failure> {
    #[derive(serde::Deserialize)]
    struct Raw<'a> {
        #[serde(borrow)]
        alg: std::borrow::Cow<'a, str>,
        kid: Option<String>,
        #[allow(dead_code)]
        typ: Option<serde::de::IgnoredAny>,
        crit: Option<serde::de::IgnoredAny>,
    }
    let malformed = |what: String| Failure::new(AuthFailure::Malformed, what);
    // A header is 20-200 bytes: decoded on the stack.
    let mut buf = [0u8; 512];
    let n = URL_SAFE_NO_PAD
        .decode_slice(b64, &mut buf)
        .map_err(|_| malformed("the token header is not base64url (or too long)".into()))?;
    let raw: Raw<'_> = serde_json::from_slice(&buf[..n])
        .map_err(|e| malformed(format!("malformed token header: {e}")))?;
    if raw.crit.is_some() {
        return Err(malformed("the token header has critical extensions".into()));
    }
    let alg = raw.alg.parse::<Algorithm>().map_err(|_| {
        Failure::new(
            AuthFailure::Algorithm,
            format!("algorithm {:?} is not allowed", &*raw.alg),
        )
    })?;
    Ok(Header { alg, kid: raw.kid })
}

/// The reason and the client's description of a verification error of the crate.
fn describe(kind: &ErrorKind) -> (AuthFailure, String) {
    let (reason, text) = match kind {
        ErrorKind::InvalidSignature => (AuthFailure::Signature, "the signature does not verify"),
        ErrorKind::ExpiredSignature => (AuthFailure::Expired, "the token has expired"),
        ErrorKind::ImmatureSignature => (AuthFailure::NotYetValid, "the token is not valid yet"),
        ErrorKind::InvalidIssuer => (AuthFailure::Issuer, "the token's issuer is not accepted"),
        ErrorKind::InvalidAudience => (
            AuthFailure::Audience,
            "the token's audience is not accepted",
        ),
        ErrorKind::MissingRequiredClaim(c) => {
            return (AuthFailure::Claim, format!("the token has no {c} claim"))
        }
        ErrorKind::InvalidClaimFormat(c) => {
            return (
                AuthFailure::Claim,
                format!("the token's {c} claim is malformed"),
            )
        }
        ErrorKind::InvalidSubject => (AuthFailure::Claim, "the token's subject is not accepted"),
        ErrorKind::InvalidAlgorithm
        | ErrorKind::MissingAlgorithm
        | ErrorKind::InvalidAlgorithmName
        | ErrorKind::UnsupportedAlgorithm
        | ErrorKind::InvalidKeyFormat
        | ErrorKind::InvalidRsaKey(_)
        | ErrorKind::InvalidEcdsaKey
        | ErrorKind::InvalidEddsaKey => (
            AuthFailure::Algorithm,
            "the token's algorithm does not fit the key",
        ),
        ErrorKind::InvalidToken
        | ErrorKind::Base64(_)
        | ErrorKind::Json(_)
        | ErrorKind::Utf8(_) => (AuthFailure::Malformed, "the token is malformed"),
        _ => (AuthFailure::Other, "the token does not verify"),
    };
    (reason, text.to_owned())
}

fn unix_now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}
