//! The Python exceptions raised by the extension (re-exported by `covetpy.exceptions`).

use pyo3::create_exception;
use pyo3::exceptions::PyException;

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
