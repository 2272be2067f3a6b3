//! The server without Python: a Rust dispatcher, real sockets on loopback.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;

use super::{Body, Dispatch, Job, Response, Server};
use crate::config::{Bind, ServerConfig};
use crate::router::{RouteSpec, Router};

/// Route 0 echoes the body; route 1 panics; route 2 drops the reply without answering.
struct TestDispatch;

impl Dispatch for TestDispatch {
    fn dispatch(&self, job: Job) {
        match job.route {
            0 => {
                let body = job.body.clone();
                job.reply.send(Response::full(200, "text/plain", body));
            }
            1 => panic!("dispatcher panic (test)"),
            _ => drop(job),
        }
    }
}

fn start() -> (Server, String) {
    let routes = vec![
        RouteSpec {
            id: 0,
            methods: vec!["POST".into(), "GET".into()],
            path: "/echo".into(),
        },
        RouteSpec {
            id: 1,
            methods: vec!["GET".into()],
            path: "/panic".into(),
        },
        RouteSpec {
            id: 2,
            methods: vec!["GET".into()],
            path: "/drop".into(),
        },
    ];
    let config = ServerConfig {
        bind: Bind::Tcp {
            host: "127.0.0.1".into(),
            port: 0,
        },
        drain_timeout: Duration::from_secs(2),
        ..ServerConfig::default()
    };
    let server = Server::start(
        config,
        Arc::new(Router::new(&routes).unwrap()),
        Arc::new(TestDispatch),
    )
    .unwrap();
    let addr = server.addresses()[0].clone();
    (server, addr)
}

fn exchange(addr: &str, request: &[u8]) -> String {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    s.write_all(request).unwrap();
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    String::from_utf8_lossy(&out).into_owned()
}

#[test]
fn echoes_and_closes_on_request() {
    let (server, addr) = start();
    let r = exchange(
        &addr,
        b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello",
    );
    assert!(r.starts_with("HTTP/1.1 200 OK\r\n"), "{r}");
    assert!(r.contains("content-length: 5\r\n"));
    assert!(r.contains("connection: close\r\n"));
    assert!(r.ends_with("\r\n\r\nhello"));
    server.begin_drain();
    server.join();
}

#[test]
fn a_panicking_dispatcher_costs_one_connection_not_the_server() {
    let (server, addr) = start();
    // The panic unwinds the connection's task; tokio contains it and the socket closes.
    let r = exchange(&addr, b"GET /panic HTTP/1.1\r\nHost: x\r\n\r\n");
    assert!(r.is_empty() || r.starts_with("HTTP/1.1 500"), "{r}");
    let r = exchange(
        &addr,
        b"GET /echo HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    );
    assert!(r.starts_with("HTTP/1.1 200 OK\r\n"), "{r}");
    // The slot is released when the task ends, just after the socket closes.
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while server.shared().connections() != 0 {
        assert!(
            std::time::Instant::now() < deadline,
            "connection slot leaked"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    server.begin_drain();
    server.join();
}

#[test]
fn an_unanswered_job_is_a_500_not_a_hang() {
    let (server, addr) = start();
    let r = exchange(
        &addr,
        b"GET /drop HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    );
    assert!(
        r.starts_with("HTTP/1.1 500 Internal Server Error\r\n"),
        "{r}"
    );
    server.begin_drain();
    server.join();
}

#[test]
fn pipelined_requests_are_answered_in_order() {
    let (server, addr) = start();
    let mut req = Vec::new();
    for i in 0..20 {
        req.extend_from_slice(
            format!("POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{i:02}").as_bytes(),
        );
    }
    req.extend_from_slice(b"GET /nope HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    let r = exchange(&addr, &req);
    let bodies: Vec<&str> = r.split("HTTP/1.1 ").skip(1).collect();
    assert_eq!(bodies.len(), 21, "{r}");
    for (i, b) in bodies.iter().take(20).enumerate() {
        assert!(b.ends_with(&format!("\r\n\r\n{i:02}")), "{b}");
    }
    assert!(bodies[20].starts_with("404 "));
    server.begin_drain();
    server.join();
}

#[test]
fn drain_closes_idle_keep_alive_connections() {
    let (server, addr) = start();
    let mut s = TcpStream::connect(&addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    s.write_all(b"GET /echo HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    let mut buf = [0u8; 1024];
    let n = s.read(&mut buf).unwrap();
    assert!(buf[..n].starts_with(b"HTTP/1.1 200"));
    server.begin_drain();
    let n = s.read(&mut buf).unwrap();
    assert_eq!(n, 0, "idle connection must be closed by the drain");
    server.join();
}

#[test]
fn full_body_helper_sets_content_type() {
    let r = Response::full(200, "text/plain", Bytes::from_static(b"x"));
    assert_eq!(r.header_block, b"content-type: text/plain\r\n");
    assert!(matches!(r.body, Body::Full(_)));
}

#[test]
fn drain_closes_a_fresh_connection_that_sent_nothing() {
    let (server, addr) = start();
    let mut s = TcpStream::connect(&addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    // Make sure the server has accepted it before draining.
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while server.shared().connections() == 0 {
        assert!(std::time::Instant::now() < deadline);
        std::thread::sleep(Duration::from_millis(5));
    }
    let started = std::time::Instant::now();
    server.begin_drain();
    let mut buf = [0u8; 64];
    assert_eq!(s.read(&mut buf).unwrap_or(0), 0);
    // Well before the 10 s header timeout.
    assert!(started.elapsed() < Duration::from_secs(2));
    server.join();
}
