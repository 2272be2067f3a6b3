//! Handler results to responses, on the Python thread, once per request.
//!
//! Common return types are recognised by exact type check, cheapest first (str, bytes, dict,
//! None); anything else is a `Response` or goes through msgspec.

use std::sync::{Arc, Mutex};

use bytes::Bytes;
use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::intern;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyList, PyString, PyTuple};

use crate::log::Level;
use crate::pipeline::Reply;
use crate::protocol::h1::encode::{valid_header_name, valid_header_value};
use crate::protocol::problem::problem;
use crate::protocol::response::{Body, FileBody, Response};

use super::queue::JobQueue;
use super::runtime::Runtime;
use super::stream;

/// What conversion needs besides the value.
pub struct Ctx {
    /// Python callables.
    pub rt: Arc<Runtime>,
    /// For streamed bodies' wake-ups.
    pub queue: Arc<JobQueue>,
}

/// Converts a handler's return value.
pub fn to_response(py: Python<'_>, ctx: &Ctx, value: &Bound<'_, PyAny>) -> PyResult<Response> {
    if let Ok(s) = value.downcast_exact::<PyString>() {
        return Ok(Response::full(
            200,
            "text/plain; charset=utf-8",
            Bytes::copy_from_slice(s.to_str()?.as_bytes()),
        ));
    }
    if let Ok(b) = value.downcast_exact::<PyBytes>() {
        return Ok(Response::full(
            200,
            "application/octet-stream",
            Bytes::copy_from_slice(b.as_bytes()),
        ));
    }
    if value.is_exact_instance_of::<PyDict>() || value.is_exact_instance_of::<PyList>() {
        return json(py, ctx, value);
    }
    if value.is_none() {
        return Ok(Response {
            status: 204,
            header_block: Vec::new(),
            body: Body::Full(Bytes::new()),
        });
    }
    if value.is_instance(ctx.rt.response_type.bind(py))? {
        return from_response_object(py, ctx, value);
    }
    json(py, ctx, value)
}

fn json(py: Python<'_>, ctx: &Ctx, value: &Bound<'_, PyAny>) -> PyResult<Response> {
    let encoded = ctx.rt.json_encode.bind(py).call1((value,)).map_err(|e| {
        let err = PyTypeError::new_err(format!(
            "handler returned a {} that cannot be encoded as JSON",
            value
                .get_type()
                .name()
                .map(|n| n.to_string())
                .unwrap_or_default()
        ));
        err.set_cause(py, Some(e));
        err
    })?;
    let bytes = encoded.downcast::<PyBytes>()?;
    Ok(Response::full(
        200,
        "application/json",
        Bytes::copy_from_slice(bytes.as_bytes()),
    ))
}

/// Reads a `covetpy.responses.Response`: `status_code`, `raw_headers`, `body`, `body_iterator`.
fn from_response_object(py: Python<'_>, ctx: &Ctx, obj: &Bound<'_, PyAny>) -> PyResult<Response> {
    let (status, header_block, declared) = status_and_headers(obj)?;
    let iterator = obj.getattr(intern!(py, "body_iterator"))?;
    if !iterator.is_none() {
        // A file the IO thread can send itself: the iterator (the fallback) is never started.
        let file = obj.getattr(intern!(py, "sendfile"))?;
        if !file.is_none() {
            return Ok(Response {
                status,
                header_block,
                body: Body::File(file_body(&file)?),
            });
        }
        let (sender, mut body) = stream::channel(ctx.queue.clone());
        // Read on the streamed path only: a full response with trailers is made streamed by
        // `Response.trailers`' setter, so plain responses pay no lookup.
        let trailers = obj.getattr(intern!(py, "trailers"))?;
        if !trailers.is_none() {
            body.trailers = Some(trailer_block(&trailers)?);
        }
        ctx.rt.pump_stream.bind(py).call1((iterator, sender))?;
        return Ok(Response {
            status,
            header_block,
            body: Body::Stream(body),
        });
    }
    let mut response = full_body(obj, status, header_block)?;
    if let (Body::Full(b), Some(n)) = (&response.body, declared) {
        if b.is_empty() && n > 0 {
            response.body = Body::Declared(n);
        }
    }
    Ok(response)
}

/// `Response.sendfile`: `(path or file descriptor, offset, length)`. A descriptor is
/// duplicated, so the caller may close its file when the response is made.
fn file_body(spec: &Bound<'_, PyAny>) -> PyResult<FileBody> {
    use std::os::fd::{FromRawFd, OwnedFd};
    let (target, offset, len): (Bound<'_, PyAny>, u64, u64) = spec.extract().map_err(|_| {
        PyTypeError::new_err("Response.sendfile must be (path or fd, offset, length)")
    })?;
    let file = if let Ok(fd) = target.extract::<i32>() {
        // SAFETY: dup(2) of a descriptor the caller holds open; the result is checked and
        // owned by nothing else.
        let dup = unsafe { libc::fcntl(fd, libc::F_DUPFD_CLOEXEC, 0) };
        if dup < 0 {
            return Err(std::io::Error::last_os_error().into());
        }
        // SAFETY: `dup` is a fresh descriptor we own.
        std::fs::File::from(unsafe { OwnedFd::from_raw_fd(dup) })
    } else {
        let path: std::path::PathBuf = target.extract()?;
        std::fs::File::open(path)?
    };
    Ok(FileBody { file, offset, len })
}

/// A `Response` fixed at start-up (`App.add_static`): full bodies only.
pub fn fixed_response(obj: &Bound<'_, PyAny>) -> PyResult<Response> {
    let py = obj.py();
    if !obj.getattr(intern!(py, "body_iterator"))?.is_none() {
        return Err(PyValueError::new_err("a static response cannot stream"));
    }
    let (status, header_block, _) = status_and_headers(obj)?;
    full_body(obj, status, header_block)
}

fn full_body(obj: &Bound<'_, PyAny>, status: u16, header_block: Vec<u8>) -> PyResult<Response> {
    let body = obj.getattr(intern!(obj.py(), "body"))?;
    let body = body
        .downcast::<PyBytes>()
        .map_err(|_| PyTypeError::new_err("Response.body must be bytes"))?;
    Ok(Response {
        status,
        header_block,
        body: Body::Full(Bytes::copy_from_slice(body.as_bytes())),
    })
}

/// A header name or value: `str` (its UTF-8) or `bytes` as they are.
fn text_or_bytes<'a>(v: &'a Bound<'_, PyAny>) -> PyResult<&'a [u8]> {
    if let Ok(s) = v.downcast::<PyString>() {
        return Ok(s.to_str()?.as_bytes());
    }
    if let Ok(b) = v.downcast::<PyBytes>() {
        return Ok(b.as_bytes());
    }
    Err(PyTypeError::new_err(format!(
        "a response header name or value is str or bytes, not {}",
        v.get_type().name()?
    )))
}

/// One header given as any two-item sequence (a list from an ASGI app, say).
fn add_pair(
    item: &Bound<'_, PyAny>,
    add: &mut impl FnMut(&[u8], &[u8]) -> PyResult<()>,
) -> PyResult<()> {
    let (name, value): (Bound<'_, PyAny>, Bound<'_, PyAny>) = item.extract()?;
    add(text_or_bytes(&name)?, text_or_bytes(&value)?)
}

/// The status, the encoded, validated header block of a `Response` object, and the
/// Content-Length it declared (left out of the block: the server writes its own).
///
/// Attribute names are interned and header strings borrowed (no Rust `String` per header):
/// this runs once per request in a middleware chain, where building the names anew showed as
/// 4.5% of the Python thread (string hashing and dict lookups, `perf record`).
fn status_and_headers(obj: &Bound<'_, PyAny>) -> PyResult<(u16, Vec<u8>, Option<u64>)> {
    let py = obj.py();
    let status: u16 = obj.getattr(intern!(py, "status_code"))?.extract()?;
    if !(100..=999).contains(&status) || (100..200).contains(&status) {
        return Err(PyValueError::new_err(format!(
            "status_code {status} cannot be sent as a final response"
        )));
    }
    let mut header_block = Vec::with_capacity(64);
    let mut declared = None;
    let headers = obj.getattr(intern!(py, "raw_headers"))?;
    let mut add = |name: &[u8], value: &[u8]| -> PyResult<()> {
        if !valid_header_name(name) || !valid_header_value(value) {
            return Err(PyValueError::new_err(format!(
                "invalid response header {:?}: {:?}",
                String::from_utf8_lossy(name),
                String::from_utf8_lossy(value)
            )));
        }
        // The server owns message framing and the connection (RFC 9112 §6); a handler's own
        // values for these would contradict what is actually sent.
        if name.eq_ignore_ascii_case(b"content-length") {
            declared = std::str::from_utf8(value)
                .ok()
                .and_then(|v| v.trim().parse().ok());
            return Ok(());
        }
        if ["transfer-encoding", "connection", "date"]
            .iter()
            .any(|h| name.eq_ignore_ascii_case(h.as_bytes()))
        {
            return Ok(());
        }
        header_block.extend_from_slice(name);
        header_block.extend_from_slice(b": ");
        header_block.extend_from_slice(value);
        header_block.extend_from_slice(b"\r\n");
        Ok(())
    };
    if let Ok(list) = headers.downcast_exact::<PyList>() {
        // The usual shape: a list of (str, str) tuples, or of (bytes, bytes) as an ASGI app
        // sends them (a hosted app's headers cross without a decode), read in place.
        for item in list.iter() {
            match item.downcast_exact::<PyTuple>() {
                Ok(pair) if pair.len() == 2 => {
                    let name = pair.get_borrowed_item(0)?;
                    let value = pair.get_borrowed_item(1)?;
                    add(text_or_bytes(&name)?, text_or_bytes(&value)?)?;
                }
                _ => add_pair(&item, &mut add)?,
            }
        }
    } else {
        for item in headers.try_iter()? {
            add_pair(&item?, &mut add)?;
        }
    }
    Ok((status, header_block, declared))
}

/// Fields a trailer section must not carry (RFC 9110 §6.5.1): framing, routing, the
/// request's controls, authentication and content metadata the head already settled.
const NOT_IN_TRAILERS: &[&str] = &[
    "content-length",
    "content-type",
    "content-encoding",
    "content-range",
    "transfer-encoding",
    "connection",
    "host",
    "te",
    "trailer",
    "authorization",
    "set-cookie",
    "cache-control",
    "expect",
    "max-forwards",
    "pragma",
    "range",
];

/// `Response.trailers` (a mapping or pairs of str/bytes) as `name: value\r\n` lines.
fn trailer_block(trailers: &Bound<'_, PyAny>) -> PyResult<Vec<u8>> {
    let mut block = Vec::with_capacity(64);
    let mut add = |name: &[u8], value: &[u8]| -> PyResult<()> {
        if !valid_header_name(name) || !valid_header_value(value) {
            return Err(PyValueError::new_err(format!(
                "invalid trailer {:?}: {:?}",
                String::from_utf8_lossy(name),
                String::from_utf8_lossy(value)
            )));
        }
        if NOT_IN_TRAILERS
            .iter()
            .any(|h| name.eq_ignore_ascii_case(h.as_bytes()))
        {
            return Err(PyValueError::new_err(format!(
                "{:?} cannot be sent as a trailer (RFC 9110 §6.5.1)",
                String::from_utf8_lossy(name)
            )));
        }
        block.extend_from_slice(name);
        block.extend_from_slice(b": ");
        block.extend_from_slice(value);
        block.extend_from_slice(b"\r\n");
        Ok(())
    };
    let items = match trailers.downcast::<PyDict>() {
        Ok(d) => d.items().into_any(),
        Err(_) => match trailers.call_method0(intern!(trailers.py(), "items")) {
            Ok(items) => items,
            Err(_) => trailers.clone(),
        },
    };
    for item in items.try_iter()? {
        add_pair(&item?, &mut add)?;
    }
    Ok(block)
}

/// The response for an exception raised by a handler (or by converting its result).
pub fn error_response(py: Python<'_>, ctx: &Ctx, err: PyErr) -> Response {
    let rendered = ctx
        .rt
        .render_exception
        .bind(py)
        .call1((err.into_value(py),))
        .and_then(|r| from_response_object(py, ctx, &r));
    match rendered {
        Ok(r) => r,
        Err(e) => {
            crate::log!(Level::Error, "rendering an error failed: {}", e);
            problem(500, "internal server error")
        }
    }
}

/// Converts a handler's outcome; any failure becomes an error response.
pub fn finish(py: Python<'_>, ctx: &Ctx, value: PyResult<Bound<'_, PyAny>>) -> Response {
    match value.and_then(|v| to_response(py, ctx, &v)) {
        Ok(r) => r,
        Err(e) => error_response(py, ctx, e),
    }
}

/// Converts and sends at once.
pub fn respond(py: Python<'_>, ctx: &Ctx, reply: Reply, value: PyResult<Bound<'_, PyAny>>) {
    // A closed connection is not an error here: the client left.
    let _ = reply.send(finish(py, ctx, value));
}

/// The reply of an async handler; `covetpy._bridge.start` calls it when its Task is done.
#[pyclass(module = "covetpy._core", frozen)]
pub struct Responder {
    reply: Mutex<Option<Reply>>,
    ctx: Ctx,
}

impl Responder {
    /// Wraps the reply of one request.
    pub fn new(reply: Reply, ctx: Ctx) -> Self {
        Responder {
            reply: Mutex::new(Some(reply)),
            ctx,
        }
    }

    fn take(&self) -> Option<Reply> {
        self.reply.lock().unwrap_or_else(|p| p.into_inner()).take()
    }
}

#[pymethods]
impl Responder {
    /// Sends the handler's return value.
    fn send(&self, py: Python<'_>, value: Bound<'_, PyAny>) {
        if let Some(reply) = self.take() {
            respond(py, &self.ctx, reply, Ok(value));
        }
    }

    /// Sends the response for the handler's exception.
    fn fail(&self, py: Python<'_>, exc: Bound<'_, PyAny>) {
        if let Some(reply) = self.take() {
            let _ = reply.send(error_response(py, &self.ctx, PyErr::from_value(exc)));
        }
    }
}
