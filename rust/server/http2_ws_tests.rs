//! WebSocket over HTTP/2 (RFC 8441) end to end without Python: the `h2` crate's client opens
//! extended CONNECT streams on a real server on loopback (both IO drivers) and speaks raw
//! WebSocket frames (RFC 6455 §5) on them; the dispatcher's "handlers" are threads using the
//! session as the bridge does.

use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::{Buf, Bytes, BytesMut};
use h2::{RecvStream, SendStream};
use tokio::net::TcpStream;

use super::Server;
use crate::config::{Bind, IoDriver, ServerConfig};
use crate::pipeline::{Dispatch, Job, RouteKind};
use crate::protocol::response::Response;
use crate::router::{Mount, RouteSpec, Router};
use crate::websocket::{Received, Session};

/// Route 0 (`/ws`): a WebSocket route that accepts (choosing `chat` when offered, adding
/// `x-accepted: 1`) and echoes. Route 1 (`/refuse`): a WebSocket route whose handler answers
/// 403 without accepting. Route 2 (`/plain`): an HTTP route. Route 3: a mount at `/app` that
/// accepts and echoes like route 0. Every echo records the close its handler saw.
#[derive(Default)]
struct Dispatcher {
    closes: Arc<Mutex<Vec<u16>>>,
}

impl Dispatch for Dispatcher {
    fn dispatch(&self, job: Job) {
        match (job.route, job.ws.clone()) {
            (0 | 3, Some(session)) => {
                let closes = self.closes.clone();
                std::thread::spawn(move || {
                    let offered = session.upgrade.subprotocols.iter().any(|p| &**p == "chat");
                    let chosen = offered.then_some("chat");
                    session.accept(chosen, b"x-accepted: 1\r\n").unwrap();
                    let code = echo(&session);
                    closes.lock().unwrap().push(code);
                    drop(job.reply);
                });
            }
            (1, Some(_)) => {
                job.reply
                    .send(Response::full(403, "text/plain", Bytes::from_static(b"no")));
            }
            _ => {
                job.reply.send(Response::full(
                    200,
                    "text/plain",
                    Bytes::from_static(b"plain"),
                ));
            }
        }
    }

    fn kind(&self, route: usize) -> RouteKind {
        match route {
            0 | 1 => RouteKind::WebSocket,
            3 => RouteKind::Mount,
            _ => RouteKind::Http,
        }
    }
}

/// Echoes every message until the session closes; the close code the handler saw.
fn echo(session: &Arc<Session>) -> u16 {
    loop {
        match session.receive() {
            Received::Message(kind, data) => loop {
                match session.send(kind, &data) {
                    Ok(true) => break,
                    Ok(false) => wait(|w| session.on_send(w)),
                    Err(code) => return code,
                }
            },
            Received::Closed(code, _) => return code,
            Received::Empty => wait(|w| session.on_receive(w)),
        }
    }
}

fn wait(register: impl FnOnce(crate::websocket::session::Wake)) {
    let (tx, rx) = mpsc::channel();
    register(Box::new(move || {
        let _ = tx.send(());
    }));
    let _ = rx.recv();
}

on_both_drivers!(
    a_websocket_opens_with_200_and_echoes_through_flow_control,
    a_mount_opens_a_websocket_too,
    a_refusal_is_the_handlers_answer_on_the_stream,
    handshakes_that_fail_are_answered_on_their_stream,
    a_client_reset_ends_the_session,
    a_drain_closes_the_websocket_with_1001,
);

fn start(io: IoDriver) -> (Server, String, Arc<Mutex<Vec<u16>>>) {
    let routes = vec![
        RouteSpec {
            id: 0,
            methods: vec!["GET".into()],
            path: "/ws".into(),
        },
        RouteSpec {
            id: 1,
            methods: vec!["GET".into()],
            path: "/refuse".into(),
        },
        RouteSpec {
            id: 2,
            methods: vec!["GET".into()],
            path: "/plain".into(),
        },
    ];
    let mounts = vec![Mount {
        id: 3,
        prefix: "/app".into(),
    }];
    let config = ServerConfig {
        bind: Bind::Tcp {
            host: "127.0.0.1".into(),
            port: 0,
        },
        drain_timeout: Duration::from_secs(5),
        io,
        ..ServerConfig::default()
    };
    let dispatcher = Dispatcher::default();
    let closes = dispatcher.closes.clone();
    let server = Server::start(
        config,
        Arc::new(Router::with_mounts(&routes, &mounts).unwrap()),
        Arc::new(dispatcher),
        Arc::new(crate::middleware::Pipeline::new(Vec::new()).unwrap()),
        None,
        None,
    )
    .unwrap_or_else(|e| panic!("cannot start on {io:?}: {e}"));
    let addr = server.addresses()[0].clone();
    (server, addr, closes)
}

fn block_on<F: std::future::Future>(f: F) -> F::Output {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async { tokio::time::timeout(Duration::from_secs(60), f).await })
        .expect("the exchange did not finish within 60 s")
}

type Client = h2::client::SendRequest<Bytes>;

/// A client that has seen the server's SETTINGS (one exchange first): extended CONNECT is
/// allowed only after SETTINGS_ENABLE_CONNECT_PROTOCOL = 1 (RFC 8441 §3).
async fn client(addr: &str) -> (Client, tokio::task::JoinHandle<Result<(), h2::Error>>) {
    let io = TcpStream::connect(addr).await.unwrap();
    let (mut c, conn) = h2::client::handshake(io).await.unwrap();
    let conn = tokio::spawn(conn);
    let (status, body) = get(&mut c, "/plain").await;
    assert_eq!((status, &body[..]), (200, &b"plain"[..]));
    assert!(c.is_extended_connect_protocol_enabled());
    (c, conn)
}

async fn read_all(mut recv: RecvStream) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(chunk) = recv.data().await {
        let chunk = chunk.unwrap();
        let _ = recv.flow_control().release_capacity(chunk.len());
        out.extend_from_slice(&chunk);
    }
    out
}

async fn get(c: &mut Client, path: &str) -> (u16, Vec<u8>) {
    let req = http::Request::get(format!("http://localhost{path}"))
        .body(())
        .unwrap();
    let mut ready = c.clone().ready().await.unwrap();
    let (resp, _) = ready.send_request(req, true).unwrap();
    let resp = resp.await.unwrap();
    let status = resp.status().as_u16();
    (status, read_all(resp.into_body()).await)
}

/// Sends an extended CONNECT for `path` with `protocol` and `fields`.
async fn connect(
    c: &mut Client,
    path: &str,
    protocol: &'static str,
    fields: &[(&str, &str)],
) -> (http::Response<RecvStream>, SendStream<Bytes>) {
    let mut req = http::Request::builder()
        .method(http::Method::CONNECT)
        .uri(format!("http://localhost{path}"))
        .extension(h2::ext::Protocol::from_static(protocol));
    for (n, v) in fields {
        req = req.header(*n, *v);
    }
    let mut ready = c.clone().ready().await.unwrap();
    let (resp, send) = ready.send_request(req.body(()).unwrap(), false).unwrap();
    (resp.await.unwrap(), send)
}

const VERSION_13: (&str, &str) = ("sec-websocket-version", "13");

/// The client's side of a WebSocket on a stream: masked frames out (RFC 6455 §5.3), whole
/// unmasked frames in.
struct Ws {
    send: SendStream<Bytes>,
    recv: RecvStream,
    buf: BytesMut,
}

impl Ws {
    async fn open(c: &mut Client, path: &str) -> Ws {
        let (resp, send) = connect(c, path, "websocket", &[VERSION_13]).await;
        assert_eq!(resp.status(), 200);
        Ws {
            send,
            recv: resp.into_body(),
            buf: BytesMut::new(),
        }
    }

    /// Sends one final frame, waiting for window as a client must.
    async fn send(&mut self, opcode: u8, payload: &[u8]) {
        let mut data = Bytes::from(masked(opcode, payload));
        while !data.is_empty() {
            self.send.reserve_capacity(data.len());
            let n = std::future::poll_fn(|cx| self.send.poll_capacity(cx))
                .await
                .unwrap()
                .unwrap();
            let piece = data.split_to(n.min(data.len()));
            self.send.send_data(piece, false).unwrap();
        }
    }

    /// The next frame (opcode, payload), or None at the end of the stream.
    async fn next(&mut self) -> Option<(u8, Vec<u8>)> {
        loop {
            if let Some(f) = parse(&mut self.buf) {
                return Some(f);
            }
            let chunk = self.recv.data().await?.unwrap();
            let _ = self.recv.flow_control().release_capacity(chunk.len());
            self.buf.extend_from_slice(&chunk);
        }
    }
}

fn masked(opcode: u8, payload: &[u8]) -> Vec<u8> {
    let key = [0x37, 0xfa, 0x21, 0x3d];
    let mut f = vec![0x80 | opcode];
    match payload.len() {
        n if n < 126 => f.push(0x80 | n as u8),
        n if n <= 0xffff => {
            f.push(0x80 | 126);
            f.extend_from_slice(&(n as u16).to_be_bytes());
        }
        n => {
            f.push(0x80 | 127);
            f.extend_from_slice(&(n as u64).to_be_bytes());
        }
    }
    f.extend_from_slice(&key);
    f.extend(payload.iter().enumerate().map(|(i, b)| b ^ key[i % 4]));
    f
}

/// One whole server frame off the front of `buf` (servers never mask, §5.1).
fn parse(buf: &mut BytesMut) -> Option<(u8, Vec<u8>)> {
    if buf.len() < 2 {
        return None;
    }
    assert_eq!(buf[1] & 0x80, 0, "a server frame is never masked");
    assert_eq!(buf[0] & 0x80, 0x80, "the echo sends whole messages");
    let (len, at) = match buf[1] & 0x7f {
        126 if buf.len() >= 4 => (u16::from_be_bytes([buf[2], buf[3]]) as usize, 4),
        127 if buf.len() >= 10 => (
            u64::from_be_bytes(buf[2..10].try_into().unwrap()) as usize,
            10,
        ),
        126 | 127 => return None,
        n => (n as usize, 2),
    };
    if buf.len() < at + len {
        return None;
    }
    let opcode = buf[0] & 0x0f;
    buf.advance(at);
    Some((opcode, buf.split_to(len).to_vec()))
}

fn close_payload(code: u16) -> Vec<u8> {
    code.to_be_bytes().to_vec()
}

/// Waits (a few seconds at most) until the handlers have seen `n` closes; returns them.
fn closes_seen(closes: &Mutex<Vec<u16>>, n: usize) -> Vec<u16> {
    for _ in 0..500 {
        let c = closes.lock().unwrap().clone();
        if c.len() >= n {
            return c;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    closes.lock().unwrap().clone()
}

fn a_websocket_opens_with_200_and_echoes_through_flow_control(io: IoDriver) {
    let (server, addr, closes) = start(io);
    block_on(async {
        let (mut c, _conn) = client(&addr).await;
        let fields = [VERSION_13, ("sec-websocket-protocol", "superchat, chat")];
        let (resp, send) = connect(&mut c, "/ws", "websocket", &fields).await;
        // RFC 8441 §5: a 2xx opens it; the subprotocol as over HTTP/1.1, no accept key and
        // nothing connection-specific.
        assert_eq!(resp.status(), 200);
        let h = resp.headers();
        assert_eq!(h.get("sec-websocket-protocol").unwrap(), "chat");
        assert_eq!(h.get("x-accepted").unwrap(), "1");
        for absent in ["sec-websocket-accept", "upgrade", "connection"] {
            assert!(h.get(absent).is_none(), "{absent}: {h:?}");
        }
        let mut ws = Ws {
            send,
            recv: resp.into_body(),
            buf: BytesMut::new(),
        };
        ws.send(0x1, b"hello").await;
        assert_eq!(ws.next().await, Some((0x1, b"hello".to_vec())));
        // Larger than the 64 KiB initial windows both ways: the windows open as it is read.
        let big: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
        ws.send(0x2, &big).await;
        assert_eq!(ws.next().await, Some((0x2, big)));
        // A ping is answered with its payload (§5.5.2).
        ws.send(0x9, b"p").await;
        assert_eq!(ws.next().await, Some((0xa, b"p".to_vec())));
        // The close handshake (§7.1.2): the server echoes the code, then ends the stream.
        ws.send(0x8, &close_payload(1000)).await;
        assert_eq!(ws.next().await, Some((0x8, close_payload(1000))));
        ws.send.send_data(Bytes::new(), true).unwrap();
        assert_eq!(ws.next().await, None);
        // The connection carries on with other streams.
        assert_eq!(get(&mut c, "/plain").await.0, 200);
    });
    assert_eq!(closes_seen(&closes, 1), [1000]);
    server.begin_drain();
    server.join();
}

fn a_mount_opens_a_websocket_too(io: IoDriver) {
    let (server, addr, closes) = start(io);
    block_on(async {
        let (mut c, _conn) = client(&addr).await;
        // Two at once on one connection.
        let mut a = Ws::open(&mut c, "/app/room?x=1").await;
        let mut b = Ws::open(&mut c, "/ws").await;
        a.send(0x1, b"to a").await;
        b.send(0x1, b"to b").await;
        assert_eq!(b.next().await, Some((0x1, b"to b".to_vec())));
        assert_eq!(a.next().await, Some((0x1, b"to a".to_vec())));
        for ws in [&mut a, &mut b] {
            ws.send(0x8, &close_payload(4000)).await;
            assert_eq!(ws.next().await, Some((0x8, close_payload(4000))));
        }
    });
    assert_eq!(closes_seen(&closes, 2), [4000, 4000]);
    server.begin_drain();
    server.join();
}

fn a_refusal_is_the_handlers_answer_on_the_stream(io: IoDriver) {
    let (server, addr, _) = start(io);
    block_on(async {
        let (mut c, _conn) = client(&addr).await;
        let (resp, _send) = connect(&mut c, "/refuse", "websocket", &[VERSION_13]).await;
        assert_eq!(resp.status(), 403);
        assert_eq!(read_all(resp.into_body()).await, b"no");
        assert_eq!(get(&mut c, "/plain").await.0, 200);
    });
    server.begin_drain();
    server.join();
}

fn handshakes_that_fail_are_answered_on_their_stream(io: IoDriver) {
    let (server, addr, _) = start(io);
    block_on(async {
        let (mut c, _conn) = client(&addr).await;
        let status = |r: &http::Response<RecvStream>| r.status().as_u16();
        // No Sec-WebSocket-Version: 426 naming 13 (RFC 6455 §4.4).
        let (r, _s) = connect(&mut c, "/ws", "websocket", &[]).await;
        assert_eq!(status(&r), 426);
        assert_eq!(r.headers().get("sec-websocket-version").unwrap(), "13");
        // A protocol other than websocket.
        let (r, _s) = connect(&mut c, "/ws", "connect-udp", &[VERSION_13]).await;
        assert_eq!(status(&r), 501);
        // An HTTP route: a 2xx would say the WebSocket is open.
        let (r, _s) = connect(&mut c, "/plain", "websocket", &[VERSION_13]).await;
        assert_eq!(status(&r), 400);
        // The router's answers as for any request.
        let (r, _s) = connect(&mut c, "/nope", "websocket", &[VERSION_13]).await;
        assert_eq!(status(&r), 404);
        // A body announced on the CONNECT: its DATA are frames, not a body.
        let (r, _s) = connect(
            &mut c,
            "/ws",
            "websocket",
            &[VERSION_13, ("content-length", "2")],
        )
        .await;
        assert_eq!(status(&r), 400);
        // A bad subprotocol list.
        let fields = [VERSION_13, ("sec-websocket-protocol", "a b")];
        let (r, _s) = connect(&mut c, "/ws", "websocket", &fields).await;
        assert_eq!(status(&r), 400);
        assert_eq!(get(&mut c, "/plain").await.0, 200);
    });
    server.begin_drain();
    server.join();
}

fn a_client_reset_ends_the_session(io: IoDriver) {
    let (server, addr, closes) = start(io);
    block_on(async {
        let (mut c, _conn) = client(&addr).await;
        let mut ws = Ws::open(&mut c, "/ws").await;
        ws.send(0x1, b"x").await;
        assert_eq!(ws.next().await, Some((0x1, b"x".to_vec())));
        // A reset is the abnormal end of the stream: the handler sees 1006 (§7.1.5).
        ws.send.send_reset(h2::Reason::CANCEL);
        drop(ws);
        // The connection carries on.
        assert_eq!(get(&mut c, "/plain").await.0, 200);
    });
    assert_eq!(closes_seen(&closes, 1), [1006]);
    server.begin_drain();
    server.join();
}

fn a_drain_closes_the_websocket_with_1001(io: IoDriver) {
    let (server, addr, closes) = start(io);
    let server = Arc::new(Mutex::new(Some(server)));
    block_on(async {
        let (mut c, conn) = client(&addr).await;
        let mut ws = Ws::open(&mut c, "/ws").await;
        ws.send(0x1, b"before").await;
        assert_eq!(ws.next().await, Some((0x1, b"before".to_vec())));
        server.lock().unwrap().as_ref().unwrap().begin_drain();
        // As over HTTP/1.1: the server closes with 1001 "going away" (§7.4.1).
        let (op, payload) = ws.next().await.unwrap();
        assert_eq!((op, &payload[..2]), (0x8, &close_payload(1001)[..]));
        ws.send(0x8, &close_payload(1001)).await;
        ws.send.send_data(Bytes::new(), true).unwrap();
        assert_eq!(ws.next().await, None);
        drop(ws);
        drop(c);
        // Then the connection ends with its GOAWAY, without an error.
        conn.await.unwrap().expect("a graceful GOAWAY");
    });
    assert_eq!(closes_seen(&closes, 1), [1001]);
    let server = server.lock().unwrap().take().unwrap();
    server.join();
}
