//! Sending a response on a stream: its head as HTTP/2 fields, then the body in pieces the
//! client's flow-control window allows. A piece waits at most the write timeout for window:
//! a client that holds a window at zero (slow read) loses the stream, and memory per stream
//! stays bounded by what was reserved.

use std::time::Duration;

use bytes::Bytes;
use h2::server::SendResponse;
use h2::{Reason, SendStream};
use http::header::{HeaderValue, CONTENT_LENGTH, DATE};

use crate::middleware::StreamEncoder;
use crate::protocol::h1::date;
use crate::protocol::h2::response_headers;
use crate::protocol::response::{Body, Chunk, FileBody, Response, StreamBody};
use crate::protocol::status::status_allows_body;

/// Files are read and sent in pieces of this size.
const FILE_PIECE: usize = 64 * 1024;

/// Full bodies up to this size are handed over without waiting for window (the initial
/// stream window, RFC 9113 §6.9.2: most clients' windows take it at once).
const SMALL_BODY: usize = 65_535;

fn head(status: u16, block: &[u8], length: Option<u64>) -> http::Response<()> {
    let mut r = http::Response::new(());
    *r.status_mut() =
        http::StatusCode::from_u16(status).unwrap_or(http::StatusCode::INTERNAL_SERVER_ERROR);
    let h = r.headers_mut();
    response_headers(block, h);
    if let Ok(d) = HeaderValue::from_bytes(&date::http_date()) {
        h.insert(DATE, d);
    }
    if let Some(n) = length {
        h.insert(CONTENT_LENGTH, HeaderValue::from(n));
    }
    r
}

/// Sends a small full response without waiting (the crate buffers it): answers to requests
/// that never reached the pipeline.
pub(super) fn plain(tx: &mut SendResponse<Bytes>, response: Response, head_only: bool) {
    let Body::Full(body) = response.body else {
        return;
    };
    let empty = body.is_empty() || head_only || !status_allows_body(response.status);
    let h = head(
        response.status,
        &response.header_block,
        Some(body.len() as u64),
    );
    if let Ok(mut s) = tx.send_response(h, empty) {
        if !empty {
            let _ = s.send_data(body, true);
        }
    }
}

/// Sends `response`; Ok with the body bytes sent, or Err with those sent before the stream
/// failed (reset by the client, window held shut past `timeout`, a failed producer).
pub(super) async fn response(
    tx: &mut SendResponse<Bytes>,
    response: Response,
    head_only: bool,
    encoder: Option<StreamEncoder>,
    timeout: Duration,
) -> Result<u64, u64> {
    let has_body = status_allows_body(response.status);
    let length = match &response.body {
        Body::Full(b) => Some(b.len() as u64),
        Body::File(f) => Some(f.len),
        Body::Declared(n) => Some(if head_only { *n } else { 0 }),
        Body::Stream(_) => None,
    };
    let length = length.filter(|_| has_body);
    let sends = has_body && !head_only && length != Some(0);
    let h = head(response.status, &response.header_block, length);
    let Ok(mut out) = tx.send_response(h, !sends) else {
        return Err(0);
    };
    if !sends {
        return Ok(0);
    }
    match response.body {
        // A small body is handed to the crate whole: it goes out as the window allows, and
        // what waits is the body the handler already made (no reserve/poll round per answer:
        // two locks of the crate's stream store less).
        Body::Full(b) if b.len() <= SMALL_BODY => {
            let n = b.len() as u64;
            out.send_data(b, true).map(|_| n).map_err(|_| 0)
        }
        Body::Full(b) => {
            let n = b.len() as u64;
            put(&mut out, b, true, timeout)
                .await
                .map(|_| n)
                .map_err(|_| 0)
        }
        // Boxed: these futures are large, and every stream's future would carry their size.
        Body::File(f) => Box::pin(send_file(&mut out, f, timeout)).await,
        Body::Stream(stream) => Box::pin(send_stream(&mut out, stream, encoder, timeout)).await,
        Body::Declared(_) => Ok(0),
    }
}

/// A file body in pieces of [`FILE_PIECE`], each within the write timeout.
async fn send_file(
    out: &mut SendStream<Bytes>,
    f: FileBody,
    timeout: Duration,
) -> Result<u64, u64> {
    use std::os::unix::fs::FileExt;
    let (mut at, end) = (f.offset, f.offset + f.len);
    let mut sent = 0;
    while at < end {
        let want = ((end - at) as usize).min(FILE_PIECE);
        let mut buf = vec![0; want];
        // A read of the page cache, as the io_uring driver's file bodies.
        let n = match f.file.read_at(&mut buf, at) {
            Ok(0) | Err(_) => {
                out.send_reset(Reason::INTERNAL_ERROR);
                return Err(sent);
            }
            Ok(n) => n,
        };
        buf.truncate(n);
        at += n as u64;
        put(out, Bytes::from(buf), at >= end, timeout)
            .await
            .map_err(|_| sent)?;
        sent += n as u64;
    }
    Ok(sent)
}

/// A streamed body as its producer makes it, through the compressor when there is one, then
/// its trailers.
async fn send_stream(
    out: &mut SendStream<Bytes>,
    mut stream: StreamBody,
    encoder: Option<StreamEncoder>,
    timeout: Duration,
) -> Result<u64, u64> {
    let mut encoder = encoder;
    let mut sent = 0u64;
    let mut scratch = Vec::new();
    loop {
        let next = tokio::select! {
            next = stream.rx.recv() => next,
            _ = std::future::poll_fn(|cx| out.poll_reset(cx)) => return Err(sent),
        };
        if let Some(n) = &stream.on_space {
            n.space();
        }
        match next {
            Some(Chunk::Data(data)) => {
                let data = match &mut encoder {
                    None => data,
                    Some(e) => {
                        e.write(&data).map_err(|_| sent)?;
                        scratch.clear();
                        e.flush(&mut scratch).map_err(|_| sent)?;
                        Bytes::copy_from_slice(&scratch)
                    }
                };
                if data.is_empty() {
                    continue;
                }
                let n = data.len() as u64;
                put(out, data, false, timeout).await.map_err(|_| sent)?;
                sent += n;
            }
            Some(Chunk::End) => {
                let last = match &mut encoder {
                    None => Bytes::new(),
                    Some(e) => {
                        scratch.clear();
                        e.finish(&mut scratch).map_err(|_| sent)?;
                        Bytes::copy_from_slice(&scratch)
                    }
                };
                let n = last.len() as u64;
                let Some(block) = stream.trailers.take() else {
                    put(out, last, true, timeout).await.map_err(|_| sent)?;
                    return Ok(sent + n);
                };
                if !last.is_empty() {
                    put(out, last, false, timeout).await.map_err(|_| sent)?;
                }
                let mut fields = http::HeaderMap::new();
                response_headers(&block, &mut fields);
                out.send_trailers(fields).map_err(|_| sent + n)?;
                return Ok(sent + n);
            }
            None => {
                // The producer failed mid-body: the stream ends in error, not as if
                // complete (RFC 9113 §8.1).
                out.send_reset(Reason::INTERNAL_ERROR);
                return Err(sent);
            }
        }
    }
}

/// Sends `data` as the window allows; `end` ends the stream with the last piece.
async fn put(
    out: &mut SendStream<Bytes>,
    mut data: Bytes,
    end: bool,
    timeout: Duration,
) -> Result<(), ()> {
    if data.is_empty() {
        return out.send_data(data, end).map_err(|_| ());
    }
    while !data.is_empty() {
        out.reserve_capacity(data.len());
        let granted =
            tokio::time::timeout(timeout, std::future::poll_fn(|cx| out.poll_capacity(cx))).await;
        let n = match granted {
            Ok(Some(Ok(n))) => n,
            Ok(_) => return Err(()),
            Err(_) => {
                // The client kept its window shut for the whole write timeout.
                out.send_reset(Reason::CANCEL);
                return Err(());
            }
        };
        if n == 0 {
            continue;
        }
        let piece = data.split_to(n.min(data.len()));
        out.send_data(piece, end && data.is_empty())
            .map_err(|_| ())?;
    }
    Ok(())
}
