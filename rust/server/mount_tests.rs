//! Mounts without Python: a Rust dispatcher reads the streamed body the way a hosted app's
//! worker thread does (`BodyPipe::read_blocking`), over real sockets, once per IO driver.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::Arc;
use std::time::Duration;

use super::Server;
use crate::config::{Bind, IoDriver, ServerConfig};
use crate::pipeline::body_pipe::Chunk;
use crate::pipeline::{Dispatch, Job, RouteKind};
use crate::protocol::response::Response;
use crate::router::{Mount, RouteSpec, Router};

/// Route 0: a native route. Route 1, a mount at `/`: counts the body on a thread and answers
/// `n=<bytes>` (or `cut` when the body was cut). Route 2, a mount at `/early`: answers at
/// once without reading.
struct MountDispatch;

impl Dispatch for MountDispatch {
    fn dispatch(&self, job: Job) {
        match job.route {
            0 => {
                job.reply.send(Response::full(
                    200,
                    "text/plain",
                    bytes::Bytes::from_static(b"native"),
                ));
            }
            1 => {
                std::thread::spawn(move || {
                    let mut n = job.body.len();
                    let mut cut = false;
                    if let Some(pipe) = &job.pipe {
                        loop {
                            match pipe.read_blocking() {
                                Chunk::Data(b) => n += b.len(),
                                Chunk::Cut => {
                                    cut = true;
                                    break;
                                }
                                _ => break,
                            }
                        }
                    }
                    let text = if cut { "cut".into() } else { format!("n={n}") };
                    job.reply
                        .send(Response::full(200, "text/plain", bytes::Bytes::from(text)));
                });
            }
            _ => {
                job.reply.send(Response::full(
                    200,
                    "text/plain",
                    bytes::Bytes::from_static(b"early"),
                ));
            }
        }
    }

    fn kind(&self, route: usize) -> RouteKind {
        if route == 0 {
            RouteKind::Http
        } else {
            RouteKind::Mount
        }
    }
}

on_both_drivers!(
    native_routes_first_then_the_mount,
    a_large_body_streams_and_the_connection_stays_usable,
    an_answer_before_the_body_is_read_closes_the_connection,
    a_chunked_body_over_the_limit_is_413,
);

fn start(io: IoDriver) -> (Server, String) {
    let routes = vec![RouteSpec {
        id: 0,
        methods: vec!["GET".into()],
        path: "/native".into(),
    }];
    let mounts = vec![
        Mount {
            id: 1,
            prefix: "".into(),
        },
        Mount {
            id: 2,
            prefix: "/early".into(),
        },
    ];
    let config = ServerConfig {
        bind: Bind::Tcp {
            host: "127.0.0.1".into(),
            port: 0,
        },
        drain_timeout: Duration::from_secs(2),
        io,
        ..ServerConfig::default()
    };
    let mut config = config;
    config.limits.max_body = 64 * 1024 * 1024;
    let server = Server::start(
        config,
        Arc::new(Router::with_mounts(&routes, &mounts).unwrap()),
        Arc::new(MountDispatch),
        Arc::new(crate::middleware::Pipeline::new(Vec::new()).unwrap()),
        None,
        None,
    )
    .unwrap_or_else(|e| panic!("cannot start on {io:?}: {e}"));
    let addr = server.addresses()[0].clone();
    (server, addr)
}

fn connect(addr: &str) -> TcpStream {
    let s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s
}

/// Reads one response with a content-length body; returns head and body.
fn read_response(s: &mut TcpStream) -> (String, String) {
    let mut buf = Vec::new();
    let mut byte = [0u8; 1];
    while !buf.ends_with(b"\r\n\r\n") {
        if s.read(&mut byte).unwrap() == 0 {
            break;
        }
        buf.push(byte[0]);
    }
    let head = String::from_utf8_lossy(&buf).into_owned();
    let len = head
        .lines()
        .find_map(|l| l.strip_prefix("content-length: "))
        .and_then(|v| v.trim().parse::<usize>().ok())
        .unwrap_or(0);
    let mut body = vec![0u8; len];
    s.read_exact(&mut body).unwrap();
    (head, String::from_utf8_lossy(&body).into_owned())
}

fn stop(server: Server) {
    server.begin_drain();
    server.join();
}

fn native_routes_first_then_the_mount(io: IoDriver) {
    let (server, addr) = start(io);
    let mut s = connect(&addr);
    s.write_all(b"GET /native HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    assert_eq!(read_response(&mut s).1, "native");
    // The table's 405 goes to the mount, as does a path it does not know.
    s.write_all(b"POST /native HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc")
        .unwrap();
    assert_eq!(read_response(&mut s).1, "n=3");
    s.write_all(b"GET /other HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    assert_eq!(read_response(&mut s).1, "n=0");
    stop(server);
}

fn a_large_body_streams_and_the_connection_stays_usable(io: IoDriver) {
    let (server, addr) = start(io);
    let mut s = connect(&addr);
    let size = 8 * 1024 * 1024;
    let head = format!("POST /up HTTP/1.1\r\nHost: x\r\nContent-Length: {size}\r\n\r\n");
    s.write_all(head.as_bytes()).unwrap();
    let block = vec![b'x'; 64 * 1024];
    for _ in 0..size / block.len() {
        s.write_all(&block).unwrap();
    }
    let (head, body) = read_response(&mut s);
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    assert_eq!(body, format!("n={size}"));
    // Chunked, then a next request on the same connection.
    s.write_all(
        b"POST /up HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n",
    )
    .unwrap();
    assert_eq!(read_response(&mut s).1, "n=5");
    s.write_all(b"GET /native HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    assert_eq!(read_response(&mut s).1, "native");
    stop(server);
}

fn an_answer_before_the_body_is_read_closes_the_connection(io: IoDriver) {
    let (server, addr) = start(io);
    let mut s = connect(&addr);
    // More than the pipe holds, so the connection waits for room and sees the answer.
    let size = 4 * 1024 * 1024;
    let head = format!("POST /early HTTP/1.1\r\nHost: x\r\nContent-Length: {size}\r\n\r\n");
    s.write_all(head.as_bytes()).unwrap();
    let writer = {
        let mut w = s.try_clone().unwrap();
        std::thread::spawn(move || {
            let block = vec![b'x'; 64 * 1024];
            for _ in 0..size / block.len() {
                if w.write_all(&block).is_err() {
                    break;
                }
            }
        })
    };
    let (head, body) = read_response(&mut s);
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    assert!(head.contains("connection: close"), "{head}");
    assert_eq!(body, "early");
    let mut rest = Vec::new();
    let _ = s.read_to_end(&mut rest);
    let _ = writer.join();
    stop(server);
}

fn a_chunked_body_over_the_limit_is_413(io: IoDriver) {
    let (server, addr) = start(io);
    let mut s = connect(&addr);
    s.write_all(b"POST /up HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n")
        .unwrap();
    // 65 MiB in 1 MiB chunks against a 64 MiB limit.
    let chunk = vec![b'y'; 1024 * 1024];
    for _ in 0..65 {
        if s.write_all(b"100000\r\n").is_err()
            || s.write_all(&chunk).is_err()
            || s.write_all(b"\r\n").is_err()
        {
            break;
        }
    }
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    let text = String::from_utf8_lossy(&out);
    assert!(text.starts_with("HTTP/1.1 413"), "{text}");
    assert!(!text.contains("n="), "{text}");
    stop(server);
}
