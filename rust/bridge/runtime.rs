//! The Python objects the bridge calls, looked up once at start-up from `covetpy._bridge`.

use pyo3::prelude::*;

use crate::mesh::forwarded::TrustPolicy;

/// Callables and types from the Python side of the bridge.
pub struct Runtime {
    /// `msgspec.json.Encoder().encode`.
    pub json_encode: PyObject,
    /// `msgspec.json.decode`.
    pub json_decode: PyObject,
    /// `covetpy.responses.Response`.
    pub response_type: PyObject,
    /// `start(coro, responder, job, loop)`: runs an async handler as a Task from its first step.
    pub start: PyObject,
    /// `render_exception(exc) -> Response`: HTTPException and friends to responses; logs others.
    pub render_exception: PyObject,
    /// `pump_stream(iterator, sender)`: schedules a Task that feeds a streamed body.
    pub pump_stream: PyObject,
    /// `bad_request(detail) -> HTTPException`.
    pub bad_request: PyObject,
    /// `uuid.UUID`.
    pub uuid: PyObject,
    /// `cancel(job_id, why)`: cancels a suspended handler whose answer is no longer awaited.
    pub cancel: PyObject,
    /// `is_disconnected(job_id) -> bool`.
    pub is_disconnected: PyObject,
    /// Whose forwarding headers `request.client`, `scheme`, `host` and `peer_identity` believe
    /// (`--trusted-proxies`, `--proxy-hops`; nobody by default).
    pub trust: TrustPolicy,
}

impl Runtime {
    /// Reads the attributes of the `covetpy._bridge` module (or anything shaped like it).
    pub fn load(obj: &Bound<'_, PyAny>) -> PyResult<Self> {
        let get = |name: &str| -> PyResult<PyObject> { Ok(obj.getattr(name)?.unbind()) };
        Ok(Runtime {
            json_encode: get("json_encode")?,
            json_decode: get("json_decode")?,
            response_type: get("Response")?,
            start: get("start")?,
            render_exception: get("render_exception")?,
            pump_stream: get("pump_stream")?,
            bad_request: get("bad_request")?,
            uuid: get("UUID")?,
            cancel: get("cancel")?,
            is_disconnected: get("is_disconnected")?,
            trust: TrustPolicy::none(),
        })
    }
}
