//! The Python exceptions raised by the extension (re-exported by `covetpy.exceptions`).

use pyo3::create_exception;
use pyo3::exceptions::PyException;
use pyo3::prelude::*;

use crate::router;

create_exception!(
    _core,
    CovetError,
    PyException,
    "Base class of the errors CovetPy raises."
);
create_exception!(
    _core,
    RouteError,
    CovetError,
    "A route table that cannot be built: bad path syntax or two routes that conflict."
);
create_exception!(
    _core,
    ConfigError,
    CovetError,
    "A server configuration that cannot be used (bad value, address in use, ...)."
);
create_exception!(
    _core,
    HttpClientError,
    CovetError,
    "An outbound request of `HttpClient` that got no response: `args` are `(kind, message)`, \
     `kind` one of connect, connect_timeout, write_timeout, read_timeout, write_error, \
     read_error, protocol, body_too_large, closed, invalid_request, shutdown, forked."
);

/// The `RouteError` for a route table the router refused. A clash carries both routes as
/// `route` (the one being added) and `conflicts_with` (the one declared before it), rendered
/// `"GET /a/{x}"`, so a caller can tell which without parsing the message; other refusals (and
/// `RouteError`s raised in Python) have `None` there, from the class (see `register`).
pub fn route_error(py: Python<'_>, e: &router::RouteError) -> PyErr {
    let err = RouteError::new_err(e.to_string());
    if let router::RouteError::Conflict { route, with } = e {
        let value = err.value(py);
        // Setting an attribute of a fresh exception instance cannot fail; if it did, the
        // message still names both routes.
        let _ = value.setattr("route", route);
        let _ = value.setattr("conflicts_with", with);
    }
    err
}

/// Adds the exception types to the module, with `RouteError`'s attributes defaulting to None.
pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = m.py();
    let route_error = py.get_type::<RouteError>();
    route_error.setattr("route", py.None())?;
    route_error.setattr("conflicts_with", py.None())?;
    m.add("CovetError", py.get_type::<CovetError>())?;
    m.add("RouteError", route_error)?;
    m.add("ConfigError", py.get_type::<ConfigError>())?;
    m.add("HttpClientError", py.get_type::<HttpClientError>())?;
    Ok(())
}
