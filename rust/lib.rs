//! CovetPy's Rust core.
//!
//! The pure-Rust layers (`protocol`, `router`, `io`, `middleware`, `pipeline`, `server`, `bench`)
//! build and test without Python (`cargo test`); the `bridge` exists only with the `python`
//! feature that maturin enables. Their imports run one way (`make layers`).
//! This file only wires modules together and registers the extension module.

pub mod auth;
pub mod bench;
pub mod client;
pub mod config;
pub mod io;
pub mod log;
pub mod mesh;
pub mod metrics;
pub mod middleware;
pub mod pipeline;
pub mod protocol;
pub mod router;
pub mod server;
pub mod tls;
pub mod websocket;

#[cfg(feature = "python")]
pub mod bridge;

#[cfg(feature = "python")]
use pyo3::prelude::*;

/// The extension module `covetpy._core`.
#[cfg(feature = "python")]
#[pymodule]
fn _core(m: &Bound<'_, PyModule>) -> PyResult<()> {
    bridge::register(m)
}
