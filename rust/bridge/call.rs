//! Calling a route's handler with its planned arguments and turning the outcome into a
//! response. Used by both dispatch paths: the batched queue (the default) and the inline
//! experiment (see adrs/0002).

use std::sync::Arc;

use pyo3::exceptions::PyRuntimeError;
use pyo3::ffi;
use pyo3::prelude::*;
use pyo3::types::PyTuple;

use crate::log::Level;
use crate::pipeline::{BodyPipe, Dispatch, Job, Reply};
use crate::protocol::response::Response;

use super::convert::{self, finish, Ctx, Responder};
use super::queue::JobQueue;
use super::request::{param_to_py, Request, RequestData};
use super::runtime::Runtime;

/// Where a handler's positional argument comes from.
pub enum Arg {
    /// The `Request` object.
    Request,
    /// The path parameter at this index.
    Path(usize),
    /// `request.auth` as verified in Rust (`Annotated[Identity, Auth()]`): 401 without one.
    Auth,
}

/// A route's handler and its call plan, compiled once at start-up.
pub struct Endpoint {
    pub handler: PyObject,
    pub args: Vec<Arg>,
    pub wants_request: bool,
    pub names: Arc<[String]>,
    /// A mount (a hosted ASGI or WSGI app): called as `handler(request, responder)`, it
    /// answers through the responder when it is ready (an ASGI app's background work may
    /// go on after its answer), and its return value is ignored.
    pub mount: bool,
}

enum Step<'py> {
    Return(Bound<'py, PyAny>),
    /// It suspended (what it yielded is dropped: only the inline bridge steps coroutines,
    /// and it refuses those that suspend).
    Yield,
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
        ffi::PySendResult::PYGEN_NEXT => {
            drop(unsafe { Bound::from_owned_ptr(py, out) });
            Ok(Step::Yield)
        }
        ffi::PySendResult::PYGEN_ERROR => Err(PyErr::fetch(py)),
    }
}

fn is_coroutine(value: &Bound<'_, PyAny>) -> bool {
    // SAFETY: a type check on a live object while holding the GIL.
    unsafe { ffi::PyCoro_CheckExact(value.as_ptr()) != 0 }
}

/// Everything needed to run handlers, shared by the dispatch paths.
pub struct Handlers {
    /// One per route id.
    pub endpoints: Vec<Endpoint>,
    /// Python callables of the bridge.
    pub rt: Arc<Runtime>,
    /// The hand-off queue (streamed bodies wake their producers through it).
    pub queue: Arc<JobQueue>,
    /// Request metrics (`--metrics`): the wait for the GIL is recorded here.
    pub metrics: Option<Arc<crate::metrics::Registry>>,
    /// The event loop the handlers run in, looked up at the first async handler: a server
    /// is dispatched from one loop's thread. (`asyncio.get_running_loop()` makes a getpid
    /// system call each time, to notice a fork: 2.5% of the Python thread's time per request
    /// before this, `perf record` on benches/apps/async_covetpy.py.)
    pub event_loop: std::sync::OnceLock<PyObject>,
    /// The authentication layers (None: none declared).
    pub auth: Option<Arc<crate::auth::Auth>>,
}

impl Handlers {
    fn event_loop<'py>(&self, py: Python<'py>) -> PyResult<&Bound<'py, PyAny>> {
        if let Some(lp) = self.event_loop.get() {
            return Ok(lp.bind(py));
        }
        let lp = py
            .import("asyncio")?
            .getattr("get_running_loop")?
            .call0()?
            .unbind();
        Ok(self.event_loop.get_or_init(|| lp).bind(py))
    }

    fn ctx(&self) -> convert::Ctx {
        Ctx {
            rt: self.rt.clone(),
            queue: self.queue.clone(),
        }
    }

    /// Runs the handler of one job. Returns the reply and response when they are ready now
    /// (the caller sends it, possibly with others), or None when a Task will send it later.
    pub fn handle(&self, py: Python<'_>, job: Job, can_suspend: bool) -> Option<(Reply, Response)> {
        let Job {
            head,
            body,
            route,
            params,
            peer,
            reply,
            id,
            request_id,
            call,
            queued,
            ws,
            pipe,
            secure,
            trailers,
            identity,
            pending,
        } = job;
        if let (Some(m), Some(q)) = (&self.metrics, queued) {
            m.gil_wait(q.elapsed());
        }
        let ep = &self.endpoints[route];
        let ctx = Ctx {
            rt: self.rt.clone(),
            queue: self.queue.clone(),
        };
        let mut reply = Some(reply);
        let result = (|| -> PyResult<Bound<'_, PyAny>> {
            let handler = ep.handler.bind(py);
            if ep.args.is_empty() && !ep.mount && pending.is_none() {
                return handler.call0();
            }
            let mut values: Vec<Option<PyObject>> = Vec::with_capacity(ep.args.len());
            for a in &ep.args {
                values.push(match a {
                    Arg::Path(i) => Some(param_to_py(py, &self.rt, &params[*i])?),
                    Arg::Request => None,
                    Arg::Auth => Some(match (&identity, &self.auth) {
                        (Some(id), Some(auth)) => Py::new(
                            py,
                            super::auth_identity::PyIdentity::new(id.clone(), auth.roles()),
                        )?
                        .into_any(),
                        // The gate fills it in once Python has decided.
                        _ if pending.is_some() => py.None(),
                        _ => return Err(anonymous(py, self.auth.as_deref())),
                    }),
                });
            }
            let request = if ep.wants_request || pending.is_some() {
                // A mount reads every body through a pipe: one already whole when it was
                // read before dispatch (no body, or a WebSocket upgrade).
                let link = ep.mount.then(|| super::hosted::BodyLink {
                    pipe: pipe.unwrap_or_else(|| Arc::new(BodyPipe::complete(body.clone()))),
                    queue: self.queue.clone(),
                });
                let data = RequestData {
                    head,
                    body,
                    params,
                    names: ep.names.clone(),
                    peer,
                    id,
                    request_id,
                    call,
                    ws: ws.map(|session| super::websocket::WsLink {
                        session,
                        queue: self.queue.clone(),
                    }),
                    pipe: link,
                    secure,
                    trailers,
                    auth: self.auth.as_ref().map(|a| super::request::AuthData {
                        auth: a.clone(),
                        route,
                        identity,
                        pending,
                    }),
                };
                Some(Py::new(py, Request::new(data, self.rt.clone()))?.into_any())
            } else {
                None
            };
            if ep.mount {
                let responder = reply.take().map(|r| Responder::new(r, self.ctx()));
                return handler.call1((request, responder));
            }
            let args = values.into_iter().map(|v| match v {
                Some(v) => v,
                None => request
                    .as_ref()
                    .map(|r| r.clone_ref(py))
                    .unwrap_or_else(|| py.None()),
            });
            let args = PyTuple::new(py, args)?;
            if let (Some(p), Some(r)) = (pending, &request) {
                // Python still decides who this is (a Python-verified layer, or a JWKS
                // refresh): its gate runs first, then the handler.
                let _ = p;
                // Where `Annotated[Identity, Auth()]` arguments go: the gate fills them in.
                let slots: Vec<usize> = ep
                    .args
                    .iter()
                    .enumerate()
                    .filter(|(_, a)| matches!(a, Arg::Auth))
                    .map(|(i, _)| i)
                    .collect();
                return self.rt.auth_gate.bind(py).call1((
                    r.clone_ref(py),
                    route,
                    handler,
                    args,
                    slots,
                ));
            }
            handler.call1(args)
        })();
        let Some(reply) = reply else {
            // A mount answers through its responder; one that raised before it could is
            // answered 500 when the responder it never used is dropped.
            if let Err(e) = result {
                crate::log!(Level::Error, "mounted app failed to start a request: {e}");
            }
            return None;
        };
        let value = match result {
            Ok(v) if can_suspend && is_coroutine(&v) => {
                // A Task from the first step: code that asks for the current task (asyncio
                // timeouts, anyio cancel scopes, so httpx) works before the first await too
                // (adrs/0008).
                let responder = Responder::new(reply, self.ctx());
                let started = self
                    .event_loop(py)
                    .and_then(|lp| self.rt.start.bind(py).call1((v, responder, id, lp)));
                if let Err(e) = started {
                    crate::log!(Level::Error, "cannot schedule handler: {e}");
                }
                return None;
            }
            Ok(v) if is_coroutine(&v) => match step(py, &v) {
                Ok(Step::Return(value)) => Ok(value),
                Ok(Step::Yield) => Err(PyRuntimeError::new_err(
                    "the inline bridge runs no event loop; this handler awaited something",
                )),
                Err(e) => Err(e),
            },
            other => other,
        };
        Some((reply, finish(py, &ctx, value)))
    }
}

/// The measured alternative to the batched queue: the IO thread takes the GIL and calls the
/// handler itself, once per request. Handlers that suspend cannot run here (no event loop on
/// the IO thread); they get a 500. Kept for `benches/` and ADR 0002, not for production.
pub struct InlineDispatch(pub Arc<Handlers>);

impl Dispatch for InlineDispatch {
    fn dispatch(&self, job: Job) {
        self.0.queue.count_request();
        Python::with_gil(|py| {
            if let Some((reply, response)) = self.0.handle(py, job, false) {
                let _ = reply.send(response);
            }
        });
    }

    fn stopped(&self) {
        self.0.queue.stopped();
    }
}

/// The 401 of a handler that takes `Annotated[Identity, Auth()]` called without an identity
/// (a public route, or an optional layer): `covetpy.auth.AuthFailed`, rendered like any.
fn anonymous(py: Python<'_>, auth: Option<&crate::auth::Auth>) -> PyErr {
    let failure = crate::auth::Failure::new(
        crate::metrics::AuthFailure::Missing,
        "authentication required",
    );
    let challenge = auth
        .and_then(|a| a.challenges(&failure, None).into_iter().next())
        .unwrap_or_else(|| "Bearer".into());
    match py
        .import("covetpy.auth.errors")
        .and_then(|m| m.getattr("AuthFailed"))
        .and_then(|cls| cls.call1(("missing", &failure.description, challenge)))
    {
        Ok(exc) => PyErr::from_value(exc),
        Err(e) => e,
    }
}
