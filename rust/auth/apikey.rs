//! API keys (`covetpy.auth.APIKeyAuth`): kept as SHA-256 digests, never as the keys, and
//! compared in constant time so the answer's timing says nothing about how much of a digest
//! matched.

use std::borrow::Cow;
use std::collections::HashMap;

use aws_lc_rs::digest;
use subtle::ConstantTimeEq;

use super::credential;
use super::failure::Failure;
use super::identity::Identity;
use crate::metrics::AuthFailure;
use crate::protocol::h1::RequestHead;
use crate::router::convert::percent_decode;

/// An API-key layer as configured.
#[derive(Debug, Clone, Default)]
pub struct ApiKeyConfig {
    /// Name -> lower-case hex SHA-256 of the key.
    pub keys: Vec<(String, String)>,
    /// The header carrying the key (lower case), or
    pub header: Option<String>,
    /// the query parameter carrying it.
    pub query: Option<String>,
    /// Name -> scopes granted.
    pub scopes: HashMap<String, Vec<String>>,
    /// Name -> roles granted.
    pub roles: HashMap<String, Vec<String>>,
    /// The keys are looked up by a Python function: Rust only finds the credential.
    pub python: bool,
}

/// A configured API-key layer.
pub struct ApiKeys {
    /// (digest, name), every digest compared on each request.
    digests: Vec<([u8; 32], String)>,
    config: ApiKeyConfig,
}

/// What the layer made of a request.
pub enum KeyVerdict {
    /// No key in the request.
    Absent,
    /// A known key.
    Valid(Identity),
    /// An unknown key.
    Invalid(Failure),
    /// A key for Python's lookup function.
    Python,
}

impl ApiKeys {
    /// A layer from its configuration; Err names a digest that is not 64 hex digits.
    pub fn new(config: ApiKeyConfig) -> Result<ApiKeys, String> {
        let mut digests = Vec::with_capacity(config.keys.len());
        for (name, hex) in &config.keys {
            let d = unhex(hex).ok_or_else(|| {
                format!("keys[{name:?}]: expected a SHA-256 hex digest (64 hex digits)")
            })?;
            digests.push((d, name.clone()));
        }
        Ok(ApiKeys { digests, config })
    }

    /// The layer's configuration.
    pub fn config(&self) -> &ApiKeyConfig {
        &self.config
    }

    /// Finds and checks the request's key.
    pub fn check(&self, head: &RequestHead) -> KeyVerdict {
        let raw = match (&self.config.header, &self.config.query) {
            (Some(h), _) => credential::header(head, h).map(Cow::Borrowed),
            (None, Some(q)) => credential::query(head, q)
                .and_then(|v| std::str::from_utf8(v).ok())
                .and_then(percent_decode)
                .map(|c| match c {
                    Cow::Borrowed(s) => Cow::Borrowed(s.as_bytes()),
                    Cow::Owned(s) => Cow::Owned(s.into_bytes()),
                }),
            (None, None) => None,
        };
        let Some(key) = raw else {
            return KeyVerdict::Absent;
        };
        if self.config.python {
            return KeyVerdict::Python;
        }
        let got = digest::digest(&digest::SHA256, &key);
        // Every digest is compared, whichever matches: the time does not depend on which.
        let mut found: Option<&str> = None;
        for (d, name) in &self.digests {
            if bool::from(d.ct_eq(got.as_ref())) {
                found = Some(name);
            }
        }
        match found {
            Some(name) => KeyVerdict::Valid(Identity {
                scheme: "api_key".into(),
                subject: Some(name.into()),
                scopes: names(self.config.scopes.get(name)),
                roles: names(self.config.roles.get(name)),
                claims: None,
            }),
            None => KeyVerdict::Invalid(Failure::new(
                AuthFailure::UnknownApiKey,
                "the API key is not valid",
            )),
        }
    }
}

fn names(v: Option<&Vec<String>>) -> Vec<Box<str>> {
    v.map(|v| v.iter().map(|s| s.as_str().into()).collect())
        .unwrap_or_default()
}

fn unhex(s: &str) -> Option<[u8; 32]> {
    let s = s.as_bytes();
    if s.len() != 64 {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, pair) in s.chunks(2).enumerate() {
        let hi = (pair[0] as char).to_digit(16)?;
        let lo = (pair[1] as char).to_digit(16)?;
        out[i] = (hi * 16 + lo) as u8;
    }
    Some(out)
}
