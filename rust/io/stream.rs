//! A [`Conn`] over any tokio stream: how the HTTP/1.1 connection and WebSockets run over TLS
//! (a `tokio_rustls` stream). The socket's descriptor is kept beside the stream for what
//! looks at the socket itself: the peer's state and an abort.

use std::io;
use std::os::fd::RawFd;

use bytes::BytesMut;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use super::socket::{peer_state, PeerState};
use super::{Conn, ReadHalf, WriteHalf};

/// A stream and the descriptor of the socket under it.
pub struct StreamConn<S> {
    stream: S,
    fd: RawFd,
}

impl<S> StreamConn<S> {
    /// `fd` must stay open as long as `stream` does (it is the socket `stream` wraps).
    pub fn new(stream: S, fd: RawFd) -> Self {
        StreamConn { stream, fd }
    }
}

fn abort(fd: RawFd) {
    // SAFETY: shutdown(2) on the socket the stream keeps open; it changes the socket's state,
    // never the descriptor.
    unsafe { libc::shutdown(fd, libc::SHUT_RDWR) };
}

impl<S: AsyncRead + AsyncWrite + Unpin + 'static> Conn for StreamConn<S> {
    async fn read(&mut self, mut buf: BytesMut) -> (io::Result<usize>, BytesMut) {
        if buf.capacity() - buf.len() < 4096 {
            buf.reserve(16 * 1024);
        }
        let r = self.stream.read_buf(&mut buf).await;
        (r, buf)
    }

    async fn write_all(&mut self, buf: Vec<u8>) -> (io::Result<()>, Vec<u8>) {
        let mut r = self.stream.write_all(&buf).await;
        if r.is_ok() {
            // TLS buffers a record until flushed.
            r = self.stream.flush().await;
        }
        (r, buf)
    }

    async fn shutdown(&mut self) {
        // Sends TLS close_notify, then FIN.
        let _ = self.stream.shutdown().await;
    }

    fn peer_state(&self) -> PeerState {
        peer_state(self.fd)
    }

    type Io = super::epoll::Stream;

    /// A stream under TLS chose its protocol by ALPN: it never changes it afterwards.
    fn into_io(self) -> io::Result<super::epoll::Stream> {
        Err(io::Error::new(
            io::ErrorKind::Unsupported,
            "a TLS connection does not switch protocols",
        ))
    }

    type Reader = StreamReader<S>;
    type Writer = StreamWriter<S>;

    fn split(self) -> (StreamReader<S>, StreamWriter<S>) {
        let (r, w) = tokio::io::split(self.stream);
        (StreamReader(r), StreamWriter(w, self.fd))
    }
}

/// The reading half of a [`StreamConn`].
pub struct StreamReader<S>(tokio::io::ReadHalf<S>);

/// The writing half of a [`StreamConn`].
pub struct StreamWriter<S>(tokio::io::WriteHalf<S>, RawFd);

impl<S: AsyncRead + AsyncWrite + Unpin + 'static> ReadHalf for StreamReader<S> {
    async fn read(&mut self, mut buf: BytesMut) -> (io::Result<usize>, BytesMut) {
        if buf.capacity() - buf.len() < 4096 {
            buf.reserve(16 * 1024);
        }
        let r = self.0.read_buf(&mut buf).await;
        (r, buf)
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin + 'static> WriteHalf for StreamWriter<S> {
    async fn write_all(&mut self, buf: Vec<u8>) -> (io::Result<()>, Vec<u8>) {
        let mut r = self.0.write_all(&buf).await;
        if r.is_ok() {
            r = self.0.flush().await;
        }
        (r, buf)
    }

    async fn shutdown(&mut self) {
        let _ = self.0.shutdown().await;
    }

    fn abort(&mut self) {
        abort(self.1);
    }
}
