//! The CORS layer (Fetch standard, "CORS protocol"): preflights are answered here, without
//! routing or Python; actual requests from allowed origins get `Access-Control-Allow-Origin`
//! and its companions on their response. Disallowed origins get no CORS header at all, so
//! the browser withholds the response from the page (CORS protects browsers' users; it is not
//! access control against other clients, whose requests go through as usual).

use bytes::Bytes;

use super::{headers, ConfigError};
use crate::protocol::h1::{Method, RequestHead};
use crate::protocol::problem::problem;
use crate::protocol::response::{Body, Response};

/// Request headers a page may always send (Fetch's CORS-safelisted names, as Starlette allows
/// them): `content-type` is the usual reason for a preflight (`application/json`).
const SAFELISTED_HEADERS: [&str; 4] = [
    "accept",
    "accept-language",
    "content-language",
    "content-type",
];

/// Methods a browser never asks a preflight about (CORS-safelisted): always accepted.
const SAFELISTED_METHODS: [&str; 3] = ["GET", "HEAD", "POST"];

/// Configuration of the CORS layer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CorsConfig {
    /// Origins allowed (`https://app.example.com`), or `*` for any.
    pub allow_origins: Vec<String>,
    /// Methods a preflight may ask for, or `*` for any (default GET, HEAD, POST).
    pub allow_methods: Vec<String>,
    /// Request headers a preflight may ask for (besides the safelisted ones), or `*`.
    pub allow_headers: Vec<String>,
    /// Response headers the page may read (`Access-Control-Expose-Headers`).
    pub expose_headers: Vec<String>,
    /// Whether cookies and HTTP authentication may be sent. The allowed origin is then always
    /// echoed, never `*`, which browsers refuse with credentials.
    pub allow_credentials: bool,
    /// Seconds a browser may cache a preflight answer (default 600).
    pub max_age: Option<u32>,
}

impl Default for CorsConfig {
    fn default() -> Self {
        CorsConfig {
            allow_origins: Vec::new(),
            allow_methods: SAFELISTED_METHODS.iter().map(|m| m.to_string()).collect(),
            allow_headers: Vec::new(),
            expose_headers: Vec::new(),
            allow_credentials: false,
            max_age: Some(600),
        }
    }
}

/// What the layer decided for an actual request, kept in the request's `Ctx`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Allowed {
    /// No Origin, or one not allowed: no CORS headers.
    No,
    /// Any origin, no credentials: `*`.
    Any,
    /// The listed origin at this index: echoed.
    Listed(usize),
    /// Any origin with credentials: this one echoed.
    Echo(Box<str>),
}

/// The configured layer, with its header values rendered once.
#[derive(Debug, Clone)]
pub struct Cors {
    any_origin: bool,
    origins: Vec<Box<str>>,
    any_method: bool,
    methods: Vec<Box<str>>,
    methods_value: Box<[u8]>,
    any_header: bool,
    /// Lower-case, safelisted ones included.
    headers: Vec<Box<str>>,
    headers_value: Box<[u8]>,
    expose_value: Option<Box<[u8]>>,
    credentials: bool,
    max_age: Option<Box<[u8]>>,
}

impl Cors {
    /// Checks and renders the configuration.
    pub fn new(cfg: CorsConfig) -> Result<Cors, ConfigError> {
        // Named as the Python option is (`CORS(allow_origins=...)`), so the user finds it.
        let bad = |option: &str, what: &str, v: &str| {
            ConfigError(format!("CORS {option}: invalid {what} {v:?}"))
        };
        let mut origins = Vec::new();
        for o in &cfg.allow_origins {
            let o = o.trim().trim_end_matches('/').to_ascii_lowercase();
            let ok = o == "*"
                || o == "null"
                || (o
                    .split_once("://")
                    .is_some_and(|(s, h)| !s.is_empty() && !h.is_empty() && !h.contains('/'))
                    && headers::valid_value(&o));
            if !ok {
                return Err(bad("allow_origins", "origin", &o));
            }
            origins.push(o.into_boxed_str());
        }
        let any_origin = origins.iter().any(|o| &**o == "*");
        for m in &cfg.allow_methods {
            if m != "*" && Method::from_bytes(m.as_bytes()).is_none() {
                return Err(bad("allow_methods", "method", m));
            }
        }
        for (option, list) in [
            ("allow_headers", &cfg.allow_headers),
            ("expose_headers", &cfg.expose_headers),
        ] {
            if let Some(h) = list.iter().find(|h| *h != "*" && !headers::valid_name(h)) {
                return Err(bad(option, "header name", h));
            }
        }
        let any_method = cfg.allow_methods.iter().any(|m| m == "*");
        let any_header = cfg.allow_headers.iter().any(|h| h == "*");
        let mut allowed_headers: Vec<Box<str>> =
            SAFELISTED_HEADERS.iter().map(|h| (*h).into()).collect();
        for h in &cfg.allow_headers {
            let h = h.to_ascii_lowercase();
            if h != "*" && !allowed_headers.iter().any(|a| **a == h) {
                allowed_headers.push(h.into());
            }
        }
        let join = |items: &[Box<str>]| -> Box<[u8]> { items.join(", ").into_bytes().into() };
        let methods: Vec<Box<str>> = cfg
            .allow_methods
            .iter()
            .map(|m| m.as_str().into())
            .collect();
        let expose: Vec<Box<str>> = cfg
            .expose_headers
            .iter()
            .map(|h| h.as_str().into())
            .collect();
        Ok(Cors {
            any_origin,
            origins,
            any_method,
            methods_value: join(&methods),
            methods,
            any_header,
            headers_value: join(&allowed_headers),
            headers: allowed_headers,
            expose_value: (!expose.is_empty()).then(|| join(&expose)),
            credentials: cfg.allow_credentials,
            max_age: cfg.max_age.map(|s| s.to_string().into_bytes().into()),
        })
    }

    /// Whether the `Access-Control-Allow-Origin` value depends on the request's Origin (then
    /// every response carries `Vary: Origin`, so caches keep one copy per origin).
    fn varies(&self) -> bool {
        !self.any_origin || self.credentials
    }

    fn allow(&self, origin: &[u8]) -> Allowed {
        if self.any_origin {
            return match (self.credentials, std::str::from_utf8(origin)) {
                (false, _) => Allowed::Any,
                (true, Ok(o)) => Allowed::Echo(o.into()),
                (true, Err(_)) => Allowed::No,
            };
        }
        match self
            .origins
            .iter()
            .position(|o| o.as_bytes().eq_ignore_ascii_case(origin))
        {
            Some(i) => Allowed::Listed(i),
            None => Allowed::No,
        }
    }

    /// Answers a preflight (allowed: 204, refused: 403); for other requests, what to add to
    /// the response.
    pub(super) fn on_request(&self, head: &RequestHead) -> Result<Allowed, Response> {
        let Some(origin) = head.header("origin") else {
            return Ok(Allowed::No);
        };
        let allowed = self.allow(origin);
        match head.header("access-control-request-method") {
            Some(method) if *head.method() == Method::Options => {
                Err(self.preflight(head, origin, allowed, method))
            }
            _ => Ok(allowed),
        }
    }

    fn preflight(
        &self,
        head: &RequestHead,
        origin: &[u8],
        allowed: Allowed,
        method: &[u8],
    ) -> Response {
        if allowed == Allowed::No {
            return problem(403, "CORS: origin not allowed");
        }
        let method_ok = self.any_method
            || SAFELISTED_METHODS.iter().any(|m| m.as_bytes() == method)
            || self.methods.iter().any(|m| m.as_bytes() == method);
        if !method_ok {
            return problem(403, "CORS: method not allowed");
        }
        let requested = head
            .header("access-control-request-headers")
            .unwrap_or_default();
        if !self.any_header {
            for h in requested.split(|&b| b == b',') {
                let h = crate::protocol::h1::token::trim_ows(h);
                if !h.is_empty()
                    && !self
                        .headers
                        .iter()
                        .any(|a| a.as_bytes().eq_ignore_ascii_case(h))
                {
                    let name = String::from_utf8_lossy(h);
                    return problem(403, &format!("CORS: request header not allowed: {name}"));
                }
            }
        }
        let mut block = Vec::with_capacity(256);
        self.allow_origin(&allowed, origin, &mut block);
        // With `*`, echo what was asked: a literal `*` means nothing to browsers when
        // credentials are allowed.
        let methods: &[u8] = if self.any_method {
            method
        } else {
            &self.methods_value
        };
        headers::push(&mut block, "access-control-allow-methods", methods);
        let allow_headers: &[u8] = if self.any_header {
            requested
        } else {
            &self.headers_value
        };
        if !allow_headers.is_empty() {
            headers::push(&mut block, "access-control-allow-headers", allow_headers);
        }
        if let Some(age) = &self.max_age {
            headers::push(&mut block, "access-control-max-age", age);
        }
        Response {
            status: 204,
            header_block: block,
            body: Body::Full(Bytes::new()),
        }
    }

    /// `Access-Control-Allow-Origin`, `Vary: Origin` and credentials for an allowed origin.
    fn allow_origin(&self, allowed: &Allowed, origin: &[u8], block: &mut Vec<u8>) {
        let value: &[u8] = match allowed {
            Allowed::No => return,
            Allowed::Any => b"*",
            Allowed::Listed(_) | Allowed::Echo(_) => origin,
        };
        headers::push(block, "access-control-allow-origin", value);
        if self.varies() {
            headers::push(block, "vary", b"origin");
        }
        if self.credentials {
            headers::push(block, "access-control-allow-credentials", b"true");
        }
    }

    /// Adds the CORS headers of an actual request's response (unless the handler set
    /// `Access-Control-Allow-Origin` itself), and `Vary: Origin` when the answer depends on it.
    pub(super) fn on_response(&self, allowed: &Allowed, response: &mut Response) {
        let block = &mut response.header_block;
        if headers::has(block, "access-control-allow-origin") {
            return;
        }
        let origin: &[u8] = match allowed {
            Allowed::No => {
                if self.varies() {
                    headers::push(block, "vary", b"origin");
                }
                return;
            }
            Allowed::Any => b"",
            Allowed::Listed(i) => self.origins.get(*i).map_or(&b""[..], |o| o.as_bytes()),
            Allowed::Echo(o) => o.as_bytes(),
        };
        self.allow_origin(allowed, origin, block);
        if let Some(expose) = &self.expose_value {
            headers::push(block, "access-control-expose-headers", expose);
        }
    }
}

#[cfg(test)]
#[path = "cors_tests.rs"]
mod tests;
