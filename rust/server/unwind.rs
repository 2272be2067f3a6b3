//! Containing a panic to the connection it happened on.
//!
//! A panic while serving one connection (a bug in parsing, routing or a dispatcher) must not
//! take the IO thread, and with it every other connection, down. tokio would contain a
//! panicking task too, but silently and without an answer; this wrapper hands the panic back
//! to the connection's code, which logs it with its cause and answers 500 where it can.

use std::any::Any;
use std::future::Future;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::pin::Pin;
use std::task::{Context, Poll};

/// A future that resolves to `Err(payload)` if polling the inner future panics.
pub struct CatchUnwind<F>(pub F);

impl<F: Future> Future for CatchUnwind<F> {
    type Output = Result<F::Output, Box<dyn Any + Send>>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        // SAFETY: structural pinning of the only field: it is never moved out of `self`.
        let inner = unsafe { self.map_unchecked_mut(|s| &mut s.0) };
        // The inner future is dropped right after a panic and never polled again, so state it
        // left half-updated is never observed through it.
        match catch_unwind(AssertUnwindSafe(|| inner.poll(cx))) {
            Ok(Poll::Ready(v)) => Poll::Ready(Ok(v)),
            Ok(Poll::Pending) => Poll::Pending,
            Err(payload) => Poll::Ready(Err(payload)),
        }
    }
}

/// The message of a panic payload (`panic!("...")` gives a `&str` or a `String`).
pub fn message(payload: &(dyn Any + Send)) -> &str {
    if let Some(s) = payload.downcast_ref::<&str>() {
        s
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s
    } else {
        "a panic with a non-string payload"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_panic_becomes_an_error_with_its_message() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let r = rt.block_on(CatchUnwind(async { panic!("boom {}", 7) }));
        let payload = r.map(|_: ()| ()).unwrap_err();
        assert_eq!(message(&*payload), "boom 7");
        let ok = rt.block_on(CatchUnwind(async { 5 }));
        assert_eq!(ok.ok(), Some(5));
    }
}
