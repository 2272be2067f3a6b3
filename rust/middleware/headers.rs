//! Reading and editing a response's header block (`name: value\r\n` lines, see
//! [`Response::header_block`](crate::protocol::response::Response::header_block)).
//!
//! Blocks are a handful of lines, so a linear scan per lookup costs less than building an index.
//! Names compare ASCII case-insensitively (RFC 9110 §5.1): handlers may send any case.

/// The `(name, value)` pairs of a block, in order.
pub(crate) fn lines(block: &[u8]) -> impl Iterator<Item = (&[u8], &[u8])> {
    block.split(|&b| b == b'\n').filter_map(|line| {
        let line = line.strip_suffix(b"\r")?;
        let colon = memchr::memchr(b':', line)?;
        let value = &line[colon + 1..];
        let value = value.strip_prefix(b" ").unwrap_or(value);
        Some((&line[..colon], value))
    })
}

/// The value of the first line named `name`.
pub(crate) fn get<'a>(block: &'a [u8], name: &str) -> Option<&'a [u8]> {
    lines(block)
        .find(|(n, _)| n.eq_ignore_ascii_case(name.as_bytes()))
        .map(|(_, v)| v)
}

/// Whether a line named `name` is present.
pub(crate) fn has(block: &[u8], name: &str) -> bool {
    get(block, name).is_some()
}

/// Appends `name: value`.
pub(crate) fn push(block: &mut Vec<u8>, name: &str, value: &[u8]) {
    block.reserve(name.len() + value.len() + 4);
    block.extend_from_slice(name.as_bytes());
    block.extend_from_slice(b": ");
    block.extend_from_slice(value);
    block.extend_from_slice(b"\r\n");
}

/// Replaces the value of the first line named `name` (no-op when absent).
pub(crate) fn replace(block: &mut Vec<u8>, name: &str, value: &[u8]) {
    let mut start = 0;
    while start < block.len() {
        let Some(nl) = memchr::memchr(b'\n', &block[start..]) else {
            return;
        };
        let end = start + nl + 1;
        let line = &block[start..end];
        if let Some(colon) = memchr::memchr(b':', line) {
            if line[..colon].eq_ignore_ascii_case(name.as_bytes()) {
                let mut new = Vec::with_capacity(colon + value.len() + 4);
                new.extend_from_slice(&line[..colon]);
                new.extend_from_slice(b": ");
                new.extend_from_slice(value);
                new.extend_from_slice(b"\r\n");
                block.splice(start..end, new);
                return;
            }
        }
        start = end;
    }
}

/// Whether `name` is a field name (an RFC 9110 §5.6.2 token) — checked on configuration.
pub(crate) fn valid_name(name: &str) -> bool {
    !name.is_empty() && name.bytes().all(crate::protocol::h1::token::is_tchar)
}

/// Whether `value` can be sent as a field value: visible ASCII, SP and HTAB, no surrounding
/// whitespace (RFC 9110 §5.5; obs-text is refused to keep configuration plain ASCII).
pub(crate) fn valid_value(value: &str) -> bool {
    value
        .bytes()
        .all(|b| b == b'\t' || (b' '..=b'~').contains(&b))
        && value.trim_matches([' ', '\t']).len() == value.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_values_case_insensitively() {
        let block = b"Content-Type: text/html\r\nx-a: 1\r\nX-A: 2\r\n";
        assert_eq!(get(block, "content-type"), Some(&b"text/html"[..]));
        assert_eq!(get(block, "x-a"), Some(&b"1"[..]));
        assert!(has(block, "X-a"));
        assert!(!has(block, "x-b"));
        assert_eq!(lines(block).count(), 3);
    }

    #[test]
    fn pushes_and_replaces() {
        let mut block = b"ETag: \"a\"\r\nx: y\r\n".to_vec();
        push(&mut block, "vary", b"origin");
        replace(&mut block, "etag", b"W/\"a\"");
        assert_eq!(block, b"ETag: W/\"a\"\r\nx: y\r\nvary: origin\r\n");
        replace(&mut block, "missing", b"1");
        assert_eq!(lines(&block).count(), 3);
    }

    #[test]
    fn validates_configuration() {
        assert!(valid_name("x-request-id"));
        assert!(!valid_name("x request"));
        assert!(!valid_name(""));
        assert!(valid_value("max-age=63072000; includeSubDomains"));
        assert!(!valid_value("a\r\nb: c"));
        assert!(!valid_value(" padded"));
    }
}
