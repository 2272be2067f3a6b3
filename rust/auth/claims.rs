//! The claims CovetPy reads from a token's payload: the registered ones it validates (`exp`,
//! `nbf`, `iat`, `iss`, `aud`, `sub`; RFC 7519 §4.1) and the scopes and roles of the identity.
//! The rest stays JSON for Python.
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
    /// `exp`, `nbf`, `iat` (NumericDate: seconds since the epoch, RFC 7519 §2).
    pub exp: Option<f64>,
    /// Not before.
    pub nbf: Option<f64>,
    /// Issued at.
    pub iat: Option<f64>,
    /// `iss`, when present: whether it is one of the accepted issuers (compared while reading,
    /// without a copy).
    pub iss: Option<bool>,
    /// `aud` (one string or a list, RFC 7519 §4.1.3), when present: whether it names one of
    /// the accepted audiences.
    pub aud: Option<bool>,
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

/// A [`Pick`] with the accepted issuers and audiences of one read.
struct Reading<'a> {
    pick: &'a Pick<'a>,
    issuers: &'a [String],
    audiences: &'a [String],
}

impl Pick<'_> {
    /// Picks the claims out of `payload` (JSON), comparing `iss` and `aud` with the accepted
    /// ones; Err describes what is malformed.
    pub fn read(
        &self,
        payload: &[u8],
        issuers: &[String],
        audiences: &[String],
    ) -> Result<Picked, String> {
        let mut de = serde_json::Deserializer::from_slice(payload);
        let reading = Reading {
            pick: self,
            issuers,
            audiences,
        };
        let picked = (&reading).deserialize(&mut de).map_err(|e| e.to_string())?;
        de.end().map_err(|e| e.to_string())?;
        Ok(picked)
    }
}

impl<'de> DeserializeSeed<'de> for &Reading<'_> {
    type Value = Picked;

    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<Picked, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for &Reading<'_> {
    type Value = Picked;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object of claims")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Picked, A::Error> {
        let mut out = Picked::default();
        let mut seen = [false; 9];
        let mut scp = Vec::new();
        while let Some(key) = map.next_key::<std::borrow::Cow<'de, str>>()? {
            let dup = |seen: &mut bool| -> Result<(), A::Error> {
                if std::mem::replace(seen, true) {
                    return Err(de::Error::custom(format_args!("duplicate claim `{key}`")));
                }
                Ok(())
            };
            // The configured names first: they may be any claim's name.
            if key == self.pick.scopes_claim {
                dup(&mut seen[0])?;
                out.scopes = map.next_value::<Names>()?.0;
            } else if key == self.pick.roles_claim {
                dup(&mut seen[1])?;
                out.roles = map.next_value::<Names>()?.0;
            } else {
                match &*key {
                    "sub" => {
                        dup(&mut seen[2])?;
                        out.sub = Some(map.next_value::<String>()?.into_boxed_str());
                    }
                    "exp" => {
                        dup(&mut seen[3])?;
                        out.exp = Some(map.next_value::<f64>()?);
                    }
                    "nbf" => {
                        dup(&mut seen[4])?;
                        out.nbf = Some(map.next_value::<f64>()?);
                    }
                    "iat" => {
                        dup(&mut seen[5])?;
                        out.iat = Some(map.next_value::<f64>()?);
                    }
                    "iss" => {
                        dup(&mut seen[6])?;
                        let iss = map.next_value::<std::borrow::Cow<'de, str>>()?;
                        out.iss = Some(self.issuers.iter().any(|i| *i == *iss));
                    }
                    "aud" => {
                        dup(&mut seen[7])?;
                        out.aud = Some(map.next_value_seed(Audience(self.audiences))?);
                    }
                    "scp" => {
                        dup(&mut seen[8])?;
                        scp = map.next_value::<Names>()?.0;
                    }
                    _ => {
                        map.next_value::<IgnoredAny>()?;
                    }
                }
            }
        }
        if !seen[0] {
            out.scopes = scp;
        }
        Ok(out)
    }
}

/// `aud`: one string (one audience, spaces and all) or a list of strings; reads whether it
/// names one of the accepted audiences.
struct Audience<'a>(&'a [String]);

impl<'de> DeserializeSeed<'de> for Audience<'_> {
    type Value = bool;

    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<bool, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Audience<'_> {
    type Value = bool;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a string or a list of strings")
    }

    fn visit_str<E: de::Error>(self, s: &str) -> Result<bool, E> {
        Ok(self.0.iter().any(|a| a == s))
    }

    fn visit_seq<A: de::SeqAccess<'de>>(self, mut seq: A) -> Result<bool, A::Error> {
        let mut found = false;
        while let Some(s) = seq.next_element::<std::borrow::Cow<'de, str>>()? {
            found |= self.0.iter().any(|a| *a == *s);
        }
        Ok(found)
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
