//! The WebSocket origin layer: a browser's WebSocket upgrade from a page of another site is
//! refused 403 before routing. Browsers do not apply CORS to WebSocket, so without this check
//! any page a user visits can open a socket to us carrying the user's cookies (cross-site
//! WebSocket hijacking); RFC 6455 §10.2 leaves the `Origin` check to the server.
//!
//! Only upgrade requests are checked: plain HTTP requests pass whatever their `Origin`. A
//! request without `Origin` passes too, since only browsers send it and a non-browser client
//! could send any value it likes anyway.

use super::ConfigError;
use crate::protocol::h1::RequestHead;
use crate::protocol::problem::problem;
use crate::protocol::response::Response;

/// Longest origin quoted back in a refusal: enough for any real one, and a hostile header
/// cannot make the answer large.
const QUOTE_MAX: usize = 200;

/// A serialized origin, `scheme://host[:port]` (RFC 6454 §6.2), normalised: scheme and host
/// lower-case, the scheme's default port written out.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Origin {
    scheme: Box<str>,
    host: Box<str>,
    port: Option<u16>,
}

impl Origin {
    /// Parses an origin; `None` for `null`, a path, or anything else that is not one.
    fn parse(text: &[u8]) -> Option<Origin> {
        let text = std::str::from_utf8(text).ok()?.trim();
        let (scheme, rest) = text.split_once("://")?;
        let valid_scheme = scheme.starts_with(|c: char| c.is_ascii_alphabetic())
            && scheme
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'-' | b'.'));
        if !valid_scheme || rest.is_empty() || rest.contains(['/', '?', '#', '@']) {
            return None;
        }
        let scheme = scheme.to_ascii_lowercase();
        let (host, port) = split_authority(rest)?;
        let port = port.or(default_port(&scheme));
        Some(Origin {
            scheme: scheme.into(),
            host: host.to_ascii_lowercase().into(),
            port,
        })
    }
}

/// The port a scheme implies when none is written (RFC 6455 §3 for ws/wss).
fn default_port(scheme: &str) -> Option<u16> {
    match scheme {
        "http" | "ws" => Some(80),
        "https" | "wss" => Some(443),
        _ => None,
    }
}

/// `host[:port]` split, brackets of an IPv6 literal kept in the host; `None` for a bad port
/// or an empty host.
fn split_authority(authority: &str) -> Option<(&str, Option<u16>)> {
    let (host, port) = if authority.starts_with('[') {
        let end = authority.find(']')?;
        match &authority[end + 1..] {
            "" => (&authority[..=end], None),
            rest => (&authority[..=end], Some(rest.strip_prefix(':')?)),
        }
    } else {
        match authority.rsplit_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (authority, None),
        }
    };
    if host.is_empty() || host.contains(':') && !host.starts_with('[') {
        return None;
    }
    let port = match port {
        Some(p) if !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()) => Some(p.parse().ok()?),
        Some(_) => return None,
        None => None,
    };
    Some((host, port))
}

/// The configured layer.
#[derive(Debug, Clone)]
pub struct WebSocketOrigins {
    /// `*` was listed: every origin passes (the layer then only documents the choice).
    any: bool,
    /// The allowed origins; `None`: same-origin only (the origin's host and port are the
    /// request's `Host`).
    allowed: Option<Vec<Origin>>,
}

impl WebSocketOrigins {
    /// From full origins (`https://app.example.com`, `http://localhost:8000`) or `*`; `None`
    /// allows the request's own origin only.
    pub fn new<S: AsRef<str>>(allow: Option<&[S]>) -> Result<WebSocketOrigins, ConfigError> {
        let Some(entries) = allow else {
            return Ok(WebSocketOrigins {
                any: false,
                allowed: None,
            });
        };
        let mut any = false;
        let mut allowed = Vec::with_capacity(entries.len());
        for entry in entries {
            let entry = entry.as_ref().trim();
            if entry == "*" {
                any = true;
                continue;
            }
            match Origin::parse(entry.as_bytes()) {
                Some(o) if o.port.is_some() => allowed.push(o),
                _ => {
                    return Err(ConfigError(format!(
                        "WebSocketOrigins allow: {entry:?} is not an origin \
                         (scheme://host[:port], no path) nor \"*\""
                    )))
                }
            }
        }
        Ok(WebSocketOrigins {
            any,
            allowed: Some(allowed),
        })
    }

    /// Whether `origin` (an Origin field value) may open a WebSocket on a request for `host`
    /// (its Host, or the authority of an absolute-form target).
    pub fn allows(&self, origin: &[u8], host: Option<&[u8]>) -> bool {
        if self.any {
            return true;
        }
        let Some(origin) = Origin::parse(origin) else {
            return false; // `null` (sandboxed frames, file: pages) or garbage
        };
        match &self.allowed {
            Some(list) => list.contains(&origin),
            None => host.is_some_and(|h| same_site(&origin, h)),
        }
    }

    /// 403 (RFC 6455 §4.2.2 step 4) when an upgrade to WebSocket comes from an origin that is
    /// not allowed.
    pub(super) fn check(&self, head: &RequestHead) -> Result<(), Response> {
        if !crate::protocol::ws::handshake::is_upgrade(head) {
            return Ok(());
        }
        let mut origins = head
            .headers()
            .filter(|(n, _)| n.eq_ignore_ascii_case(b"origin"))
            .map(|(_, v)| v);
        let Some(origin) = origins.next() else {
            return Ok(());
        };
        // A browser sends one Origin (RFC 6454 §7.3); two are forged, and which one a check
        // should read is anyone's guess.
        if origins.next().is_some() {
            return Err(problem(403, "more than one Origin field"));
        }
        if self.allows(origin, head.host()) {
            return Ok(());
        }
        let shown = String::from_utf8_lossy(&origin[..origin.len().min(QUOTE_MAX)]);
        Err(problem(
            403,
            &format!("WebSocket upgrade from origin {shown} not allowed"),
        ))
    }
}

/// Whether the origin names the host the request is for: same name, and same port (a Host
/// without one means the scheme's default port, as the origin's does).
fn same_site(origin: &Origin, host: &[u8]) -> bool {
    let Some((name, port)) = std::str::from_utf8(host).ok().and_then(split_authority) else {
        return false;
    };
    let name = name.strip_suffix('.').unwrap_or(name);
    name.eq_ignore_ascii_case(&origin.host) && port.or(default_port(&origin.scheme)) == origin.port
}

#[cfg(test)]
#[path = "origins_tests.rs"]
mod tests;
