//! Streamed response bodies: a Python producer feeding a connection through a bounded channel.
//!
//! The producer (a Task on the worker's loop) calls `send`; when the channel is full it parks
//! an asyncio Future with `wait`, and the connection, after taking chunks, queues an event that
//! resolves that Future on the Python thread. No thread ever blocks and the IO thread never
//! touches the GIL.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use pyo3::exceptions::PyConnectionResetError;
use pyo3::prelude::*;
use tokio::sync::mpsc::{self, error::TrySendError};

use crate::protocol::response::{Chunk, OnSpace, StreamBody};

use super::queue::{Event, JobQueue};

/// Chunks in flight per stream: enough to keep a socket busy, small enough to bound memory
/// per slow client (16 chunks).
const CAPACITY: usize = 16;

/// The consumer's side of the wake-up.
pub struct Waker {
    waiting: AtomicBool,
    future: Mutex<Option<PyObject>>,
    queue: Arc<JobQueue>,
}

impl OnSpace for Waker {
    fn space(&self) {
        if self.waiting.swap(false, Ordering::AcqRel) {
            let fut = self.future.lock().unwrap_or_else(|p| p.into_inner()).take();
            if let Some(fut) = fut {
                self.queue.push(Event::Writable(fut));
            }
        }
    }
}

/// The producer's handle, given to `covetpy._bridge.pump_stream`.
#[pyclass(module = "covetpy._core", frozen)]
pub struct StreamSender {
    tx: Mutex<Option<mpsc::Sender<Chunk>>>,
    waker: Arc<Waker>,
}

/// A connected sender and the body to hand to the connection.
pub fn channel(queue: Arc<JobQueue>) -> (StreamSender, StreamBody) {
    let (tx, rx) = mpsc::channel(CAPACITY);
    let waker = Arc::new(Waker {
        waiting: AtomicBool::new(false),
        future: Mutex::new(None),
        queue,
    });
    let body = StreamBody {
        rx,
        on_space: Some(waker.clone() as Arc<dyn OnSpace>),
        trailers: None,
    };
    (
        StreamSender {
            tx: Mutex::new(Some(tx)),
            waker,
        },
        body,
    )
}

impl StreamSender {
    fn try_send(&self, chunk: Chunk) -> PyResult<bool> {
        let guard = self.tx.lock().unwrap_or_else(|p| p.into_inner());
        let Some(tx) = guard.as_ref() else {
            return Err(PyConnectionResetError::new_err("stream already finished"));
        };
        match tx.try_send(chunk) {
            Ok(()) => Ok(true),
            Err(TrySendError::Full(_)) => Ok(false),
            Err(TrySendError::Closed(_)) => {
                Err(PyConnectionResetError::new_err("client disconnected"))
            }
        }
    }
}

#[pymethods]
impl StreamSender {
    /// Queues a chunk; False when full (call `wait` and retry). Raises ConnectionResetError
    /// when the client has gone.
    fn send(&self, chunk: &[u8]) -> PyResult<bool> {
        if chunk.is_empty() {
            // An empty chunk would read as the last chunk (RFC 9112 §7.1).
            return Ok(true);
        }
        self.try_send(Chunk::Data(Bytes::copy_from_slice(chunk)))
    }

    /// Ends the body; False when full (call `wait` and retry).
    fn finish(&self) -> PyResult<bool> {
        let sent = self.try_send(Chunk::End)?;
        if sent {
            self.tx.lock().unwrap_or_else(|p| p.into_inner()).take();
        }
        Ok(sent)
    }

    /// Drops the stream without ending it: the connection is cut (the producer failed).
    fn abort(&self) {
        self.tx.lock().unwrap_or_else(|p| p.into_inner()).take();
    }

    /// Resolves `future` (an asyncio Future) once there is room again.
    fn wait(&self, py: Python<'_>, future: PyObject) -> PyResult<()> {
        *self.waker.future.lock().unwrap_or_else(|p| p.into_inner()) = Some(future);
        self.waker.waiting.store(true, Ordering::Release);
        let room = {
            let guard = self.tx.lock().unwrap_or_else(|p| p.into_inner());
            guard
                .as_ref()
                .map(|tx| tx.capacity() > 0 || tx.is_closed())
                .unwrap_or(true)
        };
        // The consumer may have made room before `waiting` was set; then nobody would wake us.
        if room && self.waker.waiting.swap(false, Ordering::AcqRel) {
            let fut = self
                .waker
                .future
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .take();
            if let Some(fut) = fut {
                resolve(py, &fut)?;
            }
        }
        Ok(())
    }
}

/// Completes a waiting Future unless it was cancelled meanwhile.
pub fn resolve(py: Python<'_>, fut: &PyObject) -> PyResult<()> {
    let fut = fut.bind(py);
    if !fut.call_method0("done")?.is_truthy()? {
        fut.call_method1("set_result", (py.None(),))?;
    }
    Ok(())
}
