//! The request-target (RFC 9112 §3.2) and the authority syntax it shares with Host (RFC 9110
//! §4.2.3, RFC 3986 §3.2). A child of `head`; results are spans relative to the target.

use super::{Method, ProtoError, Span};

/// The parts of a request-target, as spans relative to the target's start.
pub(super) struct TargetParts {
    pub(super) path: Option<Span>,
    pub(super) query: Option<Span>,
    pub(super) authority: Option<Span>,
}

/// Splits `[from, t.len())` of `t` into path and query at the first `?`.
fn split_query(t: &[u8], from: usize) -> (Span, Option<Span>) {
    match memchr::memchr(b'?', &t[from..]) {
        Some(q) => (Span(from, from + q), Some(Span(from + q + 1, t.len()))),
        None => (Span(from, t.len()), None),
    }
}

/// RFC 9112 §3.2: the four forms of request-target, each allowed only where it belongs.
pub(super) fn classify(method: &Method, t: &[u8]) -> Result<TargetParts, ProtoError> {
    // The fragment is never sent (RFC 9110 §4.2.5); a '#' means the client is confused.
    if memchr::memchr(b'#', t).is_some() {
        return Err(ProtoError::BadRequest("fragment in request-target"));
    }
    // §3.2.3: CONNECT's target is an authority with a port, and only CONNECT has one.
    if *method == Method::Connect {
        if !valid_authority(t, true) {
            return Err(ProtoError::BadRequest("CONNECT requires host:port target"));
        }
        return Ok(TargetParts {
            path: Some(Span(0, 0)),
            query: None,
            authority: Some(Span(0, t.len())),
        });
    }
    // §3.2.1 origin-form: absolute-path [ "?" query ].
    if t.first() == Some(&b'/') {
        let (path, query) = split_query(t, 0);
        return Ok(TargetParts {
            path: Some(path),
            query,
            authority: None,
        });
    }
    // §3.2.4 asterisk-form: only for a server-wide OPTIONS.
    if t == b"*" {
        if *method != Method::Options {
            return Err(ProtoError::BadRequest(
                "asterisk-form target only with OPTIONS",
            ));
        }
        return Ok(TargetParts {
            path: Some(Span(0, 1)),
            query: None,
            authority: None,
        });
    }
    // §3.2.2 absolute-form: a server MUST accept it; only http and https make sense here.
    let scheme_len = if t.len() >= 7 && t[..7].eq_ignore_ascii_case(b"http://") {
        7
    } else if t.len() >= 8 && t[..8].eq_ignore_ascii_case(b"https://") {
        8
    } else {
        return Err(ProtoError::BadRequest("invalid request-target"));
    };
    let rest = &t[scheme_len..];
    let auth_len = memchr::memchr2(b'/', b'?', rest).unwrap_or(rest.len());
    let authority = Span(scheme_len, scheme_len + auth_len);
    // RFC 9110 §4.2.1: an http(s) URI with an empty host is invalid; §4.2.4: userinfo is
    // an error (its presence is how phishing URLs hide the real host).
    if !valid_authority(&rest[..auth_len], false) {
        return Err(ProtoError::BadRequest(
            "invalid authority in request-target",
        ));
    }
    let after = scheme_len + auth_len;
    let (path, query) = if t.get(after) == Some(&b'/') {
        let (p, q) = split_query(t, after);
        (Some(p), q)
    } else {
        // Either the end or '?': the path is empty, which means "/" (§3.2.2).
        let (_, q) = split_query(t, after);
        (None, q)
    };
    Ok(TargetParts {
        path,
        query,
        authority: Some(authority),
    })
}

/// `uri-host [ ":" port ]` (RFC 9110 §4.2.3, RFC 3986 §3.2): reg-name, IPv4 or `[IPv6]`,
/// never userinfo or whitespace. The host must be non-empty; `require_port` is for CONNECT.
pub(super) fn valid_authority(a: &[u8], require_port: bool) -> bool {
    let (host_ok, port) = if let Some(rest) = a.strip_prefix(b"[") {
        let Some(close) = memchr::memchr(b']', rest) else {
            return false;
        };
        let inner = &rest[..close];
        let ok = inner.contains(&b':')
            && inner
                .iter()
                .all(|&b| b.is_ascii_hexdigit() || b == b':' || b == b'.');
        let port = match &rest[close + 1..] {
            [] => None,
            [b':', p @ ..] => Some(p),
            _ => return false,
        };
        (ok, port)
    } else {
        let (h, port) = match memchr::memchr(b':', a) {
            Some(i) => (&a[..i], Some(&a[i + 1..])),
            None => (a, None),
        };
        (!h.is_empty() && valid_reg_name(h), port)
    };
    host_ok
        && match port {
            None => !require_port,
            Some(p) => !(p.is_empty() && require_port) && valid_port(p),
        }
}

/// RFC 3986 `port = *DIGIT`, and a real port number when present.
fn valid_port(p: &[u8]) -> bool {
    p.is_empty()
        || (p.len() <= 5
            && p.iter().all(u8::is_ascii_digit)
            && p.iter().fold(0u32, |n, &d| n * 10 + u32::from(d - b'0')) <= 65535)
}

/// RFC 3986 `reg-name = *( unreserved / pct-encoded / sub-delims )` (covers IPv4 too).
fn valid_reg_name(h: &[u8]) -> bool {
    let mut i = 0;
    while i < h.len() {
        match h[i] {
            b'%' => {
                if !(h.get(i + 1).is_some_and(u8::is_ascii_hexdigit)
                    && h.get(i + 2).is_some_and(u8::is_ascii_hexdigit))
                {
                    return false;
                }
                i += 3;
                continue;
            }
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {}
            b'!' | b'$' | b'&' | b'\'' | b'(' | b')' | b'*' | b'+' | b',' | b';' | b'=' => {}
            _ => return false,
        }
        i += 1;
    }
    true
}
