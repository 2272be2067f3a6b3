//! HTTP/2 sans-IO pieces: an HTTP/2 request as the pipeline's request head, and the pipeline's
//! response value as HTTP/2 header fields. Framing, HPACK and flow control are the `h2`
//! crate's (adrs/0017).

pub mod head;
#[cfg(test)]
mod head_tests;
pub mod scan;
pub mod upgrade;

pub use head::{request_head, response_headers, websocket_head, HeadError};
