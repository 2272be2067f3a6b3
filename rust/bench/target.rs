//! The target: an `http://` or `https://` (or `ws://`, rust/bench/ws.rs) URL parsed into
//! host, port and path, and the HTTP/1.1 request bytes sent to it, encoded once before the run
//! (the HTTP/2 request is built from the same [`RequestSpec`] in rust/bench/h2_conn.rs).

use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::time::Duration;

use super::BenchError;

/// Where the requests go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// Host name or address as written (IPv6 without the brackets).
    pub host: String,
    /// TCP port (80, or 443 for `https://`, when the URL names none).
    pub port: u16,
    /// Origin-form request target: path and query, at least `/` (RFC 9112 §3.2.1).
    pub path: String,
    /// The `Host` header value: host, bracketed for IPv6, and the port unless it is the
    /// scheme's default (RFC 9110 §7.2).
    pub authority: String,
    /// The URL is `ws://`: a WebSocket run.
    pub websocket: bool,
    /// The URL is `https://`: every connection starts with a TLS handshake (rust/bench/tls.rs).
    pub tls: bool,
}

impl Target {
    /// Parses `http[s]://host[:port][/path][?query]` (or `ws://…`); the fragment is dropped.
    /// `wss://` is refused: WebSocket runs speak no TLS.
    pub fn parse(url: &str) -> Result<Target, BenchError> {
        let bad = |why: &str| BenchError::Invalid(format!("bad URL {url:?}: {why}"));
        let (scheme, rest) = url
            .split_once("://")
            .ok_or_else(|| bad("expected http://host[:port]/path"))?;
        if scheme.eq_ignore_ascii_case("wss") {
            return Err(BenchError::Invalid(format!(
                "{url}: wss is not supported; WebSocket runs speak no TLS (use ws://)"
            )));
        }
        let websocket = scheme.eq_ignore_ascii_case("ws");
        let tls = scheme.eq_ignore_ascii_case("https");
        if !websocket && !tls && !scheme.eq_ignore_ascii_case("http") {
            return Err(bad("only http://, https:// and ws:// URLs are supported"));
        }
        let default_port = if tls { 443 } else { 80 };
        let rest = rest.split('#').next().unwrap_or("");
        let end = rest.find(['/', '?']).unwrap_or(rest.len());
        let (authority, path) = rest.split_at(end);
        if authority.contains('@') {
            return Err(bad("user information in the URL is not supported"));
        }
        let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
            let (host, after) = v6
                .split_once(']')
                .ok_or_else(|| bad("unclosed [ in the host"))?;
            match after {
                "" => (host, None),
                p => (
                    host,
                    Some(p.strip_prefix(':').ok_or_else(|| bad("junk after ]"))?),
                ),
            }
        } else {
            match authority.rsplit_once(':') {
                Some((h, p)) => (h, Some(p)),
                None => (authority, None),
            }
        };
        if host.is_empty() {
            return Err(bad("no host"));
        }
        let port = match port {
            None => default_port,
            Some(p) => p
                .parse::<u16>()
                .ok()
                .filter(|p| *p != 0)
                .ok_or_else(|| bad("bad port"))?,
        };
        let mut path = path.to_string();
        if !path.starts_with('/') {
            path.insert(0, '/');
        }
        if path.bytes().any(|b| b <= b' ' || b == 0x7f) {
            return Err(bad(
                "spaces or control characters in the path (percent-encode them)",
            ));
        }
        let bracketed = if host.contains(':') {
            format!("[{host}]")
        } else {
            host.to_string()
        };
        let authority = if port == default_port {
            bracketed
        } else {
            format!("{bracketed}:{port}")
        };
        Ok(Target {
            host: host.to_string(),
            port,
            path,
            authority,
            websocket,
            tls,
        })
    }

    /// The URI scheme the requests name (HTTP/2's `:scheme`, RFC 9113 §8.3.1).
    pub fn scheme(&self) -> &'static str {
        if self.tls {
            "https"
        } else {
            "http"
        }
    }

    /// Resolves the host once, before the run. Of several addresses (`localhost` may give
    /// `::1` and `127.0.0.1`) the first that accepts a connection is used, so a server bound
    /// to one family is found; if none does, the first, and the run counts connect errors.
    pub fn resolve(&self, timeout: Duration) -> Result<SocketAddr, BenchError> {
        let addrs: Vec<SocketAddr> = (self.host.as_str(), self.port)
            .to_socket_addrs()
            .map_err(|e| BenchError::Io(format!("cannot resolve {}: {e}", self.host), e))?
            .collect();
        let first = *addrs
            .first()
            .ok_or_else(|| BenchError::Invalid(format!("{} resolves to no address", self.host)))?;
        if addrs.len() == 1 {
            return Ok(first);
        }
        Ok(addrs
            .iter()
            .copied()
            .find(|a| TcpStream::connect_timeout(a, timeout).is_ok())
            .unwrap_or(first))
    }
}

/// The request every connection sends, as bytes.
#[derive(Debug, Clone)]
pub struct RequestSpec {
    /// Method token, e.g. `GET`.
    pub method: String,
    /// Extra header lines; a `Host` here replaces the one taken from the URL.
    pub headers: Vec<(String, String)>,
    /// Request body, sent with `Content-Length`.
    pub body: Vec<u8>,
}

/// RFC 9110 §5.6.2 token characters.
fn is_token(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

impl RequestSpec {
    /// Checks the method and headers for either protocol: tokens, no control characters, and
    /// no framing headers. Framing is the tool's job: a `Content-Length` or
    /// `Transfer-Encoding` among the headers is refused rather than sent twice.
    pub fn check(&self) -> Result<(), BenchError> {
        if !is_token(&self.method) {
            return Err(BenchError::Invalid(format!("bad method {:?}", self.method)));
        }
        for (name, value) in &self.headers {
            if !is_token(name) {
                return Err(BenchError::Invalid(format!("bad header name {name:?}")));
            }
            if value.bytes().any(|b| (b < b' ' && b != b'\t') || b == 0x7f) {
                return Err(BenchError::Invalid(format!(
                    "bad value for header {name}: control characters"
                )));
            }
            if name.eq_ignore_ascii_case("content-length")
                || name.eq_ignore_ascii_case("transfer-encoding")
            {
                return Err(BenchError::Invalid(format!(
                    "{name} is set by covetpy bench from the body; do not pass it with -H"
                )));
            }
        }
        Ok(())
    }

    /// The method's requests normally carry a body, so they get an explicit length even when
    /// it is empty: the server never waits for a body that is not coming (RFC 9112 §6.3).
    pub fn expects_body(&self) -> bool {
        matches!(self.method.as_str(), "POST" | "PUT" | "PATCH")
    }

    /// Encodes the HTTP/1.1 request for `target`.
    pub fn encode(&self, target: &Target) -> Result<Vec<u8>, BenchError> {
        self.check()?;
        let mut out = Vec::with_capacity(128 + self.body.len());
        out.extend_from_slice(self.method.as_bytes());
        out.push(b' ');
        out.extend_from_slice(target.path.as_bytes());
        out.extend_from_slice(b" HTTP/1.1\r\n");
        let host_given = self
            .headers
            .iter()
            .any(|(name, _)| name.eq_ignore_ascii_case("host"));
        if !host_given {
            out.extend_from_slice(b"host: ");
            out.extend_from_slice(target.authority.as_bytes());
            out.extend_from_slice(b"\r\n");
        }
        for (name, value) in &self.headers {
            out.extend_from_slice(name.as_bytes());
            out.extend_from_slice(b": ");
            out.extend_from_slice(value.trim().as_bytes());
            out.extend_from_slice(b"\r\n");
        }
        if !self.body.is_empty() || self.expects_body() {
            out.extend_from_slice(b"content-length: ");
            out.extend_from_slice(itoa::Buffer::new().format(self.body.len()).as_bytes());
            out.extend_from_slice(b"\r\n");
        }
        out.extend_from_slice(b"\r\n");
        out.extend_from_slice(&self.body);
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn get() -> RequestSpec {
        RequestSpec {
            method: "GET".into(),
            headers: vec![],
            body: vec![],
        }
    }

    #[test]
    fn parses_host_port_path() {
        let t = Target::parse("http://127.0.0.1:8000/users/42?x=1#frag").unwrap();
        assert_eq!(
            (t.host.as_str(), t.port, t.path.as_str()),
            ("127.0.0.1", 8000, "/users/42?x=1")
        );
        assert_eq!(t.authority, "127.0.0.1:8000");
        assert!(!t.websocket);
        let t = Target::parse("ws://127.0.0.1:9000/ws").unwrap();
        assert!(t.websocket && t.path == "/ws" && t.port == 9000);
        let t = Target::parse("HTTP://example.test").unwrap();
        assert_eq!(
            (t.port, t.path.as_str(), t.authority.as_str()),
            (80, "/", "example.test")
        );
        let t = Target::parse("http://[::1]:9000?q").unwrap();
        assert_eq!(
            (t.host.as_str(), t.path.as_str(), t.authority.as_str()),
            ("::1", "/?q", "[::1]:9000")
        );
    }

    #[test]
    fn https_defaults_to_443_and_hides_it() {
        let t = Target::parse("https://localhost/x").unwrap();
        assert!(t.tls && !t.websocket);
        assert_eq!((t.port, t.authority.as_str()), (443, "localhost"));
        assert_eq!(t.scheme(), "https");
        let t = Target::parse("HTTPS://[::1]:8443").unwrap();
        assert_eq!((t.port, t.authority.as_str()), (8443, "[::1]:8443"));
        // Port 80 is not the default of https, nor 443 of http.
        assert_eq!(Target::parse("https://h:80/").unwrap().authority, "h:80");
        assert_eq!(Target::parse("http://h:443/").unwrap().authority, "h:443");
        assert_eq!(Target::parse("http://h/").unwrap().scheme(), "http");
    }

    #[test]
    fn refuses_wss_and_garbage() {
        let err = Target::parse("wss://127.0.0.1/").unwrap_err().to_string();
        assert!(err.contains("wss is not supported"), "{err}");
        for url in [
            "127.0.0.1:80/",
            "ftp://x/",
            "http://:80/",
            "http://x:0/",
            "http://x:99999/",
            "http://u@x/",
            "http://[::1/",
            "http://x/a b",
        ] {
            assert!(Target::parse(url).is_err(), "{url}");
        }
    }

    #[test]
    fn encodes_get_with_host() {
        let t = Target::parse("http://localhost:8000/").unwrap();
        let bytes = get().encode(&t).unwrap();
        assert_eq!(bytes, b"GET / HTTP/1.1\r\nhost: localhost:8000\r\n\r\n");
    }

    #[test]
    fn encodes_post_body_and_custom_host() {
        let t = Target::parse("http://localhost/items").unwrap();
        let spec = RequestSpec {
            method: "POST".into(),
            headers: vec![
                ("Host".into(), "api".into()),
                ("content-type".into(), " application/json ".into()),
            ],
            body: b"{}".to_vec(),
        };
        let bytes = spec.encode(&t).unwrap();
        assert_eq!(
            bytes,
            b"POST /items HTTP/1.1\r\nHost: api\r\ncontent-type: application/json\r\ncontent-length: 2\r\n\r\n{}"
        );
        let empty = RequestSpec {
            body: vec![],
            ..spec
        }
        .encode(&t)
        .unwrap();
        assert!(empty.ends_with(b"content-length: 0\r\n\r\n"));
    }

    #[test]
    fn refuses_bad_headers() {
        let t = Target::parse("http://x/").unwrap();
        for (n, v) in [
            ("a b", "1"),
            ("x", "a\r\nb: c"),
            ("Content-Length", "3"),
            ("transfer-encoding", "chunked"),
        ] {
            let spec = RequestSpec {
                headers: vec![(n.into(), v.into())],
                ..get()
            };
            assert!(spec.encode(&t).is_err(), "{n}: {v}");
        }
        assert!(RequestSpec {
            method: "G T".into(),
            ..get()
        }
        .encode(&t)
        .is_err());
    }
}
