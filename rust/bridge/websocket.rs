//! `WsSession`: what a WebSocket handler (`covetpy.websocket.WebSocket`) holds of its socket.
//!
//! Every call is non-blocking: a `receive` with nothing queued or a `send` to a full queue
//! returns at once, and the handler parks an asyncio Future with `wait_receive`/`wait_send`,
//! which the connection resolves through the worker's event queue (one wake-up per batch of
//! events, as for streamed bodies). Messages cross as one `str`/`bytes` each.

use std::sync::Arc;

use pyo3::exceptions::{PyConnectionResetError, PyRuntimeError, PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyString, PyTuple};

use crate::protocol::h1::token::is_tchar;
use crate::protocol::ws::frame::{code_allowed, MAX_REASON};
use crate::protocol::ws::Kind;
use crate::websocket::{AcceptError, Received, Session};

use super::queue::{Event, JobQueue};

/// Fields the handshake owns: a handler's `accept(headers=...)` may not set them.
const RESERVED: [&str; 6] = [
    "connection",
    "upgrade",
    "sec-websocket-accept",
    "sec-websocket-protocol",
    "sec-websocket-extensions",
    "content-length",
];

/// A session and the queue its wake-ups go through, carried by the upgrade request.
#[derive(Clone)]
pub struct WsLink {
    pub session: Arc<Session>,
    pub queue: Arc<JobQueue>,
}

/// A WebSocket, as its handler sees it.
#[pyclass(module = "covetpy._core", frozen)]
pub struct WsSession {
    link: WsLink,
}

impl WsSession {
    pub fn new(link: WsLink) -> Self {
        WsSession { link }
    }

    fn wake(&self, future: PyObject) -> Box<dyn FnOnce() + Send> {
        let queue = self.link.queue.clone();
        Box::new(move || queue.push(Event::Writable(future)))
    }
}

/// A message's kind from the Python value that carries it.
pub fn message<'a>(data: &'a Bound<'_, PyAny>) -> PyResult<(Kind, &'a [u8])> {
    if let Ok(s) = data.downcast::<PyString>() {
        return Ok((Kind::Text, s.to_str()?.as_bytes()));
    }
    if let Ok(b) = data.downcast::<PyBytes>() {
        return Ok((Kind::Binary, b.as_bytes()));
    }
    Err(PyTypeError::new_err(format!(
        "a WebSocket message is str (text) or bytes (binary), not {}",
        data.get_type().name()?
    )))
}

#[pymethods]
impl WsSession {
    /// The subprotocols the client offered, in its order.
    #[getter]
    fn subprotocols<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyTuple>> {
        PyTuple::new(
            py,
            self.link.session.upgrade.subprotocols.iter().map(|s| &**s),
        )
    }

    /// The close code once closed (1006: the connection dropped without a close).
    #[getter]
    fn close_code(&self) -> Option<u16> {
        self.link.session.closed().map(|c| c.0)
    }

    /// The close reason once closed.
    #[getter]
    fn close_reason(&self) -> String {
        self.link
            .session
            .closed()
            .map(|c| c.1.into_string())
            .unwrap_or_default()
    }

    /// Whether the handler accepted (or the session ended).
    #[getter]
    fn accepted(&self) -> bool {
        self.link.session.accepted()
    }

    /// Answers the upgrade with `101`: `subprotocol` must be one the client offered; `headers`
    /// are extra `(name, value)` fields.
    #[pyo3(signature = (subprotocol=None, headers=Vec::new()))]
    fn accept(&self, subprotocol: Option<&str>, headers: Vec<(String, String)>) -> PyResult<()> {
        let mut extra = Vec::new();
        for (name, value) in &headers {
            if name.is_empty() || !name.bytes().all(is_tchar) {
                return Err(PyValueError::new_err(format!(
                    "header name {name:?} is not a token"
                )));
            }
            if value.bytes().any(|b| matches!(b, b'\r' | b'\n' | 0)) {
                return Err(PyValueError::new_err(format!(
                    "header {name}: the value holds CR, LF or NUL"
                )));
            }
            if RESERVED.iter().any(|r| r.eq_ignore_ascii_case(name)) {
                return Err(PyValueError::new_err(format!(
                    "header {name} is the handshake's own; it cannot be set"
                )));
            }
            extra.extend_from_slice(name.as_bytes());
            extra.extend_from_slice(b": ");
            extra.extend_from_slice(value.as_bytes());
            extra.extend_from_slice(b"\r\n");
        }
        match self.link.session.accept(subprotocol, &extra) {
            Ok(()) => Ok(()),
            Err(AcceptError::Subprotocol) => Err(PyValueError::new_err(format!(
                "subprotocol {:?} was not offered by the client (offered: {:?})",
                subprotocol.unwrap_or_default(),
                self.link.session.upgrade.subprotocols
            ))),
            Err(AcceptError::NotConnecting) => Err(PyRuntimeError::new_err(
                "the WebSocket was already accepted or is closed",
            )),
        }
    }

    /// The next message (`str` or `bytes`), the close code (`int`) once closed, or None.
    fn receive(&self, py: Python<'_>) -> PyObject {
        match self.link.session.receive() {
            Received::Message(Kind::Text, data) => {
                // SAFETY: the reader validated every text message as UTF-8 (reader.rs, 1007
                // otherwise) before it reached the inbox.
                let s = unsafe { std::str::from_utf8_unchecked(&data) };
                PyString::new(py, s).into_any().unbind()
            }
            Received::Message(Kind::Binary, data) => PyBytes::new(py, &data).into_any().unbind(),
            Received::Closed(code, _) => code
                .into_pyobject(py)
                .map_or_else(|_| py.None(), |c| c.into_any().unbind()),
            Received::Empty => py.None(),
        }
    }

    /// Resolves `future` once `receive` has something.
    fn wait_receive(&self, future: PyObject) {
        self.link.session.on_receive(self.wake(future));
    }

    /// Queues a message; False when the send queue is full (`wait_send`, then retry).
    fn send(&self, data: &Bound<'_, PyAny>) -> PyResult<bool> {
        let (kind, bytes) = message(data)?;
        self.link.session.send(kind, bytes).map_err(|code| {
            PyConnectionResetError::new_err(format!("the WebSocket is closed ({code})"))
        })
    }

    /// Resolves `future` once `send` has room (or the socket closed).
    fn wait_send(&self, future: PyObject) {
        self.link.session.on_send(self.wake(future));
    }

    /// Starts the close handshake.
    #[pyo3(signature = (code=1000, reason=""))]
    fn close(&self, code: u16, reason: &str) -> PyResult<()> {
        if !code_allowed(code) {
            return Err(PyValueError::new_err(format!(
                "close code {code} may not be sent (RFC 6455 §7.4): use 1000-1003, 1007-1014 or 3000-4999"
            )));
        }
        if reason.len() > MAX_REASON {
            return Err(PyValueError::new_err(format!(
                "a close reason holds at most {MAX_REASON} bytes of UTF-8, got {}",
                reason.len()
            )));
        }
        self.link.session.close(code, reason);
        Ok(())
    }

    /// This socket receives `Server.broadcast(topic, ...)`.
    fn subscribe(&self, topic: &str) {
        self.link.session.subscribe(topic);
    }

    /// This socket no longer receives broadcasts to `topic`.
    fn unsubscribe(&self, topic: &str) {
        self.link.session.unsubscribe(topic);
    }
}
