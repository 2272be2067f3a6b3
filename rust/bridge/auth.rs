//! The authentication layers as Python describes them (`App.runtime().auth`, and each
//! `RouteEntry.auth`), turned into the Rust [`Auth`]; `request.auth`'s identity; and the
//! token signing behind `covetpy.auth.TokenIssuer`.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use jsonwebtoken::jwk::Jwk;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use pyo3::prelude::*;
use pyo3::types::PyDict;

use crate::auth::apikey::{ApiKeyConfig, ApiKeys};
use crate::auth::jwt::{Jwt, JwtConfig};
use crate::auth::{Auth, Challenge, Requirement, RoleTable, RoutePolicy, Scheme};

use super::errors::ConfigError;
use super::fields::Fields;

fn get<'py, T: FromPyObject<'py>>(
    spec: &Bound<'py, PyDict>,
    key: &str,
    owner: &str,
) -> PyResult<T> {
    match spec.get_item(key)? {
        Some(v) => v.extract().map_err(|_| {
            ConfigError::new_err(format!(
                "{owner}: field `{key}` has the wrong type, got {}",
                super::fields::describe(&v)
            ))
        }),
        None => Err(ConfigError::new_err(format!(
            "{owner}: field `{key}` missing"
        ))),
    }
}

fn dict<'a, 'py>(v: &'a Bound<'py, PyAny>, owner: &str) -> PyResult<&'a Bound<'py, PyDict>> {
    v.downcast::<PyDict>().map_err(|_| {
        ConfigError::new_err(format!(
            "{owner}: expected a dict, got {}",
            super::fields::describe(v)
        ))
    })
}

fn scheme(spec: &Bound<'_, PyDict>, n: usize) -> PyResult<(Scheme, bool)> {
    let owner = format!("auth layer {n}");
    let kind: String = get(spec, "kind", &owner)?;
    let optional: bool = get(spec, "optional", &owner)?;
    let bad = |e: String| ConfigError::new_err(format!("{owner} ({kind}): {e}"));
    let scheme = match kind.as_str() {
        "jwt" => {
            let key: Option<Vec<u8>> = get(spec, "key", &owner)?;
            let jwks: Option<Vec<u8>> = get(spec, "jwks", &owner)?;
            Scheme::Jwt(Box::new(
                Jwt::new(JwtConfig {
                    issuer: get(spec, "issuer", &owner)?,
                    audience: get(spec, "audience", &owner)?,
                    algorithms: get(spec, "algorithms", &owner)?,
                    key,
                    jwks,
                    leeway: get(spec, "leeway", &owner)?,
                    required_claims: get(spec, "required_claims", &owner)?,
                    header: get(spec, "header", &owner)?,
                    cookie: get(spec, "cookie", &owner)?,
                    websocket_protocol: get(spec, "websocket_protocol", &owner)?,
                    scopes_claim: get(spec, "scopes_claim", &owner)?,
                    roles_claim: get(spec, "roles_claim", &owner)?,
                    jwks_cooldown: Duration::try_from_secs_f64(get(spec, "jwks_cooldown", &owner)?)
                        .map_err(|e| bad(format!("jwks_cooldown: {e}")))?,
                    max_token_bytes: get(spec, "max_token_bytes", &owner)?,
                })
                .map_err(bad)?,
            ))
        }
        "api_key" => {
            let keys: HashMap<String, String> = get(spec, "keys", &owner)?;
            let mut keys: Vec<(String, String)> = keys.into_iter().collect();
            keys.sort();
            Scheme::ApiKey(
                ApiKeys::new(ApiKeyConfig {
                    keys,
                    header: get(spec, "header", &owner)?,
                    query: get(spec, "query", &owner)?,
                    scopes: get(spec, "scopes", &owner)?,
                    roles: get(spec, "roles", &owner)?,
                    python: get(spec, "python", &owner)?,
                })
                .map_err(bad)?,
            )
        }
        // Verified in Python (Basic, sessions): Rust only challenges for it.
        "python" => {
            let challenge: String = get(spec, "challenge", &owner)?;
            Scheme::Python(match challenge.as_str() {
                "basic" => Challenge::Basic,
                "bearer" => Challenge::Bearer,
                other => Challenge::ApiKey {
                    param: other.to_owned(),
                },
            })
        }
        other => {
            return Err(ConfigError::new_err(format!(
                "{owner}: unknown kind {other:?} (jwt, api_key, python)"
            )))
        }
    };
    Ok((scheme, optional))
}

/// The requirement of a `covetpy.auth.Requires.spec()` dict.
fn requirement(spec: &Bound<'_, PyAny>) -> PyResult<Requirement> {
    let owner = "requires";
    let d = dict(spec, owner)?;
    let any_of: Bound<'_, PyAny> = get(d, "any_of", owner)?;
    let mut alternatives = Vec::new();
    for alt in any_of.try_iter()? {
        alternatives.push(requirement(&alt?)?);
    }
    Ok(Requirement {
        scopes: get(d, "scopes", owner)?,
        roles: get(d, "roles", owner)?,
        permissions: get(d, "permissions", owner)?,
        any_of: alternatives,
    })
}

/// A route's policy from its `RouteEntry.auth` (None: the default policy).
pub fn policy(value: &Bound<'_, PyAny>) -> PyResult<RoutePolicy> {
    if value.is_none() {
        return Ok(RoutePolicy::default());
    }
    let d = dict(value, "route auth")?;
    let requires: Bound<'_, PyAny> = get(d, "requires", "route auth")?;
    let mut out = Vec::new();
    for r in requires.try_iter()? {
        out.push(requirement(&r?)?);
    }
    Ok(RoutePolicy {
        public: get(d, "public", "route auth")?,
        requires: out,
    })
}

/// The layers described by `runtime.auth` (None: no layers, no per-request cost), with the
/// route policies by route id.
pub fn auth(runtime: &Bound<'_, PyAny>, policies: Vec<RoutePolicy>) -> PyResult<Option<Arc<Auth>>> {
    let f = Fields::new(runtime, "runtime");
    let spec = f.any("auth")?;
    if spec.is_none() {
        return Ok(None);
    }
    let spec = dict(&spec, "runtime.auth")?;
    let layers: Bound<'_, PyAny> = get(spec, "layers", "runtime.auth")?;
    let mut schemes = Vec::new();
    for (n, layer) in layers.try_iter()?.enumerate() {
        let layer = layer?;
        schemes.push(scheme(dict(&layer, "auth layer")?, n)?);
    }
    let roles: RoleTable = get(spec, "role_permissions", "runtime.auth")?;
    Ok(Some(Arc::new(Auth::new(
        schemes,
        policies,
        roles,
        get(spec, "realm", "runtime.auth")?,
        get(spec, "audit", "runtime.auth")?,
    ))))
}

fn parse_algorithm(name: &str) -> PyResult<Algorithm> {
    name.parse()
        .map_err(|_| ConfigError::new_err(format!("algorithm {name:?} is not supported")))
}

fn encoding_key(alg: Algorithm, key: &[u8]) -> PyResult<EncodingKey> {
    use jsonwebtoken::AlgorithmFamily as F;
    let k = match alg.family() {
        F::Hmac => EncodingKey::from_secret(key),
        F::Rsa => EncodingKey::from_rsa_pem(key),
        F::Ec => EncodingKey::from_ec_pem(key),
        F::Ed => EncodingKey::from_ed_pem(key),
    };
    k.map_err(|e| ConfigError::new_err(format!("the signing key does not fit {alg:?}: {e}")))
}

/// Signs `claims` (a JSON object, as bytes) with `key` (a PEM private key, or an HMAC secret)
/// as a compact JWS with `alg`, naming `kid` in the header.
#[pyfunction]
#[pyo3(signature = (algorithm, key, claims, kid=None))]
pub fn sign_jwt(
    algorithm: &str,
    key: &[u8],
    claims: &[u8],
    kid: Option<String>,
) -> PyResult<String> {
    let alg = parse_algorithm(algorithm)?;
    let key = encoding_key(alg, key)?;
    let claims: serde_json::Value = serde_json::from_slice(claims)
        .map_err(|e| pyo3::exceptions::PyValueError::new_err(format!("claims: {e}")))?;
    let mut header = Header::new(alg);
    header.kid = kid;
    jsonwebtoken::encode(&header, &claims, &key)
        .map_err(|e| pyo3::exceptions::PyValueError::new_err(format!("cannot sign: {e}")))
}

/// The public JWK (JSON) of a private signing key, for a JWKS the service publishes.
#[pyfunction]
#[pyo3(signature = (algorithm, key, kid=None))]
pub fn public_jwk(algorithm: &str, key: &[u8], kid: Option<String>) -> PyResult<String> {
    let alg = parse_algorithm(algorithm)?;
    let key = encoding_key(alg, key)?;
    let mut jwk = Jwk::from_encoding_key(&key, alg)
        .map_err(|e| pyo3::exceptions::PyValueError::new_err(format!("no public key: {e}")))?;
    jwk.common.key_id = kid;
    serde_json::to_string(&jwk).map_err(|e| pyo3::exceptions::PyValueError::new_err(e.to_string()))
}
