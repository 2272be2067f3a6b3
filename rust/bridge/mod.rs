//! The bridge: what Python sees of the server. The only module with pyo3 in it.
//!
//! Per request only handles cross the boundary: IO threads queue owned [`Job`]s without the
//! GIL; the worker's Python thread takes the whole queue per wake-up (one GIL hold for the
//! batch), calls the handlers, and converts their results to owned responses.
//!
//! [`Job`]: crate::pipeline::Job

mod auth;
mod auth_identity;
mod awaitable;
mod bench;
mod call;
mod client;
mod config;
mod convert;
mod errors;
mod fields;
mod hosted;
mod identity;
mod middleware;
mod multidict;
mod queue;
mod request;
mod runtime;
mod server;
mod stream;
mod websocket;

use pyo3::prelude::*;

/// Adds the classes and exceptions of `covetpy._core` to the module.
pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    m.add_class::<server::Server>()?;
    m.add_class::<request::Request>()?;
    m.add_class::<identity::PeerIdentity>()?;
    m.add_class::<auth_identity::PyIdentity>()?;
    m.add_class::<request::BodyStream>()?;
    m.add_class::<multidict::Headers>()?;
    m.add_class::<multidict::QueryParams>()?;
    m.add_class::<convert::Responder>()?;
    m.add_class::<stream::StreamSender>()?;
    m.add_class::<websocket::WsSession>()?;
    m.add_class::<awaitable::Ready>()?;
    m.add_class::<middleware::RateLimiter>()?;
    errors::register(m)?;
    client::register(m)?;
    m.add_function(wrap_pyfunction!(server::panic_for_test, m)?)?;
    m.add_function(wrap_pyfunction!(bench::run_bench, m)?)?;
    m.add_function(wrap_pyfunction!(auth::sign_jwt, m)?)?;
    m.add_function(wrap_pyfunction!(auth::public_jwk, m)?)?;
    m.add_function(wrap_pyfunction!(server::metrics_scrape, m)?)?;
    m.add_function(wrap_pyfunction!(server::metrics_mark_closed, m)?)?;
    Ok(())
}
