//! The opening handshake, server side (RFC 6455 §4.2): is a request head a WebSocket upgrade,
//! is it a valid one, and the `101 Switching Protocols` head that accepts it.

use crate::protocol::h1::token::{is_tchar, trim_ows};
use crate::protocol::h1::{BodyFraming, Method, RequestHead, Version};
use crate::protocol::problem::problem;
use crate::protocol::response::Response;

/// The only version RFC 6455 defines (§4.1); others are answered 426 naming it (§4.4).
pub const VERSION: &str = "13";

/// How many subprotocols a client may offer: a list is walked per accept, and no real client
/// offers more than a handful (browsers send what the page asked for).
const MAX_SUBPROTOCOLS: usize = 32;

/// A valid upgrade request, read from its head.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Upgrade {
    /// The `Sec-WebSocket-Accept` value answering the client's key (§4.2.2 item 5.4).
    pub accept: String,
    /// The subprotocols the client offered, in its order of preference (§4.1 item 10).
    pub subprotocols: Vec<Box<str>>,
}

/// Why an upgrade request is refused before any handler sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// Not a WebSocket upgrade at all (no `Upgrade: websocket`), on a WebSocket route: 426.
    NotUpgrade,
    /// A version other than 13: 426 with `Sec-WebSocket-Version: 13` (§4.4).
    Version,
    /// Malformed: a reason for the 400.
    Bad(&'static str),
}

impl Refusal {
    /// The HTTP answer: 426 says how to upgrade, 400 says what was wrong.
    pub fn response(self) -> Response {
        match self {
            Refusal::NotUpgrade => upgrade_required(
                "this resource speaks WebSocket only: send a WebSocket upgrade request",
            ),
            Refusal::Version => {
                upgrade_required("unsupported Sec-WebSocket-Version: this server speaks 13")
            }
            Refusal::Bad(why) => problem(400, why),
        }
    }
}

fn upgrade_required(detail: &str) -> Response {
    let mut r = problem(426, detail);
    r.header_block
        .extend_from_slice(b"upgrade: websocket\r\nsec-websocket-version: 13\r\n");
    r
}

/// Whether any comma-separated element of `value` is `token` (ASCII case-insensitive).
pub fn has_token(value: &[u8], token: &str) -> bool {
    value
        .split(|&b| b == b',')
        .any(|t| trim_ows(t).eq_ignore_ascii_case(token.as_bytes()))
}

/// Whether any field `name` of `head` lists `token`.
fn lists(head: &RequestHead, name: &str, token: &str) -> bool {
    head.headers()
        .any(|(n, v)| n.eq_ignore_ascii_case(name.as_bytes()) && has_token(v, token))
}

/// Whether the client asks for a WebSocket upgrade (`Upgrade: websocket`); whether it asks
/// properly is [`check`]'s question.
pub fn is_upgrade(head: &RequestHead) -> bool {
    lists(head, "upgrade", "websocket")
}

/// Checks an upgrade request (§4.2.1) and reads what the answer needs. An HTTP/2 head is an
/// extended CONNECT's (RFC 8441 §5, made by `protocol::h2::websocket_head`): it has no
/// `Connection` (§8.2.2 of RFC 9113) and no key, since the stream itself says the server
/// speaks WebSocket (`accept` is empty then); the version and the subprotocols are checked
/// as over HTTP/1.1.
pub fn check(head: &RequestHead) -> Result<Upgrade, Refusal> {
    if !is_upgrade(head) {
        return Err(Refusal::NotUpgrade);
    }
    if *head.method() != Method::Get {
        return Err(Refusal::Bad("a WebSocket upgrade must be a GET request"));
    }
    let h2 = head.version() == Version::Http2;
    if !h2 && head.version() != Version::Http11 {
        return Err(Refusal::Bad("a WebSocket upgrade needs HTTP/1.1"));
    }
    if !h2 && !lists(head, "connection", "upgrade") {
        return Err(Refusal::Bad(
            "a WebSocket upgrade needs `Connection: Upgrade`",
        ));
    }
    if head.framing() != BodyFraming::Empty {
        // Bytes after the head are WebSocket frames; a body would be read as frames.
        return Err(Refusal::Bad("a WebSocket upgrade request has no body"));
    }
    match head.header("sec-websocket-version") {
        Some(v) if v == VERSION.as_bytes() => {}
        _ => return Err(Refusal::Version),
    }
    let accept = if h2 {
        // RFC 8441 §5: Sec-WebSocket-Key and Sec-WebSocket-Accept are not used.
        String::new()
    } else {
        accept_key(head)?
    };
    let mut subprotocols = Vec::new();
    for (_, v) in head
        .headers()
        .filter(|(n, _)| n.eq_ignore_ascii_case(b"sec-websocket-protocol"))
    {
        for p in v
            .split(|&b| b == b',')
            .map(trim_ows)
            .filter(|p| !p.is_empty())
        {
            if !p.iter().all(|&b| is_tchar(b)) {
                return Err(Refusal::Bad("Sec-WebSocket-Protocol holds a non-token"));
            }
            if subprotocols.len() == MAX_SUBPROTOCOLS {
                return Err(Refusal::Bad("more than 32 subprotocols offered"));
            }
            // Tokens are ASCII, so this cannot fail.
            let p = std::str::from_utf8(p).unwrap_or_default();
            subprotocols.push(Box::from(p));
        }
    }
    Ok(Upgrade {
        accept,
        subprotocols,
    })
}

/// The `Sec-WebSocket-Accept` value for the request's one valid `Sec-WebSocket-Key`.
fn accept_key(head: &RequestHead) -> Result<String, Refusal> {
    let mut keys = head
        .headers()
        .filter(|(n, _)| n.eq_ignore_ascii_case(b"sec-websocket-key"));
    match (keys.next(), keys.next()) {
        (Some((_, k)), None) if valid_key(k) => Ok(tungstenite::handshake::derive_accept_key(k)),
        (Some(_), Some(_)) => Err(Refusal::Bad("more than one Sec-WebSocket-Key")),
        _ => Err(Refusal::Bad(
            "Sec-WebSocket-Key must be 16 bytes in base64 (RFC 6455 §4.1)",
        )),
    }
}

/// A key is the base64 of 16 bytes: 22 characters of the alphabet and `==` (§4.1 item 7).
fn valid_key(k: &[u8]) -> bool {
    let b64 = |b: &u8| b.is_ascii_alphanumeric() || *b == b'+' || *b == b'/';
    k.len() == 24 && k[..22].iter().all(b64) && &k[22..] == b"=="
}

/// The header block of the `101` that accepts an upgrade: the accept key, the subprotocol and
/// extensions chosen, then the handler's own fields (already validated as header lines). Over
/// HTTP/2 (no accept key: RFC 8441 §5) it is the `200`'s, without `upgrade` and the key.
pub fn accept_headers(
    up: &Upgrade,
    subprotocol: Option<&str>,
    extensions: Option<&str>,
    extra: &[u8],
) -> Vec<u8> {
    let mut h = Vec::with_capacity(128 + extra.len());
    if !up.accept.is_empty() {
        h.extend_from_slice(b"upgrade: websocket\r\nsec-websocket-accept: ");
        h.extend_from_slice(up.accept.as_bytes());
        h.extend_from_slice(b"\r\n");
    }
    if let Some(p) = subprotocol {
        h.extend_from_slice(b"sec-websocket-protocol: ");
        h.extend_from_slice(p.as_bytes());
        h.extend_from_slice(b"\r\n");
    }
    if let Some(e) = extensions {
        h.extend_from_slice(b"sec-websocket-extensions: ");
        h.extend_from_slice(e.as_bytes());
        h.extend_from_slice(b"\r\n");
    }
    h.extend_from_slice(extra);
    h
}

#[cfg(test)]
#[path = "handshake_tests.rs"]
mod tests;
