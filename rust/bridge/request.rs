//! `covetpy.Request`: a lazy view of a request the IO thread parsed.
//!
//! Creating one costs one Python allocation; headers, query, path parameters and the body
//! become Python objects only when first touched, and are cached from then on.

use std::sync::{Arc, Mutex};

use bytes::Bytes;
use pyo3::prelude::*;
use pyo3::sync::GILOnceCell;
use pyo3::types::{PyBytes, PyDict, PyString};

use crate::io::Peer;
use crate::mesh::forwarded::{resolve_head, Origin};
use crate::mesh::trace::hex;
use crate::pipeline::{CallMeta, Param};
use crate::protocol::h1::{RequestHead, Version};
use crate::router::convert::percent_decode;

use super::awaitable::Ready;
use super::identity::PeerIdentity;
use super::multidict::{Headers, QueryParams};
use super::runtime::Runtime;

/// Everything of a request that Python may ask for.
pub struct RequestData {
    pub head: RequestHead,
    pub body: Bytes,
    pub params: Vec<Param>,
    pub names: Arc<[String]>,
    pub peer: Peer,
    /// The server's id of this request (for cancellation).
    pub id: u64,
    /// The `x-request-id` the RequestId middleware accepted or made.
    pub request_id: Option<Box<str>>,
    /// Its trace and deadline.
    pub call: CallMeta,
    /// The WebSocket an upgrade request to a WebSocket route opens.
    pub ws: Option<super::websocket::WsLink>,
    /// A mount's body as it arrives (None for every other route).
    pub pipe: Option<super::hosted::BodyLink>,
    /// The connection's TLS state (None in cleartext).
    pub secure: Option<Arc<crate::io::Secure>>,
    /// Trailer fields the client sent after the body (HTTP/2), as `name: value\r\n` lines.
    pub trailers: Option<Vec<u8>>,
    /// What authentication decided (None: the app declares no layers).
    pub auth: Option<AuthData>,
}

/// A refusal as Python's gate raises it: (status, reason, detail, WWW-Authenticate values).
type Refusal = (u16, &'static str, String, Vec<String>);

/// A request's authentication, for `request.auth` and Python's gate.
pub struct AuthData {
    /// The layers (to check the request again after a JWKS refresh).
    pub auth: Arc<crate::auth::Auth>,
    /// The route id (its policy).
    pub route: usize,
    /// What Rust verified.
    pub identity: Option<Arc<crate::auth::Identity>>,
    /// What Python must still decide.
    pub pending: Option<crate::auth::Pending>,
}

/// The request handed to handlers that ask for it by annotation.
#[pyclass(module = "covetpy._core", frozen)]
pub struct Request {
    data: RequestData,
    rt: Arc<Runtime>,
    headers: GILOnceCell<Py<Headers>>,
    query: GILOnceCell<Py<QueryParams>>,
    path_params: GILOnceCell<Py<PyDict>>,
    body: GILOnceCell<Py<PyBytes>>,
    /// `request.auth` once made or set (None inside: set to None).
    auth: Mutex<Option<PyObject>>,
    /// `request.state`, made on first use.
    state: GILOnceCell<PyObject>,
}

impl Request {
    /// Wraps a request's data.
    pub fn new(data: RequestData, rt: Arc<Runtime>) -> Self {
        Request {
            data,
            rt,
            headers: GILOnceCell::new(),
            query: GILOnceCell::new(),
            path_params: GILOnceCell::new(),
            body: GILOnceCell::new(),
            auth: Mutex::new(None),
            state: GILOnceCell::new(),
        }
    }

    fn cached_body<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        self.body
            .get_or_init(py, || PyBytes::new(py, &self.data.body).unbind())
            .bind(py)
            .clone()
    }
}

/// A path parameter as the Python value its converter promises.
pub fn param_to_py(py: Python<'_>, rt: &Runtime, p: &Param) -> PyResult<PyObject> {
    Ok(match p {
        Param::Str(s) | Param::Path(s) => PyString::new(py, s).into_any().unbind(),
        Param::Int(i) => i.into_pyobject(py)?.into_any().unbind(),
        Param::Float(f) => f.into_pyobject(py)?.into_any().unbind(),
        Param::Uuid(s) => rt.uuid.call1(py, (s.as_ref(),))?,
    })
}

impl Request {
    fn body_link(&self) -> PyResult<&super::hosted::BodyLink> {
        self.data.pipe.as_ref().ok_or_else(|| {
            pyo3::exceptions::PyRuntimeError::new_err(
                "only a mount's request streams its body (use body() or stream())",
            )
        })
    }
}

#[pymethods]
impl Request {
    /// The id the server names this request by in `_bridge.cancel(job, why)`.
    #[getter]
    fn job(&self) -> u64 {
        self.data.id
    }

    /// The ASGI scope of this request: a copy of `template` with the request's own keys set
    /// (`rust/bridge/hosted.rs`).
    fn asgi_scope<'py>(
        &self,
        py: Python<'py>,
        template: &Bound<'py, PyDict>,
    ) -> PyResult<Bound<'py, PyDict>> {
        // The trusted-proxy reading once for both `scheme` and `client`.
        let origin = self.origin();
        let (scheme, client) = match origin {
            Some(o) => (o.scheme, Some(o.client)),
            None => (None, None),
        };
        super::hosted::asgi_scope(
            py,
            template,
            &self.data.head,
            self.data.ws.is_some(),
            scheme.as_deref().unwrap_or(self.own_scheme()),
            &self.path(),
            client,
        )
    }

    /// A mount's next body chunk: `b""` once the body ended, None when nothing is there yet
    /// (`wait_chunk`, then again). ConnectionResetError when the body was cut.
    fn read_chunk<'py>(&self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyBytes>>> {
        self.body_link()?.read(py)
    }

    /// Resolves the asyncio `future` once `read_chunk` would not answer None.
    fn wait_chunk(&self, future: PyObject) -> PyResult<()> {
        self.body_link()?.wait(future);
        Ok(())
    }

    /// `read_chunk` for a worker thread: waits (without the GIL); `b""` at the end.
    fn read_chunk_blocking<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyBytes>> {
        self.body_link()?.read_blocking(py)
    }

    /// The app reads no more of the body: the server stops reading it (and closes the
    /// connection after the answer if some was left).
    fn discard_body(&self) -> PyResult<()> {
        self.body_link()?.pipe.discard();
        Ok(())
    }

    /// The WebSocket this upgrade request opens (None for every other request).
    #[getter]
    fn websocket(&self) -> Option<super::websocket::WsSession> {
        self.data.ws.clone().map(super::websocket::WsSession::new)
    }

    /// The request method, e.g. "GET".
    #[getter]
    fn method<'py>(&self, py: Python<'py>) -> Bound<'py, PyString> {
        PyString::new(py, self.data.head.method().as_str())
    }

    /// The percent-decoded path (the raw one if it does not decode to UTF-8).
    #[getter]
    fn path(&self) -> String {
        let raw = String::from_utf8_lossy(self.data.head.path());
        match percent_decode(&raw) {
            Some(p) => p.into_owned(),
            None => raw.into_owned(),
        }
    }

    /// The raw query string, without the `?`.
    #[getter]
    fn query_string(&self) -> String {
        String::from_utf8_lossy(self.data.head.query().unwrap_or_default()).into_owned()
    }

    /// "1.0" or "1.1".
    #[getter]
    fn http_version(&self) -> &'static str {
        match self.data.head.version() {
            Version::Http10 => "1.0",
            Version::Http11 => "1.1",
            Version::Http2 => "2",
        }
    }

    /// Headers, case-insensitive and multi-valued.
    #[getter]
    fn headers(&self, py: Python<'_>) -> PyResult<Py<Headers>> {
        self.headers
            .get_or_try_init(py, || {
                Py::new(py, Headers::from_raw(self.data.head.headers()))
            })
            .map(|h| h.clone_ref(py))
    }

    /// The first value of one header (case-insensitive), without building `headers`.
    #[pyo3(signature = (name, default=None))]
    fn header(&self, py: Python<'_>, name: &str, default: Option<PyObject>) -> PyObject {
        match self.data.head.header(name) {
            Some(v) => {
                let s: String = v.iter().map(|&c| c as char).collect();
                PyString::new(py, &s).into_any().unbind()
            }
            None => default.unwrap_or_else(|| py.None()),
        }
    }

    /// Query parameters, multi-valued.
    #[getter]
    fn query_params(&self, py: Python<'_>) -> PyResult<Py<QueryParams>> {
        self.query
            .get_or_try_init(py, || {
                Py::new(
                    py,
                    QueryParams::parse(self.data.head.query().unwrap_or_default()),
                )
            })
            .map(|q| q.clone_ref(py))
    }

    /// Path parameters by name, converted.
    #[getter]
    fn path_params(&self, py: Python<'_>) -> PyResult<Py<PyDict>> {
        self.path_params
            .get_or_try_init(py, || {
                let d = PyDict::new(py);
                for (name, p) in self.data.names.iter().zip(&self.data.params) {
                    d.set_item(name, param_to_py(py, &self.rt, p)?)?;
                }
                Ok::<_, PyErr>(d.unbind())
            })
            .map(|d| d.clone_ref(py))
    }

    /// The trace this request belongs to (32 lower-case hex digits): the caller's, from
    /// `traceparent` (or B3 when enabled), else a new one.
    #[getter]
    fn trace_id(&self) -> String {
        hex(&self.data.call.trace.trace_id)
    }

    /// This server's span of the request (16 hex digits), new for every request.
    #[getter]
    fn span_id(&self) -> String {
        hex(&self.data.call.trace.span_id)
    }

    /// The caller's span (16 hex digits), None when this server started the trace.
    #[getter]
    fn parent_span_id(&self) -> Option<String> {
        self.data.call.trace.parent_id.map(|p| hex(&p))
    }

    /// The `traceparent` for calls made while serving this request (this span their parent).
    #[getter]
    fn traceparent(&self) -> String {
        self.data.call.trace.traceparent()
    }

    /// Whether the trace is sampled (the caller's decision, or sampled when it is new).
    #[getter]
    fn sampled(&self) -> bool {
        self.data.call.trace.sampled()
    }

    /// The caller's `tracestate`, if valid (W3C Trace Context §3.3), passed on unchanged.
    #[getter]
    fn tracestate(&self) -> Option<String> {
        self.data
            .head
            .header("tracestate")
            .filter(|v| crate::mesh::trace::valid_tracestate(v))
            .map(|v| String::from_utf8_lossy(v).into_owned())
    }

    /// When the caller stops waiting, in `time.monotonic()` seconds: the smallest of
    /// `grpc-timeout`, `x-envoy-expected-rq-timeout-ms` and the route's timeout, counted from
    /// when the request head arrived. None without any.
    #[getter]
    fn deadline(&self) -> Option<f64> {
        let deadline = self.data.call.deadline()?;
        let now = std::time::Instant::now();
        let left = deadline.saturating_duration_since(now).as_secs_f64()
            - now.saturating_duration_since(deadline).as_secs_f64();
        Some(monotonic_now() + left)
    }

    /// Seconds left before the deadline (0.0 once passed), None without a deadline.
    fn remaining(&self) -> Option<f64> {
        let deadline = self.data.call.deadline()?;
        Some(
            deadline
                .saturating_duration_since(std::time::Instant::now())
                .as_secs_f64(),
        )
    }

    /// `(host, port)` of the client: the peer, or when the peer is a trusted proxy
    /// (`--trusted-proxies`), the client its `Forwarded`/`X-Forwarded-For` names. Port 0 when
    /// a proxy did not say. None on a Unix socket.
    #[getter]
    fn client(&self) -> Option<(String, u16)> {
        self.origin().map(|o| o.client)
    }

    /// `(host, port)` of the TCP peer itself (the proxy, behind one), None on a Unix socket.
    #[getter]
    fn peer(&self) -> Option<(String, u16)> {
        match &self.data.peer {
            Peer::Tcp(a) => Some((a.ip().to_string(), a.port())),
            Peer::Unix => None,
        }
    }

    /// The client's certificate as a trusted proxy checked it: the `x-forwarded-client-cert`
    /// element the nearest proxy added (Envoy with `forward_client_cert_details`). None when
    /// the peer is not a trusted proxy (the header is then anyone's to forge), or without a
    /// valid header.
    #[getter]
    fn peer_identity(&self, py: Python<'_>) -> PyResult<Option<Py<PeerIdentity>>> {
        // A client certificate this server verified itself (mTLS) comes first.
        if let Some(id) = self.data.secure.as_ref().and_then(|s| s.identity.clone()) {
            return Ok(Some(Py::new(py, PeerIdentity::new(id))?));
        }
        let Peer::Tcp(addr) = &self.data.peer else {
            return Ok(None);
        };
        let trust = &self.rt.trust;
        if trust.hops() == 0 || !trust.is_trusted(addr.ip()) {
            return Ok(None);
        }
        match self
            .data
            .head
            .header("x-forwarded-client-cert")
            .and_then(crate::mesh::xfcc::nearest)
        {
            Some(id) => Ok(Some(Py::new(py, PeerIdentity::new(id))?)),
            None => Ok(None),
        }
    }

    /// The trailer fields the client sent after the body, as `(name, value)` pairs with
    /// lower-case names (HTTP/2 requests; empty when there were none, and over HTTP/1.1).
    #[getter]
    fn trailers(&self) -> Vec<(String, String)> {
        let Some(block) = &self.data.trailers else {
            return Vec::new();
        };
        block
            .split(|&b| b == b'\n')
            .filter_map(|line| {
                let line = line.strip_suffix(b"\r").unwrap_or(line);
                let colon = line.iter().position(|&b| b == b':')?;
                Some((
                    String::from_utf8_lossy(&line[..colon]).into_owned(),
                    String::from_utf8_lossy(line[colon + 1..].trim_ascii()).into_owned(),
                ))
            })
            .collect()
    }

    /// The scheme the client used: a trusted proxy's `Forwarded: proto=` or
    /// `X-Forwarded-Proto`, else `http`.
    #[getter]
    fn scheme(&self) -> String {
        self.origin()
            .and_then(|o| o.scheme)
            .unwrap_or_else(|| self.own_scheme().to_owned())
    }

    /// The host the client asked for: a trusted proxy's `Forwarded: host=` or
    /// `X-Forwarded-Host`, else the request's own authority (`Host`).
    #[getter]
    fn host(&self) -> Option<String> {
        self.origin().and_then(|o| o.host).or_else(|| {
            self.data
                .head
                .host()
                .map(|h| String::from_utf8_lossy(h).into_owned())
        })
    }

    /// The whole body as bytes, synchronously (the server has already received it).
    #[getter]
    fn body_bytes<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        self.cached_body(py)
    }

    /// The body parsed as `application/x-www-form-urlencoded`.
    fn form_params(&self) -> QueryParams {
        QueryParams::parse(&self.data.body)
    }

    /// The whole body (awaitable; the server has already received it).
    fn body(&self, py: Python<'_>) -> Ready {
        Ready::new(py, self.cached_body(py).into_any().unbind())
    }

    /// The body decoded as JSON (awaitable); malformed JSON raises a 400 HTTPException.
    fn json(&self, py: Python<'_>) -> PyResult<Ready> {
        let body = self.cached_body(py);
        match self.rt.json_decode.call1(py, (body,)) {
            Ok(v) => Ok(Ready::new(py, v)),
            Err(e) => {
                let detail = format!("malformed JSON body: {}", e.value(py));
                Err(PyErr::from_value(
                    self.rt.bad_request.call1(py, (detail,))?.into_bound(py),
                ))
            }
        }
    }

    /// Who made the request (`covetpy.auth.Identity`), as an authentication layer verified
    /// it; None when anonymous or without layers. Python-verified layers set it.
    #[getter]
    fn get_auth(&self, py: Python<'_>) -> PyResult<PyObject> {
        let mut cell = self.auth.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(v) = &*cell {
            return Ok(v.clone_ref(py));
        }
        let value = match self
            .data
            .auth
            .as_ref()
            .and_then(|a| a.identity.as_ref().map(|id| (a, id)))
        {
            Some((a, id)) => Py::new(
                py,
                super::auth_identity::PyIdentity::new(id.clone(), a.auth.roles()),
            )?
            .into_any(),
            None => py.None(),
        };
        *cell = Some(value.clone_ref(py));
        Ok(value)
    }

    #[setter]
    fn set_auth(&self, value: PyObject) {
        *self.auth.lock().unwrap_or_else(|p| p.into_inner()) = Some(value);
    }

    /// Per-request state for middleware and dependencies (a `types.SimpleNamespace`).
    #[getter]
    fn state(&self, py: Python<'_>) -> PyResult<PyObject> {
        self.state
            .get_or_try_init(py, || {
                Ok::<_, PyErr>(
                    py.import("types")?
                        .getattr("SimpleNamespace")?
                        .call0()?
                        .unbind(),
                )
            })
            .map(|s| s.clone_ref(py))
    }

    /// What Python's authentication gate must still decide: None, `"python"` (a
    /// Python-verified layer's credential) or the index of the JWT layer whose JWKS must be
    /// refreshed.
    #[getter]
    fn auth_pending(&self, py: Python<'_>) -> PyResult<PyObject> {
        Ok(match self.data.auth.as_ref().and_then(|a| a.pending) {
            None => py.None(),
            Some(crate::auth::Pending::Python) => "python".into_pyobject(py)?.into_any().unbind(),
            Some(crate::auth::Pending::Refresh(i)) => i.into_pyobject(py)?.into_any().unbind(),
        })
    }

    /// Checks the request again (after a JWKS refresh): None when it may go on (then
    /// `request.auth` is what was verified), else the refusal as (status, reason, detail,
    /// WWW-Authenticate values).
    fn reauthenticate(&self, py: Python<'_>) -> PyResult<Option<Refusal>> {
        let Some(a) = &self.data.auth else {
            return Ok(None);
        };
        let outcome = a.auth.check(
            &self.data.head,
            a.route,
            std::time::Instant::now(),
            false,
            true,
        );
        match outcome {
            crate::auth::Outcome::Refused(f, by) => {
                let status = if f.forbidden() { 403 } else { 401 };
                Ok(Some((
                    status,
                    f.reason.label(),
                    f.description.clone(),
                    a.auth.challenges(&f, by),
                )))
            }
            crate::auth::Outcome::Verified(id) => {
                let value = Py::new(
                    py,
                    super::auth_identity::PyIdentity::new(id, a.auth.roles()),
                )?
                .into_any();
                *self.auth.lock().unwrap_or_else(|p| p.into_inner()) = Some(value);
                Ok(None)
            }
            crate::auth::Outcome::Anonymous | crate::auth::Outcome::Pending(_) => Ok(None),
        }
    }

    /// The request id given by the built-in RequestId middleware (None without it).
    #[getter]
    fn request_id(&self) -> Option<&str> {
        self.data.request_id.as_deref()
    }

    /// Whether the client went away while the handler ran (awaitable, like Starlette's). An
    /// async handler that suspends is also cancelled then; this lets cleanup code tell why.
    fn is_disconnected(&self, py: Python<'_>) -> PyResult<Ready> {
        let gone = self.rt.is_disconnected.call1(py, (self.data.id,))?;
        Ok(Ready::new(py, gone))
    }

    /// The body as an async iterator of bytes chunks.
    fn stream(&self, py: Python<'_>) -> BodyStream {
        let body = self.cached_body(py);
        BodyStream {
            chunk: std::sync::Mutex::new((!self.data.body.is_empty()).then(|| body.unbind())),
        }
    }

    fn __repr__(&self) -> String {
        format!(
            "<Request {} {}>",
            self.data.head.method().as_str(),
            String::from_utf8_lossy(self.data.head.target())
        )
    }
}

/// The async iterator behind `request.stream()`.
#[pyclass(module = "covetpy._core", frozen)]
pub struct BodyStream {
    chunk: std::sync::Mutex<Option<Py<PyBytes>>>,
}

#[pymethods]
impl BodyStream {
    fn __aiter__(slf: Py<Self>) -> Py<Self> {
        slf
    }

    fn __anext__(&self, py: Python<'_>) -> PyResult<Ready> {
        let next = self.chunk.lock().unwrap_or_else(|p| p.into_inner()).take();
        match next {
            Some(b) => Ok(Ready::new(py, b.into_any())),
            None => Err(pyo3::exceptions::PyStopAsyncIteration::new_err(())),
        }
    }
}

impl Request {
    /// The client as the trust policy sees it; None on a Unix socket.
    /// The scheme of the connection itself: https when it is TLS.
    fn own_scheme(&self) -> &'static str {
        if self.data.secure.is_some() {
            "https"
        } else {
            "http"
        }
    }

    fn origin(&self) -> Option<Origin> {
        let Peer::Tcp(addr) = &self.data.peer else {
            return None;
        };
        Some(resolve_head(
            &self.rt.trust,
            (addr.ip(), addr.port()),
            &self.data.head,
        ))
    }
}

/// `time.monotonic()` now: CLOCK_MONOTONIC, the clock Python's `time.monotonic` reads on Linux.
fn monotonic_now() -> f64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec; CLOCK_MONOTONIC always exists on Linux.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    ts.tv_sec as f64 + ts.tv_nsec as f64 * 1e-9
}
