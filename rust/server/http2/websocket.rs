//! WebSocket over HTTP/2 (RFC 8441): an extended CONNECT with `:protocol websocket`.

use std::rc::Rc;
use std::time::Instant;

use bytes::Bytes;
use h2::server::SendResponse;
use h2::RecvStream;
use http::Request;

use crate::protocol::problem::problem;
use crate::server::http2::{send, Shared};

/// Whether `req` is an extended CONNECT (RFC 8441 §4).
pub(super) fn is_extended_connect(req: &Request<RecvStream>) -> bool {
    req.method() == http::Method::CONNECT && req.extensions().get::<h2::ext::Protocol>().is_some()
}

/// Serves an extended CONNECT. Not offered yet: answered 501 with the reason.
pub(super) async fn serve(
    req: Request<RecvStream>,
    mut tx: SendResponse<Bytes>,
    conn: Rc<Shared>,
    started: Instant,
) {
    let _ = (req, conn, started);
    send::plain(
        &mut tx,
        problem(501, "WebSocket over HTTP/2 (RFC 8441) is not served yet"),
        false,
    );
}
