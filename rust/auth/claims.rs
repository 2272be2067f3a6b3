//! The claims CovetPy reads itself from a verified token's payload: `sub`, `iat`, the
//! scopes and the roles. The rest stays JSON for Python.
//!
//! One pass over the payload with a visitor: the claims read are picked out, others skipped
//! unparsed (`IgnoredAny`), and a claim read that appears twice refuses the token (RFC 7519
//! §4: a JWT with duplicate claim names must be rejected or the last one taken; taking the
//! last would let a payload say two things to two parsers).

use std::fmt;

use serde::de::{self, DeserializeSeed, IgnoredAny, MapAccess, Visitor};

/// The claims read out of a payload.
#[derive(Debug, Default, PartialEq)]
pub struct Picked {
    /// `sub`.
    pub sub: Option<Box<str>>,
    /// `iat` (seconds since the epoch).
    pub iat: Option<f64>,
    /// The scopes: `scope` as a space-separated string (RFC 8693 §4.2), or the configured
    /// claim; `scp` (a list or a string) when that is absent.
    pub scopes: Vec<Box<str>>,
    /// The roles claim: a list of strings, or one string.
    pub roles: Vec<Box<str>>,
}

/// Reads [`Picked`] from a payload, with the layer's claim names.
pub struct Pick<'a> {
    /// The scopes claim (`scope` by default).
    pub scopes_claim: &'a str,
    /// The roles claim (`roles` by default).
    pub roles_claim: &'a str,
}

impl Pick<'_> {
    /// Picks the claims out of `payload` (JSON); Err describes what is malformed.
    pub fn read(&self, payload: &[u8]) -> Result<Picked, String> {
        let mut de = serde_json::Deserializer::from_slice(payload);
        let picked = self.deserialize(&mut de).map_err(|e| e.to_string())?;
        de.end().map_err(|e| e.to_string())?;
        Ok(picked)
    }
}

impl<'de> DeserializeSeed<'de> for &Pick<'_> {
    type Value = Picked;

    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<Picked, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for &Pick<'_> {
    type Value = Picked;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object of claims")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Picked, A::Error> {
        let mut out = Picked::default();
        let (mut seen_sub, mut seen_iat, mut seen_scope, mut seen_scp, mut seen_roles) =
            (false, false, false, false, false);
        let mut scp = Vec::new();
        while let Some(key) = map.next_key::<std::borrow::Cow<'de, str>>()? {
            let dup = |seen: &mut bool| -> Result<(), A::Error> {
                if std::mem::replace(seen, true) {
                    return Err(de::Error::custom(format_args!("duplicate claim `{key}`")));
                }
                Ok(())
            };
            if key == "sub" {
                dup(&mut seen_sub)?;
                out.sub = Some(map.next_value::<String>()?.into_boxed_str());
            } else if key == "iat" {
                dup(&mut seen_iat)?;
                out.iat = Some(map.next_value::<f64>()?);
            } else if key == self.scopes_claim {
                dup(&mut seen_scope)?;
                out.scopes = map.next_value::<Names>()?.0;
            } else if key == self.roles_claim {
                dup(&mut seen_roles)?;
                out.roles = map.next_value::<Names>()?.0;
            } else if key == "scp" {
                dup(&mut seen_scp)?;
                scp = map.next_value::<Names>()?.0;
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        if !seen_scope {
            out.scopes = scp;
        }
        Ok(out)
    }
}

/// A list of names: a JSON array of strings, or one string of space-separated names.
struct Names(Vec<Box<str>>);

impl<'de> serde::Deserialize<'de> for Names {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Names, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Names;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string of space-separated names or a list of strings")
            }

            fn visit_str<E: de::Error>(self, s: &str) -> Result<Names, E> {
                Ok(Names(s.split_ascii_whitespace().map(Box::from).collect()))
            }

            fn visit_seq<A: de::SeqAccess<'de>>(self, mut seq: A) -> Result<Names, A::Error> {
                let mut out = Vec::new();
                while let Some(s) = seq.next_element::<String>()? {
                    out.push(s.into_boxed_str());
                }
                Ok(Names(out))
            }
        }
        d.deserialize_any(V)
    }
}
