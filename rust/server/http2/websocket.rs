//! WebSocket over HTTP/2 (RFC 8441): an extended CONNECT with `:protocol websocket` on one
//! stream (SETTINGS_ENABLE_CONNECT_PROTOCOL is offered in `mod.rs`).
//!
//! The request goes through the pipeline as the `GET` with `Upgrade: websocket` it stands for
//! (`protocol::h2::websocket_head`): front (probes, middleware such as the origin check,
//! route), the handshake checks RFC 8441 §5 keeps, the session opened and dispatched exactly as
//! for an HTTP/1.1 upgrade (`server::ws_open`). The handler's accept is a `200` whose fields
//! are the accept's without `upgrade` and the accept key; a refusal is the handler's HTTP
//! answer on the stream. After the `200`, the stream's DATA carry the WebSocket's frames
//! through the same loop as a TCP connection's (`server::ws`, over `stream_conn.rs`).

#[path = "stream_conn.rs"]
mod stream_conn;

use std::rc::Rc;
use std::time::Instant;

use bytes::{Bytes, BytesMut};
use h2::server::SendResponse;
use h2::RecvStream;
use http::header::{HeaderValue, DATE};
use http::Request;

use crate::log::{self, Level};
use crate::pipeline::{front, Exchange, Front, RouteKind};
use crate::protocol::h1::date;
use crate::protocol::h2::{response_headers, websocket_head, HeadError};
use crate::protocol::problem::problem;
use crate::protocol::response::{Body, Response};
use crate::server::http2::{send, Shared};
use crate::server::unwind::{self, CatchUnwind};
use crate::server::ws_open::{self, Handshake};

use stream_conn::StreamConn;

/// Whether `req` is an extended CONNECT (RFC 8441 §4).
pub(super) fn is_extended_connect(req: &Request<RecvStream>) -> bool {
    req.method() == http::Method::CONNECT && req.extensions().get::<h2::ext::Protocol>().is_some()
}

/// Serves an extended CONNECT to its end: a WebSocket until it closes, or an HTTP answer.
pub(super) async fn serve(
    req: Request<RecvStream>,
    mut tx: SendResponse<Bytes>,
    conn: Rc<Shared>,
    started: Instant,
) {
    let ctx = conn.ctx.clone();
    let (parts, body) = req.into_parts();
    let websocket = parts
        .extensions
        .get::<h2::ext::Protocol>()
        .is_some_and(|p| p.as_str().eq_ignore_ascii_case("websocket"));
    if !websocket {
        let r = problem(
            501,
            "extended CONNECT serves the websocket protocol only (RFC 8441)",
        );
        send::plain(&mut tx, r, false);
        return;
    }
    let head = match websocket_head(&parts, &ctx.config.limits) {
        Ok(h) => h,
        Err(e) => {
            let r = match e {
                HeadError::NoAuthority => problem(400, "the request has no :authority"),
                HeadError::Proto(p) => problem(p.status(), p.reason()),
            };
            send::plain(&mut tx, r, false);
            return;
        }
    };
    let Ok(path) = std::str::from_utf8(head.path()) else {
        send::plain(&mut tx, problem(400, "request path is not UTF-8"), false);
        return;
    };
    let (front, mut ex) = front(&ctx, &head, path, &conn.peer, started);
    ex.secure = conn.secure.clone();
    let routed = match front {
        Front::Routed(r) => r,
        Front::Answer { response, .. } => return answer(&mut tx, response, ex, &conn).await,
    };
    // What opens a WebSocket over HTTP/1.1 opens one here: a WebSocket route, or a mount (a
    // hosted app serves both on one path). A 2xx would tell the client the WebSocket is open
    // (RFC 8441 §5), so an HTTP route cannot answer it as the GET it stands for.
    if ctx.dispatch.kind(routed.route) == RouteKind::Http {
        let r = problem(400, "this resource does not speak WebSocket");
        return answer(&mut tx, r, ex, &conn).await;
    }
    let (session, open, accepted) = match ws_open::open_session(&ctx, &head) {
        Ok(s) => s,
        Err(refusal) => return answer(&mut tx, refusal, ex, &conn).await,
    };
    // A client that resets the stream while the handler decides is gone: its handler stops.
    let gone = async {
        let _ = std::future::poll_fn(|cx| tx.poll_reset(cx)).await;
    };
    let outcome = ws_open::dispatch(
        &ctx, &conn.peer, head, routed, &mut ex, &session, accepted, gone,
    )
    .await;
    let block = match outcome {
        Handshake::Accepted(block) => block,
        Handshake::Answer(r) => {
            drop(open);
            // Topics a handler joined before it refused are left.
            ctx.shared.hub.remove(&session);
            return answer(&mut tx, r, ex, &conn).await;
        }
        Handshake::Gone => {
            ctx.shared.hub.remove(&session);
            log::write(
                Level::Debug,
                format_args!("{}: WebSocket stream reset before its accept", conn.peer),
            );
            conn.client_reset();
            return;
        }
    };
    let sent = match tx.send_response(accept_head(&block), false) {
        Ok(s) => s,
        Err(e) => {
            log::write(
                Level::Debug,
                format_args!("{}: gone before its WebSocket's 200: {e}", conn.peer),
            );
            session.end(1006, "");
            ctx.shared.hub.remove(&session);
            return;
        }
    };
    // The stream is the WebSocket's now: only its send and receive halves stay.
    drop(tx);
    let io = StreamConn::new(sent, body, ctx.config.write_timeout);
    let served = crate::server::ws::serve(
        io,
        BytesMut::new(),
        session.clone(),
        ctx.config.ws.clone(),
        ctx.config.write_timeout,
        ctx.shared.drain_signal(),
        conn.peer.clone(),
        open,
        ctx.shared.metrics.clone(),
    );
    let (code, bytes) = match CatchUnwind(served).await {
        Ok(closed) => (closed.code, closed.bytes_out),
        Err(payload) => {
            log::write(
                Level::Error,
                format_args!(
                    "{}: panic while serving a websocket over HTTP/2: {}",
                    conn.peer,
                    unwind::message(&*payload)
                ),
            );
            (1011, 0)
        }
    };
    // As `server/conn.rs` after an HTTP/1.1 WebSocket: one access-log line and one metrics
    // sample for the whole WebSocket (status 200, the answer that opened it here).
    ex.log_closed(&conn.peer, 200, bytes, code);
    ex.record_streamed(200, bytes as u64);
    // Whatever ended it, the handler sees the close and the topics forget it.
    session.end(1006, "");
    ctx.shared.hub.remove(&session);
}

/// The `200` that opens the WebSocket (RFC 8441 §5): the accept's fields (subprotocol,
/// extensions, the handler's own) without those of HTTP/1.1's handshake.
fn accept_head(block: &[u8]) -> http::Response<()> {
    let mut r = http::Response::new(());
    let h = r.headers_mut();
    // `upgrade` and `connection` are dropped as connection-specific (RFC 9113 §8.2.2);
    // `sec-websocket-accept` is not used over HTTP/2 (RFC 8441 §5).
    response_headers(block, h);
    h.remove("sec-websocket-accept");
    if let Ok(d) = HeaderValue::from_bytes(&date::http_date()) {
        h.insert(DATE, d);
    }
    r
}

/// Answers on the stream instead of opening a WebSocket, as `stream.rs` finishes a stream: the
/// respond stage, the response, its record and access-log line. The client's side of the
/// stream is still open; once the answer is out and the stream's handles are dropped, the `h2`
/// crate asks it to stop with RST_STREAM(NO_ERROR) (RFC 9113 §8.1), after the answer's frames.
async fn answer(
    tx: &mut SendResponse<Bytes>,
    mut response: Response,
    mut ex: Exchange,
    conn: &Shared,
) {
    let ctx = &conn.ctx;
    let encoder = ex.respond(ctx, false, &mut response);
    let status = response.status;
    let streamed = !matches!(response.body, Body::Full(_));
    let sent = send::response(tx, response, false, encoder, ctx.config.write_timeout).await;
    let bytes = sent.unwrap_or_else(|n| n);
    if streamed {
        ex.record_streamed(status, bytes);
    }
    ex.log_access(&conn.peer, status, bytes as usize);
}
