//! Turning a [`Response`] into bytes on the wire, and the answers the server gives by itself.

use crate::config::ServerConfig;
use crate::protocol::h1::encode::reason_phrase;
use crate::protocol::h1::Method;
use crate::server::job::Response;
use crate::server::state::Shared;

/// How the body of a response is delimited (RFC 9112 §6.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framing {
    /// `content-length: N`.
    Length(usize),
    /// `transfer-encoding: chunked`.
    Chunked,
    /// Neither header: 1xx, 204 and 304 have no body (RFC 9110 §8.6, §15.4.5), and a
    /// close-delimited stream to an HTTP/1.0 client.
    None,
}

/// Whether a status can carry content at all (RFC 9110 §15.2, §15.3.5, §15.4.5).
pub fn status_allows_body(status: u16) -> bool {
    !(status < 200 || status == 204 || status == 304)
}

/// Writes the status line and header section; `header_block` is already encoded and valid.
pub fn write_head(
    out: &mut Vec<u8>,
    status: u16,
    header_block: &[u8],
    framing: Framing,
    close: bool,
    keep_alive_10: bool,
    date: &[u8],
) {
    out.extend_from_slice(b"HTTP/1.1 ");
    let mut num = itoa::Buffer::new();
    out.extend_from_slice(num.format(status).as_bytes());
    out.push(b' ');
    out.extend_from_slice(reason_phrase(status).as_bytes());
    out.extend_from_slice(b"\r\ndate: ");
    out.extend_from_slice(date);
    out.extend_from_slice(b"\r\n");
    out.extend_from_slice(header_block);
    match framing {
        Framing::Length(n) => {
            out.extend_from_slice(b"content-length: ");
            out.extend_from_slice(num.format(n).as_bytes());
            out.extend_from_slice(b"\r\n");
        }
        Framing::Chunked => out.extend_from_slice(b"transfer-encoding: chunked\r\n"),
        Framing::None => {}
    }
    if close {
        out.extend_from_slice(b"connection: close\r\n");
    } else if keep_alive_10 {
        // HTTP/1.0 defaults to close; say we keep it open (RFC 9112 §9.3).
        out.extend_from_slice(b"connection: keep-alive\r\n");
    }
    out.extend_from_slice(b"\r\n");
}

/// An RFC 9457 problem document the server answers by itself (no route, wrong method, ...).
pub fn problem(status: u16, detail: &str) -> Response {
    let body = format!(
        "{{\"type\":\"about:blank\",\"title\":\"{}\",\"status\":{},\"detail\":\"{}\"}}",
        reason_phrase(status),
        status,
        crate::log::escape(detail)
    );
    Response::full(status, "application/problem+json", body)
}

/// The answer to a health probe, if `path` is one. Liveness is 200 while the IO thread
/// answers at all (it never looks at dependencies: a failing database must not get the pod
/// restarted). Start-up is 200 once the application's start-up hooks finished. Readiness is
/// 200 while started and ready (the checks pass, no shutdown begun), so a load balancer or a
/// sidecar stops sending new requests before the worker goes; Python clears it first thing on
/// shutdown. A drain alone (a worker replaced in a reload) leaves it as it is.
pub fn probe(cfg: &ServerConfig, method: &Method, path: &str, shared: &Shared) -> Option<Response> {
    if !matches!(method, Method::Get | Method::Head) {
        return None;
    }
    let (status, body): (u16, Vec<u8>) = if cfg.livez_path.as_deref() == Some(path) {
        (200, b"{\"status\":\"alive\"}".to_vec())
    } else if cfg.readyz_path.as_deref() == Some(path) {
        if !shared.is_started() {
            (503, b"{\"status\":\"starting\"}".to_vec())
        } else if shared.is_ready() {
            (200, b"{\"status\":\"ready\"}".to_vec())
        } else {
            let why = crate::log::escape(&shared.not_ready_reason());
            (
                503,
                format!("{{\"status\":\"not ready\",\"reason\":\"{why}\"}}").into_bytes(),
            )
        }
    } else if cfg.startupz_path.as_deref() == Some(path) {
        match shared.is_started() {
            true => (200, b"{\"status\":\"started\"}".to_vec()),
            false => (503, b"{\"status\":\"starting\"}".to_vec()),
        }
    } else {
        return None;
    };
    let mut r = Response::full(status, "application/json", body);
    r.header_block
        .extend_from_slice(b"cache-control: no-store\r\n");
    Some(r)
}

/// 503 for a request refused by admission control, with `Retry-After` (RFC 9110 §10.2.3)
/// of the queue timeout rounded up: by then the queue has turned over.
pub fn overloaded(cfg: &ServerConfig) -> Response {
    let mut r = problem(503, "the server is at capacity; retry later");
    let secs = cfg.admission.queue_timeout.as_secs_f64().ceil().max(1.0) as u64;
    r.header_block.extend_from_slice(b"retry-after: ");
    r.header_block
        .extend_from_slice(itoa::Buffer::new().format(secs).as_bytes());
    r.header_block.extend_from_slice(b"\r\n");
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn head_with_length_and_keep_alive_10() {
        let mut out = Vec::new();
        write_head(
            &mut out,
            200,
            b"x-a: 1\r\n",
            Framing::Length(5),
            false,
            true,
            b"D",
        );
        assert_eq!(
            out,
            b"HTTP/1.1 200 OK\r\ndate: D\r\nx-a: 1\r\ncontent-length: 5\r\nconnection: keep-alive\r\n\r\n"
        );
    }

    #[test]
    fn no_framing_for_204() {
        assert!(!status_allows_body(204));
        assert!(!status_allows_body(304));
        assert!(!status_allows_body(101));
        assert!(status_allows_body(200));
        let mut out = Vec::new();
        write_head(&mut out, 204, b"", Framing::None, true, false, b"D");
        assert_eq!(
            out,
            b"HTTP/1.1 204 No Content\r\ndate: D\r\nconnection: close\r\n\r\n"
        );
    }

    #[test]
    fn problem_escapes_detail() {
        let r = problem(404, "a \"b\"");
        match r.body {
            crate::server::job::Body::Full(b) => {
                assert!(b.ends_with(b"\"detail\":\"a \\\"b\\\"\"}"))
            }
            _ => panic!("full body expected"),
        }
    }
}
