//! The body size limit layer: a declared Content-Length over the limit is answered 413 before
//! any byte of the body is read; chunked bodies are held to it by the decoder, through
//! [`Pipeline::body_limit`](super::Pipeline::body_limit).

use crate::protocol::h1::{BodyFraming, RequestHead};
use crate::protocol::problem::problem;
use crate::protocol::response::Response;

/// 413 (RFC 9110 §15.5.14) when the request declares more than `max` bytes of body.
pub(super) fn check(head: &RequestHead, max: usize) -> Result<(), Response> {
    match head.framing() {
        BodyFraming::Length(n) if n > max as u64 => Err(problem(
            413,
            &format!("the request body is larger than {max} bytes"),
        )),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::middleware::tests::head;

    #[test]
    fn refuses_declared_length_over_the_limit() {
        let h = head("POST / HTTP/1.1\r\nhost: a\r\ncontent-length: 11\r\n\r\n");
        assert_eq!(check(&h, 11).map_err(|r| r.status), Ok(()));
        assert_eq!(check(&h, 10).map_err(|r| r.status), Err(413));
        let chunked = head("POST / HTTP/1.1\r\nhost: a\r\ntransfer-encoding: chunked\r\n\r\n");
        assert!(check(&chunked, 0).is_ok());
    }
}
