//! An HTTP/1.1 client for plain `http://`, used by `covetpy.mesh.Client` (through the
//! bridge's `HttpClient`) in place of httpcore.
//!
//! One stage per file: `encode` writes the request head, `head` parses the response head
//! and decides its framing, `conn` runs one exchange on a connection (bodies are decoded by
//! the server's own `protocol::h1::BodyDecoder`: chunked framing is the same both ways),
//! `pool` keeps idle connections per authority, `runtime` owns the thread and the retry.
//! No pyo3 here.

mod conn;
mod encode;
mod error;
mod head;
mod pool;
mod runtime;
mod types;

#[cfg(test)]
mod tests;

pub use error::{ClientError, Phase};
pub use runtime::{Callback, ClientRuntime, ThreadHook};
pub use types::{ClientConfig, Request, Response, MAX_HEAD};
