//! The trusted hosts layer: a request for a host that is not listed is answered 400 before
//! routing (Host header attacks: poisoned password-reset links, cache poisoning, DNS
//! rebinding against a service on localhost).

use super::ConfigError;
use crate::protocol::h1::RequestHead;
use crate::protocol::problem::problem;
use crate::protocol::response::Response;

/// The configured layer.
#[derive(Debug, Clone)]
pub struct TrustedHosts {
    /// `*` was listed: every host passes.
    any: bool,
    /// Lower-case names that must match exactly (IPv6 literals without brackets).
    exact: Vec<Box<str>>,
    /// Lower-case suffixes with their leading dot, from `*.example.com`: subdomains only.
    suffixes: Vec<Box<str>>,
}

impl TrustedHosts {
    /// From patterns `example.com` (exactly), `*.example.com` (any subdomain, not
    /// `example.com` itself) and `*` (anything). Patterns carry no port.
    pub fn new<S: AsRef<str>>(patterns: &[S]) -> Result<TrustedHosts, ConfigError> {
        let mut t = TrustedHosts {
            any: false,
            exact: Vec::new(),
            suffixes: Vec::new(),
        };
        if patterns.is_empty() {
            return Err(ConfigError(
                "TrustedHosts allowed: needs at least one host".into(),
            ));
        }
        for p in patterns {
            let p = p.as_ref().trim().to_ascii_lowercase();
            let bad = |why: &str| ConfigError(format!("TrustedHosts allowed: {p:?}: {why}"));
            if p == "*" {
                t.any = true;
                continue;
            }
            let (suffix, name) = match p.strip_prefix("*.") {
                Some(rest) => (true, rest),
                None => (false, p.as_str()),
            };
            let name = name.strip_suffix('.').unwrap_or(name);
            let name = match name.strip_prefix('[').and_then(|n| n.strip_suffix(']')) {
                Some(v6) if v6.parse::<std::net::Ipv6Addr>().is_ok() => v6,
                Some(_) => return Err(bad("not an IPv6 address")),
                None if name.parse::<std::net::Ipv6Addr>().is_ok() => name,
                None if name.contains(':') => return Err(bad("a pattern has no port")),
                None => name,
            };
            if name.is_empty() || name.contains('*') {
                return Err(bad("`*` may only be the whole pattern or start `*.`"));
            }
            if suffix {
                t.suffixes.push(format!(".{name}").into());
            } else {
                t.exact.push(name.into());
            }
        }
        Ok(t)
    }

    /// Whether `host` (a Host field value or an authority: name or IP, optional port) is
    /// allowed. Compared without port and trailing dot, case-insensitively.
    pub fn allows(&self, host: &[u8]) -> bool {
        if self.any {
            return true;
        }
        let name = strip_port(host);
        let name = name.strip_suffix(b".").unwrap_or(name);
        if name.is_empty() {
            return false;
        }
        self.exact
            .iter()
            .any(|e| e.as_bytes().eq_ignore_ascii_case(name))
            || self.suffixes.iter().any(|s| {
                name.len() > s.len()
                    && name[name.len() - s.len()..].eq_ignore_ascii_case(s.as_bytes())
            })
    }

    /// 400 (RFC 9110 §15.5.1) when the request's host is missing or not allowed.
    pub(super) fn check(&self, head: &RequestHead) -> Result<(), Response> {
        match head.host() {
            Some(h) if self.allows(h) => Ok(()),
            None if self.any => Ok(()),
            _ => Err(problem(400, "host not allowed")),
        }
    }
}

/// The host without `:port`, and without the brackets of an IPv6 literal.
fn strip_port(host: &[u8]) -> &[u8] {
    if let Some(rest) = host.strip_prefix(b"[") {
        return match memchr::memchr(b']', rest) {
            Some(end) => &rest[..end],
            None => b"",
        };
    }
    match memchr::memrchr(b':', host) {
        Some(colon) => &host[..colon],
        None => host,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::middleware::tests::head;

    #[test]
    fn exact_and_subdomain_patterns() {
        let t = TrustedHosts::new(&["example.com", "*.api.example.org"]).unwrap();
        assert!(t.allows(b"example.com"));
        assert!(t.allows(b"EXAMPLE.com:8443"));
        assert!(t.allows(b"example.com."));
        assert!(!t.allows(b"www.example.com"));
        assert!(!t.allows(b"evil-example.com"));
        assert!(t.allows(b"v1.api.example.org"));
        assert!(t.allows(b"a.b.api.example.org:80"));
        assert!(!t.allows(b"api.example.org"));
        assert!(!t.allows(b"xapi.example.org"));
        assert!(!t.allows(b""));
        assert!(!t.allows(b":80"));
    }

    #[test]
    fn ip_literals() {
        let t = TrustedHosts::new(&["127.0.0.1", "[::1]", "fe80::1"]).unwrap();
        assert!(t.allows(b"127.0.0.1:8000"));
        assert!(t.allows(b"[::1]:8000"));
        assert!(t.allows(b"[::1]"));
        assert!(t.allows(b"[FE80::1]"));
        assert!(!t.allows(b"[::2]"));
    }

    #[test]
    fn star_allows_anything_even_without_host() {
        let t = TrustedHosts::new(&["*"]).unwrap();
        assert!(t.allows(b"whatever:1"));
        assert!(t.check(&head("GET / HTTP/1.0\r\n\r\n")).is_ok());
    }

    #[test]
    fn answers_400_problem() {
        let t = TrustedHosts::new(&["example.com"]).unwrap();
        assert!(t
            .check(&head("GET / HTTP/1.1\r\nhost: example.com\r\n\r\n"))
            .is_ok());
        let r = t
            .check(&head("GET / HTTP/1.1\r\nhost: evil.com\r\n\r\n"))
            .unwrap_err();
        assert_eq!(r.status, 400);
        assert!(crate::middleware::tests::body(&r).contains("host not allowed"));
        // Absolute-form overrides Host (RFC 9112 §3.2.2).
        let abs = head("GET http://evil.com/ HTTP/1.1\r\nhost: example.com\r\n\r\n");
        assert_eq!(t.check(&abs).map_err(|r| r.status), Err(400));
        assert!(t.check(&head("GET / HTTP/1.0\r\n\r\n")).is_err());
    }

    #[test]
    fn refuses_bad_patterns() {
        for p in ["", "*.", "a.*.com", "example.com:80", "[nope]", "**"] {
            assert!(TrustedHosts::new(&[p]).is_err(), "{p:?}");
        }
        assert!(TrustedHosts::new::<&str>(&[]).is_err());
    }
}
