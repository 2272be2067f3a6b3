//! The epoll driver: tokio's reactor on a current-thread runtime.

use std::io;

use bytes::BytesMut;
use tokio::io::{AsyncReadExt, AsyncWriteExt, Interest};
use tokio::net::{TcpListener, TcpStream, UnixListener, UnixStream};

use tokio::net::{tcp, unix};

use super::socket::RawListener;
use super::{Conn, Listener, Peer, ReadHalf, WriteHalf};

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

/// What a read into an empty buffer reserves (`Stream::read`).
const FIRST_READ: usize = 4096;

impl Stream {
    /// A read into a buffer with no room (one a connection let go while it waited):
    /// readiness first, as `Reader::read` below, so the buffer is allocated only when there
    /// is something to read, and no larger than a request head usually needs. A buffer
    /// with room is read into directly (`Conn::read`): that path is the same as before.
    async fn read_when_ready(&mut self, mut buf: BytesMut) -> (io::Result<usize>, BytesMut) {
        loop {
            let ready = match self {
                Stream::Tcp(s) => s.readable().await,
                Stream::Unix(s) => s.readable().await,
            };
            if let Err(e) = ready {
                return (Err(e), buf);
            }
            if buf.capacity() == 0 {
                buf.reserve(FIRST_READ);
            }
            let r = match self {
                Stream::Tcp(s) => s.try_read_buf(&mut buf),
                Stream::Unix(s) => s.try_read_buf(&mut buf),
            };
            match r {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
                r => return (r, buf),
            }
        }
    }
}

impl Conn for Stream {
    const ALLOCATES_WHEN_READY: bool = true;

    async fn read(&mut self, mut buf: BytesMut) -> (io::Result<usize>, BytesMut) {
        if buf.capacity() == 0 {
            return self.read_when_ready(buf).await;
        }
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

    async fn send_file(&mut self, file: &std::fs::File, offset: u64, len: u64) -> io::Result<()> {
        use std::os::fd::AsRawFd;
        let src = file.as_raw_fd();
        let end = offset + len;
        let mut off = offset as libc::off_t;
        while (off as u64) < end {
            // At most 1 GiB per call (sendfile(2) moves at most 0x7ffff000 bytes anyway).
            let want = (end - off as u64).min(1 << 30) as usize;
            let r = match self {
                Stream::Tcp(s) => {
                    s.writable().await?;
                    s.try_io(Interest::WRITABLE, || {
                        sendfile(s.as_raw_fd(), src, &mut off, want)
                    })
                }
                Stream::Unix(s) => {
                    s.writable().await?;
                    s.try_io(Interest::WRITABLE, || {
                        sendfile(s.as_raw_fd(), src, &mut off, want)
                    })
                }
            };
            match r {
                Ok(0) => {
                    return Err(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        "the file is shorter than the length announced",
                    ))
                }
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    type Io = Stream;

    fn into_io(self) -> io::Result<Stream> {
        Ok(self)
    }

    type Reader = Reader;
    type Writer = Writer;

    fn split(self) -> (Reader, Writer) {
        match self {
            Stream::Tcp(s) => {
                let (r, w) = s.into_split();
                (Reader::Tcp(r), Writer::Tcp(w))
            }
            Stream::Unix(s) => {
                let (r, w) = s.into_split();
                (Reader::Unix(r), Writer::Unix(w))
            }
        }
    }
}

/// One sendfile(2) call: the kernel copies from the file to the socket and advances `off`.
fn sendfile(out: i32, src: i32, off: &mut libc::off_t, count: usize) -> io::Result<usize> {
    // SAFETY: both descriptors are open for the duration of the call (the socket is borrowed
    // from its stream, the file from its owner), and `off` is a valid, exclusive pointer.
    let n = unsafe { libc::sendfile(out, src, off, count) };
    if n < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(n as usize)
    }
}

/// The reading half of a [`Stream`].
pub enum Reader {
    /// TCP.
    Tcp(tcp::OwnedReadHalf),
    /// Unix socket.
    Unix(unix::OwnedReadHalf),
}

/// The writing half of a [`Stream`].
pub enum Writer {
    /// TCP.
    Tcp(tcp::OwnedWriteHalf),
    /// Unix socket.
    Unix(unix::OwnedWriteHalf),
}

impl ReadHalf for Reader {
    async fn read(&mut self, mut buf: BytesMut) -> (io::Result<usize>, BytesMut) {
        loop {
            // Readiness first: the buffer grows only when there is something to read, so ten
            // thousand idle sockets hold no read buffers.
            let ready = match self {
                Reader::Tcp(r) => r.readable().await,
                Reader::Unix(r) => r.readable().await,
            };
            if let Err(e) = ready {
                return (Err(e), buf);
            }
            if buf.capacity() - buf.len() < 4096 {
                buf.reserve(16 * 1024);
            }
            let r = match self {
                Reader::Tcp(r) => r.try_read_buf(&mut buf),
                Reader::Unix(r) => r.try_read_buf(&mut buf),
            };
            match r {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
                r => return (r, buf),
            }
        }
    }
}

impl WriteHalf for Writer {
    async fn write_all(&mut self, buf: Vec<u8>) -> (io::Result<()>, Vec<u8>) {
        let r = match self {
            Writer::Tcp(w) => w.write_all(&buf).await,
            Writer::Unix(w) => w.write_all(&buf).await,
        };
        (r, buf)
    }

    async fn shutdown(&mut self) {
        let _ = match self {
            Writer::Tcp(w) => w.shutdown().await,
            Writer::Unix(w) => w.shutdown().await,
        };
    }

    fn abort(&mut self) {
        use std::os::fd::AsRawFd;
        let fd = match self {
            Writer::Tcp(w) => w.as_ref().as_raw_fd(),
            Writer::Unix(w) => w.as_ref().as_raw_fd(),
        };
        // SAFETY: shutdown(2) on a descriptor this half keeps open; it only changes the
        // socket's state, never the descriptor.
        unsafe { libc::shutdown(fd, libc::SHUT_RDWR) };
    }
}
