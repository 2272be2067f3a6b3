//! One HTTP/2 stream through the pipeline: head → front (probes, middleware, route) → body →
//! admit → dispatch → wait (504 at the deadline, cancel when the client resets) → respond →
//! record. The same stages as `server/conn.rs`, without HTTP/1.1's framing.

use std::rc::Rc;
use std::sync::Arc;
use std::time::Instant;

use bytes::{Bytes, BytesMut};
use h2::server::SendResponse;
use h2::RecvStream;
use http::Request;

use crate::log::{self, Level};
use crate::pipeline::answers::unanswered;
use crate::pipeline::{front, BodyPipe, Cancel, Exchange, Front, RouteKind};
use crate::protocol::h1::{Method, ProtoError};
use crate::protocol::h2::{request_head, HeadError};
use crate::protocol::problem::problem;
use crate::protocol::response::Response;
use crate::server::http2::Shared;
use crate::server::http2::{body, send, websocket};
use crate::server::spin;

/// Serves one stream to its end.
pub(super) async fn serve(req: Request<RecvStream>, mut tx: SendResponse<Bytes>, conn: Rc<Shared>) {
    let started = Instant::now();
    let ctx = conn.ctx.clone();
    if websocket::is_extended_connect(&req) {
        // Boxed: a WebSocket's future is large, and every stream's future would carry its
        // size (moved whole when the stream's task is spawned).
        return Box::pin(websocket::serve(req, tx, conn, started)).await;
    }
    let (parts, mut body) = req.into_parts();
    let head = match request_head(&parts, &ctx.config.limits) {
        Ok(h) => h,
        Err(e) => {
            let r = match e {
                HeadError::NoAuthority => problem(400, "the request has no :authority"),
                HeadError::Proto(p) => proto_answer(&p),
            };
            send::plain(&mut tx, r, parts.method == http::Method::HEAD);
            return;
        }
    };
    let Ok(path) = std::str::from_utf8(head.path()) else {
        send::plain(&mut tx, problem(400, "request path is not UTF-8"), false);
        return;
    };
    let (front, mut ex) = front(&ctx, &head, path, &conn.peer, started);
    ex.secure = conn.secure.clone();
    let head_only = *head.method() == Method::Head;
    let routed = match front {
        Front::Routed(r) => r,
        Front::Answer { response, .. } => {
            // Answered without its body: when the stream's handles drop, the crate asks the
            // client to stop sending it (RST_STREAM NO_ERROR after the answer, RFC 9113 §8.1;
            // an explicit reset now would drop the answer's queued frames).
            finish(&mut tx, response, head_only, ex, &conn).await;
            return;
        }
    };
    if ctx.dispatch.kind(routed.route) == RouteKind::WebSocket {
        let r = problem(
            400,
            "a WebSocket route takes an upgrade: over HTTP/2, an extended CONNECT with \
             :protocol websocket (RFC 8441)",
        );
        finish(&mut tx, r, head_only, ex, &conn).await;
        return;
    }
    // A mounted app reads its body while it arrives; every other handler gets it whole.
    let streamed = !body.is_end_stream() && ctx.dispatch.kind(routed.route) == RouteKind::Mount;
    let payload = if body.is_end_stream() || streamed {
        Bytes::new()
    } else {
        match Box::pin(read_body(&mut body, &conn, started)).await {
            Ok((b, trailers)) => {
                ex.trailers = trailers;
                b
            }
            Err(Some(r)) => {
                finish(&mut tx, r, head_only, ex, &conn).await;
                return;
            }
            Err(None) => {
                conn.client_reset();
                return;
            }
        }
    };
    // A stream reset before it reaches a handler costs no Python (rapid reset sends HEADERS
    // and RST_STREAM together).
    if reset_now(&mut tx) {
        conn.client_reset();
        return;
    }
    let slot = match ctx.shared.gate.try_admit() {
        Some(s) => Ok(s),
        None => {
            let shared = ctx.shared.clone();
            shared.gate.admit().await
        }
    };
    let slot = match slot {
        Ok(s) => s,
        Err(refusal) => {
            let r = ctx.refused(&conn.peer, refusal);
            finish(&mut tx, r, head_only, ex, &conn).await;
            return;
        }
    };
    let in_flight = spin::InFlight::new();
    let pipe = streamed.then(|| Arc::new(BodyPipe::new()));
    let d = ctx.dispatch_job(
        head,
        payload,
        routed,
        Some(slot),
        conn.peer.clone(),
        &mut ex,
        None,
        pipe.clone(),
    );
    let deadline = d.limit.map(|l| tokio::time::Instant::now() + l);
    let mut rx = d.rx;
    let feeding = async {
        match &pipe {
            Some(p) => Box::pin(body::feed(&mut body, p, &conn)).await,
            None => body::Fed::Whole,
        }
    };
    tokio::pin!(feeding);
    let mut fed = pipe.is_none();
    let response = loop {
        tokio::select! {
            r = &mut rx => {
                if !fed {
                    // Answered before the whole body came (it stopped reading).
                    if let Some(p) = &pipe {
                        p.cut();
                    }
                }
                break r.unwrap_or_else(|_| unanswered());
            }
            outcome = &mut feeding, if !fed => {
                fed = true;
                match outcome {
                    body::Fed::Whole => {}
                    body::Fed::Discarded => {}
                    body::Fed::Failed(answer) => {
                        ctx.dispatch.cancel(d.id, Cancel::Disconnected);
                        break answer;
                    }
                    body::Fed::Reset => {
                        ctx.dispatch.cancel(d.id, Cancel::Disconnected);
                        conn.client_reset();
                        return;
                    }
                }
            }
            _ = sleep_opt(deadline) => {
                let stated = d.stated.unwrap_or_default();
                break ctx.timed_out(&conn.peer, d.id, stated);
            }
            _ = std::future::poll_fn(|cx| tx.poll_reset(cx)) => {
                ctx.dispatch.cancel(d.id, Cancel::Disconnected);
                conn.client_reset();
                return;
            }
        }
    };
    drop(in_flight);
    // A rest of the body left unread: the handles drop on return, and the crate resets the
    // stream with NO_ERROR after the answer's frames (RFC 9113 §8.1).
    finish(&mut tx, response, head_only, ex, &conn).await;
}

async fn sleep_opt(deadline: Option<tokio::time::Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(d).await,
        None => std::future::pending().await,
    }
}

/// A waker that does nothing, for looking at a stream's state without waiting.
struct Noop;

impl std::task::Wake for Noop {
    fn wake(self: std::sync::Arc<Self>) {}
}

thread_local! {
    // One per thread (`Waker::noop` needs Rust 1.85; the MSRV is 1.80).
    static NOOP: std::task::Waker = std::task::Waker::from(std::sync::Arc::new(Noop));
}

/// Whether the client has reset the stream already (looked at without waiting).
fn reset_now(tx: &mut SendResponse<Bytes>) -> bool {
    NOOP.with(|w| {
        let mut cx = std::task::Context::from_waker(w);
        tx.poll_reset(&mut cx).is_ready()
    })
}

/// The whole request body within `max_body_size` and the body timeout, and its trailer
/// fields; Err(Some) is the answer (413, 408), Err(None) means the client reset the stream.
async fn read_body(
    body: &mut RecvStream,
    conn: &Shared,
    started: Instant,
) -> Result<(Bytes, Option<Vec<u8>>), Option<Response>> {
    let cfg = &conn.ctx.config;
    let deadline = tokio::time::Instant::from_std(started + cfg.body_timeout);
    let mut buf = BytesMut::new();
    loop {
        let next = match tokio::time::timeout_at(deadline, body.data()).await {
            Ok(n) => n,
            Err(_) => {
                return Err(Some(problem(
                    408,
                    "the request body did not arrive in time",
                )))
            }
        };
        match next {
            None => break,
            Some(Ok(chunk)) => {
                // The window opens again as the body is read: flow control is the
                // backpressure.
                let _ = body.flow_control().release_capacity(chunk.len());
                if (buf.len() + chunk.len()) as u64 > cfg.limits.max_body {
                    return Err(Some(problem(413, "the request body is too large")));
                }
                if buf.is_empty() && body.is_end_stream() {
                    return Ok((chunk, None));
                }
                buf.extend_from_slice(&chunk);
            }
            Some(Err(e)) => {
                log::write(
                    Level::Debug,
                    format_args!("{}: HTTP/2 request body ended: {e}", conn.peer),
                );
                return Err(None);
            }
        }
    }
    // Trailers, if the client sent any (the crate bounds them like the header list).
    let trailers = match tokio::time::timeout_at(deadline, body.trailers()).await {
        Ok(Ok(Some(fields))) if !fields.is_empty() => {
            let mut block = Vec::new();
            for (name, value) in &fields {
                block.extend_from_slice(name.as_str().as_bytes());
                block.extend_from_slice(b": ");
                block.extend_from_slice(value.as_bytes());
                block.extend_from_slice(b"\r\n");
            }
            Some(block)
        }
        Ok(Ok(_)) => None,
        Ok(Err(_)) => return Err(None),
        Err(_) => {
            return Err(Some(problem(
                408,
                "the request trailers did not arrive in time",
            )))
        }
    };
    Ok((buf.freeze(), trailers))
}

/// Runs the respond stage on `response`, sends it, records it and logs it.
async fn finish(
    tx: &mut SendResponse<Bytes>,
    mut response: Response,
    head_only: bool,
    mut ex: Exchange,
    conn: &Shared,
) {
    let ctx = &conn.ctx;
    let encoder = ex.respond(ctx, head_only, &mut response);
    let status = response.status;
    let streamed = !matches!(response.body, crate::protocol::response::Body::Full(_));
    let sent = send::response(tx, response, head_only, encoder, ctx.config.write_timeout).await;
    let bytes = match sent {
        Ok(n) => n,
        Err(n) => {
            log::write(
                Level::Debug,
                format_args!("{}: HTTP/2 response cut after {n} bytes", conn.peer),
            );
            n
        }
    };
    if streamed {
        ex.record_streamed(status, bytes);
    }
    ex.log_access(&conn.peer, status, bytes as usize);
}

/// The answer to a head the parser refused.
fn proto_answer(e: &ProtoError) -> Response {
    problem(e.status(), e.reason())
}
