//! The client's side of the WebSocket opening handshake (RFC 6455 §4.1): a GET with a random
//! 16-byte `Sec-WebSocket-Key`, and the server's `101` checked for `Upgrade`, `Connection` and
//! the `Sec-WebSocket-Accept` derived from our key (computed by tungstenite).

use tungstenite::handshake::derive_accept_key;

use super::target::Target;
use super::ws_frame::Masker;

/// A response head still incomplete after this many bytes is refused.
pub const MAX_HEAD: usize = 16 * 1024;

/// Why the server's answer to the upgrade is refused.
#[derive(Debug, PartialEq, Eq)]
pub enum HandshakeError {
    /// Not HTTP/1.1, or a malformed head.
    Malformed,
    /// An answer other than `101 Switching Protocols`.
    Status(u16),
    /// `101` without `Upgrade: websocket` and `Connection: upgrade`.
    NotUpgraded,
    /// `Sec-WebSocket-Accept` missing or not derived from our key (§4.1, point 4).
    BadAccept,
    /// The head is longer than [`MAX_HEAD`].
    TooLong,
}

/// A fresh `Sec-WebSocket-Key`: 16 random bytes in base64 (§4.1).
pub fn new_key(rng: &mut Masker) -> String {
    let mut nonce = [0u8; 16];
    nonce[..8].copy_from_slice(&rng.next_u64().to_ne_bytes());
    nonce[8..].copy_from_slice(&rng.next_u64().to_ne_bytes());
    base64(&nonce)
}

/// Standard base64 with padding (RFC 4648 §4); the key is the only thing encoded.
fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[(n >> (18 - 6 * i)) as usize & 63] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// The upgrade request for `target` with `key`.
pub fn request(target: &Target, key: &str) -> Vec<u8> {
    format!(
        "GET {} HTTP/1.1\r\nhost: {}\r\nupgrade: websocket\r\nconnection: Upgrade\r\n\
         sec-websocket-key: {key}\r\nsec-websocket-version: 13\r\n\r\n",
        target.path, target.authority
    )
    .into_bytes()
}

/// Checks the answer at the start of `buf` to the upgrade sent with `key`: `Ok(None)` until
/// the head is complete, then its length (frames may follow it in the same read).
pub fn check_response(buf: &[u8], key: &str) -> Result<Option<usize>, HandshakeError> {
    let mut headers = [httparse::EMPTY_HEADER; 32];
    let mut resp = httparse::Response::new(&mut headers);
    let used = match resp.parse(buf) {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) if buf.len() > MAX_HEAD => {
            return Err(HandshakeError::TooLong)
        }
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(_) => return Err(HandshakeError::Malformed),
    };
    if resp.version != Some(1) {
        return Err(HandshakeError::Malformed);
    }
    let status = resp.code.unwrap_or(0);
    if status != 101 {
        return Err(HandshakeError::Status(status));
    }
    let header = |name: &str| {
        resp.headers
            .iter()
            .find(|h| h.name.eq_ignore_ascii_case(name))
            .map(|h| h.value)
    };
    let has_token = |value: Option<&[u8]>, token: &str| {
        value.is_some_and(|v| {
            v.split(|b| *b == b',')
                .any(|t| t.trim_ascii().eq_ignore_ascii_case(token.as_bytes()))
        })
    };
    if !has_token(header("upgrade"), "websocket") || !has_token(header("connection"), "upgrade") {
        return Err(HandshakeError::NotUpgraded);
    }
    let expected = derive_accept_key(key.as_bytes());
    match header("sec-websocket-accept") {
        Some(v) if v.trim_ascii() == expected.as_bytes() => Ok(Some(used)),
        _ => Err(HandshakeError::BadAccept),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 6455 §1.3's example key and accept value.
    const KEY: &str = "dGhlIHNhbXBsZSBub25jZQ==";
    const ACCEPT: &str = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=";

    fn answer(extra: &str) -> Vec<u8> {
        format!(
            "HTTP/1.1 101 Switching Protocols\r\nUpgrade: WebSocket\r\n\
             Connection: keep-alive, Upgrade\r\n{extra}\r\n"
        )
        .into_bytes()
    }

    #[test]
    fn base64_of_the_rfc_nonce() {
        assert_eq!(base64(b"the sample nonce"), KEY);
        assert_eq!(base64(b"f"), "Zg==");
        assert_eq!(base64(b"fo"), "Zm8=");
        assert_eq!(base64(b"foo"), "Zm9v");
        let mut rng = Masker::seeded();
        let (a, b) = (new_key(&mut rng), new_key(&mut rng));
        assert_eq!(a.len(), 24);
        assert_ne!(a, b);
    }

    #[test]
    fn request_has_the_upgrade_headers() {
        let t = Target::parse("ws://127.0.0.1:9000/ws?room=1").unwrap();
        let r = String::from_utf8(request(&t, KEY)).unwrap();
        assert!(
            r.starts_with("GET /ws?room=1 HTTP/1.1\r\nhost: 127.0.0.1:9000\r\n"),
            "{r}"
        );
        assert!(r.contains(&format!("sec-websocket-key: {KEY}\r\n")));
        assert!(r.contains("sec-websocket-version: 13\r\n") && r.ends_with("\r\n\r\n"));
    }

    #[test]
    fn accepts_the_right_answer_with_frames_after_it() {
        let mut bytes = answer(&format!("Sec-WebSocket-Accept: {ACCEPT}\r\n"));
        let head = bytes.len();
        bytes.extend_from_slice(&[0x81, 0x01, b'x']);
        assert_eq!(check_response(&bytes, KEY), Ok(Some(head)));
        assert_eq!(check_response(&bytes[..head - 1], KEY), Ok(None));
    }

    #[test]
    fn refuses_wrong_answers() {
        let wrong = answer("Sec-WebSocket-Accept: AAAAAAAAAAAAAAAAAAAAAAAAAAA=\r\n");
        assert_eq!(check_response(&wrong, KEY), Err(HandshakeError::BadAccept));
        assert_eq!(
            check_response(&answer(""), KEY),
            Err(HandshakeError::BadAccept)
        );
        let denied = b"HTTP/1.1 403 Forbidden\r\ncontent-length: 0\r\n\r\n";
        assert_eq!(
            check_response(denied, KEY),
            Err(HandshakeError::Status(403))
        );
        let plain = format!(
            "HTTP/1.1 101 Switching Protocols\r\nUpgrade: h2c\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Accept: {ACCEPT}\r\n\r\n"
        );
        assert_eq!(
            check_response(plain.as_bytes(), KEY),
            Err(HandshakeError::NotUpgraded)
        );
        assert_eq!(
            check_response(b"SSH-2.0\r\n\r\n", KEY),
            Err(HandshakeError::Malformed)
        );
        let long = [b"HTTP/1.1 101 OK\r\nx: ".as_slice(), &[b'a'; MAX_HEAD]].concat();
        assert_eq!(check_response(&long, KEY), Err(HandshakeError::TooLong));
    }
}
