//! HTTP/2 and TLS end to end without Python: the `h2` crate's client and a rustls client
//! against a real server on loopback, on both IO drivers.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use tokio::net::TcpStream;

use super::Server;
use crate::config::{Bind, IoDriver, ServerConfig, TlsConfig};
use crate::pipeline::{Dispatch, Job};
use crate::protocol::response::Response;
use crate::router::{RouteSpec, Router};

/// Route 0 echoes the body; route 1 keeps the job unanswered (until the test ends).
#[derive(Default)]
struct Dispatcher {
    held: Mutex<Vec<Job>>,
}

impl Dispatch for Dispatcher {
    fn dispatch(&self, job: Job) {
        match job.route {
            0 => {
                let mut body = Vec::from(job.head.version().as_str().as_bytes());
                body.push(b' ');
                body.extend_from_slice(if job.secure.is_some() {
                    b"tls "
                } else {
                    b"clear "
                });
                body.extend_from_slice(&job.body);
                job.reply.send(Response::full(200, "text/plain", body));
            }
            2 => {
                let t = job.trailers.clone().unwrap_or_default();
                job.reply.send(Response::full(200, "text/plain", t));
            }
            _ => self.held.lock().unwrap().push(job),
        }
    }
}

on_both_drivers!(
    h2c_with_prior_knowledge_goes_through_the_pipeline,
    http11_and_h2c_share_the_cleartext_port,
    many_streams_on_one_connection_are_all_answered,
    tls_negotiates_h2_and_http11_by_alpn,
    resets_past_the_budget_end_the_connection_with_enhance_your_calm,
    request_trailers_reach_the_handler,
    an_upgrade_to_h2c_answers_the_request_as_stream_one,
    a_drain_sends_goaway_and_closes,
);

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
            path: "/hold".into(),
        },
        RouteSpec {
            id: 2,
            methods: vec!["POST".into()],
            path: "/trailers".into(),
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
        Arc::new(Dispatcher::default()),
        Arc::new(crate::middleware::Pipeline::new(Vec::new()).unwrap()),
        None,
        None,
    )
    .unwrap_or_else(|e| panic!("cannot start on {io:?}: {e}"));
    let addr = server.addresses()[0].clone();
    (server, addr)
}

fn block_on<F: std::future::Future>(f: F) -> F::Output {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    // Generous: the test fails on a hang rather than waiting forever, never on a slow machine.
    rt.block_on(async { tokio::time::timeout(Duration::from_secs(60), f).await })
        .expect("the exchange did not finish within 60 s")
}

type Client = h2::client::SendRequest<Bytes>;

async fn h2_client<IO>(io: IO) -> (Client, tokio::task::JoinHandle<Result<(), h2::Error>>)
where
    IO: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let (client, conn) = h2::client::handshake(io).await.unwrap();
    (client, tokio::spawn(conn))
}

async fn request(client: &mut Client, method: &str, path: &str, body: &[u8]) -> (u16, Vec<u8>) {
    let req = http::Request::builder()
        .method(method)
        .uri(format!("http://localhost{path}"))
        .body(())
        .unwrap();
    let mut ready = client.clone().ready().await.unwrap();
    let (resp, mut send) = ready.send_request(req, body.is_empty()).unwrap();
    if !body.is_empty() {
        send.send_data(Bytes::copy_from_slice(body), true).unwrap();
    }
    let resp = resp.await.unwrap();
    let status = resp.status().as_u16();
    let mut recv = resp.into_body();
    let mut out = Vec::new();
    while let Some(chunk) = recv.data().await {
        let chunk = chunk.unwrap();
        let _ = recv.flow_control().release_capacity(chunk.len());
        out.extend_from_slice(&chunk);
    }
    (status, out)
}

fn h2c_with_prior_knowledge_goes_through_the_pipeline(io: IoDriver) {
    let (server, addr) = start_with(io, |_| {});
    block_on(async {
        let (mut c, _conn) = h2_client(TcpStream::connect(&addr).await.unwrap()).await;
        assert_eq!(
            request(&mut c, "POST", "/echo", b"hello").await,
            (200, b"HTTP/2 clear hello".to_vec())
        );
        // The router's answers are the pipeline's, over HTTP/2 too.
        assert_eq!(request(&mut c, "GET", "/nope", b"").await.0, 404);
        assert_eq!(request(&mut c, "DELETE", "/echo", b"").await.0, 405);
        // A body larger than the initial windows: flow control opens them as it is read.
        let big = vec![b'x'; 5 << 20];
        let (status, body) = request(&mut c, "POST", "/echo", &big).await;
        assert_eq!(
            (status, body.len()),
            (200, big.len() + b"HTTP/2 clear ".len())
        );
    });
    server.begin_drain();
    server.join();
}

fn http11_and_h2c_share_the_cleartext_port(io: IoDriver) {
    use std::io::{Read, Write};
    let (server, addr) = start_with(io, |_| {});
    let mut s = std::net::TcpStream::connect(&addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.write_all(b"GET /echo HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut out = String::new();
    let _ = s.read_to_string(&mut out);
    assert!(out.starts_with("HTTP/1.1 200 OK\r\n"), "{out}");
    assert!(out.ends_with("HTTP/1.1 clear "), "{out}");
    block_on(async {
        let (mut c, _conn) = h2_client(TcpStream::connect(&addr).await.unwrap()).await;
        assert_eq!(request(&mut c, "GET", "/echo", b"").await.0, 200);
    });
    server.begin_drain();
    server.join();
}

fn many_streams_on_one_connection_are_all_answered(io: IoDriver) {
    let (server, addr) = start_with(io, |_| {});
    block_on(async {
        let (mut c, _conn) = h2_client(TcpStream::connect(&addr).await.unwrap()).await;
        // One exchange first: the client learns SETTINGS_MAX_CONCURRENT_STREAMS (100) and
        // queues the rest; before it, streams past 100 are refused (RFC 9113 §5.1.2).
        assert_eq!(request(&mut c, "GET", "/echo", b"").await.0, 200);
        let mut tasks = Vec::new();
        for i in 0..200 {
            let mut c = c.clone();
            tasks.push(tokio::spawn(async move {
                request(&mut c, "POST", "/echo", format!("{i}").as_bytes()).await
            }));
        }
        for (i, t) in tasks.into_iter().enumerate() {
            let (status, body) = t.await.unwrap();
            assert_eq!(status, 200);
            assert_eq!(body, format!("HTTP/2 clear {i}").into_bytes());
        }
    });
    server.begin_drain();
    server.join();
}

/// A CA-less self-signed certificate for localhost, written to a temporary directory.
fn certificate() -> (
    TlsConfig,
    rustls::pki_types::CertificateDer<'static>,
    tempdir::Dir,
) {
    let ck = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
    let dir = tempdir::Dir::new();
    let (cert, key) = (dir.path("cert.pem"), dir.path("key.pem"));
    std::fs::write(&cert, ck.cert.pem()).unwrap();
    std::fs::write(&key, ck.key_pair.serialize_pem()).unwrap();
    let cfg = TlsConfig {
        certs: vec![(cert, key)],
        ca: None,
        client_verify: crate::config::ClientVerify::Off,
        allow_tls12: false,
        handshake_timeout: Duration::from_secs(10),
        reload_interval: None,
    };
    (cfg, ck.cert.der().clone(), dir)
}

/// A scratch directory removed when dropped.
mod tempdir {
    use std::path::PathBuf;

    pub struct Dir(PathBuf);

    impl Dir {
        pub fn new() -> Dir {
            static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
            let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let p = std::env::temp_dir().join(format!("covetpy-tls-{}-{n}", std::process::id()));
            std::fs::create_dir_all(&p).unwrap();
            Dir(p)
        }

        pub fn path(&self, name: &str) -> PathBuf {
            self.0.join(name)
        }
    }

    impl Drop for Dir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}

async fn tls_connect(
    addr: &str,
    root: &rustls::pki_types::CertificateDer<'static>,
    alpn: &[u8],
) -> tokio_rustls::client::TlsStream<TcpStream> {
    let mut roots = rustls::RootCertStore::empty();
    roots.add(root.clone()).unwrap();
    let mut cfg = rustls::ClientConfig::builder()
        .with_root_certificates(roots)
        .with_no_client_auth();
    cfg.alpn_protocols = vec![alpn.to_vec()];
    let connector = tokio_rustls::TlsConnector::from(Arc::new(cfg));
    let tcp = TcpStream::connect(addr).await.unwrap();
    let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
    connector.connect(name, tcp).await.unwrap()
}

fn tls_negotiates_h2_and_http11_by_alpn(io: IoDriver) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let (tls, root, _dir) = certificate();
    let (server, addr) = start_with(io, |c| c.tls = Some(tls));
    block_on(async {
        let s = tls_connect(&addr, &root, b"h2").await;
        assert_eq!(s.get_ref().1.alpn_protocol(), Some(&b"h2"[..]));
        assert_eq!(
            s.get_ref().1.protocol_version(),
            Some(rustls::ProtocolVersion::TLSv1_3)
        );
        let (mut c, _conn) = h2_client(s).await;
        assert_eq!(
            request(&mut c, "POST", "/echo", b"x").await,
            (200, b"HTTP/2 tls x".to_vec())
        );
        let mut s = tls_connect(&addr, &root, b"http/1.1").await;
        s.write_all(b"GET /echo HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            .await
            .unwrap();
        let mut out = Vec::new();
        let _ = s.read_to_end(&mut out).await;
        let out = String::from_utf8_lossy(&out);
        assert!(out.starts_with("HTTP/1.1 200 OK\r\n"), "{out}");
        assert!(out.ends_with("HTTP/1.1 tls "), "{out}");
    });
    server.begin_drain();
    server.join();
}

fn resets_past_the_budget_end_the_connection_with_enhance_your_calm(io: IoDriver) {
    let (server, addr) = start_with(io, |c| c.h2.max_resets = 20);
    block_on(async {
        let (c, conn) = h2_client(TcpStream::connect(&addr).await.unwrap()).await;
        // Rapid reset (CVE-2023-44487): requests opened and cancelled, over and over; each
        // waits on a handler that never answers, so every one is reset by the client.
        for _ in 0..100 {
            let Ok(mut ready) = c.clone().ready().await else {
                break;
            };
            let req = http::Request::get("http://localhost/hold")
                .body(())
                .unwrap();
            let Ok((resp, _)) = ready.send_request(req, true) else {
                break;
            };
            // Dropping the response future resets the stream (RST_STREAM CANCEL) once the
            // server has taken it: give it the time to.
            let _ = tokio::time::timeout(Duration::from_millis(5), resp).await;
        }
        let ended = conn.await.unwrap();
        let e = ended.expect_err("the server ends the connection");
        assert_eq!(e.reason(), Some(h2::Reason::ENHANCE_YOUR_CALM), "{e}");
        // Other connections are served meanwhile.
        let (mut c2, _conn) = h2_client(TcpStream::connect(&addr).await.unwrap()).await;
        assert_eq!(request(&mut c2, "GET", "/echo", b"").await.0, 200);
    });
    server.begin_drain();
    server.join();
}

fn request_trailers_reach_the_handler(io: IoDriver) {
    let (server, addr) = start_with(io, |_| {});
    block_on(async {
        let (c, _conn) = h2_client(TcpStream::connect(&addr).await.unwrap()).await;
        let mut ready = c.ready().await.unwrap();
        let req = http::Request::post("http://localhost/trailers")
            .body(())
            .unwrap();
        let (resp, mut send) = ready.send_request(req, false).unwrap();
        send.send_data(Bytes::from_static(b"body"), false).unwrap();
        let mut t = http::HeaderMap::new();
        t.insert("x-checksum", "abc".parse().unwrap());
        send.send_trailers(t).unwrap();
        let resp = resp.await.unwrap();
        let mut body = resp.into_body();
        let mut out = Vec::new();
        while let Some(c) = body.data().await {
            out.extend_from_slice(&c.unwrap());
        }
        assert_eq!(out, b"x-checksum: abc\r\n");
    });
    server.begin_drain();
    server.join();
}

fn an_upgrade_to_h2c_answers_the_request_as_stream_one(io: IoDriver) {
    use std::io::{Read, Write};
    let (server, addr) = start_with(io, |_| {});
    let mut s = std::net::TcpStream::connect(&addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.write_all(
        b"GET /echo HTTP/1.1\r\nHost: x\r\nConnection: Upgrade, HTTP2-Settings\r\n\
          Upgrade: h2c\r\nHTTP2-Settings: AAMAAABkAARAAAAA\r\n\r\n",
    )
    .unwrap();
    let switching = b"HTTP/1.1 101 Switching Protocols\r\n";
    let mut got = vec![0; switching.len()];
    s.read_exact(&mut got).unwrap();
    assert_eq!(got, switching);
    // The client's preface and SETTINGS (RFC 7540 §3.2), then frames until stream 1's DATA.
    s.write_all(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\0\0\0\x04\0\0\0\0\0")
        .unwrap();
    let mut wire = Vec::new();
    let mut buf = [0u8; 4096];
    let needle = b"HTTP/2 clear ";
    while !wire.windows(needle.len()).any(|w| w == needle) {
        let n = s.read(&mut buf).unwrap();
        assert!(n > 0, "closed before stream 1 was answered: {wire:?}");
        wire.extend_from_slice(&buf[..n]);
    }
    server.begin_drain();
    server.join();
}

fn a_drain_sends_goaway_and_closes(io: IoDriver) {
    let (server, addr) = start_with(io, |_| {});
    let server = Arc::new(Mutex::new(Some(server)));
    block_on(async {
        let (mut c, conn) = h2_client(TcpStream::connect(&addr).await.unwrap()).await;
        assert_eq!(request(&mut c, "GET", "/echo", b"").await.0, 200);
        server.lock().unwrap().as_ref().unwrap().begin_drain();
        // GOAWAY NO_ERROR, then the close: the client's connection ends without an error.
        conn.await.unwrap().expect("a graceful GOAWAY");
    });
    let server = server.lock().unwrap().take().unwrap();
    server.join();
}

#[test]
fn a_streams_future_stays_small() {
    // Each stream's future is boxed once when its task is spawned; its large, rare parts
    // (a WebSocket, a streamed or file body, a mount's body feed) are boxed where they start.
    // Unboxed it was 5.3 KB, and its copies were 10 % of the IO thread's time at 90k
    // streams/s (perf, h2load -c64 -m10).
    let size = super::http2::stream_future_size();
    assert!(size < 4096, "the stream future grew to {size} bytes");
}
