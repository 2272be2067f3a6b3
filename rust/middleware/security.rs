//! The security headers layer: a fixed set of response headers, each added unless the handler
//! set that field itself (a route that must be framed sets its own `x-frame-options`).

use super::{headers, ConfigError};
use crate::protocol::response::Response;

/// The headers sent by default.
pub const DEFAULTS: [(&str, &str); 4] = [
    // Browsers must not guess a content type (MIME sniffing turns uploads into scripts).
    ("x-content-type-options", "nosniff"),
    // No framing at all (clickjacking); CSP `frame-ancestors` is the modern equivalent.
    ("x-frame-options", "DENY"),
    // Send no Referer from pages of this site.
    ("referrer-policy", "no-referrer"),
    // A cross-origin window opened from here gets no handle to it, and vice versa.
    ("cross-origin-opener-policy", "same-origin"),
];

/// `Strict-Transport-Security` (RFC 6797). Only meaningful when clients reach the server over
/// HTTPS (directly or through a TLS-terminating proxy).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hsts {
    /// Seconds browsers remember to use HTTPS only.
    pub max_age: u64,
    /// Also for every subdomain.
    pub include_subdomains: bool,
    /// Add `preload` (for the browsers' preload lists; hard to undo).
    pub preload: bool,
}

/// Configuration of the security headers layer.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SecurityConfig {
    /// HSTS, off by default (a plain-HTTP deployment must not send it).
    pub hsts: Option<Hsts>,
    /// A `Content-Security-Policy` value, none by default (a policy is application-specific).
    pub csp: Option<String>,
    /// Applied last, in order: `(name, Some(value))` adds or replaces a header (defaults
    /// included), `(name, None)` removes one.
    pub overrides: Vec<(String, Option<String>)>,
}

/// The configured layer: the header lines to add, pre-rendered.
#[derive(Debug, Clone)]
pub struct SecurityHeaders {
    /// (lower-case name, whole `name: value\r\n` line).
    lines: Vec<(Box<str>, Box<[u8]>)>,
}

impl SecurityHeaders {
    /// Builds the header set: defaults, then HSTS and CSP, then the overrides.
    pub fn new(cfg: SecurityConfig) -> Result<SecurityHeaders, ConfigError> {
        let mut set: Vec<(String, String)> = DEFAULTS
            .iter()
            .map(|(n, v)| (n.to_string(), v.to_string()))
            .collect();
        if let Some(h) = &cfg.hsts {
            let mut v = format!("max-age={}", h.max_age);
            if h.include_subdomains {
                v.push_str("; includeSubDomains");
            }
            if h.preload {
                v.push_str("; preload");
            }
            set.push(("strict-transport-security".into(), v));
        }
        if let Some(csp) = cfg.csp {
            set.push(("content-security-policy".into(), csp));
        }
        for (name, value) in cfg.overrides {
            let name = name.to_ascii_lowercase();
            set.retain(|(n, _)| *n != name);
            if let Some(value) = value {
                set.push((name, value));
            }
        }
        let mut lines = Vec::with_capacity(set.len());
        for (name, value) in set {
            if !headers::valid_name(&name) || !headers::valid_value(&value) {
                return Err(ConfigError(format!(
                    "SecurityHeaders: invalid header {name:?}: {value:?}"
                )));
            }
            let mut line = Vec::new();
            headers::push(&mut line, &name, value.as_bytes());
            lines.push((name.into_boxed_str(), line.into_boxed_slice()));
        }
        Ok(SecurityHeaders { lines })
    }

    /// The headers this layer adds, as `(name, value)`.
    pub fn headers(&self) -> impl Iterator<Item = (&str, &[u8])> {
        self.lines
            .iter()
            .map(|(n, line)| (&**n, &line[n.len() + 2..line.len() - 2]))
    }

    /// Adds every configured header the response does not have yet.
    pub(super) fn on_response(&self, response: &mut Response) {
        // Whether the handler set each one is decided against the handler's block only.
        let own = response.header_block.len();
        for (name, line) in &self.lines {
            if !headers::has(&response.header_block[..own], name) {
                response.header_block.extend_from_slice(line);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn block(s: &SecurityHeaders, handler: &[u8]) -> Vec<u8> {
        let mut r = Response::full(200, "text/plain", "x");
        r.header_block.extend_from_slice(handler);
        s.on_response(&mut r);
        r.header_block
    }

    #[test]
    fn defaults() {
        let s = SecurityHeaders::new(SecurityConfig::default()).unwrap();
        let b = block(&s, b"");
        for (n, v) in DEFAULTS {
            assert_eq!(headers::get(&b, n), Some(v.as_bytes()), "{n}");
        }
        assert!(!headers::has(&b, "strict-transport-security"));
        assert_eq!(s.headers().count(), 4);
    }

    #[test]
    fn never_overwrites_what_the_handler_set() {
        let s = SecurityHeaders::new(SecurityConfig::default()).unwrap();
        let b = block(&s, b"X-Frame-Options: SAMEORIGIN\r\n");
        let frames: Vec<_> = headers::lines(&b)
            .filter(|(n, _)| n.eq_ignore_ascii_case(b"x-frame-options"))
            .collect();
        assert_eq!(frames, vec![(&b"X-Frame-Options"[..], &b"SAMEORIGIN"[..])]);
    }

    #[test]
    fn hsts_csp_and_overrides() {
        let s = SecurityHeaders::new(SecurityConfig {
            hsts: Some(Hsts {
                max_age: 63_072_000,
                include_subdomains: true,
                preload: false,
            }),
            csp: Some("default-src 'self'".into()),
            overrides: vec![
                ("X-Frame-Options".into(), None),
                ("referrer-policy".into(), Some("same-origin".into())),
                ("permissions-policy".into(), Some("camera=()".into())),
            ],
        })
        .unwrap();
        let b = block(&s, b"");
        assert_eq!(
            headers::get(&b, "strict-transport-security"),
            Some(&b"max-age=63072000; includeSubDomains"[..])
        );
        assert_eq!(
            headers::get(&b, "content-security-policy"),
            Some(&b"default-src 'self'"[..])
        );
        assert!(!headers::has(&b, "x-frame-options"));
        assert_eq!(
            headers::get(&b, "referrer-policy"),
            Some(&b"same-origin"[..])
        );
        assert_eq!(
            headers::get(&b, "permissions-policy"),
            Some(&b"camera=()"[..])
        );
    }

    #[test]
    fn refuses_invalid_headers() {
        let bad = |n: &str, v: &str| {
            SecurityHeaders::new(SecurityConfig {
                overrides: vec![(n.into(), Some(v.into()))],
                ..Default::default()
            })
            .is_err()
        };
        assert!(bad("x y", "1"));
        assert!(bad("x-y", "a\r\nset-cookie: a=b"));
    }
}
