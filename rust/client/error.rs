//! Every way an outbound request can fail.

use std::fmt;
use std::io;

/// Which phase of a request a timeout ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Opening the TCP connection.
    Connect,
    /// Writing the request.
    Write,
    /// Reading the response (head or body).
    Read,
}

/// Why a request got no response.
#[derive(Debug)]
pub enum ClientError {
    /// The TCP connection could not be opened (refused, unreachable, name not resolved).
    Connect(io::Error),
    /// The connect timeout or the total timeout passed during `phase`.
    Timeout {
        /// Where the request was when time ran out.
        phase: Phase,
    },
    /// The connection failed while the request was written (`Phase::Write`) or the response
    /// read (`Phase::Read`).
    Io {
        /// Writing or reading.
        phase: Phase,
        /// The socket error.
        source: io::Error,
    },
    /// The response broke HTTP/1.1 (RFC 9112): the text says how.
    Protocol(String),
    /// The response body exceeds the client's `max_body`.
    BodyTooLarge,
    /// The peer closed the connection before sending any byte of a response.
    Closed,
    /// The request itself cannot be sent (a header with CR or LF, a bad method, ...).
    InvalidRequest(&'static str),
    /// The client was closed before the request finished.
    Shutdown,
    /// The client was created in the parent of this forked process: its thread is not here.
    Forked,
}

impl ClientError {
    /// A short stable name of the variant (`connect`, `read_timeout`, ...), used by the
    /// Python bridge to pick the httpx exception.
    pub fn kind(&self) -> &'static str {
        match self {
            ClientError::Connect(_) => "connect",
            ClientError::Timeout {
                phase: Phase::Connect,
            } => "connect_timeout",
            ClientError::Timeout {
                phase: Phase::Write,
            } => "write_timeout",
            ClientError::Timeout { phase: Phase::Read } => "read_timeout",
            ClientError::Io {
                phase: Phase::Write,
                ..
            } => "write_error",
            ClientError::Io { .. } => "read_error",
            ClientError::Protocol(_) => "protocol",
            ClientError::BodyTooLarge => "body_too_large",
            ClientError::Closed => "closed",
            ClientError::InvalidRequest(_) => "invalid_request",
            ClientError::Shutdown => "shutdown",
            ClientError::Forked => "forked",
        }
    }
}

impl fmt::Display for ClientError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ClientError::Connect(e) => write!(f, "could not connect: {e}"),
            ClientError::Timeout { phase } => {
                let what = match phase {
                    Phase::Connect => "connecting",
                    Phase::Write => "writing the request",
                    Phase::Read => "reading the response",
                };
                write!(f, "timed out {what}")
            }
            ClientError::Io {
                phase: Phase::Write,
                source,
            } => write!(f, "connection failed writing the request: {source}"),
            ClientError::Io { source, .. } => {
                write!(f, "connection failed reading the response: {source}")
            }
            ClientError::Protocol(why) => write!(f, "invalid response: {why}"),
            ClientError::BodyTooLarge => f.write_str("response body exceeds the client's max_body"),
            ClientError::Closed => {
                f.write_str("server closed the connection without sending a response")
            }
            ClientError::InvalidRequest(why) => write!(f, "invalid request: {why}"),
            ClientError::Shutdown => f.write_str("client closed before the request finished"),
            ClientError::Forked => {
                f.write_str("client created before fork: create it in the process that uses it")
            }
        }
    }
}

impl std::error::Error for ClientError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            ClientError::Connect(e) | ClientError::Io { source: e, .. } => Some(e),
            _ => None,
        }
    }
}
