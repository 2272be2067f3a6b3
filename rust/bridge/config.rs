//! Reading `covetpy.config.ServerConfig` (a frozen dataclass) into the Rust config, once.

use std::time::Duration;

use pyo3::prelude::*;

use crate::config::{Admission, Bind, IoDriver, ServerConfig};
use crate::io::Driver;
use crate::log::{self, Level};
use crate::mesh::forwarded::TrustPolicy;
use crate::protocol::h1::Limits;

use super::errors::ConfigError;

fn seconds(obj: &Bound<'_, PyAny>, name: &str) -> PyResult<Duration> {
    let s: f64 = obj.getattr(name)?.extract()?;
    Duration::try_from_secs_f64(s).map_err(|_| {
        ConfigError::new_err(format!(
            "{name} must be a non-negative number of seconds, got {s}"
        ))
    })
}

fn path(obj: &Bound<'_, PyAny>, name: &str) -> PyResult<Option<String>> {
    let p: String = obj.getattr(name)?.extract()?;
    Ok(Some(p).filter(|p| !p.is_empty()))
}

/// The trusted-proxy policy: `trusted_proxies` (comma-separated CIDRs) and `proxy_hops`.
pub fn trust(obj: &Bound<'_, PyAny>) -> PyResult<TrustPolicy> {
    let cidrs: String = obj.getattr("trusted_proxies")?.extract()?;
    let hops: usize = obj.getattr("proxy_hops")?.extract()?;
    let list: Vec<&str> = cidrs
        .split(',')
        .map(str::trim)
        .filter(|c| !c.is_empty())
        .collect();
    TrustPolicy::new(&list, hops).map_err(ConfigError::new_err)
}

/// Extracts the server config from its Python description.
pub fn extract(obj: &Bound<'_, PyAny>) -> PyResult<ServerConfig> {
    let fd: Option<i32> = obj.getattr("fd")?.extract()?;
    let uds: Option<String> = obj.getattr("uds")?.extract()?;
    let bind = match (fd, uds) {
        (Some(fd), _) => Bind::Fd(fd),
        (None, Some(path)) => Bind::Uds(path.into()),
        (None, None) => Bind::Tcp {
            host: obj.getattr("host")?.extract()?,
            port: obj.getattr("port")?.extract()?,
        },
    };
    let positive = |name: &str| -> PyResult<usize> {
        let v: usize = obj.getattr(name)?.extract()?;
        if v == 0 {
            return Err(ConfigError::new_err(format!("{name} must be at least 1")));
        }
        Ok(v)
    };
    let level: String = obj.getattr("log_level")?.extract()?;
    log::set_level(match level.to_ascii_lowercase().as_str() {
        "debug" | "trace" => Level::Debug,
        "info" => Level::Info,
        "warning" | "warn" => Level::Warning,
        _ => Level::Error,
    });
    let access_log: bool = obj.getattr("access_log")?.extract()?;
    let io = match obj.getattr("io")?.extract::<String>()?.as_str() {
        "auto" => IoDriver::Auto,
        "epoll" => IoDriver::Epoll,
        "uring" => {
            // Refused here, before anything is bound, with the kernel's reason (`auto` never
            // fails: it runs epoll, or falls back to it).
            Driver::resolve(IoDriver::Uring).map_err(|e| ConfigError::new_err(e.to_string()))?;
            IoDriver::Uring
        }
        other => {
            return Err(ConfigError::new_err(format!(
                "io must be auto, epoll or uring, not {other:?}"
            )))
        }
    };
    log::set_access_log(access_log);
    log::set_json(obj.getattr("log_format")?.extract::<String>()? == "json");
    Ok(ServerConfig {
        bind,
        backlog: obj.getattr("backlog")?.extract()?,
        io_threads: positive("io_threads")?,
        io,
        limits: Limits {
            max_request_line: positive("max_request_line")?,
            max_header_bytes: positive("max_header_bytes")?,
            max_headers: positive("max_headers")?,
            max_body: obj.getattr("max_body_size")?.extract()?,
        },
        header_timeout: seconds(obj, "header_timeout")?,
        body_timeout: seconds(obj, "body_timeout")?,
        keep_alive_timeout: seconds(obj, "keep_alive_timeout")?,
        write_timeout: seconds(obj, "write_timeout")?,
        max_connections: positive("max_connections")?,
        max_pipeline: positive("max_pipeline")?,
        drain_timeout: seconds(obj, "drain_timeout")?,
        access_log,
        admission: Admission {
            max_inflight: positive("max_inflight")?,
            queue_size: obj.getattr("queue_size")?.extract()?,
            queue_timeout: seconds(obj, "queue_timeout")?,
        },
        request_timeout: Some(seconds(obj, "request_timeout")?).filter(|d| !d.is_zero()),
        livez_path: path(obj, "livez_path")?,
        readyz_path: path(obj, "readyz_path")?,
        startupz_path: path(obj, "startupz_path")?,
        b3: obj.getattr("b3")?.extract()?,
        busy_poll: Duration::from_micros(obj.getattr("busy_poll_us")?.extract()?),
    })
}
