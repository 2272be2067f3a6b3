//! `covetpy._core.Server`: the route table and config handed over once, the Rust server, and
//! the per-batch dispatch the worker's event loop calls when the eventfd is readable.

use std::panic::AssertUnwindSafe;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use pyo3::exceptions::PyRuntimeError;
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;

use crate::metrics::Registry;

use crate::log::Level;
use crate::pipeline::RouteKind;
use crate::router::{Mount, RouteSpec, Router};
use crate::server::{self as core, Dispatch};

use super::call::{Arg, Endpoint, Handlers, InlineDispatch};
use super::config;
use super::convert;
use super::errors::{route_error, ConfigError, RouteError};
use super::fields::Fields;
use super::queue::{Event, JobQueue, RouteTimeout};
use super::runtime::Runtime;
use super::stream::resolve;

/// The server as Python drives it (see `covetpy/server/worker.py`).
#[pyclass(module = "covetpy._core", frozen)]
pub struct Server {
    config: crate::config::ServerConfig,
    router: Arc<Router>,
    handlers: Arc<Handlers>,
    inline: bool,
    running: Mutex<Option<core::Server>>,
    batch: Mutex<Vec<Event>>,
    pipeline: Arc<crate::middleware::Pipeline>,
    shared: std::sync::OnceLock<Arc<core::Shared>>,
    metrics: Option<Arc<Registry>>,
    /// The authentication layers and route policies (None: none declared).
    auth: Option<Arc<crate::auth::Auth>>,
    /// How long the Python thread polls for the next request after a sync batch (zero: not
    /// at all); see `dispatch`.
    python_poll: Duration,
}

/// The Python thread polls after a batch only when it was this small (`dispatch`): under
/// load, batches are larger (8 per wake-up at 64 connections) and the thread would not sleep
/// anyway; polling there took the jobs one by one, measured 94–96k against 110–122k req/s.
const LIGHT_BATCH: usize = 2;

#[pymethods]
impl Server {
    /// `config`: a `covetpy.config.ServerConfig`; `routes`: `covetpy._bridge.RouteEntry`s;
    /// `runtime`: a `covetpy._bridge.Runtime` (designs/bridge.md lists every field). A missing
    /// or ill-typed field raises `ConfigError` naming it.
    #[new]
    fn new(
        config: &Bound<'_, PyAny>,
        routes: &Bound<'_, PyAny>,
        runtime: &Bound<'_, PyAny>,
    ) -> PyResult<Self> {
        let fields = Fields::new(config, "ServerConfig");
        let inline = match fields.get::<String>("bridge", "str")?.as_str() {
            "batched" => false,
            "inline" => true,
            other => {
                return Err(ConfigError::new_err(format!(
                    "bridge must be batched or inline, not {other:?}"
                )))
            }
        };
        let trust = config::trust(config)?;
        let metrics_dir: Option<String> = fields.get("metrics_dir", "str or None")?;
        let config = config::extract(config)?;
        let pipeline = Arc::new(super::middleware::pipeline(runtime, &trust)?);
        let rt = Arc::new(Runtime::load(runtime, trust)?);
        let mut specs = Vec::new();
        let mut defs = Vec::new();
        let mut fixed = Vec::new();
        let mut timeouts = Vec::new();
        let mut kinds = Vec::new();
        let mut mounts = Vec::new();
        let mut labels = Vec::new();
        let mut policies = Vec::new();
        for (id, route) in routes.try_iter()?.enumerate() {
            let route = route?;
            let owner = format!("route table entry {id}");
            let f = Fields::new(&route, &owner);
            let methods: Vec<String> = f.get("methods", "a tuple of str")?;
            let path: String = f.get("path", "str")?;
            // None is the server's `request_timeout`: written out, never a missing field.
            let timeout: Option<f64> = f.get("timeout", "float or None")?;
            timeouts.push(match timeout {
                None => RouteTimeout::Default,
                Some(0.0) => RouteTimeout::Unlimited,
                Some(t) => RouteTimeout::After(Duration::try_from_secs_f64(t).map_err(|_| {
                    RouteError::new_err(format!("route {path}: timeout must be >= 0, got {t}"))
                })?),
            });
            let fixed_obj = f.any("fixed")?;
            fixed.push(if fixed_obj.is_none() {
                None
            } else if fixed_obj.is_instance(rt.response_type.bind(routes.py()))? {
                Some(convert::fixed_response(&fixed_obj)?)
            } else {
                return Err(f.ill_typed("fixed", "Response or None", &fixed_obj));
            });
            let endpoint = f.any("endpoint")?;
            if !endpoint.is_callable() {
                return Err(f.ill_typed("endpoint", "callable", &endpoint));
            }
            let plan: Vec<(String, Option<String>)> =
                f.get("plan", "a tuple of (str, str or None)")?;
            let websocket = f.get::<bool>("websocket", "bool")?;
            let mount = f.get::<bool>("mount", "bool")?;
            kinds.push(match (websocket, mount) {
                (_, true) => RouteKind::Mount,
                (true, false) => RouteKind::WebSocket,
                (false, false) => RouteKind::Http,
            });
            if mount {
                // Every request under the prefix that no route takes: methods do not apply.
                labels.push(if path.is_empty() {
                    "/".into()
                } else {
                    path.clone()
                });
                mounts.push(Mount {
                    id,
                    prefix: path.clone(),
                });
            } else {
                labels.push(route_label(&path));
                specs.push(RouteSpec {
                    id,
                    methods,
                    path: path.clone(),
                });
            }
            policies.push(super::auth::policy(&f.any("auth")?)?);
            defs.push((path, endpoint.unbind(), plan));
        }
        if inline && kinds.iter().any(|k| *k != RouteKind::Http) {
            // The inline bridge steps a handler's coroutine once and answers 500 if it
            // suspends; a WebSocket handler always does.
            return Err(ConfigError::new_err(
                "WebSocket routes and mounts need bridge=batched (the inline bridge cannot \
                 run a handler that waits)",
            ));
        }
        let router =
            Router::with_mounts(&specs, &mounts).map_err(|e| route_error(routes.py(), &e))?;
        // Created here, in the worker process: a registry must never cross a fork.
        let metrics = match &metrics_dir {
            Some(dir) => {
                let registry = Registry::create(std::path::Path::new(dir), &labels)
                    .map_err(|e| ConfigError::new_err(format!("metrics directory {dir}: {e}")))?;
                Some(Arc::new(registry))
            }
            None => None,
        };
        let auth = super::auth::auth(runtime, policies)?;
        let mut endpoints = Vec::with_capacity(defs.len());
        for (id, (path, handler, plan)) in defs.into_iter().enumerate() {
            let names: Arc<[String]> = router.param_names(id).to_vec().into();
            let mut args = Vec::new();
            for (kind, name) in plan {
                args.push(match (kind.as_str(), name) {
                    ("request", _) => Arg::Request,
                    ("auth", _) => Arg::Auth,
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
            let mount = kinds[id] == RouteKind::Mount;
            if mount && !args.is_empty() {
                return Err(RouteError::new_err(format!(
                    "mount {path:?}: a mount's plan is empty (it is called with the request \
                     and its responder)"
                )));
            }
            let wants_request = mount || args.iter().any(|a| matches!(a, Arg::Request));
            endpoints.push(Endpoint {
                handler,
                args,
                wants_request,
                names,
                mount,
            });
        }
        let queue = Arc::new(
            JobQueue::new(fixed, timeouts, kinds)
                .map_err(|e| ConfigError::new_err(format!("eventfd: {e}")))?,
        );
        // Confined to one CPU, the Python thread would poll on the CPU the IO thread needs to
        // send the answers it just got and to read the next request.
        let many_cpus = std::thread::available_parallelism().is_ok_and(|n| n.get() > 1);
        let python_poll = if many_cpus && !inline {
            config.busy_poll
        } else {
            Duration::ZERO
        };
        Ok(Server {
            python_poll,
            config,
            router: Arc::new(router),
            handlers: Arc::new(Handlers {
                endpoints,
                rt,
                queue,
                metrics: metrics.clone(),
                event_loop: Default::default(),
                auth: auth.clone(),
            }),
            auth,
            metrics,
            inline,
            running: Mutex::new(None),
            batch: Mutex::new(Vec::with_capacity(64)),
            pipeline,
            shared: std::sync::OnceLock::new(),
        })
    }

    /// Binds and starts the IO threads; returns the addresses listened on.
    fn start(&self) -> PyResult<Vec<String>> {
        let mut running = self.running.lock().unwrap_or_else(|p| p.into_inner());
        if running.is_some() {
            return Err(PyRuntimeError::new_err("server already started"));
        }
        let server = core::Server::start(
            self.config.clone(),
            self.router.clone(),
            self.dispatcher(),
            self.pipeline.clone(),
            self.auth.clone(),
            self.metrics.clone(),
        )
        .map_err(|e| {
            ConfigError::new_err(format!("cannot listen on {:?}: {e}", self.config.bind))
        })?;
        let addresses = server.addresses().to_vec();
        let _ = self.shared.set(server.shared().clone());
        *running = Some(server);
        Ok(addresses)
    }

    /// Queues a message on every WebSocket of this worker subscribed to `topic` (text for
    /// str, binary for bytes); the frame is encoded once. Returns how many sockets it went to.
    ///
    /// With `defer`, the subscribers' sockets are written only at `wake_broadcasts()`: call it
    /// once after a burst of broadcasts (`App.broadcast` does, once per event-loop turn).
    #[pyo3(signature = (topic, data, defer=false))]
    fn broadcast(&self, topic: &str, data: &Bound<'_, PyAny>, defer: bool) -> PyResult<usize> {
        let (kind, bytes) = super::websocket::message(data)?;
        let Some(s) = self.shared.get() else {
            return Ok(0);
        };
        let (queued, dropped) = s.hub.broadcast(topic, kind, bytes, defer);
        if let Some(m) = &s.metrics {
            m.ws_dropped(dropped);
        }
        Ok(queued)
    }

    /// Wakes the sockets deferred broadcasts queued messages on; returns how many.
    fn wake_broadcasts(&self) -> usize {
        self.shared.get().map_or(0, |s| s.hub.wake())
    }

    /// The eventfd to watch for readability (then call `dispatch`).
    fn fileno(&self) -> i32 {
        self.handlers.queue.fd()
    }

    /// Runs the handlers of every queued request; True once the server has stopped.
    ///
    /// With `busy_poll` (and a worker free to run on more than one CPU), a light batch (at
    /// most `LIGHT_BATCH` events) of sync handlers only is followed by one poll for the next
    /// request, without the GIL, before the event loop gets control back: the Python thread
    /// then need not be woken on an idle CPU for it (~30 µs on this VM). One poll per call,
    /// so the loop's own work (a streamed body's pump among it) waits at most one window and
    /// one batch.
    fn dispatch(&self, py: Python<'_>) -> bool {
        let (all_sync, jobs) = self.dispatch_batch(py);
        if all_sync && jobs <= LIGHT_BATCH && !self.python_poll.is_zero() {
            let window = self.python_poll;
            let queue = &self.handlers.queue;
            if py.allow_threads(|| queue.poll_for_event(window)) {
                self.dispatch_batch(py);
            }
        }
        self.handlers.queue.is_stopped()
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

    /// Marks the application started: `/startupz` answers 200 from now on.
    fn set_started(&self) {
        if let Some(s) = self.shared.get() {
            s.set_started();
        }
    }

    /// Sets readiness (`/readyz`); `reason` says what fails while not ready. Cleared first
    /// thing on shutdown, so a proxy stops routing here during the pre-stop delay.
    #[pyo3(signature = (ready, reason = ""))]
    fn set_ready(&self, ready: bool, reason: &str) {
        if let Some(s) = self.shared.get() {
            s.set_ready(ready, reason);
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

    /// Counters since start: `batches` (wake-ups of the Python thread that found work),
    /// `events` (requests and stream wake-ups handled in them) and `requests` (requests
    /// handed to handlers; answers given in Rust, such as static routes, are not counted) and
    /// `refused` (requests answered 503 by admission control).
    fn stats(&self) -> std::collections::HashMap<&'static str, u64> {
        let (batches, events, requests) = self.handlers.queue.stats();
        // Kept past join(): the worker reads the counters after the server has stopped.
        let refused = self.shared.get().map_or(0, |s| s.gate.refused() as u64);
        std::collections::HashMap::from([
            ("batches", batches),
            ("events", events),
            ("requests", requests),
            ("refused", refused),
        ])
    }

    /// The IO driver of the running server, `"epoll"` or `"uring"`; None before `start`.
    #[getter]
    fn io_driver(&self) -> Option<&'static str> {
        self.running
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .as_ref()
            .map(|s| s.driver().name())
    }

    /// Replaces the JWKS of JWT layer `index` (a refresh by `covetpy.auth.jwks`); a document
    /// with no usable key raises `ValueError` and keeps the keys it had.
    fn set_jwks(&self, index: usize, document: &[u8]) -> PyResult<usize> {
        let jwt = self
            .auth
            .as_ref()
            .and_then(|a| a.jwt(index))
            .ok_or_else(|| {
                PyValueError::new_err(format!("auth layer {index} is not a JWT layer"))
            })?;
        let set = crate::auth::keys::KeySet::from_jwks(document).map_err(PyValueError::new_err)?;
        let n = set.len();
        jwt.keys.replace(set);
        Ok(n)
    }

    /// Counts a refusal Python decided (`covetpy_auth_failures_total{reason}`).
    fn count_auth_failure(&self, reason: &str) {
        if let Some(m) = &self.metrics {
            m.auth_failure(crate::metrics::AuthFailure::from_label(reason));
        }
    }

    /// The built-in middleware, outermost first (names).
    #[getter]
    fn native_middleware(&self) -> Vec<String> {
        self.pipeline.names()
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

impl Server {
    /// Runs one batch (every queued event); whether it was sync handlers only (no Task for an
    /// async handler, no stream room or cancellation to serve), and how many events it had.
    fn dispatch_batch(&self, py: Python<'_>) -> (bool, usize) {
        let mut batch = std::mem::take(&mut *self.batch.lock().unwrap_or_else(|p| p.into_inner()));
        self.handlers.queue.take(&mut batch);
        let mut all_sync = true;
        let events = batch.len();
        // Replies go out together after the batch: sent one by one, each would wake the IO
        // thread, which then competes with this thread for the CPU between handlers.
        let mut replies = Vec::with_capacity(batch.len());
        for event in batch.drain(..) {
            match event {
                Event::Job(job) => {
                    // A panic in one request's conversion must not lose the rest of the batch;
                    // its reply is dropped while unwinding and the connection answers 500.
                    let r = std::panic::catch_unwind(AssertUnwindSafe(|| {
                        self.handlers.handle(py, job, true)
                    }));
                    match r {
                        Ok(Some(done)) => replies.push(done),
                        Ok(None) => all_sync = false, // a Task now runs on the loop
                        Err(_) => {
                            crate::log!(
                                Level::Error,
                                "panic while handling a request (answered 500)"
                            )
                        }
                    }
                }
                Event::Writable(fut) => {
                    all_sync = false;
                    if let Err(e) = resolve(py, &fut) {
                        e.print(py);
                    }
                }
                Event::Cancel(id, why) => {
                    all_sync = false;
                    if let Err(e) = self.handlers.rt.cancel.call1(py, (id, why.as_str())) {
                        e.print(py);
                    }
                }
            }
        }
        for (reply, response) in replies {
            let _ = reply.send(response);
        }
        *self.batch.lock().unwrap_or_else(|p| p.into_inner()) = batch;
        (all_sync, events)
    }

    fn dispatcher(&self) -> Arc<dyn Dispatch> {
        if self.inline {
            Arc::new(InlineDispatch(self.handlers.clone()))
        } else {
            self.handlers.queue.clone()
        }
    }
}

/// Panics inside the extension (for tests that check panics are contained).
#[pyfunction]
pub fn panic_for_test() {
    panic!("deliberate panic for a test");
}

/// The `http.route` label of a route: its template without converters
/// (`/users/{id:int}` → `/users/{id}`), as OpenTelemetry's semantic conventions write it.
fn route_label(path: &str) -> String {
    let mut out = String::with_capacity(path.len());
    let mut in_param = false;
    let mut skipping = false;
    for c in path.chars() {
        match c {
            '{' => {
                in_param = true;
                out.push(c);
            }
            '}' => {
                in_param = false;
                skipping = false;
                out.push(c);
            }
            ':' if in_param => skipping = true,
            _ if skipping => {}
            _ => out.push(c),
        }
    }
    out
}

/// Marks the metrics file of dead worker `pid` in `directory` closed (its in-flight gauge no
/// longer counts, even if the pid is reused); False if it has none.
#[pyfunction]
pub fn metrics_mark_closed(directory: &str, pid: u32) -> PyResult<bool> {
    crate::metrics::mark_closed(std::path::Path::new(directory), pid)
        .map_err(|e| pyo3::exceptions::PyOSError::new_err(format!("{directory}: {e}")))
}

/// Prometheus text of the request metrics of every worker writing to `directory`.
#[pyfunction]
pub fn metrics_scrape(py: Python<'_>, directory: &str) -> PyResult<String> {
    let dir = std::path::PathBuf::from(directory);
    py.allow_threads(|| crate::metrics::scrape(&dir))
        .map_err(|e| pyo3::exceptions::PyOSError::new_err(format!("{directory}: {e}")))
}
