//! The answers of a refusal: 401 with a `WWW-Authenticate` challenge per layer (RFC 9110
//! §11.6.1; RFC 6750 §3 for Bearer), 403 `insufficient_scope` (RFC 6750 §3.1), both as RFC
//! 9457 problem documents.

use super::failure::Failure;
use crate::metrics::AuthFailure;
use crate::protocol::problem::problem;
use crate::protocol::response::Response;

/// How a layer challenges a client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Challenge {
    /// `Bearer realm="..."` (RFC 6750).
    Bearer,
    /// `ApiKey realm="...", header="x-api-key"` (no RFC names one; the parameters say where
    /// the key goes).
    ApiKey {
        /// `header="..."` or `query="..."`.
        param: String,
    },
    /// `Basic realm="...", charset="UTF-8"` (RFC 7617 §2.1).
    Basic,
}

impl Challenge {
    /// The `WWW-Authenticate` value for a refusal (`failure`) or a request that had no
    /// credential (a `Missing` failure).
    pub fn value(&self, realm: &str, failure: &Failure) -> String {
        let mut out = Vec::new();
        self.write(realm, Some(failure), &mut out);
        String::from_utf8_lossy(&out).into_owned()
    }

    fn write(&self, realm: &str, failure: Option<&Failure>, out: &mut Vec<u8>) {
        let mut params: Vec<String> = Vec::new();
        if !realm.is_empty() {
            params.push(format!("realm={}", quoted(realm)));
        }
        match self {
            Challenge::Bearer => out.extend_from_slice(b"Bearer"),
            Challenge::ApiKey { param } => {
                out.extend_from_slice(b"ApiKey");
                params.push(param.clone());
            }
            Challenge::Basic => {
                out.extend_from_slice(b"Basic");
                params.push("charset=\"UTF-8\"".into());
            }
        }
        // RFC 6750 §3.1: no error code when the request had no credential at all.
        if let Some(f) = failure.filter(|f| f.reason != AuthFailure::Missing) {
            let code = if f.forbidden() {
                "insufficient_scope"
            } else {
                "invalid_token"
            };
            params.push(format!("error=\"{code}\""));
            params.push(format!("error_description={}", quoted(&f.description)));
            if let Some(missing) = &f.missing {
                params.push(format!("scope={}", quoted(missing)));
            }
        }
        if !params.is_empty() {
            out.push(b' ');
            out.extend_from_slice(params.join(", ").as_bytes());
        }
    }
}

/// The answer to `failure`: 403 or 401 with one `WWW-Authenticate` field per value of
/// `challenges` (the failing layer's alone when one failed, every layer's when the credential
/// was missing).
pub fn refusal(failure: &Failure, challenges: &[String]) -> Response {
    let status = if failure.forbidden() { 403 } else { 401 };
    let mut r = problem(status, &failure.description);
    for c in challenges {
        r.header_block.extend_from_slice(b"www-authenticate: ");
        r.header_block.extend_from_slice(c.as_bytes());
        r.header_block.extend_from_slice(b"\r\n");
    }
    r
}

/// A quoted-string (RFC 9110 §5.6.4): backslash before `"` and `\`; control characters,
/// which a header value cannot hold, dropped.
fn quoted(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' | '\\' => {
                out.push('\\');
                out.push(c);
            }
            c if c.is_control() => {}
            c => out.push(c),
        }
    }
    out.push('"');
    out
}
