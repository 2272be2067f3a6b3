//! `covetpy._core.Server`: the route table and config handed over once, the Rust server, and
//! the per-batch dispatch the worker's event loop calls when the eventfd is readable.

use std::panic::AssertUnwindSafe;
use std::sync::{Arc, Mutex};

use pyo3::exceptions::PyRuntimeError;
use pyo3::ffi;
use pyo3::prelude::*;
use pyo3::types::PyTuple;

use crate::log::Level;
use crate::router::{RouteSpec, Router};
use crate::server::{self as core, Job};

use super::config;
use super::convert::{self, respond, Ctx, Responder};
use super::errors::{ConfigError, RouteError};
use super::queue::{Event, JobQueue};
use super::request::{param_to_py, Request, RequestData};
use super::runtime::Runtime;
use super::stream::resolve;

/// Where a handler's positional argument comes from.
enum Arg {
    /// The `Request` object.
    Request,
    /// The path parameter at this index.
    Path(usize),
}

/// A route's handler and its call plan, compiled once at start-up.
struct Endpoint {
    handler: PyObject,
    args: Vec<Arg>,
    wants_request: bool,
    names: Arc<[String]>,
}

/// The server as Python drives it (see `covetpy/server/worker.py`).
#[pyclass(module = "covetpy._core", frozen)]
pub struct Server {
    config: crate::config::ServerConfig,
    router: Arc<Router>,
    endpoints: Vec<Endpoint>,
    rt: Arc<Runtime>,
    queue: Arc<JobQueue>,
    running: Mutex<Option<core::Server>>,
    batch: Mutex<Vec<Event>>,
}

#[pymethods]
impl Server {
    /// `routes`: objects with `methods`, `path`, `endpoint` and `plan` (a list of
    /// `("request", None)` or `("path", name)` for each positional argument).
    #[new]
    fn new(
        config: &Bound<'_, PyAny>,
        routes: &Bound<'_, PyAny>,
        runtime: &Bound<'_, PyAny>,
    ) -> PyResult<Self> {
        let config = config::extract(config)?;
        let rt = Arc::new(Runtime::load(runtime)?);
        let mut specs = Vec::new();
        let mut defs = Vec::new();
        for (id, route) in routes.try_iter()?.enumerate() {
            let route = route?;
            let methods: Vec<String> = route.getattr("methods")?.extract()?;
            let path: String = route.getattr("path")?.extract()?;
            specs.push(RouteSpec {
                id,
                methods,
                path: path.clone(),
            });
            defs.push((
                path,
                route.getattr("endpoint")?.unbind(),
                route.getattr("plan")?,
            ));
        }
        let router = Router::new(&specs).map_err(|e| RouteError::new_err(e.to_string()))?;
        let mut endpoints = Vec::with_capacity(defs.len());
        for (id, (path, handler, plan)) in defs.into_iter().enumerate() {
            let names: Arc<[String]> = router.param_names(id).to_vec().into();
            let mut args = Vec::new();
            for item in plan.try_iter()? {
                let (kind, name): (String, Option<String>) = item?.extract()?;
                args.push(match (kind.as_str(), name) {
                    ("request", _) => Arg::Request,
                    ("path", Some(name)) => match names.iter().position(|n| *n == name) {
                        Some(i) => Arg::Path(i),
                        None => {
                            return Err(RouteError::new_err(format!(
                                "route {path}: no path parameter named {name:?}"
                            )))
                        }
                    },
                    (other, _) => {
                        return Err(RouteError::new_err(format!(
                            "route {path}: unknown argument source {other:?}"
                        )))
                    }
                });
            }
            let wants_request = args.iter().any(|a| matches!(a, Arg::Request));
            endpoints.push(Endpoint {
                handler,
                args,
                wants_request,
                names,
            });
        }
        let queue =
            Arc::new(JobQueue::new().map_err(|e| ConfigError::new_err(format!("eventfd: {e}")))?);
        Ok(Server {
            config,
            router: Arc::new(router),
            endpoints,
            rt,
            queue,
            running: Mutex::new(None),
            batch: Mutex::new(Vec::with_capacity(64)),
        })
    }

    /// Binds and starts the IO threads; returns the addresses listened on.
    fn start(&self) -> PyResult<Vec<String>> {
        let mut running = self.running.lock().unwrap_or_else(|p| p.into_inner());
        if running.is_some() {
            return Err(PyRuntimeError::new_err("server already started"));
        }
        let server =
            core::Server::start(self.config.clone(), self.router.clone(), self.queue.clone())
                .map_err(|e| {
                    ConfigError::new_err(format!("cannot listen on {:?}: {e}", self.config.bind))
                })?;
        let addresses = server.addresses().to_vec();
        *running = Some(server);
        Ok(addresses)
    }

    /// The eventfd to watch for readability (then call `dispatch`).
    fn fileno(&self) -> i32 {
        self.queue.fd()
    }

    /// Runs the handlers of every queued request; True once the server has stopped.
    fn dispatch(&self, py: Python<'_>) -> bool {
        let mut batch = std::mem::take(&mut *self.batch.lock().unwrap_or_else(|p| p.into_inner()));
        self.queue.take(&mut batch);
        for event in batch.drain(..) {
            match event {
                Event::Job(job) => {
                    // A panic in one request's conversion must not lose the rest of the batch;
                    // its reply is dropped while unwinding and the connection answers 500.
                    let r = std::panic::catch_unwind(AssertUnwindSafe(|| self.handle(py, job)));
                    if r.is_err() {
                        crate::log!(
                            Level::Error,
                            "panic while handling a request (answered 500)"
                        );
                    }
                }
                Event::Writable(fut) => {
                    if let Err(e) = resolve(py, &fut) {
                        e.print(py);
                    }
                }
            }
        }
        *self.batch.lock().unwrap_or_else(|p| p.into_inner()) = batch;
        self.queue.is_stopped()
    }

    /// Starts a graceful drain: stop accepting, finish in-flight requests, close idle
    /// connections. `dispatch` returns True when it is complete.
    fn begin_drain(&self) {
        if let Some(s) = self
            .running
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .as_ref()
        {
            s.begin_drain();
        }
    }

    /// Waits for the IO threads to exit, without holding the GIL.
    fn join(&self, py: Python<'_>) {
        let server = self
            .running
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take();
        if let Some(s) = server {
            py.allow_threads(|| s.join());
        }
    }

    /// Open connections now.
    #[getter]
    fn connections(&self) -> usize {
        self.running
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .as_ref()
            .map(|s| s.shared().connections())
            .unwrap_or(0)
    }
}

enum Step<'py> {
    Return(Bound<'py, PyAny>),
    Yield(Bound<'py, PyAny>),
}

/// Advances a coroutine by one step with `send(None)`, without raising StopIteration for
/// the common case of a handler that returns without suspending.
fn step<'py>(py: Python<'py>, coro: &Bound<'py, PyAny>) -> PyResult<Step<'py>> {
    let mut out: *mut ffi::PyObject = std::ptr::null_mut();
    // SAFETY: `coro` is a live coroutine (checked by the caller) and we hold the GIL;
    // PyIter_Send stores a new (owned) reference in `out` unless it returns PYGEN_ERROR.
    let r = unsafe { ffi::PyIter_Send(coro.as_ptr(), ffi::Py_None(), &mut out) };
    match r {
        // SAFETY: on RETURN/NEXT `out` is a new strong reference we now own.
        ffi::PySendResult::PYGEN_RETURN => {
            Ok(Step::Return(unsafe { Bound::from_owned_ptr(py, out) }))
        }
        // SAFETY: as above.
        ffi::PySendResult::PYGEN_NEXT => Ok(Step::Yield(unsafe { Bound::from_owned_ptr(py, out) })),
        ffi::PySendResult::PYGEN_ERROR => Err(PyErr::fetch(py)),
    }
}

fn is_coroutine(value: &Bound<'_, PyAny>) -> bool {
    // SAFETY: a type check on a live object while holding the GIL.
    unsafe { ffi::PyCoro_CheckExact(value.as_ptr()) != 0 }
}

impl Server {
    fn ctx(&self) -> convert::Ctx {
        Ctx {
            rt: self.rt.clone(),
            queue: self.queue.clone(),
        }
    }

    fn handle(&self, py: Python<'_>, job: Job) {
        let Job {
            head,
            body,
            route,
            params,
            peer,
            reply,
        } = job;
        let ep = &self.endpoints[route];
        let ctx = Ctx {
            rt: self.rt.clone(),
            queue: self.queue.clone(),
        };
        let result = (|| -> PyResult<Bound<'_, PyAny>> {
            let handler = ep.handler.bind(py);
            if ep.args.is_empty() {
                return handler.call0();
            }
            let mut values: Vec<Option<PyObject>> = Vec::with_capacity(ep.args.len());
            for a in &ep.args {
                values.push(match a {
                    Arg::Path(i) => Some(param_to_py(py, &self.rt, &params[*i])?),
                    Arg::Request => None,
                });
            }
            let request = if ep.wants_request {
                let data = RequestData {
                    head,
                    body,
                    params,
                    names: ep.names.clone(),
                    peer,
                };
                Some(Py::new(py, Request::new(data, self.rt.clone()))?.into_any())
            } else {
                None
            };
            let args = values.into_iter().map(|v| match v {
                Some(v) => v,
                None => request
                    .as_ref()
                    .map(|r| r.clone_ref(py))
                    .unwrap_or_else(|| py.None()),
            });
            handler.call1(PyTuple::new(py, args)?)
        })();
        let value = match result {
            Ok(v) if is_coroutine(&v) => match step(py, &v) {
                Ok(Step::Return(value)) => Ok(value),
                Ok(Step::Yield(yielded)) => {
                    // The handler awaits something real: finish it as a Task.
                    let responder = Responder::new(reply, self.ctx());
                    if let Err(e) = self.rt.resume.bind(py).call1((v, yielded, responder)) {
                        crate::log!(Level::Error, "cannot schedule handler: {e}");
                    }
                    return;
                }
                Err(e) => Err(e),
            },
            other => other,
        };
        respond(py, &ctx, reply, value);
    }
}

/// Panics inside the extension (for tests that check panics are contained).
#[pyfunction]
pub fn panic_for_test() {
    panic!("deliberate panic for a test");
}
