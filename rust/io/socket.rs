//! Creating listening sockets with the options every driver wants.

use std::io;
use std::net::{SocketAddr, ToSocketAddrs};
use std::os::fd::{FromRawFd, OwnedFd};

use socket2::{Domain, Protocol, SockAddr, Socket, Type};

use crate::config::Bind;

/// A listening socket, not yet registered with any event loop.
pub enum RawListener {
    /// A TCP socket.
    Tcp(std::net::TcpListener),
    /// A Unix socket.
    Unix(std::os::unix::net::UnixListener),
}

/// Opens the listening socket for one IO thread.
///
/// TCP sockets are bound per thread with SO_REUSEPORT so the kernel spreads connections over
/// threads without a shared accept queue; inherited sockets (what `covetpy run` workers get:
/// one socket per worker slot, held by the supervisor) are `dup`ed per thread.
pub fn open(bind: &Bind, backlog: i32) -> io::Result<RawListener> {
    match bind {
        Bind::Tcp { host, port } => {
            let addr = resolve(host, *port)?;
            let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
            socket.set_reuse_address(true)?;
            socket.set_reuse_port(true)?;
            if addr.is_ipv6() {
                socket.set_only_v6(true)?;
            }
            socket.set_nonblocking(true)?;
            socket.bind(&SockAddr::from(addr))?;
            socket.listen(backlog)?;
            Ok(RawListener::Tcp(socket.into()))
        }
        Bind::Fd(fd) => {
            // SAFETY: dup() of a descriptor the supervisor handed us; the duplicate is owned
            // by the OwnedFd created here and by nothing else.
            let dup = unsafe { libc::dup(*fd) };
            if dup < 0 {
                return Err(io::Error::last_os_error());
            }
            // SAFETY: `dup` is a fresh, valid descriptor that we own exclusively.
            let socket = Socket::from(unsafe { OwnedFd::from_raw_fd(dup) });
            socket.set_nonblocking(true)?;
            match socket.local_addr()?.as_socket() {
                Some(_) => Ok(RawListener::Tcp(socket.into())),
                None => Ok(RawListener::Unix(socket.into())),
            }
        }
        Bind::Uds(path) => {
            let listener = std::os::unix::net::UnixListener::bind(path)?;
            listener.set_nonblocking(true)?;
            Ok(RawListener::Unix(listener))
        }
    }
}

fn resolve(host: &str, port: u16) -> io::Result<SocketAddr> {
    (host, port).to_socket_addrs()?.next().ok_or_else(|| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("cannot resolve {host}"),
        )
    })
}

/// The local address a listener is bound to, as text for logs.
/// What a connected socket's peer has done, seen without reading (unread data stays queued).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PeerState {
    /// Nothing: it may still send.
    Open,
    /// It sent FIN: it will send nothing more. It may have closed, or only shut down its
    /// sending side and still be reading (RFC 9112 §9.6); the socket cannot tell which.
    SentEnd,
    /// The connection is reset or broken: nothing sent now will be read.
    Gone,
}

/// The peer's state, with a zero-timeout poll(2).
pub fn peer_state(fd: std::os::fd::RawFd) -> PeerState {
    let mut p = libc::pollfd {
        fd,
        events: libc::POLLRDHUP,
        revents: 0,
    };
    // SAFETY: one valid pollfd for a descriptor the caller owns; timeout 0 never blocks.
    let n = unsafe { libc::poll(&mut p, 1, 0) };
    if n != 1 {
        PeerState::Open
    } else if p.revents & (libc::POLLHUP | libc::POLLERR) != 0 {
        PeerState::Gone
    } else if p.revents & libc::POLLRDHUP != 0 {
        PeerState::SentEnd
    } else {
        PeerState::Open
    }
}

pub fn describe(l: &RawListener) -> String {
    match l {
        RawListener::Tcp(t) => t.local_addr().map(|a| a.to_string()).unwrap_or_default(),
        RawListener::Unix(u) => u
            .local_addr()
            .ok()
            .and_then(|a| a.as_pathname().map(|p| format!("unix:{}", p.display())))
            .unwrap_or_else(|| "unix".into()),
    }
}
