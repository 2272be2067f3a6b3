//! One HTTP/1.1 connection: writes a request, reads its response.

use std::future::Future;
use std::io;

use bytes::{Bytes, BytesMut};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::{timeout_at, Instant};

use super::encode::Encoded;
use super::error::{ClientError, Phase};
use super::head::{self, Framing};
use super::types::{Response, MAX_HEAD};
use crate::protocol::h1::{BodyDecoder, BodyFraming, ProtoError};

/// Read buffer size; a larger Content-Length body gets its whole size reserved at once.
const READ_CHUNK: usize = 16 * 1024;

/// A failed exchange, and whether it may be retried on a fresh connection.
#[derive(Debug)]
pub struct Failure {
    /// What went wrong.
    pub error: ClientError,
    /// The request was written but the peer closed (EOF or reset) before sending any byte
    /// of a response: on a reused connection this is the keep-alive race, the server
    /// having closed the idle connection as the request arrived (RFC 9112 §9.3.1).
    pub stale: bool,
}

impl From<ClientError> for Failure {
    fn from(error: ClientError) -> Self {
        Failure {
            error,
            stale: false,
        }
    }
}

/// An open connection and the bytes read from it but not yet used.
#[derive(Debug)]
pub struct Conn {
    stream: TcpStream,
    buf: BytesMut,
    /// It carried a request before (came from the pool).
    pub reused: bool,
}

/// Waits for `f` until `deadline`, reporting a timeout in `phase`.
async fn within<F: Future>(
    deadline: Option<Instant>,
    phase: Phase,
    f: F,
) -> Result<F::Output, ClientError> {
    match deadline {
        Some(d) => timeout_at(d, f)
            .await
            .map_err(|_| ClientError::Timeout { phase }),
        None => Ok(f.await),
    }
}

impl Conn {
    /// Opens a connection to `authority` (`host:port`; a name is resolved on tokio's
    /// blocking pool), giving up at `deadline`.
    pub async fn connect(authority: &str, deadline: Option<Instant>) -> Result<Conn, ClientError> {
        let stream = within(deadline, Phase::Connect, TcpStream::connect(authority))
            .await?
            .map_err(ClientError::Connect)?;
        // Requests are written whole; Nagle would only delay a body written after its head.
        let _ = stream.set_nodelay(true);
        Ok(Conn {
            stream,
            buf: BytesMut::new(),
            reused: false,
        })
    }

    /// Whether an idle connection still looks open: no EOF, reset or unexpected bytes seen.
    /// Catches a server that closed the connection while it sat in the pool, before a
    /// request is sent on it.
    pub fn is_usable(&self) -> bool {
        let mut probe = [0u8; 1];
        matches!(self.stream.try_read(&mut probe), Err(e) if e.kind() == io::ErrorKind::WouldBlock)
    }

    /// Sends `req` and reads the response. Ok: the response and whether the connection may
    /// carry another request.
    pub async fn exchange(
        &mut self,
        req: &Encoded,
        max_body: u64,
        deadline: Option<Instant>,
    ) -> Result<(Response, bool), Failure> {
        let write = async {
            self.stream.write_all(&req.head).await?;
            if !req.body.is_empty() {
                self.stream.write_all(&req.body).await?;
            }
            Ok::<_, io::Error>(())
        };
        within(deadline, Phase::Write, write)
            .await?
            .map_err(|source| ClientError::Io {
                phase: Phase::Write,
                source,
            })?;

        let mut received = false;
        let head = loop {
            if !self.buf.is_empty() {
                if let Some(head) = head::parse(&mut self.buf, req.head_only)? {
                    match head.status {
                        101 => return Err(protocol("101 Switching Protocols without Upgrade")),
                        // Interim responses (100 Continue, 103 Early Hints) precede the final
                        // one on the same request (RFC 9110 §15.2).
                        s if s < 200 => continue,
                        _ => break head,
                    }
                }
            }
            match self.read(deadline, READ_CHUNK).await {
                Ok(0) if !received => {
                    return Err(Failure {
                        error: ClientError::Closed,
                        stale: true,
                    })
                }
                Ok(0) => return Err(protocol("connection closed in the response head")),
                Ok(_) => received = true,
                Err(Failure { error, .. }) => {
                    let reset = matches!(&error, ClientError::Io { source, .. }
                        if source.kind() == io::ErrorKind::ConnectionReset);
                    return Err(Failure {
                        error,
                        stale: reset && !received,
                    });
                }
            }
        };

        let body = match head.framing {
            Framing::Empty => Bytes::new(),
            Framing::Length(n) => {
                self.buf.reserve(n.min(max_body) as usize);
                self.decode(BodyFraming::Length(n), max_body, deadline)
                    .await?
            }
            Framing::Chunked => {
                self.decode(BodyFraming::Chunked, max_body, deadline)
                    .await?
            }
            Framing::Close => {
                loop {
                    if self.buf.len() as u64 > max_body {
                        return Err(ClientError::BodyTooLarge.into());
                    }
                    if self.read(deadline, READ_CHUNK).await? == 0 {
                        break;
                    }
                }
                self.buf.split().freeze()
            }
        };
        // Bytes after the response that nobody asked for: the framing is in doubt.
        let reusable = head.keep_alive && !req.close && self.buf.is_empty();
        let response = Response {
            status: head.status,
            headers: head.headers,
            body,
        };
        Ok((response, reusable))
    }

    async fn decode(
        &mut self,
        framing: BodyFraming,
        max_body: u64,
        deadline: Option<Instant>,
    ) -> Result<Bytes, Failure> {
        let mut decoder = BodyDecoder::new(framing, max_body, MAX_HEAD);
        let mut out = BytesMut::new();
        loop {
            match decoder.decode(&mut self.buf, &mut out) {
                Ok(true) => return Ok(out.freeze()),
                Ok(false) => {}
                Err(ProtoError::BodyTooLarge) => return Err(ClientError::BodyTooLarge.into()),
                Err(ProtoError::HeadersTooLarge) => {
                    return Err(protocol("trailer section exceeds 64 KiB"))
                }
                Err(e) => return Err(protocol(e.reason())),
            }
            if self.read(deadline, READ_CHUNK).await? == 0 {
                return Err(protocol(
                    "connection closed before the end of the response body",
                ));
            }
        }
    }

    /// Reads more bytes into the buffer; 0 = EOF.
    async fn read(&mut self, deadline: Option<Instant>, want: usize) -> Result<usize, Failure> {
        if self.buf.capacity() - self.buf.len() < want / 4 {
            self.buf.reserve(want);
        }
        let n = within(deadline, Phase::Read, self.stream.read_buf(&mut self.buf))
            .await?
            .map_err(|source| ClientError::Io {
                phase: Phase::Read,
                source,
            })?;
        Ok(n)
    }
}

fn protocol(why: &str) -> Failure {
    ClientError::Protocol(why.to_owned()).into()
}
