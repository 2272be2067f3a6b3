//! What a hosted ASGI or WSGI app (a mount) needs of its request beyond a native handler's:
//! the ASGI scope built in Rust, and the body read while it arrives (`Request.read_chunk`,
//! `wait_chunk`, `read_chunk_blocking`, `discard_body`; the methods are in `request.rs`, the
//! work here).
//!
//! The scope is the per-request cost every ASGI server pays; building it here takes one dict
//! copy and one tuple per header, without a Python-level loop over the head.

use std::sync::Arc;

use pyo3::exceptions::PyConnectionResetError;
use pyo3::intern;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyList, PyString, PyTuple};

use crate::pipeline::body_pipe::Chunk;
use crate::pipeline::BodyPipe;
use crate::protocol::h1::{RequestHead, Version};

use super::queue::{Event, JobQueue};

/// A mount's body and the queue its wake-ups go through.
pub struct BodyLink {
    pub pipe: Arc<BodyPipe>,
    pub queue: Arc<JobQueue>,
}

fn cut() -> PyErr {
    PyConnectionResetError::new_err(
        "the request body was cut: the client went away, or the body broke a limit or timed out",
    )
}

fn chunk<'py>(py: Python<'py>, c: Chunk) -> PyResult<Option<Bound<'py, PyBytes>>> {
    match c {
        Chunk::Data(b) => Ok(Some(PyBytes::new(py, &b))),
        Chunk::End => Ok(Some(PyBytes::new(py, b""))),
        Chunk::Wait => Ok(None),
        Chunk::Cut => Err(cut()),
    }
}

impl BodyLink {
    /// The next chunk, `b""` at the end, None when the caller must wait.
    pub fn read<'py>(&self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyBytes>>> {
        chunk(py, self.pipe.read())
    }

    /// The next chunk for a thread that may block: the GIL is released while it waits.
    pub fn read_blocking<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyBytes>> {
        let pipe = self.pipe.clone();
        let c = py.allow_threads(move || pipe.read_blocking());
        chunk(py, c).map(|b| b.unwrap_or_else(|| PyBytes::new(py, b"")))
    }

    /// Resolves `future` (on the event loop's thread) once a read would not wait.
    pub fn wait(&self, future: PyObject) {
        let queue = self.queue.clone();
        self.pipe
            .on_chunk(Box::new(move || queue.push(Event::Writable(future))));
    }
}

/// The parts of the ASGI scope only the request knows (ASGI HTTP & WebSocket spec 2.4):
/// `template` (`asgi`, `server`, `root_path`, `extensions`) is copied and these are set.
pub fn asgi_scope<'py>(
    py: Python<'py>,
    template: &Bound<'py, PyDict>,
    head: &RequestHead,
    websocket: bool,
    scheme: &str,
    path: &str,
    client: Option<(String, u16)>,
) -> PyResult<Bound<'py, PyDict>> {
    let scope = template.copy()?;
    let kind = if websocket {
        intern!(py, "websocket")
    } else {
        intern!(py, "http")
    };
    scope.set_item(intern!(py, "type"), kind)?;
    let version = match head.version() {
        Version::Http10 => intern!(py, "1.0"),
        Version::Http11 => intern!(py, "1.1"),
        Version::Http2 => intern!(py, "2"),
    };
    scope.set_item(intern!(py, "http_version"), version)?;
    let scheme = match (websocket, scheme) {
        (true, "https") => "wss",
        (true, _) => "ws",
        (false, s) => s,
    };
    scope.set_item(intern!(py, "scheme"), PyString::new(py, scheme))?;
    if !websocket {
        scope.set_item(
            intern!(py, "method"),
            PyString::new(py, head.method().as_str()),
        )?;
    }
    scope.set_item(intern!(py, "path"), PyString::new(py, path))?;
    scope.set_item(intern!(py, "raw_path"), PyBytes::new(py, head.path()))?;
    let query = head.query().unwrap_or_default();
    scope.set_item(intern!(py, "query_string"), PyBytes::new(py, query))?;
    scope.set_item(intern!(py, "headers"), headers(py, head)?)?;
    match client {
        Some(c) => scope.set_item(intern!(py, "client"), c)?,
        None => scope.set_item(intern!(py, "client"), py.None())?,
    }
    if websocket {
        scope.set_item(intern!(py, "subprotocols"), subprotocols(py, head)?)?;
    }
    Ok(scope)
}

/// `[(name, value), ...]` as bytes, names lower-cased (ASGI), in arrival order.
fn headers<'py>(py: Python<'py>, head: &RequestHead) -> PyResult<Bound<'py, PyList>> {
    let list = PyList::empty(py);
    let mut lower = Vec::with_capacity(32);
    for (name, value) in head.headers() {
        lower.clear();
        lower.extend(name.iter().map(u8::to_ascii_lowercase));
        let pair = PyTuple::new(py, [PyBytes::new(py, &lower), PyBytes::new(py, value)])?;
        list.append(pair)?;
    }
    Ok(list)
}

/// The subprotocols the client offers (`Sec-WebSocket-Protocol`, comma-separated, in order).
fn subprotocols<'py>(py: Python<'py>, head: &RequestHead) -> PyResult<Bound<'py, PyList>> {
    let list = PyList::empty(py);
    for (name, value) in head.headers() {
        if !name.eq_ignore_ascii_case(b"sec-websocket-protocol") {
            continue;
        }
        for token in value.split(|&b| b == b',') {
            let token = crate::protocol::h1::token::trim_ows(token);
            if !token.is_empty() {
                list.append(PyString::new(py, &String::from_utf8_lossy(token)))?;
            }
        }
    }
    Ok(list)
}
