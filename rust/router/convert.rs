//! Path-parameter converters: turn a raw matched segment into a typed value.
//!
//! Matching runs on the raw (still percent-encoded) request path so that an encoded `%2F`
//! stays inside one segment; decoding happens here, after the route has been chosen.
//! A converter that rejects its input makes the request a 404 (no Python call).

use std::borrow::Cow;

/// The type a path parameter is declared with (`{name:int}`); `{name}` means [`Converter::Str`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Converter {
    /// Any non-empty segment, percent-decoded.
    Str,
    /// `-?[0-9]{1,19}` that fits an `i64`.
    Int,
    /// `-?[0-9]+(\.[0-9]+)?`, finite `f64`; no exponent, `inf` or `nan`.
    Float,
    /// `8-4-4-4-12` hex digits in either case, normalised to lower case.
    Uuid,
    /// The rest of the path, slashes included, possibly empty; only valid as the last segment.
    Path,
}

/// A converted path parameter, borrowing from the request path when no decoding was needed.
#[derive(Clone, Debug, PartialEq)]
pub enum ParamValue<'a> {
    /// Result of [`Converter::Str`]: the percent-decoded segment.
    Str(Cow<'a, str>),
    /// Result of [`Converter::Int`].
    Int(i64),
    /// Result of [`Converter::Float`].
    Float(f64),
    /// Result of [`Converter::Uuid`]: canonical lower-case `8-4-4-4-12` text.
    Uuid(Cow<'a, str>),
    /// Result of [`Converter::Path`]: the percent-decoded rest of the path.
    Path(Cow<'a, str>),
}

impl Converter {
    /// Looks up a converter by the name used in route syntax (`str`, `int`, `float`, `uuid`, `path`).
    pub fn parse(name: &str) -> Option<Converter> {
        match name {
            "str" => Some(Converter::Str),
            "int" => Some(Converter::Int),
            "float" => Some(Converter::Float),
            "uuid" => Some(Converter::Uuid),
            "path" => Some(Converter::Path),
            _ => None,
        }
    }

    /// The name used in route syntax; inverse of [`Converter::parse`].
    pub fn name(&self) -> &'static str {
        match self {
            Converter::Str => "str",
            Converter::Int => "int",
            Converter::Float => "float",
            Converter::Uuid => "uuid",
            Converter::Path => "path",
        }
    }

    /// Converts a raw (still percent-encoded) segment; `None` = no match (the request becomes a 404).
    pub fn convert<'a>(&self, raw: &'a str) -> Option<ParamValue<'a>> {
        let text = percent_decode(raw)?;
        // The router hands over an empty value only for a `path` rest (`/files/` against
        // `/files/{rest:path}`), but `convert` is public: keep the rule here.
        if text.is_empty() && *self != Converter::Path {
            return None;
        }
        match self {
            Converter::Str => Some(ParamValue::Str(text)),
            Converter::Path => Some(ParamValue::Path(text)),
            Converter::Int => parse_int(&text).map(ParamValue::Int),
            Converter::Float => parse_float(&text).map(ParamValue::Float),
            Converter::Uuid => parse_uuid(text).map(ParamValue::Uuid),
        }
    }
}

/// Splits an optional leading `-`; the grammar allows no `+` (unlike `str::parse`).
fn split_sign(text: &str) -> &str {
    text.strip_prefix('-').unwrap_or(text)
}

fn all_digits(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit())
}

fn parse_int(text: &str) -> Option<i64> {
    let digits = split_sign(text);
    // 19 digits covers every i64; the length cap keeps absurd inputs cheap to reject.
    if !all_digits(digits) || digits.len() > 19 {
        return None;
    }
    // The grammar is checked above, so `parse` only fails on overflow.
    text.parse().ok()
}

fn parse_float(text: &str) -> Option<f64> {
    let unsigned = split_sign(text);
    let ok = match unsigned.split_once('.') {
        Some((int, frac)) => all_digits(int) && all_digits(frac),
        None => all_digits(unsigned),
    };
    if !ok {
        return None;
    }
    // Very long digit strings parse to infinity; a non-finite value is not a number we accept.
    text.parse::<f64>().ok().filter(|v| v.is_finite())
}

fn parse_uuid(text: Cow<'_, str>) -> Option<Cow<'_, str>> {
    let bytes = text.as_bytes();
    if bytes.len() != 36 {
        return None;
    }
    for (i, &b) in bytes.iter().enumerate() {
        let ok = match i {
            8 | 13 | 18 | 23 => b == b'-',
            _ => b.is_ascii_hexdigit(),
        };
        if !ok {
            return None;
        }
    }
    // Only allocate when there is an upper-case digit to fold.
    if bytes.iter().any(u8::is_ascii_uppercase) {
        Some(Cow::Owned(text.to_ascii_lowercase()))
    } else {
        Some(text)
    }
}

fn hex_val(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// Decodes `%XX` escapes; `None` on a malformed escape or invalid UTF-8 after decoding.
///
/// Borrows when there is nothing to decode. `+` is left alone: it means space only in
/// form bodies and query strings, never in a path.
pub fn percent_decode(raw: &str) -> Option<Cow<'_, str>> {
    let bytes = raw.as_bytes();
    let Some(first) = memchr::memchr(b'%', bytes) else {
        return Some(Cow::Borrowed(raw));
    };
    let mut out = Vec::with_capacity(bytes.len());
    out.extend_from_slice(&bytes[..first]);
    let mut i = first;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hi = bytes.get(i + 1).copied().and_then(hex_val)?;
            let lo = bytes.get(i + 2).copied().and_then(hex_val)?;
            out.push(hi << 4 | lo);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok().map(Cow::Owned)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn conv(c: Converter, raw: &str) -> Option<ParamValue<'_>> {
        c.convert(raw)
    }

    #[test]
    fn names_round_trip() {
        for c in [
            Converter::Str,
            Converter::Int,
            Converter::Float,
            Converter::Uuid,
            Converter::Path,
        ] {
            assert_eq!(Converter::parse(c.name()), Some(c));
        }
        assert_eq!(Converter::parse("Int"), None);
        assert_eq!(Converter::parse(""), None);
    }

    #[test]
    fn percent_decode_rules() {
        assert!(matches!(
            percent_decode("plain"),
            Some(Cow::Borrowed("plain"))
        ));
        assert_eq!(percent_decode("a%2Fb").as_deref(), Some("a/b"));
        assert_eq!(percent_decode("a%2fb").as_deref(), Some("a/b"));
        assert_eq!(percent_decode("caf%C3%A9").as_deref(), Some("café"));
        assert_eq!(percent_decode("a+b").as_deref(), Some("a+b"));
        assert_eq!(percent_decode("%zz"), None);
        assert_eq!(percent_decode("%2"), None);
        assert_eq!(percent_decode("%"), None);
        assert_eq!(percent_decode("%C3"), None, "truncated UTF-8 sequence");
        assert_eq!(percent_decode("%FF"), None, "invalid UTF-8");
    }

    #[test]
    fn str_converter() {
        assert_eq!(
            conv(Converter::Str, "bob"),
            Some(ParamValue::Str("bob".into()))
        );
        assert_eq!(
            conv(Converter::Str, "a%2Fb"),
            Some(ParamValue::Str("a/b".into()))
        );
        assert_eq!(
            conv(Converter::Str, "%20"),
            Some(ParamValue::Str(" ".into()))
        );
        assert_eq!(conv(Converter::Str, ""), None);
        assert_eq!(conv(Converter::Str, "%zz"), None);
    }

    #[test]
    fn int_converter() {
        assert_eq!(conv(Converter::Int, "0"), Some(ParamValue::Int(0)));
        assert_eq!(conv(Converter::Int, "007"), Some(ParamValue::Int(7)));
        assert_eq!(conv(Converter::Int, "-42"), Some(ParamValue::Int(-42)));
        assert_eq!(conv(Converter::Int, "%34%32"), Some(ParamValue::Int(42)));
        let max = i64::MAX.to_string();
        let min = i64::MIN.to_string();
        assert_eq!(conv(Converter::Int, &max), Some(ParamValue::Int(i64::MAX)));
        assert_eq!(conv(Converter::Int, &min), Some(ParamValue::Int(i64::MIN)));
        for bad in [
            "9223372036854775808",
            "-9223372036854775809",
            "00000000000000000001",
            "+1",
            "-",
            "1.0",
            " 1",
            "1 ",
            "1e3",
            "abc",
            "--1",
            "",
        ] {
            assert_eq!(conv(Converter::Int, bad), None, "{bad:?}");
        }
    }

    #[test]
    fn float_converter() {
        assert_eq!(conv(Converter::Float, "1.5"), Some(ParamValue::Float(1.5)));
        assert_eq!(conv(Converter::Float, "-2"), Some(ParamValue::Float(-2.0)));
        assert_eq!(conv(Converter::Float, "10"), Some(ParamValue::Float(10.0)));
        for bad in [
            "1.", ".5", "1e5", "inf", "nan", "NaN", "+1.0", "1..0", "1.2.3", "-", "", " 1",
        ] {
            assert_eq!(conv(Converter::Float, bad), None, "{bad:?}");
        }
        let huge = "9".repeat(400);
        assert_eq!(conv(Converter::Float, &huge), None, "overflows to infinity");
    }

    #[test]
    fn uuid_converter() {
        let lower = "123e4567-e89b-12d3-a456-426614174000";
        let upper = "123E4567-E89B-12D3-A456-426614174000";
        assert!(matches!(
            conv(Converter::Uuid, lower),
            Some(ParamValue::Uuid(Cow::Borrowed(s))) if s == lower
        ));
        assert_eq!(
            conv(Converter::Uuid, upper),
            Some(ParamValue::Uuid(lower.into()))
        );
        for bad in [
            "123e4567e89b12d3a456426614174000",
            "123e4567-e89b-12d3-a456-42661417400",
            "123e4567-e89b-12d3-a456-4266141740000",
            "123e4567-e89b-12d3-a456_426614174000",
            "g23e4567-e89b-12d3-a456-426614174000",
            "{123e4567-e89b-12d3-a456-426614174000}",
        ] {
            assert_eq!(conv(Converter::Uuid, bad), None, "{bad:?}");
        }
    }

    #[test]
    fn path_converter() {
        assert_eq!(
            conv(Converter::Path, "a/b/c"),
            Some(ParamValue::Path("a/b/c".into()))
        );
        assert_eq!(
            conv(Converter::Path, "a%20b/c"),
            Some(ParamValue::Path("a b/c".into()))
        );
        // The empty rest of `/files/` against `/files/{p:path}` (see `table.rs`).
        assert_eq!(conv(Converter::Path, ""), Some(ParamValue::Path("".into())));
        assert_eq!(conv(Converter::Str, ""), None);
        assert_eq!(conv(Converter::Path, "a/%zz"), None);
    }

    proptest! {
        #[test]
        fn int_round_trips(n in any::<i64>()) {
            let s = n.to_string();
            prop_assert_eq!(Converter::Int.convert(&s), Some(ParamValue::Int(n)));
        }

        #[test]
        fn decode_inverts_encode(s in "\\PC*") {
            let encoded: String = s.bytes().map(|b| format!("%{b:02X}")).collect();
            let decoded = percent_decode(&encoded);
            prop_assert_eq!(decoded.as_deref(), Some(s.as_str()));
        }

        #[test]
        fn converters_never_panic(s in "\\PC*") {
            for c in [Converter::Str, Converter::Int, Converter::Float, Converter::Uuid, Converter::Path] {
                let _ = c.convert(&s);
            }
        }
    }
}
