//! RFC 9457 problem documents: the JSON body of every answer the server gives by itself.

use super::response::Response;
use super::status::reason_phrase;

/// An RFC 9457 problem document the server answers by itself (no route, wrong method, ...).
pub fn problem(status: u16, detail: &str) -> Response {
    let body = format!(
        "{{\"type\":\"about:blank\",\"title\":\"{}\",\"status\":{},\"detail\":\"{}\"}}",
        reason_phrase(status),
        status,
        escape(detail)
    );
    Response::full(status, "application/problem+json", body)
}

/// `s` inside a JSON string (RFC 8259 §7): quotes, backslashes and control characters
/// escaped.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::response::Body;

    #[test]
    fn problem_escapes_detail() {
        let r = problem(404, "a \"b\"");
        match r.body {
            Body::Full(b) => assert!(b.ends_with(b"\"detail\":\"a \\\"b\\\"\"}")),
            _ => panic!("full body expected"),
        }
    }
}
