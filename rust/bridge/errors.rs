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
