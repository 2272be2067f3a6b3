//! The IO layer: how bytes reach the protocol, behind one trait per role.
//!
//! The traits take and return owned buffers (like io_uring completion APIs) rather than
//! borrowing them (like `AsyncRead`), so that a completion-based io_uring driver can implement
//! them without a copy; the epoll driver (tokio) simply borrows for the duration of the call.
//! Futures are not `Send`: each IO thread runs its own single-threaded event loop
//! (thread-per-core), so connections never move between threads.

pub mod epoll;
pub mod socket;

use std::future::Future;
use std::io;

use bytes::BytesMut;

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
    /// Writes all of `buf`; the buffer comes back (cleared by the caller) for reuse.
    fn write_all(&mut self, buf: Vec<u8>) -> impl Future<Output = (io::Result<()>, Vec<u8>)>;
    /// Half-closes the write side so the peer sees end of stream after the last response.
    fn shutdown(&mut self) -> impl Future<Output = ()>;
}

/// A listening socket owned by one IO thread.
pub trait Listener: 'static {
    /// The connection type it yields.
    type Conn: Conn;
    /// Waits for the next connection.
    fn accept(&self) -> impl Future<Output = io::Result<(Self::Conn, Peer)>>;
}
