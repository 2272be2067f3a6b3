//! WebSocket (RFC 6455), sans-IO: the opening handshake, frames in and out, messages
//! reassembled and checked, and permessage-deflate (RFC 7692). No pyo3, no sockets.
//!
//! - `handshake.rs`: is a request an upgrade, is it valid, the `101`'s fields;
//! - `reader.rs`: client frames in, whole messages and control frames out, every protocol
//!   error mapped to its close code;
//! - `frame.rs`: server frames out (unmasked, so one broadcast frame serves every socket);
//! - `deflate.rs`: permessage-deflate's negotiation and codec.

pub mod deflate;
pub mod frame;
pub mod handshake;
pub mod reader;

pub use frame::Kind;
pub use handshake::{Refusal, Upgrade};
pub use reader::{Failure, Incoming, Reader};
