//! WebSocket sessions and their topics, between the connections that carry them (`server/ws.rs`)
//! and the handlers that use them (the bridge). No pyo3, no sockets.
//!
//! - `session.rs`: one socket's accept, inbox, outbox and close, shared by its connection and
//!   its handler;
//! - `hub.rs`: the worker's topics, and the broadcast that fans one frame out to them.

pub mod hub;
pub mod session;

pub use hub::{Hub, Open};
pub use session::{AcceptError, Limits, Pushed, Received, Session, Topics};
