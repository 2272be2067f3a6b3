//! The epoll driver's stream as tokio's `AsyncRead`/`AsyncWrite`, what rustls and the `h2`
//! crate read and write through. Under io_uring a connection that needs them (TLS, HTTP/2)
//! is moved to the reactor first (`Conn::into_io`).

use std::io;
use std::os::fd::{AsRawFd, RawFd};
use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use super::epoll::Stream;

impl AsyncRead for Stream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Tcp(s) => Pin::new(s).poll_read(cx, buf),
            Stream::Unix(s) => Pin::new(s).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Stream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Stream::Tcp(s) => Pin::new(s).poll_write(cx, buf),
            Stream::Unix(s) => Pin::new(s).poll_write(cx, buf),
        }
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Stream::Tcp(s) => Pin::new(s).poll_write_vectored(cx, bufs),
            Stream::Unix(s) => Pin::new(s).poll_write_vectored(cx, bufs),
        }
    }

    fn is_write_vectored(&self) -> bool {
        true
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Tcp(s) => Pin::new(s).poll_flush(cx),
            Stream::Unix(s) => Pin::new(s).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Tcp(s) => Pin::new(s).poll_shutdown(cx),
            Stream::Unix(s) => Pin::new(s).poll_shutdown(cx),
        }
    }
}

impl AsRawFd for Stream {
    fn as_raw_fd(&self) -> RawFd {
        match self {
            Stream::Tcp(s) => s.as_raw_fd(),
            Stream::Unix(s) => s.as_raw_fd(),
        }
    }
}

/// A stream that yields `prefix` before what it reads from `io`: the bytes a connection had
/// already read when it learned which protocol it speaks (the HTTP/2 preface).
pub struct Prefixed<IO> {
    prefix: bytes::Bytes,
    io: IO,
}

impl<IO> Prefixed<IO> {
    /// `io`, with `prefix` read first.
    pub fn new(prefix: bytes::Bytes, io: IO) -> Self {
        Prefixed { prefix, io }
    }

    /// The underlying stream.
    pub fn get_ref(&self) -> &IO {
        &self.io
    }
}

impl<IO: AsyncRead + Unpin> AsyncRead for Prefixed<IO> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let me = self.get_mut();
        if !me.prefix.is_empty() {
            let n = me.prefix.len().min(buf.remaining());
            buf.put_slice(&me.prefix.split_to(n));
            return Poll::Ready(Ok(()));
        }
        Pin::new(&mut me.io).poll_read(cx, buf)
    }
}

impl<IO: AsyncWrite + Unpin> AsyncWrite for Prefixed<IO> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().io).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().io).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_shutdown(cx)
    }
}

/// A stream that reads `inject` right after the HTTP/2 client preface and the first frame
/// that follows it (the client's SETTINGS): how an h2c upgrade's request becomes stream 1
/// (`protocol::h2::upgrade`).
pub struct Inject<IO> {
    inject: bytes::Bytes,
    /// Bytes of `io` still to pass before `inject`: the preface (24), then the frame header
    /// (9), then its payload, learnt from that header.
    before: usize,
    /// The frame header as it passes.
    head: [u8; 9],
    head_seen: usize,
    io: IO,
}

/// The preface's length (RFC 9113 §3.4).
const PREFACE_LEN: usize = 24;

impl<IO> Inject<IO> {
    /// `io`, with `inject` read after its preface and first frame.
    pub fn new(inject: bytes::Bytes, io: IO) -> Self {
        Inject {
            inject,
            before: PREFACE_LEN + 9,
            head: [0; 9],
            head_seen: 0,
            io,
        }
    }
}

impl<IO: AsyncRead + Unpin> AsyncRead for Inject<IO> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let me = self.get_mut();
        if me.before == 0 && !me.inject.is_empty() {
            let n = me.inject.len().min(buf.remaining());
            buf.put_slice(&me.inject.split_to(n));
            return Poll::Ready(Ok(()));
        }
        if me.before == 0 {
            return Pin::new(&mut me.io).poll_read(cx, buf);
        }
        // Read no further than the injection point.
        let mut scratch = [0u8; 4096];
        let want = me.before.min(scratch.len()).min(buf.remaining());
        let mut rb = ReadBuf::new(&mut scratch[..want]);
        std::task::ready!(Pin::new(&mut me.io).poll_read(cx, &mut rb))?;
        let got = rb.filled();
        // Where the frame header falls in what was read, to learn the payload's length.
        let passed = PREFACE_LEN + 9 - me.before.min(PREFACE_LEN + 9);
        for (i, &b) in got.iter().enumerate() {
            let at = passed + i;
            if (PREFACE_LEN..PREFACE_LEN + 9).contains(&at) && me.head_seen < 9 {
                me.head[me.head_seen] = b;
                me.head_seen += 1;
                if me.head_seen == 9 {
                    let h = &me.head;
                    let len = (h[0] as usize) << 16 | (h[1] as usize) << 8 | h[2] as usize;
                    me.before += len;
                }
            }
        }
        me.before -= got.len();
        buf.put_slice(got);
        Poll::Ready(Ok(()))
    }
}

impl<IO: AsyncWrite + Unpin> AsyncWrite for Inject<IO> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().io).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_shutdown(cx)
    }
}
