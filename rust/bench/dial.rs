//! Opening a connection: TCP, then the TLS handshake for `https://`, both within the connect
//! timeout. Every protocol driver (conn.rs, h2_conn.rs, fresh.rs) reads and writes the
//! result through [`Io`], whichever it is.

use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::rc::Rc;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;

use super::stats::{ErrorKind, Recorder};
use super::target::Target;
use super::tls::{self, Negotiated, Tls};
use super::{BenchError, Options};

/// How a thread's connections are opened.
#[derive(Debug, Clone)]
pub struct Dialer {
    /// The resolved target.
    pub addr: SocketAddr,
    /// The handshake of `https://` targets.
    pub tls: Option<Arc<Tls>>,
    /// For the TCP connect and the TLS handshake together.
    pub timeout: Duration,
}

/// An open connection, plain or TLS. An enum rather than a type parameter: one match per
/// read or write costs nothing next to the syscall, and each driver is compiled once.
pub enum Io {
    /// `http://`.
    Plain(TcpStream),
    /// `https://`; boxed, as the TLS state is about 1 KB and the plain case is the common one.
    Tls(Box<TlsStream<TcpStream>>),
}

impl Dialer {
    /// A dialer for plain TCP.
    pub fn plain(addr: SocketAddr, timeout: Duration) -> Dialer {
        Dialer {
            addr,
            tls: None,
            timeout,
        }
    }

    /// The dialer of every connection of a run, and the TLS version a handshake before the
    /// run negotiated (see [`Dialer::probe`]); for `--h2` over TLS the server must have
    /// selected h2.
    pub fn for_run(
        opts: &Options,
        target: &Target,
        addr: SocketAddr,
    ) -> Result<(Dialer, Option<&'static str>), BenchError> {
        let mut dialer = Dialer::plain(addr, opts.timeout);
        if !target.tls {
            return Ok((dialer, None));
        }
        let alpn: &[u8] = if opts.h2 { b"h2" } else { b"http/1.1" };
        dialer.tls = Some(Arc::new(Tls::new(&opts.tls, &target.host, alpn)?));
        let negotiated = dialer.probe()?;
        if let Some(n) = &negotiated {
            if opts.h2 && n.alpn.as_deref() != Some(b"h2") {
                return Err(BenchError::Invalid(format!(
                    "{}: the server did not select h2 by ALPN ({}); run without --h2",
                    opts.url,
                    match &n.alpn {
                        Some(p) => format!("it chose {}", String::from_utf8_lossy(p)),
                        None => "it chose no protocol".into(),
                    }
                )));
            }
        }
        // `TLS` when the server was not up yet to say which version.
        Ok((dialer, Some(negotiated.map_or("TLS", |n| n.version))))
    }

    /// Connects and, for TLS, shakes hands; the error is the kind the lost request counts as.
    pub async fn dial(&self) -> Result<Io, ErrorKind> {
        let deadline = tokio::time::Instant::now() + self.timeout;
        let tcp = tokio::time::timeout_at(deadline, TcpStream::connect(self.addr))
            .await
            .map_err(|_| ErrorKind::Connect)?
            .map_err(|_| ErrorKind::Connect)?;
        // Requests are written whole; Nagle would only hold the next one back.
        tcp.set_nodelay(true).map_err(|_| ErrorKind::Connect)?;
        let Some(tls) = &self.tls else {
            return Ok(Io::Plain(tcp));
        };
        match tokio::time::timeout_at(deadline, tls.connect(tcp)).await {
            Ok(Ok(stream)) => Ok(Io::Tls(Box::new(stream))),
            _ => Err(ErrorKind::Tls),
        }
    }

    /// One handshake before the run, so that a certificate the client refuses, or a server
    /// that does not speak the protocol asked for, stops the run with the reason instead of
    /// counting every request as failed. `Ok(None)` when no TCP connection opens: the run
    /// then counts connect errors, as it does for `http://`.
    pub fn probe(&self) -> Result<Option<Negotiated>, BenchError> {
        let Some(tls) = &self.tls else {
            return Ok(None);
        };
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| BenchError::Io(format!("cannot start a tokio runtime: {e}"), e))?;
        rt.block_on(async {
            let connect = tokio::time::timeout(self.timeout, TcpStream::connect(self.addr));
            let Ok(Ok(tcp)) = connect.await else {
                return Ok(None);
            };
            match tokio::time::timeout(self.timeout, tls.connect(tcp)).await {
                Ok(Ok(stream)) => Ok(Some(tls::negotiated(&stream))),
                Ok(Err(e)) => Err(BenchError::Invalid(format!(
                    "TLS handshake with {} failed: {e}{}",
                    self.addr,
                    tls.hint(&e)
                ))),
                Err(_) => Err(BenchError::Invalid(format!(
                    "TLS handshake with {} took longer than the timeout ({:?})",
                    self.addr, self.timeout
                ))),
            }
        })
    }
}

impl AsyncRead for Io {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Io::Plain(s) => Pin::new(s).poll_read(cx, buf),
            Io::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Io {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Io::Plain(s) => Pin::new(s).poll_write(cx, buf),
            Io::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Io::Plain(s) => Pin::new(s).poll_write_vectored(cx, bufs),
            Io::Tls(s) => Pin::new(s.as_mut()).poll_write_vectored(cx, bufs),
        }
    }

    fn is_write_vectored(&self) -> bool {
        match self {
            Io::Plain(s) => s.is_write_vectored(),
            Io::Tls(s) => s.is_write_vectored(),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Io::Plain(s) => Pin::new(s).poll_flush(cx),
            Io::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Io::Plain(s) => Pin::new(s).poll_shutdown(cx),
            Io::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
        }
    }
}

/// An [`Io`] that adds what passes through it to the recorder's byte counts: the HTTP/2
/// driver never sees the bytes itself. Counted above TLS, so both protocols report the
/// HTTP bytes, not the TLS records.
pub struct Counted {
    io: Io,
    rec: Rc<Recorder>,
}

impl Counted {
    /// Counts `io`'s traffic into `rec`.
    pub fn new(io: Io, rec: Rc<Recorder>) -> Counted {
        Counted { io, rec }
    }
}

impl AsyncRead for Counted {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        let poll = Pin::new(&mut this.io).poll_read(cx, buf);
        this.rec.read(buf.filled().len() - before);
        poll
    }
}

impl AsyncWrite for Counted {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let poll = Pin::new(&mut this.io).poll_write(cx, buf);
        if let Poll::Ready(Ok(n)) = poll {
            this.rec.wrote(n);
        }
        poll
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let poll = Pin::new(&mut this.io).poll_write_vectored(cx, bufs);
        if let Poll::Ready(Ok(n)) = poll {
            this.rec.wrote(n);
        }
        poll
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
