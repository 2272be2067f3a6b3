//! CovetPy path syntax: validation and translation to a matchit key.
//!
//! Parameters become positional matchit names (`{p0}`, `{*p1}`) so that two routes with the
//! same shape map to the same key whatever their parameter names or converters.
//!
//! Rules (strict on purpose, every violation is an `InvalidPath` at start-up):
//! * the pattern starts with `/`; segments are split on `/`, empty segments are literal;
//! * a parameter `{name}` / `{name:conv}` fills a whole segment; braces anywhere else are
//!   rejected rather than escaped, since `/a{x}` or `/{x}.json` are not supported;
//! * names are identifiers, unique per route; converters are `str int float uuid path`;
//! * `path` only in the last segment (it becomes a matchit catch-all);
//! * static text may not contain non-ASCII, controls, space, `?` or `#`: a raw request path
//!   never does, so such a route could never match (percent-encode it instead).

use super::convert::Converter;
use super::error::RouteError;

/// One segment of a pattern, as the fallback matcher in `table.rs` reads it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) enum Seg {
    /// Text compared raw with the request's segment.
    Static(Box<str>),
    /// One non-empty segment.
    Param,
    /// The rest of the path after the preceding `/`, empty or not (a `path` parameter).
    Rest,
}

impl Seg {
    /// How specific the segment is: matchit prefers static to parameter to catch-all.
    pub fn rank(&self) -> u8 {
        match self {
            Seg::Static(_) => 0,
            Seg::Param => 1,
            Seg::Rest => 2,
        }
    }
}

/// A parsed pattern: matchit key plus the per-route parameter data.
pub(super) struct Parsed {
    /// The matchit route, e.g. `/users/{p0}`.
    pub key: String,
    /// The segments after the leading `/`, for matching without matchit.
    pub segs: Vec<Seg>,
    /// Parameter names in path order.
    pub names: Vec<String>,
    /// Converters, parallel to `names`.
    pub converters: Vec<Converter>,
}

/// Builds an [`RouteError::InvalidPath`] for `path`.
pub(super) fn invalid(path: &str, reason: impl Into<String>) -> RouteError {
    RouteError::InvalidPath {
        path: path.to_owned(),
        reason: reason.into(),
    }
}

/// `[A-Za-z_][A-Za-z0-9_]*`, so names are valid Python keyword arguments.
fn is_identifier(s: &str) -> bool {
    let mut bytes = s.bytes();
    matches!(bytes.next(), Some(b) if b == b'_' || b.is_ascii_alphabetic())
        && bytes.all(|b| b == b'_' || b.is_ascii_alphanumeric())
}

/// Characters that can never occur in a raw request path; a static segment containing one
/// would be a route that silently never matches, so it is rejected at build time.
fn bad_static_char(c: char) -> bool {
    !c.is_ascii() || c.is_ascii_control() || c == ' ' || c == '?' || c == '#'
}

/// Validates a CovetPy pattern against the module rules and translates it.
pub(super) fn parse_path(path: &str) -> Result<Parsed, RouteError> {
    let Some(rest) = path.strip_prefix('/') else {
        return Err(invalid(path, "must start with `/`"));
    };
    let mut key = String::with_capacity(path.len());
    let mut names: Vec<String> = Vec::new();
    let mut converters = Vec::new();
    let mut segs = Vec::new();
    let mut segments = rest.split('/').peekable();
    while let Some(seg) = segments.next() {
        key.push('/');
        let Some(inner) = seg.strip_prefix('{').and_then(|s| s.strip_suffix('}')) else {
            if seg.contains(['{', '}']) {
                return Err(invalid(
                    path,
                    format!("segment `{seg}`: a parameter must be a whole segment `{{name}}` and braces are not allowed elsewhere"),
                ));
            }
            if let Some(c) = seg.chars().find(|&c| bad_static_char(c)) {
                return Err(invalid(
                    path,
                    format!("segment `{seg}` contains {c:?}, which cannot appear in a request path (percent-encode it)"),
                ));
            }
            key.push_str(seg);
            segs.push(Seg::Static(seg.into()));
            continue;
        };
        let (name, conv) = match inner.split_once(':') {
            Some((name, conv_name)) => {
                let conv = Converter::parse(conv_name).ok_or_else(|| {
                    invalid(path, format!("unknown converter `{conv_name}` in `{seg}` (expected str, int, float, uuid or path)"))
                })?;
                (name, conv)
            }
            None => (inner, Converter::Str),
        };
        if !is_identifier(name) {
            return Err(invalid(
                path,
                format!("parameter name `{name}` is not an identifier"),
            ));
        }
        if names.iter().any(|n| n == name) {
            return Err(invalid(path, format!("parameter `{name}` appears twice")));
        }
        let position = names.len();
        if conv == Converter::Path {
            if segments.peek().is_some() {
                return Err(invalid(
                    path,
                    format!("`{seg}`: a `path` parameter must be the last segment"),
                ));
            }
            key.push_str(&format!("{{*p{position}}}"));
            segs.push(Seg::Rest);
        } else {
            key.push_str(&format!("{{p{position}}}"));
            segs.push(Seg::Param);
        }
        names.push(name.to_owned());
        converters.push(conv);
    }
    Ok(Parsed {
        key,
        segs,
        names,
        converters,
    })
}

/// HTTP token characters (RFC 9110 `tchar`) minus lower case, since methods are declared upper-case.
pub(super) fn valid_method(m: &str) -> bool {
    !m.is_empty()
        && m.bytes().all(|b| {
            (b.is_ascii_alphanumeric() && !b.is_ascii_lowercase())
                || b"!#$%&'*+-.^_`|~".contains(&b)
        })
}

/// Matches a raw request path against `segs` the way the matchit tree does (static segments
/// compared raw, a parameter takes one non-empty segment), except that a `path` parameter also
/// takes an empty rest; pushes the raw parameter values in path order. Used only for the
/// fallback candidates of a lookup, which matchit (one match per path) cannot give.
pub(super) fn match_segs<'p>(segs: &[Seg], path: &'p str, out: &mut Vec<&'p str>) -> bool {
    let Some(mut rest) = path.strip_prefix('/') else {
        return false;
    };
    for (i, seg) in segs.iter().enumerate() {
        let (part, tail) = match seg {
            Seg::Rest => {
                out.push(rest);
                return true;
            }
            _ => match rest.split_once('/') {
                Some((part, tail)) => (part, Some(tail)),
                None => (rest, None),
            },
        };
        match seg {
            Seg::Static(s) if **s == *part => {}
            Seg::Param if !part.is_empty() => out.push(part),
            _ => return false,
        }
        match tail {
            Some(t) => rest = t,
            None => return i + 1 == segs.len(),
        }
    }
    false
}

/// Whether some path matches both `a` and `b` (with [`match_segs`]'s rules).
pub(super) fn overlap(a: &[Seg], b: &[Seg]) -> bool {
    let (mut a, mut b) = (a.iter(), b.iter());
    loop {
        match (a.next(), b.next()) {
            (None, None) => return true,
            // A catch-all takes whatever the other pattern has from here on, even nothing
            // after the `/` (but a pattern that ended before that `/` never matches it).
            (Some(Seg::Rest), Some(_)) | (Some(_), Some(Seg::Rest)) => return true,
            (None, Some(_)) | (Some(_), None) => return false,
            (Some(Seg::Static(x)), Some(Seg::Static(y))) if x != y => return false,
            (Some(Seg::Static(s)), Some(Seg::Param)) | (Some(Seg::Param), Some(Seg::Static(s)))
                if s.is_empty() =>
            {
                return false
            }
            _ => {}
        }
    }
}
