//! Wire protocols, sans-IO: bytes in, events and bytes out. No pyo3, no sockets here.
//!
//! `response` is the answer every protocol writes (and the built-in middleware edits), `status`
//! and `problem` what HTTP says about it whatever the framing; `h1` is HTTP/1.1.

pub mod h1;
pub mod h2;
pub mod problem;
pub mod response;
pub mod status;
pub mod ws;
