//! The keys a JWT layer verifies with: one configured key (a PEM public key or an HMAC
//! secret), or a JSON Web Key Set (RFC 7517 §5) that Python fetches and may replace while the
//! server runs (`covetpy.auth.jwks`).

use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use jsonwebtoken::jwk::{Jwk, PublicKeyUse};
use jsonwebtoken::{Algorithm, AlgorithmFamily, DecodingKey};

/// One verification key.
pub struct Key {
    /// Its `kid` (JWKS keys usually have one).
    pub kid: Option<String>,
    /// The one algorithm it may verify, when its JWK says (`alg`).
    pub alg: Option<Algorithm>,
    /// The key.
    pub key: DecodingKey,
    /// For an HMAC secret, its HS256/HS384/HS512 keys with the HMAC key schedule done once:
    /// the crate's `verify` redoes it per call (0.6 -> 0.35 µs per HS256 token, criterion).
    pub hmac: Option<[aws_lc_rs::hmac::Key; 3]>,
}

fn hmac_keys(secret: &[u8]) -> [aws_lc_rs::hmac::Key; 3] {
    use aws_lc_rs::hmac::{Key, HMAC_SHA256, HMAC_SHA384, HMAC_SHA512};
    [
        Key::new(HMAC_SHA256, secret),
        Key::new(HMAC_SHA384, secret),
        Key::new(HMAC_SHA512, secret),
    ]
}

impl Key {
    /// The precomputed HMAC key for `alg` (HS256, HS384, HS512), if this is an HMAC secret.
    pub fn hmac_for(&self, alg: Algorithm) -> Option<&aws_lc_rs::hmac::Key> {
        let keys = self.hmac.as_ref()?;
        match alg {
            Algorithm::HS256 => Some(&keys[0]),
            Algorithm::HS384 => Some(&keys[1]),
            Algorithm::HS512 => Some(&keys[2]),
            _ => None,
        }
    }

    /// Whether this key may verify a token signed with `alg`: same family (an RSA key never
    /// verifies an HMAC: the HS/RS confusion), and the JWK's own `alg` when it has one.
    pub fn fits(&self, alg: Algorithm) -> bool {
        self.key.family() == alg.family() && self.alg.is_none_or(|a| a == alg)
    }
}

/// A set of keys, replaced whole on refresh.
#[derive(Default)]
pub struct KeySet {
    keys: Vec<Key>,
}

impl KeySet {
    /// The configured key: a PEM public key for the allow-listed public-key family, or an
    /// HMAC secret when the allow-list is HS*.
    pub fn from_static(key: &[u8], family: AlgorithmFamily) -> Result<KeySet, String> {
        let hmac = (family == AlgorithmFamily::Hmac).then(|| hmac_keys(key));
        let key = match family {
            AlgorithmFamily::Hmac => {
                if key.len() < 32 {
                    // RFC 7518 §3.2: a key of the same size as the hash output or larger.
                    return Err(format!(
                        "the HMAC secret is {} bytes; HS256 needs at least 32",
                        key.len()
                    ));
                }
                DecodingKey::from_secret(key)
            }
            AlgorithmFamily::Rsa => DecodingKey::from_rsa_pem(key),
            AlgorithmFamily::Ec => DecodingKey::from_ec_pem(key),
            AlgorithmFamily::Ed => DecodingKey::from_ed_pem(key),
        }
        .map_err(|e| format!("the key is not a {family:?} key in PEM: {e}"))?;
        Ok(KeySet {
            keys: vec![Key {
                kid: None,
                alg: None,
                key,
                hmac,
            }],
        })
    }

    /// The keys of a JWKS document usable for signatures: keys for encryption (`use: enc`),
    /// of unknown types or malformed are skipped; a set with none left is an error.
    pub fn from_jwks(json: &[u8]) -> Result<KeySet, String> {
        #[derive(serde::Deserialize)]
        struct Doc {
            keys: Vec<serde_json::Value>,
        }
        let doc: Doc =
            serde_json::from_slice(json).map_err(|e| format!("not a JWKS document: {e}"))?;
        let mut keys = Vec::new();
        for value in doc.keys {
            let Ok(jwk) = serde_json::from_value::<Jwk>(value) else {
                continue;
            };
            if matches!(
                jwk.common.public_key_use,
                Some(PublicKeyUse::Encryption | PublicKeyUse::Other(_))
            ) {
                continue;
            }
            let alg = match jwk.common.key_algorithm {
                Some(a) => match Algorithm::try_from(a) {
                    Ok(a) => Some(a),
                    Err(_) => continue,
                },
                None => None,
            };
            let Ok(key) = DecodingKey::from_jwk(&jwk) else {
                continue;
            };
            let hmac = match (key.family(), key.try_get_as_bytes()) {
                (AlgorithmFamily::Hmac, Ok(secret)) => Some(hmac_keys(secret)),
                _ => None,
            };
            keys.push(Key {
                kid: jwk.common.key_id.clone(),
                alg,
                key,
                hmac,
            });
        }
        if keys.is_empty() {
            return Err("the JWKS has no signature verification key this server can use".into());
        }
        Ok(KeySet { keys })
    }

    /// The key for a token signed with `alg` naming `kid`: the key with that `kid`; without a
    /// `kid`, the first key that fits. None: no such key (a refresh may bring it).
    pub fn find(&self, kid: Option<&str>, alg: Algorithm) -> Option<&Key> {
        match kid {
            Some(kid) => self
                .keys
                .iter()
                .find(|k| k.kid.as_deref() == Some(kid) && k.fits(alg)),
            None => self.keys.iter().find(|k| k.fits(alg)),
        }
    }

    /// How many keys it holds.
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// Whether it holds no key.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }
}

/// The keys of one layer, shared by every IO thread of the worker, replaceable at run time.
pub struct Keys {
    set: RwLock<Arc<KeySet>>,
    /// Whether Python may replace the set (a JWKS); a configured key never changes.
    refreshable: bool,
    cooldown: Duration,
    /// When the last refresh for an unknown `kid` was granted.
    last_refresh: Mutex<Option<Instant>>,
}

impl Keys {
    /// Keys starting as `set`; `refreshable` for a JWKS, refreshed on an unknown `kid` at
    /// most once per `cooldown`.
    pub fn new(set: KeySet, refreshable: bool, cooldown: Duration) -> Keys {
        Keys {
            set: RwLock::new(Arc::new(set)),
            refreshable,
            cooldown,
            last_refresh: Mutex::new(None),
        }
    }

    /// The current set (an `Arc`: a refresh does not wait for readers).
    pub fn current(&self) -> Arc<KeySet> {
        self.set.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Replaces the set (a refreshed JWKS).
    pub fn replace(&self, set: KeySet) {
        *self.set.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(set);
    }

    /// Whether the set can be refreshed for an unknown `kid` now: true at most once per
    /// cool-down, so a flood of tokens with made-up `kid`s costs the provider one fetch per
    /// cool-down, not one per request.
    pub fn claim_refresh(&self, now: Instant) -> bool {
        if !self.refreshable {
            return false;
        }
        let mut last = self.last_refresh.lock().unwrap_or_else(|p| p.into_inner());
        match *last {
            Some(t) if now.saturating_duration_since(t) < self.cooldown => false,
            _ => {
                *last = Some(now);
                true
            }
        }
    }
}
