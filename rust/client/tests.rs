//! The client against real sockets on 127.0.0.1: each test server is a std listener whose
//! connections run a script of `Step`s, one per request read.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Arc};
use std::thread;
use std::time::Duration;

use bytes::Bytes;

use super::*;

/// What the test server does with one request.
#[derive(Clone)]
enum Step {
    /// Writes these bytes and keeps the connection.
    Reply(&'static [u8]),
    /// Writes these bytes and closes.
    ReplyClose(&'static [u8]),
    /// Closes without answering.
    Close,
    /// Echoes the request body with Content-Length.
    Echo,
    /// Never answers (keeps the connection open).
    Hang,
}

struct Server {
    addr: SocketAddr,
    accepts: Arc<AtomicUsize>,
}

/// A server whose `n`-th connection (from 0) runs `scripts[min(n, last)]`.
fn server(scripts: Vec<Vec<Step>>) -> Server {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let accepts = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&accepts);
    thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(stream) = stream else { return };
            let n = counter.fetch_add(1, Ordering::SeqCst);
            let script = scripts[n.min(scripts.len() - 1)].clone();
            thread::spawn(move || run(stream, script));
        }
    });
    Server { addr, accepts }
}

fn run(mut stream: TcpStream, script: Vec<Step>) {
    let mut buf = Vec::new();
    for step in script {
        let Some(body) = read_request(&mut stream, &mut buf) else {
            return;
        };
        match step {
            Step::Reply(bytes) => stream.write_all(bytes).unwrap(),
            Step::ReplyClose(bytes) => {
                stream.write_all(bytes).unwrap();
                return;
            }
            Step::Close => return,
            Step::Echo => {
                let head = format!("HTTP/1.1 200 OK\r\ncontent-length: {}\r\n\r\n", body.len());
                stream.write_all(head.as_bytes()).unwrap();
                stream.write_all(&body).unwrap();
            }
            Step::Hang => thread::sleep(Duration::from_secs(3600)),
        }
    }
    // Script done: wait for the client to close.
    let _ = stream.read(&mut [0; 1]);
}

/// Waits until the server has accepted `n` connections: an event, not a guess at how long the
/// client thread takes on a busy machine.
fn wait_accepts(s: &Server, n: usize) {
    // A bound only so that a broken client fails instead of hanging the suite.
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while s.accepts.load(Ordering::SeqCst) < n {
        assert!(
            std::time::Instant::now() < deadline,
            "{n} connections never came"
        );
        thread::sleep(Duration::from_millis(1));
    }
}

/// Reads one request (head and Content-Length body) and returns its body.
fn read_request(stream: &mut TcpStream, buf: &mut Vec<u8>) -> Option<Vec<u8>> {
    loop {
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buf[..end]).to_ascii_lowercase();
            let len: usize = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length: "))
                .map_or(0, |v| v.trim().parse().unwrap());
            if buf.len() >= end + 4 + len {
                let body = buf[end + 4..end + 4 + len].to_vec();
                buf.drain(..end + 4 + len);
                return Some(body);
            }
        }
        let mut chunk = [0u8; 65536];
        match stream.read(&mut chunk) {
            Ok(0) | Err(_) => return None,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
}

fn get(addr: SocketAddr) -> Request {
    Request {
        method: Bytes::from_static(b"GET"),
        authority: addr.to_string(),
        target: Bytes::from_static(b"/"),
        headers: vec![],
        body: Bytes::new(),
        connect_timeout: Some(Duration::from_secs(5)),
        timeout: Some(Duration::from_secs(5)),
    }
}

fn call(client: &ClientRuntime, request: Request) -> Result<Response, ClientError> {
    let (tx, rx) = mpsc::channel();
    client.submit(
        request,
        Box::new(move |r| {
            let _ = tx.send(r);
        }),
    );
    rx.recv_timeout(Duration::from_secs(10)).unwrap()
}

fn client() -> ClientRuntime {
    ClientRuntime::new(ClientConfig::default()).unwrap()
}

const OK: &[u8] = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\nx-a: b\r\n\r\nok";

#[test]
fn content_length_response() {
    let s = server(vec![vec![Step::Reply(OK)]]);
    let r = call(&client(), get(s.addr)).unwrap();
    assert_eq!(r.status, 200);
    assert_eq!(r.body, "ok");
    assert!(r.headers.contains(&(Bytes::from("x-a"), Bytes::from("b"))));
}

#[test]
fn chunked_response_with_trailer() {
    let s = server(vec![vec![Step::Reply(
        b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n5\r\nhello\r\n6;x=y\r\n world\r\n0\r\nt: 1\r\n\r\n",
    )]]);
    let c = client();
    assert_eq!(call(&c, get(s.addr)).unwrap().body, "hello world");
    assert_eq!(c.idle_count(&s.addr.to_string()), 1);
}

#[test]
fn close_delimited_response_is_not_reused() {
    let s = server(vec![vec![Step::ReplyClose(
        b"HTTP/1.1 200 OK\r\n\r\nuntil close",
    )]]);
    let c = client();
    assert_eq!(call(&c, get(s.addr)).unwrap().body, "until close");
    assert_eq!(call(&c, get(s.addr)).unwrap().body, "until close");
    assert_eq!(s.accepts.load(Ordering::SeqCst), 2);
}

#[test]
fn keep_alive_reuses_one_connection() {
    let s = server(vec![vec![Step::Reply(OK), Step::Echo, Step::Reply(OK)]]);
    let c = client();
    call(&c, get(s.addr)).unwrap();
    let mut post = get(s.addr);
    post.method = Bytes::from_static(b"POST");
    post.body = Bytes::from(vec![b'x'; 100_000]);
    assert_eq!(call(&c, post).unwrap().body.len(), 100_000);
    call(&c, get(s.addr)).unwrap();
    assert_eq!(s.accepts.load(Ordering::SeqCst), 1);
}

#[test]
fn connection_close_is_not_reused() {
    let s = server(vec![vec![Step::Reply(
        b"HTTP/1.1 200 OK\r\nconnection: close\r\ncontent-length: 0\r\n\r\n",
    )]]);
    let c = client();
    call(&c, get(s.addr)).unwrap();
    call(&c, get(s.addr)).unwrap();
    assert_eq!(s.accepts.load(Ordering::SeqCst), 2);
    // Asked for by the request.
    let s = server(vec![vec![Step::Reply(OK)]]);
    let mut req = get(s.addr);
    req.headers
        .push((Bytes::from("Connection"), Bytes::from("close")));
    call(&c, req.clone()).unwrap();
    call(&c, req).unwrap();
    assert_eq!(s.accepts.load(Ordering::SeqCst), 2);
}

#[test]
fn interim_responses_are_skipped() {
    let s = server(vec![vec![Step::Reply(
        b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nlink: </a>\r\n\r\nHTTP/1.1 201 Created\r\ncontent-length: 2\r\n\r\nok",
    )]]);
    let r = call(&client(), get(s.addr)).unwrap();
    assert_eq!((r.status, &r.body[..]), (201, &b"ok"[..]));
}

#[test]
fn head_response_has_no_body_and_keeps_the_connection() {
    let s = server(vec![vec![
        Step::Reply(b"HTTP/1.1 200 OK\r\ncontent-length: 1000\r\n\r\n"),
        Step::Reply(b"HTTP/1.1 204 No Content\r\n\r\n"),
        Step::Reply(OK),
    ]]);
    let c = client();
    let mut head = get(s.addr);
    head.method = Bytes::from_static(b"HEAD");
    assert_eq!(call(&c, head).unwrap().body, "");
    assert_eq!(call(&c, get(s.addr)).unwrap().status, 204);
    assert_eq!(call(&c, get(s.addr)).unwrap().body, "ok");
    assert_eq!(s.accepts.load(Ordering::SeqCst), 1);
}

#[test]
fn oversized_head_is_refused() {
    let big: &'static [u8] = Box::leak(
        format!("HTTP/1.1 200 OK\r\nx: {}\r\n\r\n", "a".repeat(70_000))
            .into_bytes()
            .into_boxed_slice(),
    );
    let s = server(vec![vec![Step::Reply(big)]]);
    match call(&client(), get(s.addr)) {
        Err(ClientError::Protocol(why)) => assert!(why.contains("64 KiB"), "{why}"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn oversized_body_is_refused() {
    let c = ClientRuntime::new(ClientConfig {
        max_body: 4,
        ..ClientConfig::default()
    })
    .unwrap();
    for reply in [
        &b"HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\nhello"[..],
        b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
        b"HTTP/1.1 200 OK\r\n\r\nhello",
    ] {
        let s = server(vec![vec![Step::ReplyClose(reply)]]);
        assert!(matches!(
            call(&c, get(s.addr)),
            Err(ClientError::BodyTooLarge)
        ));
    }
}

#[test]
fn malformed_responses_are_protocol_errors() {
    for reply in [
        &b"HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\nhel"[..],
        b"HTTP/1.1 200 OK\r\ncontent-length: 1\r\ncontent-length: 2\r\n\r\nx",
        b"HTTP/1.1 200 OK\r\ntransfer-encoding: gzip\r\n\r\n",
        b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\nzz\r\n",
        b"NOT HTTP\r\n\r\n",
        b"HTTP/1.1 200 OK\r\ncontent-le",
    ] {
        let s = server(vec![vec![Step::ReplyClose(reply)]]);
        let r = call(&client(), get(s.addr));
        assert!(matches!(r, Err(ClientError::Protocol(_))), "{r:?}");
    }
}

#[test]
fn read_timeout() {
    let s = server(vec![vec![Step::Hang]]);
    let mut req = get(s.addr);
    req.timeout = Some(Duration::from_millis(100));
    assert_timed_out(call(&client(), req), Phase::Read);
}

/// `r` is a timeout in `phase`.
fn assert_timed_out(r: Result<Response, ClientError>, phase: Phase) {
    assert!(
        matches!(&r, Err(ClientError::Timeout { phase: p }) if *p == phase),
        "{r:?}"
    );
}

#[test]
fn write_timeout() {
    // The peer accepts and never reads; 64 MiB fills any loopback buffer.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let hold = thread::spawn(move || listener.accept().map(|(s, _)| s));
    let mut req = get(addr);
    req.method = Bytes::from_static(b"PUT");
    req.body = Bytes::from(vec![0u8; 64 << 20]);
    req.timeout = Some(Duration::from_millis(300));
    assert_timed_out(call(&client(), req), Phase::Write);
    drop(hold);
}

#[test]
fn connect_timeout() {
    // A listener whose accept queue is full drops further SYNs: connecting hangs.
    let sock = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    sock.bind(&"127.0.0.1:0".parse::<SocketAddr>().unwrap().into())
        .unwrap();
    sock.listen(0).unwrap();
    let addr = sock.local_addr().unwrap().as_socket().unwrap();
    let mut fill = Vec::new();
    for _ in 0..4 {
        let s = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
        s.set_nonblocking(true).unwrap();
        let _ = s.connect(&addr.into());
        fill.push(s);
    }
    thread::sleep(Duration::from_millis(50));
    let mut req = get(addr);
    req.connect_timeout = Some(Duration::from_millis(200));
    assert_timed_out(call(&client(), req), Phase::Connect);
}

#[test]
fn connection_refused() {
    let addr = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let r = call(&client(), get(addr));
    assert!(matches!(r, Err(ClientError::Connect(_))), "{r:?}");
    assert!(r.unwrap_err().to_string().starts_with("could not connect"));
}

#[test]
fn stale_pooled_connection_is_retried_once_on_a_new_one() {
    // First connection: answers once, then reads the next request and closes unanswered
    // (the keep-alive race). Second connection: answers.
    let s = server(vec![
        vec![Step::Reply(OK), Step::Close],
        vec![Step::Reply(OK)],
    ]);
    let c = client();
    call(&c, get(s.addr)).unwrap();
    assert_eq!(call(&c, get(s.addr)).unwrap().body, "ok");
    assert_eq!(s.accepts.load(Ordering::SeqCst), 2);
}

#[test]
fn closed_fresh_connection_is_not_retried() {
    let s = server(vec![vec![Step::Close]]);
    let r = call(&client(), get(s.addr));
    assert!(matches!(r, Err(ClientError::Closed)), "{r:?}");
    assert_eq!(s.accepts.load(Ordering::SeqCst), 1);
}

#[test]
fn stale_retry_happens_only_once() {
    // Every connection after the first closes unanswered: the retry fails too.
    let s = server(vec![vec![Step::Reply(OK), Step::Close], vec![Step::Close]]);
    let c = client();
    call(&c, get(s.addr)).unwrap();
    assert!(matches!(call(&c, get(s.addr)), Err(ClientError::Closed)));
    assert_eq!(s.accepts.load(Ordering::SeqCst), 2);
}

#[test]
fn a_post_on_a_stale_connection_is_not_resent() {
    // The server may have read it before closing: resending could do it twice.
    let s = server(vec![
        vec![Step::Reply(OK), Step::Close],
        vec![Step::Reply(OK)],
    ]);
    let c = client();
    call(&c, get(s.addr)).unwrap();
    let mut post = get(s.addr);
    post.method = Bytes::from("POST");
    assert!(matches!(call(&c, post), Err(ClientError::Closed)));
    assert_eq!(s.accepts.load(Ordering::SeqCst), 1);
}

#[test]
fn header_injection_is_refused() {
    let s = server(vec![vec![Step::Reply(OK)]]);
    let mut req = get(s.addr);
    req.headers
        .push((Bytes::from("x"), Bytes::from("a\r\nevil: 1")));
    assert!(matches!(
        call(&client(), req),
        Err(ClientError::InvalidRequest(_))
    ));
}

#[test]
fn close_closes_idle_connections() {
    let s = server(vec![vec![Step::Reply(OK)]]);
    let c = client();
    call(&c, get(s.addr)).unwrap();
    assert_eq!(c.idle_count(&s.addr.to_string()), 1);
    c.close();
    assert_eq!(c.idle_count(&s.addr.to_string()), 0);
}

#[test]
fn idle_connections_expire() {
    let s = server(vec![vec![Step::Reply(OK)]]);
    let c = ClientRuntime::new(ClientConfig {
        idle_timeout: Duration::from_millis(50),
        ..ClientConfig::default()
    })
    .unwrap();
    call(&c, get(s.addr)).unwrap();
    thread::sleep(Duration::from_millis(100));
    call(&c, get(s.addr)).unwrap();
    assert_eq!(s.accepts.load(Ordering::SeqCst), 2);
}

#[test]
fn at_most_max_idle_connections_are_kept() {
    let s = server(vec![vec![Step::Hang], vec![Step::Reply(OK)]]);
    let c = ClientRuntime::new(ClientConfig {
        max_idle_per_host: 2,
        ..ClientConfig::default()
    })
    .unwrap();
    // The first connection hangs: five concurrent requests open five more.
    let (tx, rx) = mpsc::channel();
    let mut first = get(s.addr);
    first.timeout = Some(Duration::from_millis(100));
    for i in 0..6 {
        let tx = tx.clone();
        let req = if i == 0 { first.clone() } else { get(s.addr) };
        c.submit(req, Box::new(move |r| tx.send(r.is_ok()).unwrap()));
        if i == 0 {
            // The first request must hold the connection that hangs.
            wait_accepts(&s, 1);
        }
    }
    let oks = (0..6).filter(|_| rx.recv().unwrap()).count();
    assert_eq!(oks, 5);
    assert_eq!(c.idle_count(&s.addr.to_string()), 2);
}

#[test]
fn closed_client_answers_shutdown() {
    let s = server(vec![vec![Step::Hang]]);
    let c = client();
    let (tx, rx) = mpsc::channel();
    c.submit(get(s.addr), Box::new(move |r| tx.send(r).unwrap()));
    wait_accepts(&s, 1);
    c.close();
    c.close();
    assert!(matches!(rx.recv().unwrap(), Err(ClientError::Shutdown)));
    assert!(matches!(call(&c, get(s.addr)), Err(ClientError::Shutdown)));
}
