//! `covetpy._core.run_bench`: the load generator (rust/bench/) as `covetpy bench` calls it.
//! The options arrive as one mapping, the run happens without the GIL, and the report comes
//! back as the dict its JSON describes, so `--json` and the printed report cannot differ.
//! A `ws://` URL makes it a WebSocket run (rust/bench/ws.rs), with the `ws_*` keys.
//! `h2`, `streams`, `new_conn`, `insecure` and `cacert` choose HTTP/2 and TLS.

use std::path::PathBuf;
use std::time::Duration;

use pyo3::exceptions::{PyOSError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::PyBytes;

use crate::bench::{
    self, BenchError, Options, Publish, RequestSpec, Target, TlsOptions, WsMode, WsSpec,
};

/// The keys `run_bench` understands; any other is a mistake worth reporting.
const KEYS: [&str; 21] = [
    "url",
    "connections",
    "threads",
    "duration",
    "requests",
    "rate",
    "pipeline",
    "h2",
    "streams",
    "new_conn",
    "insecure",
    "cacert",
    "method",
    "headers",
    "body",
    "timeout",
    "progress",
    "ws_mode",
    "message_size",
    "binary",
    "publish_rate",
];

/// `options[key]`, or `None` when it is missing or None.
fn item<'py>(options: &Bound<'py, PyAny>, key: &str) -> PyResult<Option<Bound<'py, PyAny>>> {
    let value = options.call_method1("get", (key,))?;
    Ok((!value.is_none()).then_some(value))
}

fn seconds(options: &Bound<'_, PyAny>, key: &str) -> PyResult<Option<Duration>> {
    let Some(v) = item(options, key)? else {
        return Ok(None);
    };
    let s: f64 = v.extract()?;
    Duration::try_from_secs_f64(s).map(Some).map_err(|_| {
        PyValueError::new_err(format!(
            "{key} must be a non-negative number of seconds, got {s}"
        ))
    })
}

/// Reads the options mapping into [`Options`]; unset keys keep their defaults.
fn extract(options: &Bound<'_, PyAny>) -> PyResult<Options> {
    for key in options.call_method0("keys")?.try_iter()? {
        let key: String = key?.extract()?;
        if !KEYS.contains(&key.as_str()) {
            return Err(PyValueError::new_err(format!(
                "unknown bench option {key:?}"
            )));
        }
    }
    let url = item(options, "url")?
        .ok_or_else(|| PyValueError::new_err("the url option is required"))?
        .extract()?;
    let mut opts = Options {
        url,
        ..Options::default()
    };
    if let Some(v) = item(options, "connections")? {
        opts.connections = v.extract()?;
    }
    if let Some(v) = item(options, "threads")? {
        opts.threads = v.extract()?;
    }
    opts.duration = seconds(options, "duration")?;
    if let Some(v) = item(options, "requests")? {
        opts.requests = Some(v.extract()?);
    }
    if let Some(v) = item(options, "rate")? {
        opts.rate = Some(v.extract()?);
    }
    if let Some(v) = item(options, "pipeline")? {
        opts.pipeline = v.extract()?;
    }
    if let Some(v) = item(options, "h2")? {
        opts.h2 = v.extract()?;
    }
    if let Some(v) = item(options, "streams")? {
        opts.streams = v.extract()?;
    }
    if let Some(v) = item(options, "new_conn")? {
        opts.new_conn = v.extract()?;
    }
    let mut tls = TlsOptions::default();
    if let Some(v) = item(options, "insecure")? {
        tls.insecure = v.extract()?;
    }
    if let Some(v) = item(options, "cacert")? {
        tls.cacert = Some(v.extract::<PathBuf>()?);
    }
    opts.tls = tls;
    if let Some(t) = seconds(options, "timeout")? {
        opts.timeout = t;
    }
    if let Some(v) = item(options, "progress")? {
        opts.progress = v.extract()?;
    }
    let mut request = RequestSpec {
        method: "GET".into(),
        headers: Vec::new(),
        body: Vec::new(),
    };
    if let Some(v) = item(options, "method")? {
        request.method = v.extract::<String>()?.to_ascii_uppercase();
    }
    if let Some(v) = item(options, "headers")? {
        request.headers = v.extract()?;
    }
    if let Some(v) = item(options, "body")? {
        request.body = v.downcast::<PyBytes>()?.as_bytes().to_vec();
    }
    opts.request = request;
    Ok(opts)
}

/// Reads the `ws_*` keys: `ws_mode` ("echo" | "subscribe"), `message_size`, `binary`, and
/// `publish_rate` (messages/s, "max" for a closed-loop publisher, or None for an outside one).
fn extract_ws(options: &Bound<'_, PyAny>) -> PyResult<WsSpec> {
    let mut spec = WsSpec::default();
    if let Some(v) = item(options, "ws_mode")? {
        spec.mode = match v.extract::<String>()?.as_str() {
            "echo" => WsMode::Echo,
            "subscribe" => WsMode::Subscribe,
            other => {
                return Err(PyValueError::new_err(format!(
                    "ws_mode must be 'echo' or 'subscribe', got {other:?}"
                )))
            }
        };
    }
    if let Some(v) = item(options, "message_size")? {
        spec.message_size = v.extract()?;
    }
    if let Some(v) = item(options, "binary")? {
        spec.binary = v.extract()?;
    }
    if let Some(v) = item(options, "publish_rate")? {
        spec.publish = Some(match v.extract::<String>() {
            Ok(s) if s == "max" => Publish::Closed,
            Ok(s) => {
                return Err(PyValueError::new_err(format!(
                    "publish_rate must be a number of messages/s or 'max', got {s:?}"
                )))
            }
            Err(_) => Publish::Rate(v.extract()?),
        });
    }
    Ok(spec)
}

fn to_py(err: BenchError) -> PyErr {
    match err {
        BenchError::Invalid(msg) => PyValueError::new_err(msg),
        BenchError::Io(msg, e) => PyOSError::new_err((e.raw_os_error().unwrap_or(0), msg)),
    }
}

/// Runs a load test described by `options` (see `covetpy/_core.pyi`) and returns its report.
/// The GIL is released for the run; Ctrl-C (checked every 100 ms) ends it early, and the
/// report then says `interrupted`.
#[pyfunction]
pub fn run_bench(py: Python<'_>, options: &Bound<'_, PyAny>) -> PyResult<PyObject> {
    let opts = extract(options)?;
    let ws = Target::parse(&opts.url).is_ok_and(|t| t.websocket);
    let spec = extract_ws(options)?;
    let json = py
        .allow_threads(|| {
            let interrupted = || Python::with_gil(|py| py.check_signals().is_err());
            if ws {
                bench::run_ws_until(&opts, &spec, interrupted).map(|r| r.to_json())
            } else {
                bench::run_until(&opts, interrupted).map(|r| r.to_json())
            }
        })
        .map_err(to_py)?;
    Ok(py.import("json")?.call_method1("loads", (json,))?.unbind())
}
