//! HTTP/1.1 (RFC 9112) as a sans-IO state machine on top of `httparse`.
//!
//! One stage per file: `head` parses and validates a request head, `body` decodes
//! Content-Length and chunked bodies, `encode` writes responses, `date` caches the Date header,
//! `error` names every way a request can be refused.

pub mod body;
pub mod date;
pub mod encode;
pub mod error;
pub mod head;

#[cfg(test)]
mod split_tests;

pub use body::{BodyDecoder, BodyFraming};
pub use error::ProtoError;
pub use head::{parse_head, Limits, Method, RequestHead, Version};
