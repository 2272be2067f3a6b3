//! The response value: what a handler, a built-in middleware or the server answers, before any
//! protocol encodes it. HTTP/1.1 writes it with `h1::encode`; HTTP/2 and WebSocket upgrades
//! will take the same value.

use bytes::Bytes;
use tokio::sync::mpsc;

/// A response body.
pub enum Body {
    /// The whole body, sent with Content-Length.
    Full(Bytes),
    /// Chunks produced over time, sent with chunked encoding.
    Stream(StreamBody),
    /// A range of an open file, sent with Content-Length by `sendfile(2)` where the IO driver
    /// can (a hosted app's `pathsend` or `wsgi.file_wrapper`, a `FileResponse`).
    File(FileBody),
    /// No body, from a handler that declared `Content-Length: N` (a WSGI app answering
    /// HEAD, which leaves the body out itself): a HEAD answer says N, as the GET answer would
    /// (RFC 9110 §9.3.2); any other answer says 0, since no body follows.
    Declared(u64),
}

/// A range of an open file to send as the body.
pub struct FileBody {
    /// The file, opened when the response was made.
    pub file: std::fs::File,
    /// Where the range starts.
    pub offset: u64,
    /// How many bytes; a file that turns out shorter cuts the connection (the length was
    /// promised in Content-Length).
    pub len: u64,
}

/// The receiving end of a streamed body. The stream ends at `Chunk::End`; a sender dropped
/// without it means the producer failed, and the connection is cut.
pub struct StreamBody {
    /// Chunks, bounded so a fast producer waits for a slow client (backpressure).
    pub rx: mpsc::Receiver<Chunk>,
    /// Told after chunks are taken, so a producer waiting for room can be woken.
    pub on_space: Option<std::sync::Arc<dyn OnSpace>>,
    /// Trailer fields sent after the last chunk (`name: value\r\n` lines, validated like the
    /// header block): HTTP/2 sends them as a trailing HEADERS frame, HTTP/1.1 in the chunked
    /// trailer section (RFC 9112 §7.1.2).
    pub trailers: Option<Vec<u8>>,
}

impl Drop for StreamBody {
    fn drop(&mut self) {
        // The connection is done with the stream (finished, failed or dropped at a drain
        // deadline): wake a producer waiting for room so it sees the closed channel and stops,
        // instead of waiting forever.
        self.rx.close();
        if let Some(n) = &self.on_space {
            n.space();
        }
    }
}

/// Wakes a stream producer when its channel has room again.
pub trait OnSpace: Send + Sync {
    /// Called by the consumer after it took chunks out of the channel.
    fn space(&self);
}

/// One item of a streamed body.
pub enum Chunk {
    /// More data.
    Data(Bytes),
    /// The body is complete.
    End,
}

/// A response from a handler.
pub struct Response {
    /// Status code, 100..=999 checked by the producer.
    pub status: u16,
    /// Header lines already validated and encoded as `name: value\r\n`, without Date,
    /// Content-Length, Transfer-Encoding or Connection, which the server writes.
    pub header_block: Vec<u8>,
    /// The body.
    pub body: Body,
}

impl Response {
    /// A copy of a response with a full body (streams cannot be copied: None).
    pub fn try_clone(&self) -> Option<Response> {
        match &self.body {
            Body::Full(b) => Some(Response {
                status: self.status,
                header_block: self.header_block.clone(),
                body: Body::Full(b.clone()),
            }),
            Body::Stream(_) | Body::File(_) | Body::Declared(_) => None,
        }
    }

    /// A response with a full body and one content-type.
    pub fn full(status: u16, content_type: &str, body: impl Into<Bytes>) -> Self {
        let mut header_block = Vec::with_capacity(16 + content_type.len());
        header_block.extend_from_slice(b"content-type: ");
        header_block.extend_from_slice(content_type.as_bytes());
        header_block.extend_from_slice(b"\r\n");
        Response {
            status,
            header_block,
            body: Body::Full(body.into()),
        }
    }
}
