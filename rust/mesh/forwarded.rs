//! Who the client is behind trusted proxies: `Forwarded` (RFC 7239) or `X-Forwarded-For`,
//! `-Proto` and `-Host`, believed only as far as a [`TrustPolicy`] allows.
//!
//! Forwarding headers are appended to by each proxy, so only the right end of the list is
//! written by proxies we trust; everything left of the first untrusted hop may be forged by the
//! client (RFC 7239 §8.1). The walk therefore goes from the right and stops at the first node
//! that is not trusted, at a garbled entry, or after the configured number of hops.

use std::borrow::Cow;
use std::collections::VecDeque;
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use super::trim_ows;

/// Most list entries looked at per request, whatever the header length or the hop count.
pub const MAX_ENTRIES: usize = 64;

/// An IP network, `10.0.0.0/8` or `2001:db8::/32`. IPv4-mapped IPv6 networks and addresses
/// (`::ffff:a.b.c.d`) are kept as IPv4, so a dual-stack socket's peer matches IPv4 networks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct IpNet {
    addr: IpAddr,
    prefix: u8,
}

impl IpNet {
    /// Parses `addr/prefix` or a bare address (one host). Host bits set below the prefix are
    /// an error: `10.0.0.1/8` is more likely a typo than a wish to trust all of 10/8.
    pub fn parse(s: &str) -> Result<IpNet, String> {
        let (addr, prefix) = match s.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (s, None),
        };
        let addr: IpAddr = addr
            .parse()
            .map_err(|_| format!("{s:?} is not an IP network (want e.g. 10.0.0.0/8)"))?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            None => max,
            // Digits only: `u8::from_str` would take a `+` sign.
            Some(p) => Some(p)
                .filter(|p| p.bytes().all(|b| b.is_ascii_digit()))
                .and_then(|p| p.parse::<u8>().ok())
                .filter(|p| *p <= max)
                .ok_or_else(|| format!("{s:?}: prefix length must be 0 to {max}"))?,
        };
        let net = IpNet::canonical(addr, prefix);
        if net.masked(net.addr) != net.addr {
            return Err(format!("{s:?} has host bits set below /{prefix}"));
        }
        Ok(net)
    }

    fn canonical(addr: IpAddr, prefix: u8) -> IpNet {
        match addr {
            IpAddr::V6(v6) if prefix >= 96 => match v6.to_ipv4_mapped() {
                Some(v4) => IpNet {
                    addr: IpAddr::V4(v4),
                    prefix: prefix - 96,
                },
                None => IpNet { addr, prefix },
            },
            _ => IpNet { addr, prefix },
        }
    }

    /// `ip` with the bits below this prefix cleared (`ip` of the same family).
    fn masked(&self, ip: IpAddr) -> IpAddr {
        match ip {
            IpAddr::V4(a) => {
                let mask = u32::MAX
                    .checked_shl(32 - u32::from(self.prefix))
                    .unwrap_or(0);
                IpAddr::V4(Ipv4Addr::from(u32::from(a) & mask))
            }
            IpAddr::V6(a) => {
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(self.prefix))
                    .unwrap_or(0);
                IpAddr::V6(Ipv6Addr::from(u128::from(a) & mask))
            }
        }
    }

    /// Whether `ip` is in this network (an IPv4-mapped IPv6 address counts as IPv4).
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = canonical_ip(ip);
        ip.is_ipv4() == self.addr.is_ipv4() && self.masked(ip) == self.addr
    }
}

impl fmt::Display for IpNet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

fn canonical_ip(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

/// Which peers may speak for the client, and across how many proxies.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TrustPolicy {
    nets: Vec<IpNet>,
    hops: usize,
}

impl TrustPolicy {
    /// Trusts proxies in `cidrs` for up to `hops` forwarding steps (0 trusts no header, as
    /// [`TrustPolicy::none`]). The error names the first CIDR that does not parse.
    pub fn new(cidrs: &[&str], hops: usize) -> Result<TrustPolicy, String> {
        let nets = cidrs
            .iter()
            .map(|c| IpNet::parse(c.trim()).map_err(|e| format!("trusted proxies: {e}")))
            .collect::<Result<_, _>>()?;
        Ok(TrustPolicy { nets, hops })
    }

    /// Trusts nothing: the peer is always the client (the default).
    pub fn none() -> TrustPolicy {
        TrustPolicy::default()
    }

    /// Whether `ip` is a trusted proxy.
    pub fn is_trusted(&self, ip: IpAddr) -> bool {
        self.nets.iter().any(|n| n.contains(ip))
    }

    /// Most forwarding steps walked past.
    pub fn hops(&self) -> usize {
        self.hops
    }
}

/// The request's origin as far as it can be believed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Origin {
    /// Client address (plain IP text, IPv6 without brackets) and port (0 if unknown), or an
    /// RFC 7239 `unknown`/obfuscated identifier with port 0.
    pub client: (String, u16),
    /// The scheme the client used, lower case, when a trusted proxy said so.
    pub scheme: Option<String>,
    /// The `Host` the client sent, when a trusted proxy said so.
    pub host: Option<String>,
}

/// A hop as named by a forwarding header.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Node<'a> {
    Ip(IpAddr, u16),
    /// RFC 7239 §6.2 `unknown` or §6.3 obfuscated `_identifier`: the walk ends there.
    Hidden(Cow<'a, [u8]>),
}

/// Resolves the client of a request from its peer and its forwarding header lines (each slice
/// holds one header's lines in order; the lines of one header form one comma list).
/// `Forwarded` is used when present, else `X-Forwarded-*`. Never fails: what cannot be
/// believed or parsed is ignored.
pub fn resolve(
    policy: &TrustPolicy,
    peer: (IpAddr, u16),
    forwarded: &[&[u8]],
    xff: &[&[u8]],
    xfp: &[&[u8]],
    xfh: &[&[u8]],
) -> Origin {
    let mut origin = Origin {
        client: (peer.0.to_string(), peer.1),
        scheme: None,
        host: None,
    };
    if policy.hops == 0 || !policy.is_trusted(peer.0) {
        return origin;
    }
    if forwarded.iter().any(|l| !trim_ows(l).is_empty()) {
        let elements = forwarded_elements(forwarded);
        let parsed = elements.iter().rev().map(|e| parse_element(e));
        let (client, pos) = walk(policy, parsed.clone().map(|e| e.and_then(|e| e.node)));
        if let Some(client) = client {
            origin.client = client;
        }
        // Scheme and host come from the element that named the client (RFC 7239 §5.3, §5.4).
        if let Some(Some(el)) = pos.checked_sub(1).and_then(|i| parsed.clone().nth(i)) {
            origin.scheme = el.proto.as_deref().and_then(scheme);
            origin.host = el.host.as_deref().and_then(host);
        }
    } else {
        let (client, pos) = walk(policy, rev_entries(xff).map(parse_xff_entry));
        if let Some(client) = client {
            origin.client = client;
        }
        origin.scheme = entry_at(xfp, pos).and_then(scheme);
        origin.host = entry_at(xfh, pos).and_then(host);
    }
    origin
}

/// Walks hops given right to left. Returns the client (`None`: the peer) and its position
/// counted from the right (1 = rightmost entry, 0 = the peer).
fn walk<'a>(
    policy: &TrustPolicy,
    hops: impl Iterator<Item = Option<Node<'a>>>,
) -> (Option<(String, u16)>, usize) {
    let mut client = None;
    let mut pos = 0;
    for (i, hop) in hops.take(policy.hops.min(MAX_ENTRIES)).enumerate() {
        match hop {
            // A garbled entry: what is left of it cannot be placed, stop at the last good node.
            None => break,
            Some(Node::Ip(ip, port)) => {
                client = Some((ip.to_string(), port));
                pos = i + 1;
                if !policy.is_trusted(ip) {
                    break;
                }
            }
            Some(Node::Hidden(token)) => {
                client = Some((String::from_utf8_lossy(&token).into_owned(), 0));
                pos = i + 1;
                break;
            }
        }
    }
    (client, pos)
}

/// Non-empty entries of a comma list spread over header lines, right to left (RFC 9110 §5.6.1:
/// empty list elements are ignored).
fn rev_entries<'a>(lines: &'a [&'a [u8]]) -> impl Iterator<Item = &'a [u8]> + 'a {
    lines
        .iter()
        .rev()
        .flat_map(|l| l.rsplit(|&b| b == b','))
        .map(trim_ows)
        .filter(|e| !e.is_empty())
}

/// The `X-Forwarded-Proto`/`-Host` entry for the client at `pos` from the right: the entry at
/// the same position if the list is that long, else its last entry (a proxy that sets only one
/// value, for the request it received). For `pos` 0 (the peer is the client) that is the last
/// entry too: the trusted peer's word about the request it received.
fn entry_at<'a>(lines: &'a [&'a [u8]], pos: usize) -> Option<&'a [u8]> {
    let mut last = None;
    for (i, e) in rev_entries(lines).take(pos.max(1)).enumerate() {
        if i == 0 {
            last = Some(e);
        }
        if i + 1 == pos {
            return Some(e);
        }
    }
    last
}

/// An `X-Forwarded-For` entry: `1.2.3.4`, `1.2.3.4:5678`, `[2001:db8::1]:80`, `[v6]` or a bare
/// IPv6 address. Anything else (including `unknown`) is garbled.
fn parse_xff_entry(e: &[u8]) -> Option<Node<'_>> {
    let s = std::str::from_utf8(e).ok()?;
    if let Some(rest) = s.strip_prefix('[') {
        let (ip, after) = rest.split_once(']')?;
        let port = match after {
            "" => 0,
            _ => port(after.strip_prefix(':')?.as_bytes())?,
        };
        return Some(Node::Ip(IpAddr::V6(ip.parse().ok()?), port));
    }
    match s.split_once(':') {
        Some((ip, p)) if !p.contains(':') => {
            Some(Node::Ip(IpAddr::V4(ip.parse().ok()?), port(p.as_bytes())?))
        }
        Some(_) => Some(Node::Ip(IpAddr::V6(s.parse().ok()?), 0)),
        None => Some(Node::Ip(IpAddr::V4(s.parse().ok()?), 0)),
    }
}

/// RFC 7239 §6 `port = 1*5DIGIT` (at most 65535).
fn port(p: &[u8]) -> Option<u16> {
    if p.is_empty() || p.len() > 5 || !p.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(p).ok()?.parse().ok()
}

/// One `Forwarded` element, its parameters unquoted.
#[derive(Debug, Default)]
struct Element<'a> {
    node: Option<Node<'a>>,
    proto: Option<Cow<'a, [u8]>>,
    host: Option<Cow<'a, [u8]>>,
}

/// The last [`MAX_ENTRIES`] elements of the `Forwarded` lines, left to right. Splitting must
/// read from the left (a comma may sit inside a quoted string), but only what the walk can
/// reach is kept.
fn forwarded_elements<'a>(lines: &[&'a [u8]]) -> VecDeque<&'a [u8]> {
    let mut out = VecDeque::with_capacity(8);
    for line in lines {
        for e in split_quoted(line, b',') {
            let e = trim_ows(e);
            if e.is_empty() {
                continue;
            }
            if out.len() == MAX_ENTRIES {
                out.pop_front();
            }
            out.push_back(e);
        }
    }
    out
}

/// Parses `forwarded-element = [ forwarded-pair ] *( ";" [ forwarded-pair ] )` (RFC 7239 §4).
/// `None` when garbled: a pair without `=`, a bad name or value, or a parameter twice (§4:
/// "MUST NOT occur more than once"). Unknown parameters are allowed and skipped.
fn parse_element(e: &[u8]) -> Option<Element<'_>> {
    let mut el = Element::default();
    let mut seen_for = false;
    for pair in split_quoted(e, b';') {
        let pair = trim_ows(pair);
        if pair.is_empty() {
            continue;
        }
        let eq = pair.iter().position(|&b| b == b'=')?;
        let (name, raw) = (&pair[..eq], &pair[eq + 1..]);
        if name.is_empty() || !name.iter().all(|&b| is_tchar(b)) {
            return None;
        }
        let value = unquote(raw)?;
        let slot = match name.to_ascii_lowercase().as_slice() {
            b"for" => {
                if std::mem::replace(&mut seen_for, true) {
                    return None;
                }
                el.node = Some(parse_node(value)?);
                continue;
            }
            b"proto" => &mut el.proto,
            b"host" => &mut el.host,
            _ => continue,
        };
        if slot.replace(value).is_some() {
            return None;
        }
    }
    Some(el)
}

/// RFC 7239 §6: `node = nodename [ ":" node-port ]`, nodename an IPv4 address, a bracketed
/// IPv6 address, `unknown` or `_obfuscated`; node-port a port or `_obfuscated` (port 0).
fn parse_node(v: Cow<'_, [u8]>) -> Option<Node<'_>> {
    let (name, port_part): (&[u8], Option<&[u8]>) = if v.first() == Some(&b'[') {
        let close = v.iter().position(|&b| b == b']')?;
        match &v[close + 1..] {
            [] => (&v[..=close], None),
            [b':', p @ ..] => (&v[..=close], Some(p)),
            _ => return None,
        }
    } else {
        match v.iter().position(|&b| b == b':') {
            Some(i) => (&v[..i], Some(&v[i + 1..])),
            None => (&v[..], None),
        }
    };
    let port = match port_part {
        None => 0,
        Some(p) if is_obfuscated(p) => 0,
        Some(p) => port(p)?,
    };
    if name.eq_ignore_ascii_case(b"unknown") || is_obfuscated(name) {
        let end = name.len();
        return Some(Node::Hidden(match v {
            Cow::Borrowed(b) => Cow::Borrowed(&b[..end]),
            Cow::Owned(mut o) => {
                o.truncate(end);
                Cow::Owned(o)
            }
        }));
    }
    let s = std::str::from_utf8(name).ok()?;
    let ip = match s.strip_prefix('[').and_then(|s| s.strip_suffix(']')) {
        Some(v6) => IpAddr::V6(v6.parse().ok()?),
        None => IpAddr::V4(s.parse().ok()?),
    };
    Some(Node::Ip(ip, port))
}

/// RFC 7239 §6.3: `"_" 1*( ALPHA / DIGIT / "." / "_" / "-")`.
fn is_obfuscated(s: &[u8]) -> bool {
    matches!(s, [b'_', rest @ ..] if !rest.is_empty()
        && rest.iter().all(|&b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-')))
}

/// A parameter value: a token, or a quoted-string with its `\` escapes removed (RFC 9110
/// §5.6.4). `None` if neither.
fn unquote(v: &[u8]) -> Option<Cow<'_, [u8]>> {
    let Some(inner) = v.strip_prefix(b"\"") else {
        return (!v.is_empty() && v.iter().all(|&b| is_tchar(b))).then_some(Cow::Borrowed(v));
    };
    let inner = inner.strip_suffix(b"\"")?;
    if !inner.contains(&b'\\') {
        // A bare `"` inside would have ended the string.
        return (!inner.contains(&b'"') && inner.iter().all(|&b| is_qdtext(b)))
            .then_some(Cow::Borrowed(inner));
    }
    let mut out = Vec::with_capacity(inner.len());
    let mut bytes = inner.iter();
    while let Some(&b) = bytes.next() {
        match b {
            b'\\' => out.push(*bytes.next().filter(|&&c| is_qdtext(c))?),
            b'"' => return None,
            _ if is_qdtext(b) => out.push(b),
            _ => return None,
        }
    }
    Some(Cow::Owned(out))
}

/// What a quoted-pair may escape: HTAB, SP, VCHAR, obs-text (RFC 9110 §5.6.4); `qdtext` is
/// this less `"` and `\`, which the caller handles first.
fn is_qdtext(b: u8) -> bool {
    b == b'\t' || b == b' ' || (0x21..=0x7e).contains(&b) || b >= 0x80
}

/// RFC 9110 §5.6.2 `tchar`.
fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

/// Splits `s` at `sep` outside double quotes (a `\` inside quotes escapes the next byte). An
/// unterminated quote runs to the end of `s`, leaving a piece that will not parse.
fn split_quoted(s: &[u8], sep: u8) -> impl Iterator<Item = &[u8]> + '_ {
    let mut start = 0;
    let mut done = false;
    std::iter::from_fn(move || {
        if done {
            return None;
        }
        let (mut quoted, mut escaped) = (false, false);
        for (i, &b) in s.iter().enumerate().skip(start) {
            if escaped {
                escaped = false;
            } else if quoted && b == b'\\' {
                escaped = true;
            } else if b == b'"' {
                quoted = !quoted;
            } else if b == sep && !quoted {
                let piece = &s[start..i];
                start = i + 1;
                return Some(piece);
            }
        }
        done = true;
        Some(&s[start..])
    })
}

/// RFC 3986 §3.1 `scheme = ALPHA *( ALPHA / DIGIT / "+" / "-" / "." )`, lower-cased.
fn scheme(v: &[u8]) -> Option<String> {
    let ok = v.first().is_some_and(u8::is_ascii_alphabetic)
        && v.len() <= 32
        && v.iter()
            .all(|&b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'-' | b'.'));
    ok.then(|| String::from_utf8_lossy(v).to_ascii_lowercase())
}

/// RFC 9110 §7.2 `Host = uri-host [ ":" port ]`, checked by its characters (reg-name,
/// IP-literal, percent-encoding and port): enough to keep a forged value from smuggling
/// anything into URLs built from it.
fn host(v: &[u8]) -> Option<String> {
    let ok = !v.is_empty()
        && v.len() <= 261
        && v.iter()
            .all(|&b| b.is_ascii_alphanumeric() || b"-._~!$&'()*+,;=:[]%".contains(&b));
    ok.then(|| String::from_utf8_lossy(v).into_owned())
}

#[cfg(test)]
#[path = "forwarded_tests.rs"]
mod tests;

/// [`resolve`] for a parsed request: collects the forwarding header lines of `head` (the
/// header scan is skipped when the peer is not trusted).
pub fn resolve_head(
    policy: &TrustPolicy,
    peer: (IpAddr, u16),
    head: &crate::protocol::h1::RequestHead,
) -> Origin {
    if policy.hops == 0 || !policy.is_trusted(peer.0) {
        return Origin {
            client: (peer.0.to_string(), peer.1),
            scheme: None,
            host: None,
        };
    }
    let (mut fwd, mut xff, mut xfp, mut xfh) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for (name, value) in head.headers() {
        let list = if name.eq_ignore_ascii_case(b"forwarded") {
            &mut fwd
        } else if name.eq_ignore_ascii_case(b"x-forwarded-for") {
            &mut xff
        } else if name.eq_ignore_ascii_case(b"x-forwarded-proto") {
            &mut xfp
        } else if name.eq_ignore_ascii_case(b"x-forwarded-host") {
            &mut xfh
        } else {
            continue;
        };
        list.push(value);
    }
    resolve(policy, peer, &fwd, &xff, &xfp, &xfh)
}
