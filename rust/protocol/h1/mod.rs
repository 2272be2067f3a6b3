//! HTTP/1.1 (RFC 9112) as a sans-IO state machine on top of `httparse`.
//!
//! One stage per file: `head` parses and validates a request head (with its children
//! `head/fields.rs`, the framing fields, and `head/target.rs`, the request-target), `body`
//! decodes Content-Length and chunked bodies, `encode` writes responses, `date` caches the Date
//! header, `error` names every way a request can be refused, `sniff` recognises first bytes that
//! are not HTTP/1.x at all (TLS, the HTTP/2 preface, binary noise), `token` holds the lexical
//! pieces (tchar, OWS) they share.

pub mod body;
pub mod date;
pub mod encode;
pub mod error;
pub mod head;
pub mod sniff;
pub mod token;

#[cfg(test)]
mod split_tests;

pub use body::{BodyDecoder, BodyFraming};
pub use error::ProtoError;
pub use head::{parse_head, Limits, Method, RequestHead, Version};
