//! The IO layer: how bytes reach the protocol, behind one trait per role.
//!
//! The traits take and return owned buffers (like io_uring completion APIs) rather than
//! borrowing them (like `AsyncRead`), so that a completion-based io_uring driver can implement
//! them without a copy; the epoll driver (tokio) simply borrows for the duration of the call.
//! Futures are not `Send`: each IO thread runs its own single-threaded event loop
//! (thread-per-core), so connections never move between threads.
//!
//! Two drivers implement them: `epoll` (tokio's reactor) and `uring` (io_uring operations via
//! tokio-uring); [`Driver::resolve`] picks one per server from `ServerConfig::io`.

pub mod async_io;
pub mod epoll;
pub mod secure;
pub mod socket;
pub mod stream;
pub mod uring;

use std::future::Future;
use std::io;

use bytes::BytesMut;

use crate::config::IoDriver;
use crate::log::Level;

pub use secure::Secure;

/// The driver a server's IO threads run, once `auto` is decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Driver {
    /// Readiness (epoll) and read(2)/write(2): tokio's reactor.
    Epoll,
    /// Completion-based io_uring reads and writes.
    Uring,
}

/// What `auto` runs where both drivers work: epoll, measured faster than io_uring on this
/// project's 2-core VM (adrs/0005: 153k vs 143k req/s on `/`, 6.5 vs 6.9 us of server CPU per
/// request). Set to `Driver::Uring` and `auto` probes io_uring and falls back to epoll.
const AUTO_PREFERS: Driver = Driver::Epoll;

impl Driver {
    /// Decides the driver for `choice`, probing io_uring once if it is wanted: `uring` fails
    /// when the kernel refuses io_uring; `auto` takes `AUTO_PREFERS`, falling back to epoll
    /// with a warning if that is io_uring and the kernel refuses it.
    pub fn resolve(choice: IoDriver) -> io::Result<Driver> {
        Self::decide(choice, AUTO_PREFERS, uring::probe)
    }

    fn decide(
        choice: IoDriver,
        auto_prefers: Driver,
        probe: impl FnOnce() -> io::Result<()>,
    ) -> io::Result<Driver> {
        match (choice, auto_prefers) {
            (IoDriver::Epoll, _) | (IoDriver::Auto, Driver::Epoll) => Ok(Driver::Epoll),
            (IoDriver::Uring, _) => match probe() {
                Ok(()) => Ok(Driver::Uring),
                Err(e) => Err(io::Error::new(
                    e.kind(),
                    format!(
                        "io=uring: io_uring is not available here ({e}); \
                         use --io epoll or --io auto"
                    ),
                )),
            },
            (IoDriver::Auto, Driver::Uring) => match probe() {
                Ok(()) => Ok(Driver::Uring),
                Err(e) => {
                    crate::log!(
                        Level::Warning,
                        "io_uring is not available ({e}); using epoll"
                    );
                    Ok(Driver::Epoll)
                }
            },
        }
    }

    /// The name used by `--io` and in logs.
    pub fn name(self) -> &'static str {
        match self {
            Driver::Epoll => "epoll",
            Driver::Uring => "uring",
        }
    }
}

/// Who is on the other end of a connection.
#[derive(Debug, Clone)]
pub enum Peer {
    /// A TCP peer.
    Tcp(std::net::SocketAddr),
    /// A Unix-socket peer (no address).
    Unix,
}

impl std::fmt::Display for Peer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Peer::Tcp(a) => write!(f, "{a}"),
            Peer::Unix => f.write_str("unix"),
        }
    }
}

/// One accepted connection.
pub trait Conn: 'static {
    /// Reads into the spare capacity of `buf` (growing it if full); `Ok(0)` is end of stream.
    fn read(&mut self, buf: BytesMut) -> impl Future<Output = (io::Result<usize>, BytesMut)>;
    /// Whether `read` into an empty buffer allocates it only once data is there (readiness
    /// first), so an idle connection can let its buffers go between requests and hold none
    /// while it waits. The io_uring driver hands the kernel a buffer when the read is
    /// submitted: it keeps one.
    const ALLOCATES_WHEN_READY: bool = false;
    /// Writes all of `buf`; the buffer comes back (cleared by the caller) for reuse.
    fn write_all(&mut self, buf: Vec<u8>) -> impl Future<Output = (io::Result<()>, Vec<u8>)>;
    /// Half-closes the write side so the peer sees end of stream after the last response.
    fn shutdown(&mut self) -> impl Future<Output = ()>;
    /// What the peer has done, checked without reading: a client that sent its request and
    /// went away while the handler runs.
    fn peer_state(&self) -> socket::PeerState;
    /// Sends `len` bytes of `file` from `offset`; an error if the file ends first. This
    /// default reads the file in 64 KiB pieces and writes them (the io_uring driver: there is
    /// no sendfile operation in tokio-uring); epoll overrides it with `sendfile(2)`, which
    /// copies in the kernel.
    fn send_file(
        &mut self,
        file: &std::fs::File,
        offset: u64,
        len: u64,
    ) -> impl Future<Output = io::Result<()>> {
        async move {
            use std::os::unix::fs::FileExt;
            let mut buf = Vec::new();
            let (mut at, end) = (offset, offset + len);
            while at < end {
                let want = (end - at).min(64 * 1024) as usize;
                buf.resize(want, 0);
                // A read of the page cache; a file on a slow disk would hold this IO thread.
                let n = file.read_at(&mut buf, at)?;
                if n == 0 {
                    return Err(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        "the file is shorter than the length announced",
                    ));
                }
                buf.truncate(n);
                let (r, back) = self.write_all(buf).await;
                r?;
                buf = back;
                at += n as u64;
            }
            Ok(())
        }
    }

    /// The stream as tokio's `AsyncRead`/`AsyncWrite`, for rustls and the `h2` crate.
    type Io: tokio::io::AsyncRead + tokio::io::AsyncWrite + std::os::fd::AsRawFd + Unpin + 'static;
    /// This connection as [`Conn::Io`]; under io_uring the socket moves to the reactor (it
    /// must have no operation in flight, which holds between a connection's reads).
    fn into_io(self) -> io::Result<Self::Io>;

    /// The reading half.
    type Reader: ReadHalf;
    /// The writing half.
    type Writer: WriteHalf;
    /// Splits the connection so one task can read and write at once (a WebSocket: a broadcast
    /// goes out while a read waits). Neither half's operation is ever cancelled: under io_uring
    /// a cancelled read would lose what the kernel wrote into its buffer.
    fn split(self) -> (Self::Reader, Self::Writer);
}

/// The reading half of a split connection.
pub trait ReadHalf: 'static {
    /// Waits until the socket is readable, then reads into the spare capacity of `buf`
    /// (growing it only then, so an idle socket holds no read buffer); `Ok(0)` is end of
    /// stream.
    fn read(&mut self, buf: BytesMut) -> impl Future<Output = (io::Result<usize>, BytesMut)>;
}

/// The writing half of a split connection.
pub trait WriteHalf: 'static {
    /// Writes all of `buf`; the buffer comes back for reuse.
    fn write_all(&mut self, buf: Vec<u8>) -> impl Future<Output = (io::Result<()>, Vec<u8>)>;
    /// Half-closes the write side (the peer reads end of stream).
    fn shutdown(&mut self) -> impl Future<Output = ()>;
    /// Shuts both directions now: a read waiting on the other half returns.
    fn abort(&mut self);
}

/// A listening socket owned by one IO thread.
pub trait Listener: 'static {
    /// The connection type it yields.
    type Conn: Conn;
    /// Waits for the next connection.
    fn accept(&self) -> impl Future<Output = io::Result<(Self::Conn, Peer)>>;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refused() -> io::Result<()> {
        Err(io::Error::from_raw_os_error(libc::EPERM))
    }

    fn probed() -> io::Result<()> {
        panic!("probed")
    }

    #[test]
    fn auto_runs_epoll_without_probing_while_epoll_is_preferred() {
        let d = Driver::decide(IoDriver::Auto, Driver::Epoll, probed).unwrap();
        assert_eq!(d, Driver::Epoll);
    }

    #[test]
    fn auto_falls_back_to_epoll_when_preferred_io_uring_is_refused() {
        let d = Driver::decide(IoDriver::Auto, Driver::Uring, refused).unwrap();
        assert_eq!(d, Driver::Epoll);
        let d = Driver::decide(IoDriver::Auto, Driver::Uring, || Ok(())).unwrap();
        assert_eq!(d, Driver::Uring);
    }

    #[test]
    fn uring_fails_loudly_when_io_uring_is_refused() {
        for prefers in [Driver::Epoll, Driver::Uring] {
            let e = Driver::decide(IoDriver::Uring, prefers, refused).unwrap_err();
            assert!(e.to_string().contains("io_uring is not available"), "{e}");
            assert!(e.to_string().contains("not permitted"), "{e}");
        }
    }

    #[test]
    fn epoll_never_probes() {
        for prefers in [Driver::Epoll, Driver::Uring] {
            assert_eq!(
                Driver::decide(IoDriver::Epoll, prefers, probed).unwrap(),
                Driver::Epoll
            );
        }
    }
}
