//! `Accept-Encoding` (RFC 9110 §12.5.3) and the choice of a content coding.

use super::Encoding;

/// q-values in thousandths, 0..=1000 (RFC 9110 §12.4.2 allows three decimals).
type Q = u16;

/// What the client said about each coding; `None` = not mentioned.
#[derive(Debug, Default, PartialEq, Eq)]
struct Prefs {
    coding: [Option<Q>; 3],
    star: Option<Q>,
    identity: Option<Q>,
}

/// The coding to use for a client that sent these `Accept-Encoding` field values (several
/// fields are one list, RFC 9110 §5.3), among `supported` in server preference order.
///
/// The highest q wins, ties go to the earlier of `supported`; q=0 refuses a coding; `*` gives
/// its q to codings not named; `x-gzip` is `gzip` (RFC 9110 §8.4.1.3). `None` (identity) when
/// nothing acceptable is supported, when no field was sent (RFC 9110 §12.5.3: then any coding
/// is acceptable, but a client that says nothing often cannot decode), or when the client
/// ranks `identity` above the best coding. Malformed members are ignored, not fatal.
pub fn negotiate<'a>(
    fields: impl IntoIterator<Item = &'a [u8]>,
    supported: &[Encoding],
) -> Option<Encoding> {
    let mut p = Prefs::default();
    let mut any_field = false;
    for field in fields {
        any_field = true;
        parse_into(field, &mut p);
    }
    if !any_field {
        return None;
    }
    let mut best: Option<(Encoding, Q)> = None;
    for &enc in supported {
        let q = p.coding[enc as usize].or(p.star).unwrap_or(0);
        let better = match best {
            None => q > 0,
            Some((_, b)) => q > b,
        };
        if better {
            best = Some((enc, q));
        }
    }
    let (enc, q) = best?;
    match p.identity {
        Some(iq) if iq > q => None,
        _ => Some(enc),
    }
}

/// Adds one field value's members to `p`; the first mention of a coding counts.
fn parse_into(field: &[u8], p: &mut Prefs) {
    for member in field.split(|&b| b == b',') {
        let mut parts = member.split(|&b| b == b';');
        let coding = trim(parts.next().unwrap_or_default());
        if coding.is_empty() {
            continue; // empty list elements are allowed (RFC 9110 §5.6.1)
        }
        let mut q = Some(1000);
        for param in parts {
            let param = trim(param);
            if let [b'q' | b'Q', b'=', v @ ..] = param {
                q = parse_q(v);
            }
        }
        let Some(q) = q else { continue };
        let slot = if coding == b"*" {
            &mut p.star
        } else if coding.eq_ignore_ascii_case(b"identity") {
            &mut p.identity
        } else if let Some(enc) = Encoding::from_token(coding) {
            &mut p.coding[enc as usize]
        } else {
            continue;
        };
        slot.get_or_insert(q);
    }
}

/// `qvalue = ( "0" [ "." 0*3DIGIT ] ) / ( "1" [ "." 0*3("0") ] )` in thousandths.
fn parse_q(v: &[u8]) -> Option<Q> {
    let (int, frac) = match v {
        [i] => (*i, &b""[..]),
        [i, b'.', frac @ ..] if frac.len() <= 3 => (*i, frac),
        _ => return None,
    };
    if !frac.iter().all(u8::is_ascii_digit) {
        return None;
    }
    match int {
        b'1' if frac.iter().all(|&d| d == b'0') => Some(1000),
        b'0' => Some(
            frac.iter()
                .chain(std::iter::repeat(&b'0'))
                .take(3)
                .fold(0, |acc, &d| acc * 10 + Q::from(d - b'0')),
        ),
        _ => None,
    }
}

fn trim(v: &[u8]) -> &[u8] {
    crate::protocol::h1::token::trim_ows(v)
}

#[cfg(test)]
mod tests {
    use super::*;
    use Encoding::*;

    const PREF: [Encoding; 3] = [Brotli, Zstd, Gzip];

    fn pick(field: &str) -> Option<Encoding> {
        negotiate([field.as_bytes()], &PREF)
    }

    #[test]
    fn server_preference_breaks_ties() {
        assert_eq!(pick("gzip, deflate, br, zstd"), Some(Brotli));
        assert_eq!(pick("gzip, zstd"), Some(Zstd));
        assert_eq!(pick("gzip"), Some(Gzip));
        assert_eq!(pick("x-gzip"), Some(Gzip));
        assert_eq!(pick("GZIP"), Some(Gzip));
        assert_eq!(negotiate([&b"br, gzip"[..]], &[Gzip, Brotli]), Some(Gzip));
    }

    #[test]
    fn client_q_values_win_over_preference() {
        assert_eq!(pick("br;q=0.5, gzip;q=0.8"), Some(Gzip));
        assert_eq!(pick("br ; q=0.9 ,gzip;Q=1.0"), Some(Gzip));
        assert_eq!(pick("br;q=0.001, zstd;q=0.002"), Some(Zstd));
    }

    #[test]
    fn q_zero_excludes() {
        assert_eq!(pick("br;q=0, gzip"), Some(Gzip));
        assert_eq!(pick("br;q=0.000, gzip;q=0"), None);
        assert_eq!(pick("*;q=0"), None);
        assert_eq!(pick("*, br;q=0"), Some(Zstd));
    }

    #[test]
    fn star_covers_codings_not_named() {
        assert_eq!(pick("*"), Some(Brotli));
        assert_eq!(pick("gzip;q=1, *;q=0.5"), Some(Gzip));
        assert_eq!(pick("*;q=0.5, zstd;q=0.4"), Some(Brotli));
    }

    #[test]
    fn identity() {
        assert_eq!(pick("identity"), None);
        assert_eq!(pick("identity;q=1, gzip;q=0.5"), None);
        assert_eq!(pick("identity;q=0.5, gzip"), Some(Gzip));
        assert_eq!(pick("identity;q=0, gzip"), Some(Gzip));
        assert_eq!(pick(""), None);
        assert_eq!(negotiate(std::iter::empty(), &PREF), None);
    }

    #[test]
    fn unsupported_and_malformed_members_are_ignored() {
        assert_eq!(pick("deflate, compress"), None);
        assert_eq!(pick("br;q=2, gzip"), Some(Gzip));
        assert_eq!(pick("br;q=0.1234, gzip;q=0.1"), Some(Gzip));
        assert_eq!(pick("br;q=, gzip;q=abc"), None);
        assert_eq!(pick(",, ,gzip,"), Some(Gzip));
        assert_eq!(pick("br;level=3"), Some(Brotli));
        assert_eq!(pick("gzip;q=1.001"), None);
    }

    #[test]
    fn first_mention_counts_and_fields_combine() {
        assert_eq!(pick("gzip;q=0, gzip"), None);
        assert_eq!(
            negotiate([&b"gzip;q=0.1"[..], &b"zstd"[..]], &PREF),
            Some(Zstd)
        );
        assert_eq!(negotiate([&b"br"[..]], &[Gzip]), None);
    }

    #[test]
    fn q_parsing() {
        assert_eq!(parse_q(b"0"), Some(0));
        assert_eq!(parse_q(b"0."), Some(0));
        assert_eq!(parse_q(b"0.5"), Some(500));
        assert_eq!(parse_q(b"0.05"), Some(50));
        assert_eq!(parse_q(b"0.123"), Some(123));
        assert_eq!(parse_q(b"1"), Some(1000));
        assert_eq!(parse_q(b"1.000"), Some(1000));
        assert_eq!(parse_q(b"1.5"), None);
        assert_eq!(parse_q(b"2"), None);
        assert_eq!(parse_q(b".5"), None);
        assert_eq!(parse_q(b"0.1234"), None);
        assert_eq!(parse_q(b""), None);
    }
}
