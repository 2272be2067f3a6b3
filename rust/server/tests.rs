//! The server without Python: a Rust dispatcher, real sockets on loopback. Every case that
//! starts a server runs once per IO driver (`on_both_drivers!`); the io_uring run fails, rather
//! than being skipped, where the kernel refuses io_uring.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;

use super::Server;
use crate::config::{Bind, IoDriver, ServerConfig};
use crate::io::Driver;
use crate::pipeline::{Dispatch, Job};
use crate::protocol::response::{Body, Response};
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

on_both_drivers!(
    echoes_and_closes_on_request,
    a_panicking_dispatcher_costs_one_connection_not_the_server,
    an_unanswered_job_is_a_500_not_a_hang,
    pipelined_requests_are_answered_in_order,
    drain_closes_idle_keep_alive_connections,
    drain_closes_a_fresh_connection_that_sent_nothing,
    an_idle_timeout_closes_the_socket_not_only_the_connection,
    a_write_timeout_closes_the_socket_of_a_client_that_stopped_reading,
    keep_alive_waits_for_a_request_that_comes_later,
    large_bodies_arrive_whole_between_pipelined_requests,
    above_the_release_threshold_idle_connections_still_answer,
);

fn start(io: IoDriver) -> (Server, String) {
    start_with(io, |_| {})
}

fn start_with(io: IoDriver, tweak: impl FnOnce(&mut ServerConfig)) -> (Server, String) {
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
    let mut config = ServerConfig {
        bind: Bind::Tcp {
            host: "127.0.0.1".into(),
            port: 0,
        },
        drain_timeout: Duration::from_secs(2),
        io,
        ..ServerConfig::default()
    };
    tweak(&mut config);
    let server = Server::start(
        config,
        Arc::new(Router::new(&routes).unwrap()),
        Arc::new(TestDispatch),
        Arc::new(crate::middleware::Pipeline::new(Vec::new()).unwrap()),
        None,
        None,
    )
    .unwrap_or_else(|e| panic!("cannot start on {io:?}: {e}"));
    let expected = match io {
        IoDriver::Epoll => Driver::Epoll,
        _ => Driver::Uring,
    };
    assert_eq!(server.driver(), expected);
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

fn echoes_and_closes_on_request(io: IoDriver) {
    let (server, addr) = start(io);
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

fn a_panicking_dispatcher_costs_one_connection_not_the_server(io: IoDriver) {
    let (server, addr) = start(io);
    // The panic is caught around the connection: a 500 with close, and the socket closes.
    let r = exchange(&addr, b"GET /panic HTTP/1.1\r\nHost: x\r\n\r\n");
    assert!(r.starts_with("HTTP/1.1 500"), "{r}");
    assert!(r.contains("connection: close\r\n"), "{r}");
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

fn an_unanswered_job_is_a_500_not_a_hang(io: IoDriver) {
    let (server, addr) = start(io);
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

fn pipelined_requests_are_answered_in_order(io: IoDriver) {
    let (server, addr) = start(io);
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

fn drain_closes_idle_keep_alive_connections(io: IoDriver) {
    let (server, addr) = start(io);
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

fn drain_closes_a_fresh_connection_that_sent_nothing(io: IoDriver) {
    let (server, addr) = start(io);
    let mut s = TcpStream::connect(&addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    // Make sure the server has accepted it before draining.
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while server.shared().connections() == 0 {
        assert!(std::time::Instant::now() < deadline);
        std::thread::sleep(Duration::from_millis(5));
    }
    server.begin_drain();
    let mut buf = [0u8; 64];
    // Closed without a word: had the drain not closed it, the 10 s header timeout would have,
    // after answering 408 (so no clock is needed to tell the two apart).
    s.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
    match s.read(&mut buf) {
        Ok(n) => assert_eq!(n, 0, "{:?}", String::from_utf8_lossy(&buf[..n])),
        Err(e) => assert_eq!(e.kind(), std::io::ErrorKind::ConnectionReset, "{e}"),
    }
    server.join();
}

/// The inode of the server's socket for the connection `client` made (from /proc/net/tcp).
fn server_socket_inode(client: &TcpStream) -> u64 {
    let hex = |a: std::net::SocketAddr| match a {
        std::net::SocketAddr::V4(v4) => format!(
            "{:08X}:{:04X}",
            u32::from_ne_bytes(v4.ip().octets()),
            v4.port()
        ),
        std::net::SocketAddr::V6(_) => unreachable!("the tests listen on 127.0.0.1"),
    };
    let (local, remote) = (
        hex(client.peer_addr().unwrap()),
        hex(client.local_addr().unwrap()),
    );
    let table = std::fs::read_to_string("/proc/net/tcp").unwrap();
    table
        .lines()
        .skip(1)
        .map(|l| l.split_whitespace().collect::<Vec<_>>())
        .find(|f| f[1] == local && f[2] == remote)
        .map(|f| f[9].parse().unwrap())
        .expect("the server's socket is in /proc/net/tcp")
}

/// Whether this process (the server runs in it) still has a descriptor for socket `inode`.
fn descriptor_open(inode: u64) -> bool {
    let name = format!("socket:[{inode}]");
    std::fs::read_dir("/proc/self/fd")
        .unwrap()
        .filter_map(|e| std::fs::read_link(e.ok()?.path()).ok())
        .any(|target| target.as_os_str() == name.as_str())
}

fn wait_closed(inode: u64, what: &str) {
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while descriptor_open(inode) {
        assert!(
            std::time::Instant::now() < deadline,
            "{what}: descriptor still open"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

// Regression: under io_uring an abandoned read stays in flight holding the socket, so the
// descriptor stayed open until the client sent or closed; now it is shut down on drop.
fn an_idle_timeout_closes_the_socket_not_only_the_connection(io: IoDriver) {
    let (server, addr) = start_with(io, |c| c.keep_alive_timeout = Duration::from_millis(200));
    let mut s = TcpStream::connect(&addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    s.write_all(b"GET /echo HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    let mut buf = [0u8; 1024];
    let n = s.read(&mut buf).unwrap();
    assert!(buf[..n].starts_with(b"HTTP/1.1 200"));
    let inode = server_socket_inode(&s);
    assert_eq!(
        s.read(&mut buf).unwrap(),
        0,
        "closed after the idle timeout"
    );
    // The client keeps its end open and silent: nothing would complete a pending read.
    wait_closed(inode, "idle timeout");
    server.begin_drain();
    server.join();
}

// Regression: under io_uring an abandoned write to a client that stopped reading stayed in
// flight forever, and with it the descriptor.
fn a_write_timeout_closes_the_socket_of_a_client_that_stopped_reading(io: IoDriver) {
    const BODY: usize = 16 << 20; // more than the server's send buffer and our receive one
    let (server, addr) = start_with(io, |c| {
        c.write_timeout = Duration::from_millis(300);
        c.limits.max_body = BODY as u64;
    });
    // A small fixed receive buffer (set before connecting: no window autotuning).
    let socket = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    socket.set_recv_buffer_size(64 * 1024).unwrap();
    let target: std::net::SocketAddr = addr.parse().unwrap();
    socket.connect(&target.into()).unwrap();
    let mut s: TcpStream = socket.into();
    s.write_all(
        format!("POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: {BODY}\r\n\r\n").as_bytes(),
    )
    .unwrap();
    let inode = server_socket_inode(&s);
    s.write_all(&vec![b'x'; BODY]).unwrap();
    // The echo is never read: the server's write times out and the connection is dropped.
    wait_closed(inode, "write timeout");
    server.begin_drain();
    server.join();
}

// On 5.x kernels an io_uring read on an O_NONBLOCK socket completes with EAGAIN instead of
// waiting, which would end every keep-alive connection at its first pause.
fn keep_alive_waits_for_a_request_that_comes_later(io: IoDriver) {
    let (server, addr) = start(io);
    let mut s = TcpStream::connect(&addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut buf = [0u8; 1024];
    for body in ["one", "two"] {
        std::thread::sleep(Duration::from_millis(100));
        let request = format!("POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\n{body}");
        s.write_all(request.as_bytes()).unwrap();
        let n = s.read(&mut buf).unwrap();
        let r = String::from_utf8_lossy(&buf[..n]);
        assert!(r.starts_with("HTTP/1.1 200") && r.ends_with(body), "{r}");
    }
    server.begin_drain();
    server.join();
}

// Bodies of 64 KiB and more are read into a buffer of their own size (`read_sized_body`):
// every byte must land in its place, whether the body comes in one write with the next
// request behind it or in small pieces, and what follows it must still be read as a request.
fn large_bodies_arrive_whole_between_pipelined_requests(io: IoDriver) {
    let (server, addr) = start_with(io, |c| c.limits.max_body = 4 << 20);
    let sizes = [64 * 1024, 3, 1 << 20, 200_001, 5];
    let bodies: Vec<Vec<u8>> = sizes
        .iter()
        .enumerate()
        .map(|(i, &n)| (0..n).map(|j| (j * 7 + i) as u8).collect())
        .collect();
    let mut wire = Vec::new();
    for body in &bodies {
        wire.extend_from_slice(
            format!(
                "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\n\r\n",
                body.len()
            )
            .as_bytes(),
        );
        wire.extend_from_slice(body);
    }
    wire.extend_from_slice(b"GET /nope HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    for piece in [wire.len(), 1000] {
        let mut s = TcpStream::connect(&addr).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let mut w = s.try_clone().unwrap();
        let sent = wire.clone();
        // A thread writes while this one reads: the answers are as large as the requests.
        let writer = std::thread::spawn(move || {
            for chunk in sent.chunks(piece) {
                w.write_all(chunk).unwrap();
            }
        });
        let mut out = Vec::new();
        let _ = s.read_to_end(&mut out);
        writer.join().unwrap();
        let mut rest = &out[..];
        for body in &bodies {
            let end = rest.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
            let head = String::from_utf8_lossy(&rest[..end]).into_owned();
            assert!(head.starts_with("HTTP/1.1 200 "), "{head}");
            assert!(
                head.contains(&format!("content-length: {}\r\n", body.len())),
                "{head}"
            );
            assert!(
                rest[end..end + body.len()] == body[..],
                "body of {} bytes",
                body.len()
            );
            rest = &rest[end + body.len()..];
        }
        assert!(rest.starts_with(b"HTTP/1.1 404 "), "piece {piece}");
    }
    server.begin_drain();
    server.join();
}

// Above RELEASE_BUFFERS_ABOVE open connections a connection waiting for its next request lets
// its buffers go (epoll) and reads into a fresh one: every request must still be answered whole.
fn above_the_release_threshold_idle_connections_still_answer(io: IoDriver) {
    let (server, addr) = start(io);
    let mut conns: Vec<TcpStream> = (0..300)
        .map(|_| {
            let s = TcpStream::connect(&addr).unwrap();
            s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
            s
        })
        .collect();
    for round in 0..3 {
        for (i, s) in conns.iter_mut().enumerate() {
            let body = format!("{round}-{i:03}");
            let request = format!(
                "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\n\r\n{body}",
                body.len()
            );
            s.write_all(request.as_bytes()).unwrap();
        }
        for (i, s) in conns.iter_mut().enumerate() {
            let body = format!("{round}-{i:03}");
            let mut got = Vec::new();
            let mut buf = [0u8; 512];
            while !got.ends_with(body.as_bytes()) {
                let n = s.read(&mut buf).unwrap();
                assert!(n > 0, "connection {i} closed in round {round}");
                got.extend_from_slice(&buf[..n]);
            }
            assert!(
                got.starts_with(b"HTTP/1.1 200 "),
                "{}",
                String::from_utf8_lossy(&got)
            );
        }
    }
    drop(conns);
    server.begin_drain();
    server.join();
}
