//! The built-in middleware as Python describes them (`covetpy.middleware.builtin`, handed over
//! once as `App.runtime().native_middleware`: a tuple of dicts with a `kind`), turned into the
//! Rust [`Pipeline`]; and `RateLimiter`, the token buckets for keys a Python function computes.

use std::time::Instant;

use pyo3::prelude::*;
use pyo3::types::{PyDict, PyTuple};

use crate::mesh::forwarded::TrustPolicy;
use crate::middleware::compress::{Compress, CompressConfig, Encoding};
use crate::middleware::cors::{Cors, CorsConfig};
use crate::middleware::hosts::TrustedHosts;
use crate::middleware::origins::WebSocketOrigins;
use crate::middleware::ratelimit::{Limiter, RateKey, RateLimit, RateLimitConfig};
use crate::middleware::request_id::{RequestId, RequestIdConfig};
use crate::middleware::security::{Hsts, SecurityConfig, SecurityHeaders};
use crate::middleware::{ConfigError, Layer, Pipeline};

use super::errors;
use super::fields::Fields;

/// A refused option, as the `covetpy.ConfigError` a user can catch.
fn bad(e: ConfigError) -> PyErr {
    errors::ConfigError::new_err(e.0)
}

fn get<'py, T: FromPyObject<'py>>(spec: &Bound<'py, PyDict>, key: &str) -> PyResult<T> {
    match spec.get_item(key)? {
        Some(v) => v.extract().map_err(|_| {
            errors::ConfigError::new_err(format!(
                "middleware spec: field `{key}` has the wrong type, got {}",
                super::fields::describe(&v)
            ))
        }),
        None => Err(errors::ConfigError::new_err(format!(
            "middleware spec: field `{key}` missing"
        ))),
    }
}

fn layer(spec: &Bound<'_, PyDict>, trust: &TrustPolicy) -> PyResult<Option<Layer>> {
    let kind: String = get(spec, "kind")?;
    Ok(Some(match kind.as_str() {
        "cors" => Layer::Cors(
            Cors::new(CorsConfig {
                allow_origins: get(spec, "allow_origins")?,
                allow_methods: get(spec, "allow_methods")?,
                allow_headers: get(spec, "allow_headers")?,
                expose_headers: get(spec, "expose_headers")?,
                allow_credentials: get(spec, "allow_credentials")?,
                max_age: Some(get(spec, "max_age")?),
            })
            .map_err(bad)?,
        ),
        "compression" => {
            let prefer: Vec<String> = get(spec, "prefer")?;
            let preference = prefer
                .iter()
                .map(|p| match p.as_str() {
                    "br" => Ok(Encoding::Brotli),
                    "zstd" => Ok(Encoding::Zstd),
                    "gzip" => Ok(Encoding::Gzip),
                    other => Err(errors::ConfigError::new_err(format!(
                        "Compression prefer: unknown encoding {other:?}"
                    ))),
                })
                .collect::<PyResult<Vec<_>>>()?;
            Layer::Compress(
                Compress::new(CompressConfig {
                    min_size: get(spec, "minimum_size")?,
                    content_types: get(spec, "content_types")?,
                    preference,
                    ..CompressConfig::default()
                })
                .map_err(bad)?,
            )
        }
        "request_id" => Layer::RequestId(
            RequestId::new(RequestIdConfig {
                header: get(spec, "header")?,
                ..RequestIdConfig::default()
            })
            .map_err(bad)?,
        ),
        "security_headers" => {
            let hsts_seconds: u64 = get(spec, "hsts_seconds")?;
            let include_subdomains: bool = get(spec, "hsts_include_subdomains")?;
            let csp: String = get(spec, "content_security_policy")?;
            let extra: Vec<(String, String)> =
                get::<std::collections::BTreeMap<String, String>>(spec, "extra")?
                    .into_iter()
                    .collect();
            let mut overrides = vec![
                (
                    "x-frame-options".to_owned(),
                    some(get(spec, "frame_options")?),
                ),
                (
                    "referrer-policy".to_owned(),
                    some(get(spec, "referrer_policy")?),
                ),
            ];
            overrides.extend(extra.into_iter().map(|(n, v)| (n, some(v))));
            Layer::Security(
                SecurityHeaders::new(SecurityConfig {
                    hsts: (hsts_seconds > 0).then_some(Hsts {
                        max_age: hsts_seconds,
                        include_subdomains,
                        preload: false,
                    }),
                    csp: some(csp),
                    overrides,
                })
                .map_err(bad)?,
            )
        }
        "trusted_hosts" => {
            let allowed: Vec<String> = get(spec, "allowed")?;
            Layer::Hosts(TrustedHosts::new(&allowed).map_err(bad)?)
        }
        "websocket_origins" => {
            let allow: Option<Vec<String>> = get(spec, "allow")?;
            Layer::WsOrigins(WebSocketOrigins::new(allow.as_deref()).map_err(bad)?)
        }
        "body_limit" => Layer::BodyLimit(get(spec, "max_bytes")?),
        "rate_limit" => {
            let key: String = get(spec, "key")?;
            let key = match key.as_str() {
                "client" => RateKey::Peer,
                // A Python key function: the check runs in Python, with a `RateLimiter`.
                "python" => return Ok(None),
                other => match other.strip_prefix("header:") {
                    Some(name) => RateKey::Header(name.to_ascii_lowercase()),
                    None => {
                        return Err(errors::ConfigError::new_err(format!(
                            "RateLimit key must be 'client', 'header:NAME' or a function, \
                             not {other:?}"
                        )))
                    }
                },
            };
            Layer::RateLimit(
                RateLimit::new(RateLimitConfig {
                    rate: get(spec, "rate")?,
                    burst: get(spec, "burst")?,
                    key,
                    max_keys: get(spec, "max_keys")?,
                })
                .map_err(bad)?
                .trusting(trust.clone()),
            )
        }
        "server_timing" => Layer::Timing,
        other => {
            return Err(errors::ConfigError::new_err(format!(
                "unknown built-in middleware {other:?}"
            )))
        }
    }))
}

/// An empty value means "none" (remove the header / no CSP).
fn some(v: String) -> Option<String> {
    Some(v).filter(|v| !v.is_empty())
}

/// The pipeline described by `runtime.native_middleware` (a required field: an empty tuple for
/// none).
pub fn pipeline(runtime: &Bound<'_, PyAny>, trust: &TrustPolicy) -> PyResult<Pipeline> {
    let f = Fields::new(runtime, "runtime");
    let specs = f.any("native_middleware")?;
    let expected = "a tuple of dicts";
    let items = specs
        .downcast::<PyTuple>()
        .map_err(|_| f.ill_typed("native_middleware", expected, &specs))?;
    let mut layers = Vec::new();
    for spec in items.iter() {
        let dict = spec
            .downcast::<PyDict>()
            .map_err(|_| f.ill_typed("native_middleware", expected, &spec))?;
        if let Some(l) = layer(dict, trust)? {
            layers.push(l);
        }
    }
    Pipeline::new(layers).map_err(bad)
}

/// Token buckets for keys computed in Python (`RateLimit(key=function)`); the same buckets as
/// the Rust layer, shared by every thread of the worker.
#[pyclass(module = "covetpy._core", frozen)]
pub struct RateLimiter {
    limiter: Limiter,
}

#[pymethods]
impl RateLimiter {
    #[new]
    fn new(rate: f64, burst: u32, max_keys: usize) -> PyResult<Self> {
        Ok(RateLimiter {
            limiter: Limiter::new(rate, burst, max_keys).map_err(bad)?,
        })
    }

    /// Takes a token for `key`: None when allowed, else the seconds until one is free.
    fn hit(&self, key: &str) -> Option<f64> {
        self.limiter
            .check(key, Instant::now())
            .err()
            .map(|wait| wait.as_secs_f64())
    }
}
