//! The io_uring driver: reads and writes are io_uring operations (tokio-uring), submitted in
//! batches when the thread goes idle, on a current-thread tokio runtime whose reactor watches
//! the ring for completions (so tokio's timers and `tokio::sync` work as under epoll).
//!
//! Two things differ from the epoll driver, both because tokio-uring 0.5 cannot cancel an
//! operation (dropping its future leaves it in flight, holding the buffer and a reference to
//! the socket, until the kernel completes it):
//! - Accepting waits for readiness on tokio's reactor and then calls accept(2), instead of an
//!   io_uring accept. A drain drops the accept future; an io_uring accept would stay in flight,
//!   keep the listening socket open, and take one more connection into a completion nobody
//!   reads (the descriptor leaked, the client left hanging). Accepting is once per connection,
//!   not per request, so this costs nothing measurable on keep-alive traffic.
//! - A connection whose read or write was abandoned (a timeout, a drain) shuts its socket down
//!   when dropped: the operation then completes at once and the descriptor is closed, instead
//!   of staying open until the peer sends or reads something.

use std::io;
use std::net::Shutdown;

use bytes::BytesMut;
use tokio::io::unix::AsyncFd;
use tokio::io::Interest;
use tokio_uring::buf::BoundedBuf;
use tokio_uring::net::{TcpStream, UnixStream};

use std::cell::Cell;
use std::rc::Rc;

use super::socket::RawListener;
use super::{Conn, Listener, Peer, ReadHalf, WriteHalf};

/// Checks that this kernel lets the process use io_uring as this driver needs it: the ring
/// can be created (seccomp filters, `kernel.io_uring_disabled` and old kernels refuse), the
/// kernel is 5.11 or newer (what tokio-uring requires), and io_uring_enter(2) is allowed.
///
/// It runs on a thread of its own: tearing a ring down queues work for the threads that used
/// it, which interrupts their next blocking system call (EINTR where a timeout is set), and
/// the caller (the worker's Python thread) should not see that.
pub fn probe() -> io::Result<()> {
    std::thread::Builder::new()
        .name("covetpy-uring-probe".into())
        .spawn(probe_here)?
        .join()
        .unwrap_or_else(|_| Err(io::Error::other("the io_uring probe panicked")))
}

fn probe_here() -> io::Result<()> {
    let context = |what: &str, e: io::Error| io::Error::new(e.kind(), format!("{what}: {e}"));
    let ring = tokio_uring::uring_builder()
        .build(4)
        .map_err(|e| context("io_uring_setup", e))?;
    // IORING_FEAT_EXT_ARG arrived in 5.11; tokio-uring does not work on 5.4 (its README).
    if !ring.params().is_feature_ext_arg() {
        return Err(io::Error::new(
            io::ErrorKind::Unsupported,
            "the kernel is older than 5.11 (no IORING_FEAT_EXT_ARG)",
        ));
    }
    ring.submit().map_err(|e| context("io_uring_enter", e))?;
    Ok(())
}

/// Builds the runtime an io_uring IO thread runs (tokio's reactor and timers, plus the ring);
/// call it on that thread, the only one that submits to the ring.
pub fn runtime() -> io::Result<tokio_uring::Runtime> {
    // COOP_TASKRUN: completions are processed at the thread's next entry into the kernel
    // instead of interrupting it; SINGLE_ISSUER: only this thread submits, so the kernel skips
    // locking. Measured together: 8.0 -> 7.1 us of server CPU per request, 124k -> 139k req/s
    // (adrs/0005). Kernels before 6.0 refuse the flags (EINVAL): then a plain ring.
    let mut tuned = tokio_uring::uring_builder();
    tuned.setup_coop_taskrun().setup_single_issuer();
    tokio_uring::Runtime::new(tokio_uring::builder().uring_builder(&tuned))
        .or_else(|_| tokio_uring::Runtime::new(&tokio_uring::builder()))
}

/// A listening socket watched for readiness by the runtime's reactor (see the module note).
pub enum UringListener {
    /// TCP.
    Tcp(AsyncFd<std::net::TcpListener>),
    /// Unix socket.
    Unix(AsyncFd<std::os::unix::net::UnixListener>),
}

impl UringListener {
    /// Registers a listening socket (non-blocking, from `socket::open`) with the current
    /// runtime's reactor.
    pub fn new(raw: RawListener) -> io::Result<Self> {
        Ok(match raw {
            // SAFETY: the std listener owns its descriptor and moves into the AsyncFd, so the
            // descriptor stays open, and is the same one, for as long as it is registered.
            RawListener::Tcp(t) => UringListener::Tcp(unsafe {
                AsyncFd::register_with_interest(t, Interest::READABLE)?
            }),
            // SAFETY: as above.
            RawListener::Unix(u) => UringListener::Unix(unsafe {
                AsyncFd::register_with_interest(u, Interest::READABLE)?
            }),
        })
    }
}

impl Listener for UringListener {
    type Conn = UringStream;

    async fn accept(&self) -> io::Result<(UringStream, Peer)> {
        // std's accept uses accept4(SOCK_CLOEXEC) without SOCK_NONBLOCK: the connection is
        // blocking, as io_uring wants it. On an O_NONBLOCK socket, 5.x kernels complete an
        // io_uring read that finds no data with EAGAIN instead of waiting (6.18 waits anyway).
        match self {
            UringListener::Tcp(l) => {
                let (s, addr) = l.async_io(Interest::READABLE, |l| l.accept()).await?;
                // Responses are written whole; Nagle would only add up to 40 ms of delay.
                s.set_nodelay(true)?;
                Ok((
                    UringStream::new(Stream::Tcp(TcpStream::from_std(s))),
                    Peer::Tcp(addr),
                ))
            }
            UringListener::Unix(l) => {
                let (s, _) = l.async_io(Interest::READABLE, |l| l.accept()).await?;
                Ok((
                    UringStream::new(Stream::Unix(UnixStream::from_std(s))),
                    Peer::Unix,
                ))
            }
        }
    }
}

enum Stream {
    Tcp(TcpStream),
    Unix(UnixStream),
    /// Moved out by `split`.
    Empty,
}

/// An accepted connection whose reads and writes are io_uring operations.
pub struct UringStream {
    stream: Stream,
    /// An operation was started and its future has not returned (it may have been dropped).
    in_flight: bool,
}

impl UringStream {
    fn new(stream: Stream) -> Self {
        UringStream {
            stream,
            in_flight: false,
        }
    }

    fn shutdown_socket(&self, how: Shutdown) {
        let _ = match &self.stream {
            Stream::Tcp(s) => s.shutdown(how),
            Stream::Unix(s) => s.shutdown(how),
            Stream::Empty => Ok(()),
        };
    }
}

impl Conn for UringStream {
    async fn read(&mut self, mut buf: BytesMut) -> (io::Result<usize>, BytesMut) {
        if buf.capacity() - buf.len() < 4096 {
            buf.reserve(16 * 1024);
        }
        // The kernel writes at the start of what it is given: hand it the spare capacity.
        let spare = buf.len()..;
        self.in_flight = true;
        let (r, slice) = match &self.stream {
            Stream::Tcp(s) => s.read(buf.slice(spare)).await,
            Stream::Unix(s) => s.read(buf.slice(spare)).await,
            Stream::Empty => return (Err(io::ErrorKind::NotConnected.into()), buf),
        };
        self.in_flight = false;
        (r, slice.into_inner())
    }

    async fn write_all(&mut self, buf: Vec<u8>) -> (io::Result<()>, Vec<u8>) {
        self.in_flight = true;
        // Like write(2) on a socket, an io_uring write to a reset peer raises SIGPIPE; Python
        // and Rust binaries both ignore it, so it only shows as EPIPE here.
        let r = match &self.stream {
            Stream::Tcp(s) => s.write_all(buf).await,
            Stream::Unix(s) => s.write_all(buf).await,
            Stream::Empty => (Err(io::ErrorKind::NotConnected.into()), buf),
        };
        self.in_flight = false;
        r
    }

    async fn shutdown(&mut self) {
        self.shutdown_socket(Shutdown::Write);
    }

    fn peer_state(&self) -> super::socket::PeerState {
        use std::os::fd::AsRawFd;
        super::socket::peer_state(match &self.stream {
            Stream::Tcp(s) => s.as_raw_fd(),
            Stream::Unix(s) => s.as_raw_fd(),
            Stream::Empty => return super::socket::PeerState::Gone,
        })
    }

    type Io = super::epoll::Stream;

    fn into_io(self) -> io::Result<super::epoll::Stream> {
        use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
        let fd = match &self.stream {
            Stream::Tcp(s) => s.as_raw_fd(),
            Stream::Unix(s) => s.as_raw_fd(),
            Stream::Empty => return Err(io::ErrorKind::NotConnected.into()),
        };
        // tokio-uring gives no way to take its descriptor back: a duplicate of it goes to
        // tokio's reactor, and this stream's own closes when it drops here.
        // SAFETY: dup(2) of a descriptor this stream keeps open.
        let dup = unsafe { libc::fcntl(fd, libc::F_DUPFD_CLOEXEC, 0) };
        if dup < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: `dup` is a new descriptor nothing else owns.
        let owned = unsafe { OwnedFd::from_raw_fd(dup) };
        Ok(match &self.stream {
            Stream::Tcp(_) => {
                let s = std::net::TcpStream::from(owned);
                s.set_nonblocking(true)?;
                super::epoll::Stream::Tcp(tokio::net::TcpStream::from_std(s)?)
            }
            _ => {
                let s = std::os::unix::net::UnixStream::from(owned);
                s.set_nonblocking(true)?;
                super::epoll::Stream::Unix(tokio::net::UnixStream::from_std(s)?)
            }
        })
    }

    type Reader = UringReader;
    type Writer = UringWriter;

    fn split(mut self) -> (UringReader, UringWriter) {
        // tokio-uring's sockets read and write through `&self`: both halves share it.
        let in_flight = self.in_flight;
        self.in_flight = false;
        let stream = match std::mem::replace(&mut self.stream, Stream::Empty) {
            Stream::Empty => unreachable!("a connection is split once"),
            s => s,
        };
        let shared = Rc::new(Shared {
            stream,
            in_flight: Cell::new(u8::from(in_flight)),
        });
        (UringReader(shared.clone()), UringWriter(shared))
    }
}

/// The socket both halves of a split [`UringStream`] use.
struct Shared {
    stream: Stream,
    /// Operations started whose futures have not returned.
    in_flight: Cell<u8>,
}

impl Shared {
    fn shutdown(&self, how: Shutdown) {
        let _ = match &self.stream {
            Stream::Tcp(s) => s.shutdown(how),
            Stream::Unix(s) => s.shutdown(how),
            Stream::Empty => Ok(()),
        };
    }
}

impl Drop for Shared {
    fn drop(&mut self) {
        if self.in_flight.get() > 0 {
            // As for `UringStream`: complete abandoned operations so the descriptor closes.
            self.shutdown(Shutdown::Both);
        }
    }
}

/// Counts an operation in flight while alive.
struct Op<'a>(&'a Cell<u8>);

impl<'a> Op<'a> {
    fn start(c: &'a Cell<u8>) -> Self {
        c.set(c.get() + 1);
        Op(c)
    }
}

impl Drop for Op<'_> {
    fn drop(&mut self) {
        self.0.set(self.0.get() - 1);
    }
}

/// The reading half of a split [`UringStream`].
pub struct UringReader(Rc<Shared>);

/// The writing half of a split [`UringStream`].
pub struct UringWriter(Rc<Shared>);

/// What an idle WebSocket's read holds while the kernel waits for data: small, since an
/// io_uring read needs its buffer from submission (readiness first, as under epoll, would
/// add a system call per read). It grows to 16 KiB when a read fills it.
const IDLE_READ: usize = 1024;

impl ReadHalf for UringReader {
    async fn read(&mut self, mut buf: BytesMut) -> (io::Result<usize>, BytesMut) {
        let spare = buf.capacity() - buf.len();
        if spare == 0 {
            buf.reserve(IDLE_READ);
        }
        let wanted = buf.len()..;
        let _op = Op::start(&self.0.in_flight);
        let (r, slice) = match &self.0.stream {
            Stream::Tcp(s) => s.read(buf.slice(wanted)).await,
            Stream::Unix(s) => s.read(buf.slice(wanted)).await,
            Stream::Empty => return (Err(io::ErrorKind::NotConnected.into()), buf),
        };
        let mut buf = slice.into_inner();
        if let Ok(n) = r {
            if n > 0 && buf.len() == buf.capacity() {
                // A full read: more is likely waiting; the next read gets room for it.
                buf.reserve(16 * 1024);
            }
        }
        (r, buf)
    }
}

impl WriteHalf for UringWriter {
    async fn write_all(&mut self, buf: Vec<u8>) -> (io::Result<()>, Vec<u8>) {
        let _op = Op::start(&self.0.in_flight);
        match &self.0.stream {
            Stream::Tcp(s) => s.write_all(buf).await,
            Stream::Unix(s) => s.write_all(buf).await,
            Stream::Empty => (Err(io::ErrorKind::NotConnected.into()), buf),
        }
    }

    async fn shutdown(&mut self) {
        self.0.shutdown(Shutdown::Write);
    }

    fn abort(&mut self) {
        self.0.shutdown(Shutdown::Both);
    }
}

impl Drop for UringStream {
    fn drop(&mut self) {
        if self.in_flight {
            // Completes the abandoned operation now (a read sees end of stream, a write EPIPE)
            // so its reference to the socket goes and the descriptor closes.
            self.shutdown_socket(Shutdown::Both);
        }
    }
}
