//! Reading `covetpy.config.ServerConfig` (a frozen dataclass) into the Rust config, once;
//! every field is required and checked (`Fields`).

use std::time::Duration;

use pyo3::prelude::*;

use crate::config::{
    Admission, Bind, ClientVerify, H2Config, HttpVersions, IoDriver, QueuePolicy, ServerConfig,
    TlsConfig, WsConfig,
};
use crate::io::Driver;
use crate::log::{self, Level};
use crate::mesh::forwarded::TrustPolicy;
use crate::protocol::h1::Limits;
use crate::protocol::ws::deflate::DeflateConfig;

use super::errors::ConfigError;
use super::fields::Fields;

/// How errors name the config.
const OWNER: &str = "ServerConfig";

fn seconds(f: &Fields<'_, '_>, name: &str) -> PyResult<Duration> {
    let s: f64 = f.get(name, "float")?;
    Duration::try_from_secs_f64(s).map_err(|_| {
        ConfigError::new_err(format!(
            "{OWNER}: field `{name}` must be a non-negative number of seconds, got {s}"
        ))
    })
}

/// An integer field that must be at least 1.
fn at_least_one(f: &Fields<'_, '_>, name: &str) -> PyResult<usize> {
    let v: usize = f.get(name, "int >= 1")?;
    if v == 0 {
        return Err(ConfigError::new_err(format!(
            "{OWNER}: field `{name}` must be at least 1"
        )));
    }
    Ok(v)
}

fn path(f: &Fields<'_, '_>, name: &str) -> PyResult<Option<String>> {
    let p: String = f.get(name, "str")?;
    Ok(Some(p).filter(|p| !p.is_empty()))
}

/// The trusted-proxy policy: `trusted_proxies` (comma-separated CIDRs) and `proxy_hops`.
pub fn trust(obj: &Bound<'_, PyAny>) -> PyResult<TrustPolicy> {
    let f = Fields::new(obj, OWNER);
    let cidrs: String = f.get("trusted_proxies", "str")?;
    let hops: usize = f.get("proxy_hops", "int >= 0")?;
    let list: Vec<&str> = cidrs
        .split(',')
        .map(str::trim)
        .filter(|c| !c.is_empty())
        .collect();
    TrustPolicy::new(&list, hops).map_err(ConfigError::new_err)
}

/// Extracts the server config from its Python description.
pub fn extract(obj: &Bound<'_, PyAny>) -> PyResult<ServerConfig> {
    let f = Fields::new(obj, OWNER);
    let fd: Option<i32> = f.get("fd", "int or None")?;
    let uds: Option<String> = f.get("uds", "str or None")?;
    // Read whatever the bind: a field is checked even where this start-up does not use it.
    let host: String = f.get("host", "str")?;
    let port: u16 = f.get("port", "int 0-65535")?;
    let bind = match (fd, uds) {
        (Some(fd), _) => Bind::Fd(fd),
        (None, Some(path)) => Bind::Uds(path.into()),
        (None, None) => Bind::Tcp { host, port },
    };
    let positive = |name: &str| at_least_one(&f, name);
    let level: String = f.get("log_level", "str")?;
    log::set_level(match level.to_ascii_lowercase().as_str() {
        "debug" | "trace" => Level::Debug,
        "info" => Level::Info,
        "warning" | "warn" => Level::Warning,
        _ => Level::Error,
    });
    let access_log: bool = f.get("access_log", "bool")?;
    let io = match f.get::<String>("io", "str")?.as_str() {
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
    log::set_json(f.get::<String>("log_format", "str")? == "json");
    Ok(ServerConfig {
        bind,
        backlog: f.get("backlog", "int")?,
        io_threads: positive("io_threads")?,
        io,
        limits: Limits {
            max_request_line: positive("max_request_line")?,
            max_header_bytes: positive("max_header_bytes")?,
            max_headers: positive("max_headers")?,
            max_body: f.get("max_body_size", "int >= 0")?,
        },
        header_timeout: seconds(&f, "header_timeout")?,
        body_timeout: seconds(&f, "body_timeout")?,
        keep_alive_timeout: seconds(&f, "keep_alive_timeout")?,
        write_timeout: seconds(&f, "write_timeout")?,
        max_connections: positive("max_connections")?,
        max_pipeline: positive("max_pipeline")?,
        drain_timeout: seconds(&f, "drain_timeout")?,
        access_log,
        admission: Admission {
            max_inflight: positive("max_inflight")?,
            queue_size: f.get("queue_size", "int >= 0")?,
            queue_timeout: seconds(&f, "queue_timeout")?,
        },
        request_timeout: Some(seconds(&f, "request_timeout")?).filter(|d| !d.is_zero()),
        livez_path: path(&f, "livez_path")?,
        readyz_path: path(&f, "readyz_path")?,
        startupz_path: path(&f, "startupz_path")?,
        b3: f.get("b3", "bool")?,
        busy_poll: Duration::from_micros(f.get("busy_poll_us", "int >= 0")?),
        ws: websocket(&f)?,
        http: match f.get::<String>("http", "str")?.as_str() {
            "auto" => HttpVersions::Auto,
            "1" => HttpVersions::H1,
            "2" => HttpVersions::H2,
            other => {
                return Err(ConfigError::new_err(format!(
                    "{OWNER}: field `http` must be auto, 1 or 2, got {other:?}"
                )))
            }
        },
        h2: http2(&f)?,
        tls: tls(&f)?,
    })
}

/// The `h2_*` fields (ranges checked by the Python config too; here again for other callers).
fn http2(f: &Fields<'_, '_>) -> PyResult<H2Config> {
    let u32_field = |name: &str, low: u32, high: u32| -> PyResult<u32> {
        let v: u64 = f.get(name, "int")?;
        if v < low as u64 || v > high as u64 {
            return Err(ConfigError::new_err(format!(
                "{OWNER}: field `{name}` must be {low}-{high}, got {v}"
            )));
        }
        Ok(v as u32)
    };
    let window = (1u32 << 31) - 1;
    let interval = seconds(f, "h2_ping_interval")?;
    Ok(H2Config {
        max_concurrent_streams: u32_field("h2_max_concurrent_streams", 1, u32::MAX)?,
        initial_stream_window: u32_field("h2_initial_stream_window", 1, window)?,
        initial_connection_window: u32_field("h2_initial_connection_window", 1, window)?,
        max_frame_size: u32_field("h2_max_frame_size", 16_384, 16_777_215)?,
        max_header_list_size: u32_field("h2_max_header_list_size", 1, u32::MAX)?,
        ping_interval: Some(interval).filter(|d| !d.is_zero()),
        ping_timeout: seconds(f, "h2_ping_timeout")?,
        max_resets: u32_field("h2_max_resets", 1, u32::MAX)?,
    })
}

/// The `ssl_*` fields: None without a certificate. The files are read when the server starts
/// (`tls::Certs::load`), so that a bad file fails start-up with its name.
fn tls(f: &Fields<'_, '_>) -> PyResult<Option<TlsConfig>> {
    let certfile: Option<String> = f.get("ssl_certfile", "str or None")?;
    let keyfile: Option<String> = f.get("ssl_keyfile", "str or None")?;
    let ca: Option<String> = f.get("ssl_ca", "str or None")?;
    let verify = match f.get::<String>("ssl_client_verify", "str")?.as_str() {
        "off" => ClientVerify::Off,
        "optional" => ClientVerify::Optional,
        "required" => ClientVerify::Required,
        other => {
            return Err(ConfigError::new_err(format!(
            "{OWNER}: field `ssl_client_verify` must be off, optional or required, got {other:?}"
        )))
        }
    };
    let allow_tls12 = match f.get::<String>("ssl_min_version", "str")?.as_str() {
        "1.2" => true,
        "1.3" => false,
        other => {
            return Err(ConfigError::new_err(format!(
                "{OWNER}: field `ssl_min_version` must be 1.2 or 1.3, got {other:?}"
            )))
        }
    };
    let handshake_timeout = seconds(f, "ssl_handshake_timeout")?;
    let reload = seconds(f, "ssl_reload_interval")?;
    let (certfile, keyfile) = match (certfile, keyfile) {
        (Some(c), Some(k)) => (c, k),
        (None, None) => {
            if ca.is_some() || verify != ClientVerify::Off {
                return Err(ConfigError::new_err(
                    "ssl_ca and ssl_client_verify need ssl_certfile and ssl_keyfile",
                ));
            }
            return Ok(None);
        }
        _ => {
            return Err(ConfigError::new_err(
                "ssl_certfile and ssl_keyfile go together: give both or neither",
            ))
        }
    };
    let certs: Vec<&str> = certfile.split(',').map(str::trim).collect();
    let keys: Vec<&str> = keyfile.split(',').map(str::trim).collect();
    if certs.len() != keys.len() {
        return Err(ConfigError::new_err(format!(
            "ssl_certfile names {} file(s) and ssl_keyfile {}: give one key per certificate",
            certs.len(),
            keys.len()
        )));
    }
    if verify != ClientVerify::Off && ca.is_none() {
        return Err(ConfigError::new_err(
            "ssl_client_verify needs ssl_ca (the CA client certificates are verified against)",
        ));
    }
    Ok(Some(TlsConfig {
        certs: certs
            .into_iter()
            .zip(keys)
            .map(|(c, k)| (c.into(), k.into()))
            .collect(),
        ca: ca.map(Into::into),
        client_verify: verify,
        allow_tls12,
        handshake_timeout,
        reload_interval: Some(reload).filter(|d| !d.is_zero()),
    }))
}

/// The `ws_*` fields.
fn websocket(f: &Fields<'_, '_>) -> PyResult<WsConfig> {
    let policy = match f.get::<String>("ws_queue_policy", "str")?.as_str() {
        "drop_oldest" => QueuePolicy::DropOldest,
        "disconnect" => QueuePolicy::Disconnect,
        other => {
            return Err(ConfigError::new_err(format!(
                "{OWNER}: field `ws_queue_policy` must be drop_oldest or disconnect, got {other:?}"
            )))
        }
    };
    let at_least_1 = |name: &str| at_least_one(f, name);
    let interval = seconds(f, "ws_ping_interval")?;
    let level: u32 = f.get("ws_compression_level", "int 0-9")?;
    if level > 9 {
        return Err(ConfigError::new_err(format!(
            "{OWNER}: field `ws_compression_level` must be 0-9, got {level}"
        )));
    }
    Ok(WsConfig {
        ping_interval: Some(interval).filter(|d| !d.is_zero()),
        ping_timeout: seconds(f, "ws_ping_timeout")?,
        close_timeout: seconds(f, "ws_close_timeout")?,
        max_message: at_least_1("ws_max_message")?,
        max_connections: at_least_1("ws_max_connections")?,
        max_queue: at_least_1("ws_max_queue")?,
        queue_policy: policy,
        deflate: DeflateConfig {
            enabled: f.get("ws_compression", "bool")?,
            min_size: f.get("ws_compression_min_size", "int >= 0")?,
            level,
            ..DeflateConfig::default()
        },
    })
}
