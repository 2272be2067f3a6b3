//! The epoll driver: tokio's reactor on a current-thread runtime.

use std::io;

use bytes::BytesMut;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream, UnixListener, UnixStream};

use super::socket::RawListener;
use super::{Conn, Listener, Peer};

/// A TCP or Unix stream registered with tokio.
pub enum Stream {
    /// TCP.
    Tcp(TcpStream),
    /// Unix socket.
    Unix(UnixStream),
}

/// A TCP or Unix listener registered with tokio.
pub enum EpollListener {
    /// TCP.
    Tcp(TcpListener),
    /// Unix socket.
    Unix(UnixListener),
}

impl EpollListener {
    /// Registers a listening socket with the current runtime's reactor.
    pub fn new(raw: RawListener) -> io::Result<Self> {
        Ok(match raw {
            RawListener::Tcp(t) => EpollListener::Tcp(TcpListener::from_std(t)?),
            RawListener::Unix(u) => EpollListener::Unix(UnixListener::from_std(u)?),
        })
    }
}

impl Listener for EpollListener {
    type Conn = Stream;

    async fn accept(&self) -> io::Result<(Stream, Peer)> {
        match self {
            EpollListener::Tcp(l) => {
                let (s, addr) = l.accept().await?;
                // Responses are written whole; Nagle would only add up to 40 ms of delay.
                s.set_nodelay(true)?;
                Ok((Stream::Tcp(s), Peer::Tcp(addr)))
            }
            EpollListener::Unix(l) => {
                let (s, _) = l.accept().await?;
                Ok((Stream::Unix(s), Peer::Unix))
            }
        }
    }
}

impl Conn for Stream {
    async fn read(&mut self, mut buf: BytesMut) -> (io::Result<usize>, BytesMut) {
        if buf.capacity() - buf.len() < 4096 {
            buf.reserve(16 * 1024);
        }
        let r = match self {
            Stream::Tcp(s) => s.read_buf(&mut buf).await,
            Stream::Unix(s) => s.read_buf(&mut buf).await,
        };
        (r, buf)
    }

    async fn write_all(&mut self, buf: Vec<u8>) -> (io::Result<()>, Vec<u8>) {
        let r = match self {
            Stream::Tcp(s) => s.write_all(&buf).await,
            Stream::Unix(s) => s.write_all(&buf).await,
        };
        (r, buf)
    }

    async fn shutdown(&mut self) {
        let _ = match self {
            Stream::Tcp(s) => s.shutdown().await,
            Stream::Unix(s) => s.shutdown().await,
        };
    }

    fn peer_state(&self) -> super::socket::PeerState {
        use std::os::fd::AsRawFd;
        super::socket::peer_state(match self {
            Stream::Tcp(s) => s.as_raw_fd(),
            Stream::Unix(s) => s.as_raw_fd(),
        })
    }
}
