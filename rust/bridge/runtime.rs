//! The Python objects the bridge calls, read once at start-up from `covetpy._bridge.Runtime`
//! (what `App.runtime()` returns).

use pyo3::prelude::*;

use crate::mesh::forwarded::TrustPolicy;

use super::fields::Fields;

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
    /// `auth_gate(request, route, handler, args)`: the coroutine that runs what Python still
    /// decides about authentication (`covetpy.auth.gate`), then the handler.
    pub auth_gate: PyObject,
    /// Whose forwarding headers `request.client`, `scheme`, `host` and `peer_identity` believe
    /// (`--trusted-proxies`, `--proxy-hops`; nobody by default).
    pub trust: TrustPolicy,
}

impl Runtime {
    /// Reads the fields of a `covetpy._bridge.Runtime`: each must be there and callable (a
    /// type is); `trust` comes from the config.
    pub fn load(obj: &Bound<'_, PyAny>, trust: TrustPolicy) -> PyResult<Self> {
        let f = Fields::new(obj, "runtime");
        let get = |name: &str| -> PyResult<PyObject> {
            let v = f.any(name)?;
            if !v.is_callable() {
                return Err(f.ill_typed(name, "callable", &v));
            }
            Ok(v.unbind())
        };
        Ok(Runtime {
            json_encode: get("json_encode")?,
            json_decode: get("json_decode")?,
            response_type: get("response_type")?,
            start: get("start")?,
            render_exception: get("render_exception")?,
            pump_stream: get("pump_stream")?,
            bad_request: get("bad_request")?,
            uuid: get("uuid")?,
            cancel: get("cancel")?,
            is_disconnected: get("is_disconnected")?,
            auth_gate: get("auth_gate")?,
            trust,
        })
    }
}
