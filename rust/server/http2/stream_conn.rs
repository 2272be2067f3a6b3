//! An HTTP/2 stream as a [`Conn`]: what carries a WebSocket over HTTP/2 (RFC 8441) through the
//! same `server::ws` loop as a TCP or TLS connection.
//!
//! A read is the stream's next DATA, whose flow-control window is given back as it is handed
//! on: a reader that stops reading (the handler's inbox is full) stops giving it back, and the
//! client stops sending, as a TCP window closes. A write goes out in pieces as the client's
//! window allows, each waiting at most the write timeout (as `send.rs`). END_STREAM is the
//! end of stream each way (RFC 8441 §5: it stands for TCP's FIN); an abort resets the stream.

use std::cell::{Cell, RefCell};
use std::io;
use std::rc::Rc;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use h2::{Reason, RecvStream, SendStream};
use tokio::sync::Notify;

use crate::io::socket::PeerState;
use crate::io::{Conn, ReadHalf, WriteHalf};

/// Writes up to this size are copied into the stream, so the caller keeps its buffer for the
/// next write (`ws.rs` pools them); larger ones move into the stream without a copy.
const COPY_MAX: usize = 16 * 1024;

/// What the two halves share: an abort ends a read that waits for DATA.
#[derive(Default)]
struct Link {
    aborted: Cell<bool>,
    wake: Notify,
}

/// An accepted extended CONNECT's stream, both ways.
pub(super) struct StreamConn {
    rx: StreamReader,
    /// In a cell for `peer_state`, which looks at the stream's reset through `&self`.
    tx: RefCell<StreamWriter>,
}

impl StreamConn {
    /// The stream after its `200` went out: `send` from the response, `recv` the request's
    /// body; a write waits at most `write_timeout` for window.
    pub fn new(send: SendStream<Bytes>, recv: RecvStream, write_timeout: Duration) -> Self {
        let link = Rc::new(Link::default());
        StreamConn {
            rx: StreamReader {
                recv,
                link: link.clone(),
            },
            tx: RefCell::new(StreamWriter {
                send,
                link,
                timeout: write_timeout,
                ended: false,
                cut: false,
            }),
        }
    }
}

impl Conn for StreamConn {
    async fn read(&mut self, buf: BytesMut) -> (io::Result<usize>, BytesMut) {
        self.rx.read(buf).await
    }

    async fn write_all(&mut self, buf: Vec<u8>) -> (io::Result<()>, Vec<u8>) {
        self.tx.get_mut().write_all(buf).await
    }

    async fn shutdown(&mut self) {
        self.tx.get_mut().shutdown().await
    }

    fn peer_state(&self) -> PeerState {
        let Ok(mut tx) = self.tx.try_borrow_mut() else {
            return PeerState::Open;
        };
        if reset_now(&mut tx.send) {
            PeerState::Gone
        } else if self.rx.recv.is_end_stream() {
            PeerState::SentEnd
        } else {
            PeerState::Open
        }
    }

    type Io = crate::io::epoll::Stream;

    /// A stream is not a socket: it never changes protocol.
    fn into_io(self) -> io::Result<crate::io::epoll::Stream> {
        Err(io::Error::new(
            io::ErrorKind::Unsupported,
            "an HTTP/2 stream does not switch protocols",
        ))
    }

    type Reader = StreamReader;
    type Writer = StreamWriter;

    fn split(self) -> (StreamReader, StreamWriter) {
        (self.rx, self.tx.into_inner())
    }
}

/// Whether the client reset the stream (or the connection failed), looked at without waiting.
fn reset_now(send: &mut SendStream<Bytes>) -> bool {
    // A waker that does nothing (`Waker::noop` needs Rust 1.85; the MSRV is 1.80). Made per
    // call: nothing in a WebSocket's loop asks.
    struct Noop;
    impl std::task::Wake for Noop {
        fn wake(self: std::sync::Arc<Self>) {}
    }
    let waker = std::task::Waker::from(std::sync::Arc::new(Noop));
    let mut cx = std::task::Context::from_waker(&waker);
    send.poll_reset(&mut cx).is_ready()
}

/// The reading half: the request's DATA.
pub(super) struct StreamReader {
    recv: RecvStream,
    link: Rc<Link>,
}

impl ReadHalf for StreamReader {
    async fn read(&mut self, mut buf: BytesMut) -> (io::Result<usize>, BytesMut) {
        loop {
            if self.link.aborted.get() {
                return (Ok(0), buf);
            }
            let next = tokio::select! {
                biased;
                // Looks at `aborted` again (a wake-up left by an abort with no read waiting
                // is taken here too).
                () = self.link.wake.notified() => continue,
                next = self.recv.data() => next,
            };
            match next {
                None => return (Ok(0), buf),
                Some(Ok(chunk)) => {
                    // The window opens again for what is handed on.
                    let _ = self.recv.flow_control().release_capacity(chunk.len());
                    if chunk.is_empty() {
                        // An empty DATA frame is not the end of the stream.
                        continue;
                    }
                    buf.extend_from_slice(&chunk);
                    return (Ok(chunk.len()), buf);
                }
                Some(Err(e)) => return (Err(io::Error::other(e)), buf),
            }
        }
    }
}

/// The writing half: the response's DATA.
pub(super) struct StreamWriter {
    send: SendStream<Bytes>,
    link: Rc<Link>,
    timeout: Duration,
    /// END_STREAM or RST_STREAM is out: nothing more is sent.
    ended: bool,
    /// A write did not complete (cancelled by the caller's timeout, or failed): what went out
    /// of it is a cut message, which only a reset may follow.
    cut: bool,
}

impl StreamWriter {
    /// Sends `data` as the client's window allows.
    async fn put(&mut self, mut data: Bytes) -> io::Result<()> {
        if self.ended {
            return Err(io::ErrorKind::BrokenPipe.into());
        }
        while !data.is_empty() {
            self.send.reserve_capacity(data.len());
            let send = &mut self.send;
            let granted = tokio::time::timeout(
                self.timeout,
                std::future::poll_fn(|cx| send.poll_capacity(cx)),
            )
            .await;
            let n = match granted {
                Ok(Some(Ok(n))) => n,
                Ok(Some(Err(e))) => return Err(io::Error::other(e)),
                // The stream was reset or the connection closed.
                Ok(None) => return Err(io::ErrorKind::BrokenPipe.into()),
                Err(_) => {
                    // The client kept its window shut for the whole write timeout.
                    return Err(io::ErrorKind::TimedOut.into());
                }
            };
            if n == 0 {
                continue;
            }
            // All the capacity granted is used (or all the data sent): the next reserve always
            // asks for more than is assigned, so the next poll waits for a WINDOW_UPDATE.
            let piece = data.split_to(n.min(data.len()));
            self.send
                .send_data(piece, false)
                .map_err(io::Error::other)?;
        }
        Ok(())
    }

    fn reset(&mut self) {
        self.ended = true;
        self.send.send_reset(Reason::CANCEL);
    }
}

impl WriteHalf for StreamWriter {
    async fn write_all(&mut self, buf: Vec<u8>) -> (io::Result<()>, Vec<u8>) {
        let (data, back) = if buf.len() <= COPY_MAX {
            (Bytes::copy_from_slice(&buf), buf)
        } else {
            (Bytes::from(buf), Vec::new())
        };
        // Cleared only when the write completes: a write the caller cancels leaves it set.
        self.cut = true;
        let r = self.put(data).await;
        self.cut = r.is_err();
        (r, back)
    }

    async fn shutdown(&mut self) {
        if self.ended {
            return;
        }
        if self.cut {
            // END_STREAM after part of a frame would pass a cut message off as complete.
            self.reset();
        } else {
            self.ended = true;
            let _ = self.send.send_data(Bytes::new(), true);
        }
    }

    fn abort(&mut self) {
        self.link.aborted.set(true);
        self.link.wake.notify_one();
        // After a clean END_STREAM nothing is reset here: a reset would drop what is still
        // queued (our close frame). When the stream's handles are dropped, the `h2` crate ends
        // a stream the client still sends on with RST_STREAM(NO_ERROR) after that (RFC 9113
        // §8.1).
        if !self.ended {
            self.reset();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    type Client = h2::client::SendRequest<Bytes>;
    type Accepted = tokio::sync::mpsc::UnboundedReceiver<(
        http::Request<RecvStream>,
        h2::server::SendResponse<Bytes>,
    )>;

    /// A client and a server over an in-memory pipe, each connection driven by its own task;
    /// the client's streams get `window`. The server's streams come out of the receiver.
    async fn pair(window: u32) -> (Client, Accepted) {
        let (a, b) = tokio::io::duplex(1 << 20);
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        tokio::spawn(async move {
            let mut server = h2::server::handshake(b).await.unwrap();
            while let Some(Ok(s)) = server.accept().await {
                let _ = tx.send(s);
            }
        });
        let (client, conn) = h2::client::Builder::new()
            .initial_window_size(window)
            .handshake(a)
            .await
            .unwrap();
        tokio::spawn(conn);
        (client, rx)
    }

    /// Opens a stream from the client; the server's side as a `StreamConn` once its `200` is
    /// out, and the client's halves.
    async fn stream(
        client: &Client,
        accepted: &mut Accepted,
        timeout: Duration,
    ) -> (StreamConn, SendStream<Bytes>, RecvStream) {
        let req = http::Request::post("http://h/").body(()).unwrap();
        let (resp, send) = client.clone().send_request(req, false).unwrap();
        let (req, mut respond) = accepted.recv().await.unwrap();
        let out = respond
            .send_response(http::Response::new(()), false)
            .unwrap();
        let conn = StreamConn::new(out, req.into_body(), timeout);
        (conn, send, resp.await.unwrap().into_body())
    }

    fn run(f: impl std::future::Future<Output = ()>) {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
            .block_on(async { tokio::time::timeout(Duration::from_secs(20), f).await })
            .expect("did not finish in 20 s");
    }

    #[test]
    fn reads_writes_ends_and_aborts() {
        run(async {
            let (client, mut server) = pair(65_535).await;
            let (mut conn, mut send, mut recv) = stream(&client, &mut server, SECOND).await;
            assert_eq!(conn.peer_state(), PeerState::Open);
            // An empty DATA frame is not the end of the stream.
            send.send_data(Bytes::new(), false).unwrap();
            send.send_data(Bytes::from_static(b"abc"), false).unwrap();
            let (r, buf) = conn.read(BytesMut::new()).await;
            assert_eq!((r.unwrap(), &buf[..]), (3, &b"abc"[..]));
            let (r, back) = conn.write_all(b"xyz".to_vec()).await;
            r.unwrap();
            assert_eq!(back, b"xyz", "a small write's buffer comes back");
            assert_eq!(&recv.data().await.unwrap().unwrap()[..], b"xyz");
            // A read waiting for DATA returns when the writing half aborts; the stream is
            // reset (CANCEL: our side had not ended).
            let (mut rd, mut wr) = conn.split();
            let aborting = async {
                tokio::task::yield_now().await;
                wr.abort();
            };
            let ((r, _), ()) = tokio::join!(rd.read(BytesMut::new()), aborting);
            assert_eq!(r.unwrap(), 0);
            let e = recv.data().await.unwrap().unwrap_err();
            assert_eq!(e.reason(), Some(Reason::CANCEL));
        });
    }

    #[test]
    fn the_peers_end_and_reset_are_seen() {
        run(async {
            let (client, mut server) = pair(65_535).await;
            let (mut a, mut send_a, _) = stream(&client, &mut server, SECOND).await;
            let (b, mut send_b, _) = stream(&client, &mut server, SECOND).await;
            send_a.send_data(Bytes::new(), true).unwrap();
            let (r, _) = a.read(BytesMut::new()).await;
            assert_eq!(r.unwrap(), 0);
            assert_eq!(a.peer_state(), PeerState::SentEnd);
            send_b.send_reset(Reason::CANCEL);
            for _ in 0..100 {
                if b.peer_state() == PeerState::Gone {
                    return;
                }
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            panic!("the reset was not seen");
        });
    }

    #[test]
    fn a_window_held_shut_times_the_write_out_and_resets() {
        run(async {
            let (client, mut server) = pair(0).await;
            let timeout = Duration::from_millis(100);
            let (conn, _send, mut recv) = stream(&client, &mut server, timeout).await;
            let (_, mut wr) = conn.split();
            let (r, _) = wr.write_all(vec![b'x'; 100_000]).await;
            assert_eq!(r.unwrap_err().kind(), io::ErrorKind::TimedOut);
            // The message was cut: no END_STREAM passes it off as complete, a reset ends it.
            wr.shutdown().await;
            let e = recv.data().await.unwrap().unwrap_err();
            assert_eq!(e.reason(), Some(Reason::CANCEL));
        });
    }

    const SECOND: Duration = Duration::from_secs(1);
}
